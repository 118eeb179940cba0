"""Relaxed dense-CRF (Potts) loss (paper eq. 4; Tang et al., "On Regularized Losses for
Weakly-supervised CNN Segmentation", ECCV 2018).

For a soft binary segmentation X (text) and 1 - X (background) of an image I, the relaxed Potts
energy is ``sum_k S_k^T W (1 - S_k) = 2 X^T W (1 - X)`` with the Gaussian (bilateral) kernel

    W_ij = exp(-|p_i - p_j|^2 / (2 sigma_xy^2) - |c_i - c_j|^2 / (2 sigma_rgb^2)),

p the pixel position, c its colour on the 0-255 scale; W_ii = 1 (entries below 1e-26 are set
to 0). The energy is the affinity that a
labelling cuts between pixels of similar colour nearby. As in Tang et al.'s code, it is evaluated on
the image downscaled by ``scale`` (image: nearest neighbour, probabilities: bilinear) with
``sigma_xy * scale``, and defaults to sigma_rgb = 15, sigma_xy = 100, scale = 0.5. Unlike their
code (raw sum, weight 2e-9) the energy is divided by the total affinity ``1^T W 1`` of the image, so
it lies in [0, 1] whatever the image size and bandwidths, and eq. 5's weight 0.1 is meaningful.

Two kernels: the exact dense W, evaluated in row chunks so memory stays bounded (O(n^2) time for
n pixels: a reference, or for GPUs), and W truncated to a (2r+1)^2 window around each pixel
(O(n r^2), the default for training). Both are symmetric, which gives the gradient in closed form:
d/dX [2 X^T W (1 - X)] = 2 W (1 - 2X), so no kernel is stored or recomputed for the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

GaussianFilter = Callable[[Tensor, Tensor], Tensor]

# Kernel entries below exp(-60) ~ 1e-26 are set to exactly 0: far below float32 resolution of any
# sum they enter, and it keeps subnormal numbers (very slow on CPUs) out of the products.
_MIN_EXPONENT = -60.0


def _gaussian_(exponent: Tensor, floor: float = _MIN_EXPONENT) -> Tensor:
    """In place: ``exp(exponent)``, with 0 where ``exponent <= floor``."""
    return F.threshold_(exponent, floor, -math.inf).exp_()


@dataclass(frozen=True)
class CRFSettings:
    """Parameters of :func:`crf_loss`.

    Attributes:
        sigma_rgb: colour bandwidth on the 0-255 scale.
        sigma_xy: spatial bandwidth in pixels of the full-resolution image.
        scale: the loss is computed on the image and probabilities resized by this factor.
        radius: half-size of the local window, in pixels of the downscaled image;
            ``None`` selects the exact dense kernel.
        chunk_elements: dense kernel only: at most this many kernel entries exist at once.
    """

    sigma_rgb: float = 15.0
    sigma_xy: float = 100.0
    scale: float = 0.5
    radius: int | None = 5
    chunk_elements: int = 1 << 20


def _kernel_features(image: Tensor, sigma_rgb: float, sigma_xy: float) -> Tensor:
    """(N, C, h, w) image in [0, 1] -> (N, h*w, 2 + C) features f: W_ij = exp(-|f_i - f_j|^2/2)."""
    n, _, height, width = image.shape
    rows = torch.arange(height, device=image.device, dtype=image.dtype)
    cols = torch.arange(width, device=image.device, dtype=image.dtype)
    position = torch.stack(torch.meshgrid(rows, cols, indexing="ij")) / sigma_xy
    colour = image * (255.0 / sigma_rgb)
    features = torch.cat((position.expand(n, -1, -1, -1), colour), dim=1)
    return features.flatten(2).transpose(1, 2)


@torch.no_grad()
def dense_gaussian_filter(
    image: Tensor,
    values: Tensor,
    sigma_rgb: float,
    sigma_xy: float,
    chunk_elements: int = 1 << 20,
) -> Tensor:
    """``W @ x`` for the exact dense kernel, per sample and channel.

    Args:
        image: (N, C, h, w), colours in [0, 1] (``sigma_rgb`` applies to 255 times these values).
        values: (N, K, h, w), the K vectors x to filter.
        sigma_rgb, sigma_xy: the kernel's bandwidths (colour on 0-255, position in pixels).
        chunk_elements: rows of W are formed in chunks of at most this many entries.

    Returns:
        (N, K, h, w) float32. No autograd: :func:`crf_loss` supplies the gradient.
    """
    n, k, height, width = values.shape
    pixels = height * width
    features = _kernel_features(image.float(), sigma_rgb, sigma_xy)
    flat = values.float().flatten(2).transpose(1, 2)  # (N, pixels, K)
    out = torch.empty_like(flat)
    rows = max(1, chunk_elements // (n * pixels))
    for start in range(0, pixels, rows):
        stop = min(start + rows, pixels)
        # cdist without the matmul expansion: |f_i - f_j|^2 without cancellation.
        distance = torch.cdist(
            features[:, start:stop], features, compute_mode="donot_use_mm_for_euclid_dist"
        )
        kernel = _gaussian_(distance.square_().mul_(-0.5))  # (N, rows, pixels)
        out[:, start:stop] = torch.bmm(kernel, flat)
    return out.transpose(1, 2).reshape(n, k, height, width)


@torch.no_grad()
def window_gaussian_filter(
    image: Tensor, values: Tensor, sigma_rgb: float, sigma_xy: float, radius: int
) -> Tensor:
    """``W_r @ x`` for the kernel truncated to ``max(|dy|, |dx|) <= radius`` (pixel pairs outside
    the image do not exist). Same arguments and result as :func:`dense_gaussian_filter`.

    Each of the (2r+1)^2 / 2 offset pairs (o, -o) shares one weight map, applied in both directions.
    """
    # Colours scaled so that the colour factor is exp(-|c_i - c_j|^2); the spatial factor of an
    # offset is a constant, applied as the scalar of addcmul.
    colour = image.float() * (255.0 / (sigma_rgb * math.sqrt(2.0)))
    values = values.float()
    out = values.clone()  # the centre: W_ii = 1
    height, width = values.shape[-2:]
    for dy in range(radius + 1):
        for dx in range(-radius, radius + 1):
            spatial = (dy * dy + dx * dx) / (2.0 * sigma_xy * sigma_xy)
            if (
                (dy == 0 and dx <= 0)
                or dy >= height
                or abs(dx) >= width
                or spatial >= -_MIN_EXPONENT
            ):
                continue
            # Pairs (i, j) with j = i + (dy, dx): i in `here`, j in `there`.
            here = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
            there = (slice(dy, height), slice(max(0, dx), width + min(0, dx)))
            difference = colour[..., here[0], here[1]] - colour[..., there[0], there[1]]
            exponent = difference.square_().sum(1, keepdim=True).neg_()
            weight = _gaussian_(exponent, _MIN_EXPONENT + spatial)
            scale = math.exp(-spatial)
            out[..., here[0], here[1]].addcmul_(
                weight, values[..., there[0], there[1]], value=scale
            )
            out[..., there[0], there[1]].addcmul_(
                weight, values[..., here[0], here[1]], value=scale
            )
    return out


class _PottsEnergy(torch.autograd.Function):
    """Normalised relaxed Potts energy ``2 X^T W (1 - X) / 1^T W 1`` per sample and channel, with
    the closed-form gradient ``2 W (1 - 2X) / 1^T W 1`` (W symmetric)."""

    @staticmethod
    def forward(ctx: Any, probs: Tensor, image: Tensor, gaussian_filter: GaussianFilter) -> Tensor:
        channels = probs.shape[1]
        ones = torch.ones_like(probs[:, :1])
        filtered = gaussian_filter(image, torch.cat((probs, ones), dim=1))
        affinity, degree = filtered[:, :channels], filtered[:, channels:]  # W X and W 1
        total = degree.sum(dim=(1, 2, 3)).view(-1, 1, 1, 1)  # 1^T W 1
        ctx.save_for_backward((2.0 * degree - 4.0 * affinity) / total)
        return (2.0 * probs * (degree - affinity) / total).sum(dim=(2, 3))

    @staticmethod
    def backward(ctx: Any, grad_energy: Tensor) -> tuple[Tensor, None, None]:
        (gradient,) = ctx.saved_tensors
        return grad_energy[:, :, None, None] * gradient, None, None


def crf_loss(probs: Tensor, image: Tensor, settings: CRFSettings | None = None) -> Tensor:
    """Normalised relaxed dense-CRF energy of each probability map (see the module docstring).

    Args:
        probs: (N, K, H, W) probabilities in [0, 1]: K binary segmentations of each image (e.g. the
            four outputs of MGNet stacked), all regularised with the same image's kernel.
        image: (N, C, H, W) the images, any number of channels, values in [0, 1] (not
            mean/std-normalised: ``sigma_rgb`` is on the 0-255 scale).
        settings: kernel and approximation; default :class:`CRFSettings()` (local window, r = 5).

    Returns:
        (N, K) float32 energies in [0, 1], differentiable with respect to ``probs``; computed in
        float32 also under autocast.
    """
    settings = settings or CRFSettings()
    if probs.shape[0] != image.shape[0] or probs.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"probs {tuple(probs.shape)} and image {tuple(image.shape)} differ in batch or size"
        )
    with torch.autocast(probs.device.type, enabled=False):
        probs, image = probs.float(), image.float()
        if settings.scale != 1.0:
            probs = F.interpolate(
                probs, scale_factor=settings.scale, mode="bilinear", align_corners=False
            )
            image = F.interpolate(image, scale_factor=settings.scale, mode="nearest")
        sigma_xy = settings.sigma_xy * settings.scale
        if settings.radius is None:
            gaussian_filter = partial(
                dense_gaussian_filter,
                sigma_rgb=settings.sigma_rgb,
                sigma_xy=sigma_xy,
                chunk_elements=settings.chunk_elements,
            )
        else:
            gaussian_filter = partial(
                window_gaussian_filter,
                sigma_rgb=settings.sigma_rgb,
                sigma_xy=sigma_xy,
                radius=settings.radius,
            )
        return _PottsEnergy.apply(probs, image, gaussian_filter)
