"""Recognizer configs: defaults, dict/JSON round trips, validation, builders, shape inference."""

from __future__ import annotations

import json

import pytest
import torch

from recognizers import (
    ASTER,
    CRNN,
    AttentionCodec,
    CheckpointError,
    CTCCodec,
    RecognizerConfig,
    build_codec,
    build_recognizer,
    default_cfgs,
    infer_config,
)
from tests.recognizers.helpers import TINY_KWARGS, tiny_config


def test_default_configs_describe_the_public_models():
    crnn, aster = default_cfgs["crnn"], default_cfgs["aster"]
    assert (crnn.color_mode, crnn.in_channels, crnn.input_size) == ("L", 1, (32, 100))
    assert (aster.color_mode, aster.in_channels, aster.input_size) == ("RGB", 3, (64, 256))
    assert crnn.mean == crnn.std == aster.mean == aster.std == 0.5
    assert build_codec(crnn) == CTCCodec("0123456789abcdefghijklmnopqrstuvwxyz", lowercase=True)
    assert build_codec(aster) == AttentionCodec()
    assert (crnn.codec_kind, aster.codec_kind) == ("ctc", "attention")


@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_dict_and_json_round_trip(arch):
    config = tiny_config(arch, mask_channel=True, color_mode="RGB")
    data = config.to_dict()
    assert RecognizerConfig.from_dict(data) == config
    assert RecognizerConfig.from_dict(json.loads(json.dumps(data))) == config
    assert config.in_channels == 4


def test_to_dict_is_plain_and_detached():
    config = default_cfgs["aster"]
    data = config.to_dict()
    assert data["arch_kwargs"]["tps_margins"] == [0.05, 0.05]
    data["arch_kwargs"]["s_dim"] = 7
    assert config.arch_kwargs["s_dim"] == 512


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arch": "vit"}, "unknown architecture 'vit'"),
        ({"color_mode": "CMYK"}, "unknown colour mode 'CMYK'"),
        ({"input_size": (32,)}, "input_size must be"),
        ({"arch_kwargs": {"depth": 3}}, "unknown crnn options: depth"),
        ({"std": 0.0}, "std must be positive"),
    ],
)
def test_invalid_fields_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        default_cfgs["crnn"].replace(**changes)


def test_from_dict_refuses_unknown_and_missing_fields():
    data = default_cfgs["crnn"].to_dict()
    with pytest.raises(ValueError, match="unknown recognizer config fields: colour"):
        RecognizerConfig.from_dict({**data, "colour": "L"})
    del data["alphabet"]
    with pytest.raises(ValueError, match="incomplete recognizer config"):
        RecognizerConfig.from_dict(data)


def test_build_recognizer_carries_the_config_and_matches_the_classes():
    crnn = build_recognizer(default_cfgs["crnn"])
    assert isinstance(crnn, CRNN) and crnn.config is default_cfgs["crnn"]
    assert [(k, v.shape) for k, v in crnn.state_dict().items()] == [
        (k, v.shape) for k, v in CRNN(1, 37, 256).state_dict().items()
    ]
    aster = build_recognizer(tiny_config("aster", alphabet="abc"))
    assert isinstance(aster, ASTER)
    assert aster.decoder.num_classes == 6
    assert (aster.decoder.eos_index, aster.decoder.padding_index) == (3, 4)


def test_build_refuses_a_crnn_of_another_height():
    with pytest.raises(ValueError, match="input height 32"):
        build_recognizer(tiny_config("crnn", input_size=(48, 100)))


@pytest.mark.parametrize(
    "config",
    [
        default_cfgs["crnn"],
        tiny_config("crnn"),
        tiny_config("crnn").replace(
            arch_kwargs={"hidden_size": 64, "width_mult": 0.25, "batchnorm_everywhere": True}
        ),
        tiny_config("crnn", color_mode="RGB", mask_channel=True),
        tiny_config("crnn").replace(arch_kwargs={**TINY_KWARGS["crnn"], "aux_ctc": True}),
        tiny_config("aster"),
        tiny_config("aster", mask_channel=True),
        tiny_config("aster").replace(
            arch_kwargs={**tiny_config("aster").arch_kwargs, "with_lstm": False, "s_dim": 24}
        ),
    ],
    ids=[
        "crnn-public",
        "crnn-tiny",
        "crnn-quarter-bn",
        "crnn-mask",
        "crnn-aux-ctc",
        "aster",
        "aster-mask",
        "aster-nolstm",
    ],
)
def test_infer_config_reads_the_settings_from_the_shapes(config):
    state = build_recognizer(config).state_dict()
    inferred = infer_config(config.arch, state)
    decode_only = {"max_length", "beam_width"}  # not visible in the weights
    expected = {k: v for k, v in config.arch_kwargs.items() if k not in decode_only}
    assert {k: v for k, v in inferred.arch_kwargs.items() if k not in decode_only} == expected
    assert inferred.replace(arch_kwargs=config.arch_kwargs) == config


def test_infer_config_explains_what_does_not_fit():
    crnn_state = CRNN(num_classes=40, hidden_size=8, width_mult=0.125).state_dict()
    with pytest.raises(CheckpointError, match=r"crnn\.pth: the classifier has 40 classes"):
        infer_config("crnn", crnn_state, source="crnn.pth")
    with pytest.raises(
        CheckpointError, match=r"x\.pth: holds no ASTER weights \(no encoder\.layer0\.0"
    ):
        infer_config("aster", crnn_state, source="x.pth")
    with pytest.raises(ValueError, match="unknown architecture"):
        infer_config("sar", {"w": torch.zeros(1)})
