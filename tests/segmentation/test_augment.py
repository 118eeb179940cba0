"""Training augmentation: rotation moves image and masks together, colour ops touch the image."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from segmentation.augment import AugmentConfig, build_augmentation
from segmentation.datasets import SyntheticScenes, as_tv_tensors, from_tv_tensors

PHOTOMETRIC_ONLY = AugmentConfig(rotation=0.0, noise_probability=1.0)
ROTATION_ONLY = AugmentConfig(
    rotation=40.0, brightness=0, contrast=0, saturation=0, hue=0, noise_sigma=0
)


def _blocky_sample(seed: int = 0, size: int = 64) -> dict:
    """An image whose red channel is 0/1 in 8x8 blocks; the masks are that channel."""
    generator = torch.Generator().manual_seed(seed)
    blocks = (torch.rand(size // 8, size // 8, generator=generator) > 0.5).float()
    red = blocks.repeat_interleave(8, 0).repeat_interleave(8, 1)
    image = torch.stack([red, torch.rand(size, size, generator=generator), 1 - red])
    return {
        "image": image,
        "pixel_mask": red[None].clone(),
        "region_mask": red[None].clone(),
        "ignore": red[None].bool(),
        "has_pixel": torch.tensor(True),
        "has_region": torch.tensor(True),
        "name": "blocks",
    }


def _augment(transform, sample, seed):
    torch.manual_seed(seed)
    return from_tv_tensors(transform(as_tv_tensors(sample)))


def _large_angle_seeds(count: int) -> list[int]:
    """Seeds for which RandomRotation's angle (its first draw) is at least 10 degrees."""
    seeds = []
    for seed in range(100):
        torch.manual_seed(seed)
        if abs(torch.empty(1).uniform_(-40, 40).item()) >= 10:
            seeds.append(seed)
    return seeds[:count]


def test_rotation_keeps_image_and_masks_aligned():
    transform = build_augmentation(ROTATION_ONLY)
    sample = _blocky_sample()
    for seed in _large_angle_seeds(5):
        out = _augment(transform, sample, seed)
        assert not torch.equal(out["pixel_mask"], sample["pixel_mask"])  # it did rotate
        thresholded = out["image"][0] > 0.5
        for key in ("pixel_mask", "region_mask", "ignore"):
            disagreement = (out[key][0].bool() != thresholded).float().mean()
            assert disagreement < 0.03, (seed, key, disagreement)
        misaligned = _augment(transform, sample, seed + 100)
        assert (misaligned["pixel_mask"][0].bool() != thresholded).float().mean() > 0.15


def test_rotated_masks_stay_binary_and_typed():
    out = _augment(build_augmentation(ROTATION_ONLY), _blocky_sample(), _large_angle_seeds(1)[0])
    assert set(out["pixel_mask"].unique().tolist()) <= {0.0, 1.0}
    assert out["pixel_mask"].dtype == out["region_mask"].dtype == torch.float32
    assert out["ignore"].dtype == torch.bool and out["name"] == "blocks"
    assert out["has_pixel"].item() and out["image"].shape == (3, 64, 64)


def test_photometric_ops_change_the_image_only():
    sample = _blocky_sample()
    out = _augment(build_augmentation(PHOTOMETRIC_ONLY), sample, seed=2)
    for key in ("pixel_mask", "region_mask", "ignore"):
        assert torch.equal(out[key], sample[key])
    assert (out["image"] - sample["image"]).abs().mean() > 0.01
    assert out["image"].min() >= 0 and out["image"].max() <= 1


def test_augmentation_is_reproducible_from_torch_seed():
    transform = build_augmentation()
    sample = _blocky_sample()
    first, again = _augment(transform, sample, 11), _augment(transform, sample, 11)
    other = _augment(transform, sample, 12)
    assert all(torch.equal(first[key], again[key]) for key in ("image", "pixel_mask", "ignore"))
    assert not torch.equal(first["image"], other["image"])


def test_everything_off_is_the_identity():
    sample = _blocky_sample()
    off = AugmentConfig(0, 0, 0, 0, 0, 0, 0)
    out = _augment(build_augmentation(off), sample, seed=0)
    assert all(torch.equal(out[key], sample[key]) for key in ("image", "pixel_mask", "ignore"))


def test_dataset_transform_hook_applies_it_jointly(tmp_path):
    for folder in ("images", "pixel_masks", "region_masks"):
        (tmp_path / folder).mkdir()
    sample = _blocky_sample(size=32)
    rgb = (sample["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "images" / "a.png")
    mask = (sample["pixel_mask"][0].numpy() * 255).astype(np.uint8)
    Image.fromarray(mask).save(tmp_path / "pixel_masks" / "a.png")
    Image.fromarray(mask).save(tmp_path / "region_masks" / "a.png")
    dataset = SyntheticScenes(tmp_path, transform=build_augmentation(ROTATION_ONLY))
    torch.manual_seed(_large_angle_seeds(1)[0])
    out = dataset[0]
    assert type(out["image"]) is torch.Tensor and type(out["pixel_mask"]) is torch.Tensor
    assert not torch.equal(out["pixel_mask"][0], sample["pixel_mask"][0])
    assert (out["pixel_mask"][0].bool() != (out["image"][0] > 0.5)).float().mean() < 0.05
