"""SegmenterConfig round trips and validation, build_segmenter, normalize_image."""

from __future__ import annotations

import json

import pytest
import torch

from segmentation.configs import (
    DEFAULT_CROP_HEIGHT,
    SegmenterConfig,
    build_segmenter,
    default_cfgs,
    normalize_image,
)
from segmentation.mgnet import MutuallyGuidedNet
from segmentation.unet import UNet


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks gain nothing from intra-op threads on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_dict_and_json_round_trip() -> None:
    config = SegmenterConfig(
        arch="unet",
        width=0.125,
        input_size=(64, 96),
        mean=(0.1, 0.2, 0.3),
        std=0.25,
        phases=1,
        crop_height=32,
    )
    as_dict = config.to_dict()
    assert as_dict == {
        "arch": "unet",
        "width": 0.125,
        "in_channels": 3,
        "input_size": [64, 96],
        "mean": [0.1, 0.2, 0.3],
        "std": [0.25, 0.25, 0.25],
        "phases": 1,
        "crop_height": 32,
    }
    assert SegmenterConfig.from_dict(json.loads(json.dumps(as_dict))) == config
    assert config.replace(arch="mgnet").arch == "mgnet"
    assert default_cfgs["mgnet"].input_size == (512, 512) and default_cfgs["mgnet"].width == 1.0


def test_configs_saved_before_crop_height_existed_segment_crops_at_64() -> None:
    old = SegmenterConfig(arch="mgnet", width=0.5).to_dict()
    del old["crop_height"]
    assert SegmenterConfig.from_dict(old).crop_height == DEFAULT_CROP_HEIGHT == 64


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arch": "segformer"}, "unknown architecture 'segformer'"),
        ({"input_size": (64, 60)}, "multiples of 16"),
        ({"input_size": (64,)}, "multiples of 16"),
        ({"width": 0}, "width must be positive"),
        ({"in_channels": 0}, "in_channels must be a positive int"),
        ({"mean": (0.5, 0.5)}, "mean needs 3 values"),
        ({"std": (0.5, 0.0, 0.5)}, "std must be positive"),
        ({"phases": 3}, "phases must be 1 or 2"),
        ({"crop_height": 40}, "crop_height must be a positive multiple of 16, got 40"),
        ({"crop_height": 0}, "crop_height must be a positive multiple of 16"),
        ({"crop_height": 32.0}, "crop_height must be a positive multiple of 16"),
    ],
)
def test_invalid_configs_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SegmenterConfig(**changes)


def test_from_dict_names_unknown_and_missing_fields() -> None:
    with pytest.raises(ValueError, match="unknown segmenter config fields: alphabet"):
        SegmenterConfig.from_dict({"arch": "mgnet", "alphabet": "abc"})
    with pytest.raises(ValueError, match="no 'arch'"):
        SegmenterConfig.from_dict({"width": 1.0})
    with pytest.raises(ValueError, match="is a mapping"):
        SegmenterConfig.from_dict(["mgnet"])


@pytest.mark.parametrize(
    ("arch", "cls"),
    [("mgnet", MutuallyGuidedNet), ("mgnet-skip", MutuallyGuidedNet), ("unet", UNet)],
)
def test_build_segmenter_carries_its_config(arch: str, cls: type) -> None:
    config = SegmenterConfig(arch=arch, width=1 / 16, in_channels=1, mean=0.5, std=0.5)
    model = build_segmenter(config)
    assert isinstance(model, cls) and model.config is config
    assert model.width == 1 / 16 and model.in_channels == 1
    assert getattr(model, "skips", None) == {"mgnet": False, "mgnet-skip": True, "unet": None}[arch]
    output = model(torch.zeros(2, 1, 32, 48))
    assert output.text_logits.shape == (2, 1, 32, 48)


def test_normalize_image_matches_per_channel_formula() -> None:
    config = SegmenterConfig(mean=(0.1, 0.5, 0.9), std=(0.2, 0.5, 1.5))
    image = torch.rand(2, 3, 4, 5)
    expected = torch.empty_like(image)
    for channel, (mean, std) in enumerate(zip(config.mean, config.std, strict=True)):
        expected[:, channel] = (image[:, channel] - mean) / std
    torch.testing.assert_close(normalize_image(image, config), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(normalize_image(image[0], config), expected[0], rtol=0, atol=1e-6)
    assert normalize_image(image.double(), config).dtype == torch.float32


def test_normalize_image_checks_channels() -> None:
    with pytest.raises(ValueError, match=r"expected an image \(N, 3, H, W\)"):
        normalize_image(torch.rand(1, 4, 8, 8), SegmenterConfig())
    with pytest.raises(ValueError, match="expected an image"):
        normalize_image(torch.rand(8, 8), SegmenterConfig())
