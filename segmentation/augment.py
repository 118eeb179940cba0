"""Training augmentation for scene-text segmentation (paper IV-A-2).

Random rotation, saturation, hue, brightness, contrast and Gaussian noise, built from torchvision's
v2 transforms. Geometry applies to the image (bilinear) and to every mask (nearest) with the same
angle; the photometric operations touch the image only. Apply it to a sample whose image is a
``tv_tensors.Image`` and whose masks are ``tv_tensors.Mask`` — the datasets' ``transform`` hook
does this (:func:`segmentation.datasets.as_tv_tensors`). Randomness comes from torch's global
RNG, so ``torch.manual_seed`` (or a seeded worker) makes it reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from torchvision.transforms import InterpolationMode, v2


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; 0 switches one off.

    Attributes:
        rotation: maximum rotation angle in degrees (uniform in [-rotation, rotation]); the
            uncovered corners are 0 in the image and in every mask.
        brightness, contrast, saturation: jitter factors drawn from [1 - s, 1 + s].
        hue: hue shift drawn from [-hue, hue] (at most 0.5).
        noise_sigma: standard deviation of additive Gaussian noise on the [0, 1] image.
        noise_probability: probability of adding the noise to a sample.
    """

    rotation: float = 10.0
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.05
    noise_sigma: float = 0.03
    noise_probability: float = 0.5


def build_augmentation(config: AugmentConfig = AugmentConfig()) -> v2.Transform:
    """The joint transform: rotation, then colour jitter (random order), then noise."""
    steps: list[v2.Transform] = []
    if config.rotation > 0:
        steps.append(v2.RandomRotation(config.rotation, interpolation=InterpolationMode.BILINEAR))
    if any((config.brightness, config.contrast, config.saturation, config.hue)):
        steps.append(
            v2.ColorJitter(
                brightness=config.brightness or None,
                contrast=config.contrast or None,
                saturation=config.saturation or None,
                hue=config.hue or None,
            )
        )
    if config.noise_sigma > 0 and config.noise_probability > 0:
        steps.append(
            v2.RandomApply(
                [v2.GaussianNoise(sigma=config.noise_sigma, clip=True)],
                p=config.noise_probability,
            )
        )
    return v2.Compose(steps) if steps else v2.Identity()
