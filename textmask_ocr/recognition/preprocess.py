"""The one preprocessing path of recognizers, shared by fine-tuning, evaluation and recognition.

A word crop (any size, any PIL mode) becomes the model's input tensor as its
:class:`~recognizers.RecognizerConfig` describes: converted to ``color_mode``, resized bilinearly to
``input_size``, scaled to [0, 1] and normalised ``(x - mean) / std``; an RGB+mask model gets the
text mask (resized alike, 1 = text, not normalised) as its last channel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from recognizers import RecognizerConfig

ImageLike = Image.Image | np.ndarray | torch.Tensor | str | os.PathLike[str]


def to_pil(image: ImageLike, *, mask: bool = False) -> Image.Image:
    """Accept image files, PIL images, HxW / HxWxC uint8 arrays, or CxHxW tensors in [0, 1] or
    [0, 255].

    Masks (``mask=True``) come back in mode ``"L"`` with 255 = text: booleans and arrays or
    tensors of 0/1 (any dtype) map 1 to 255.
    """
    if isinstance(image, str | os.PathLike):
        with Image.open(image) as opened:
            image = opened.convert("L") if mask else opened.convert("RGB")
    if isinstance(image, Image.Image):
        return image.convert("L") if mask and image.mode != "L" else image
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if isinstance(image, torch.Tensor) and array.ndim == 3:
        array = array.transpose(1, 2, 0)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8 or mask:
        scale = 255.0 if array.size and float(array.max()) <= 1.0 else 1.0
        array = np.clip(array.astype(np.float32) * scale, 0, 255).round().astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC image, got shape {tuple(array.shape)}")
    pil = Image.fromarray(array)
    return pil.convert("L") if mask else pil


def _pil_size(config: RecognizerConfig) -> tuple[int, int]:
    height, width = config.input_size
    return width, height


def image_tensor(image: ImageLike, config: RecognizerConfig) -> torch.Tensor:
    """One crop as a (1 or 3, H, W) float tensor in [0, 1], before normalisation."""
    pil = to_pil(image).convert(config.color_mode)
    resized = pil.resize(_pil_size(config), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def mask_tensor(mask: ImageLike, config: RecognizerConfig) -> torch.Tensor:
    """A text mask as a (1, H, W) float tensor in [0, 1] (1 = text)."""
    resized = to_pil(mask, mask=True).resize(_pil_size(config), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).unsqueeze(0)


def model_input(
    image: ImageLike, config: RecognizerConfig, mask: torch.Tensor | ImageLike | None = None
) -> torch.Tensor:
    """The (config.in_channels, H, W) input of one crop.

    Args:
        image: the crop.
        config: what the model reads.
        mask: for a model with a mask channel: a PIL/array mask of any size (resized here) or a
            (1, H, W) tensor already at the input size with values in [0, 1].
    """
    normalized = (image_tensor(image, config) - config.mean) / config.std
    if not config.mask_channel:
        return normalized
    if mask is None:
        raise ValueError("this recognizer reads a mask channel: pass a mask")
    is_ready = isinstance(mask, torch.Tensor) and mask.shape == (1, *config.input_size)
    return torch.cat([normalized, mask.float() if is_ready else mask_tensor(mask, config)])


def batch_inputs(
    images: Sequence[ImageLike],
    config: RecognizerConfig,
    masks: Sequence[torch.Tensor | ImageLike] | None = None,
) -> torch.Tensor:
    """Stack :func:`model_input` over crops: (N, config.in_channels, H, W)."""
    masks_or_none = masks if masks is not None else [None] * len(images)
    return torch.stack(
        [
            model_input(image, config, mask)
            for image, mask in zip(images, masks_or_none, strict=True)
        ]
    )
