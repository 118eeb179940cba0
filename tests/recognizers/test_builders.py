"""The per-architecture builders ``crnn(...)`` and ``aster(...)`` beside ``build_recognizer``."""

from __future__ import annotations

import pytest
import torch

import recognizers
from recognizers import ASTER, CRNN, aster, build_recognizer, crnn, default_cfgs, recognizer_config
from tests.recognizers.helpers import TINY_KWARGS, tiny_config


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_crnn_without_changes_is_the_public_model() -> None:
    model = crnn()
    assert isinstance(model, CRNN) and model.config == default_cfgs["crnn"]
    assert shapes(model) == shapes(build_recognizer(default_cfgs["crnn"]))


@pytest.mark.parametrize("arch, builder", [("crnn", crnn), ("aster", aster)])
def test_options_and_config_fields_both_change_the_model(arch, builder) -> None:
    model = builder(**TINY_KWARGS[arch], mask_channel=True, color_mode="RGB", alphabet="abc")
    expected = tiny_config(arch, mask_channel=True, color_mode="RGB", alphabet="abc")
    assert model.config == expected
    assert shapes(model) == shapes(build_recognizer(expected))
    assert isinstance(model, {"crnn": CRNN, "aster": ASTER}[arch])


def test_an_option_merges_into_the_defaults_instead_of_replacing_them() -> None:
    config = recognizer_config("aster", width_mult=0.25)
    assert config.arch_kwargs == {**default_cfgs["aster"].arch_kwargs, "width_mult": 0.25}
    assert config.replace(arch_kwargs=default_cfgs["aster"].arch_kwargs) == default_cfgs["aster"]


def test_unknown_options_and_architectures_are_named() -> None:
    with pytest.raises(ValueError, match="unknown crnn options: depth"):
        crnn(depth=3)
    with pytest.raises(ValueError, match="unknown architecture 'vit'"):
        recognizer_config("vit")
    with pytest.raises(ValueError, match="unknown colour mode 'CMYK'"):
        aster(color_mode="CMYK")


def test_the_builders_shadow_their_modules_only_as_package_attributes() -> None:
    # like torchvision.models.alexnet: the package attribute is the builder, the module
    # stays importable by its dotted name
    from recognizers.aster.model import ASTER as aster_class
    from recognizers.crnn import CRNN as crnn_class

    assert recognizers.crnn is crnn and recognizers.aster is aster
    assert crnn_class is CRNN and aster_class is ASTER
