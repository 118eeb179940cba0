"""The one preprocessing path of recognizers, shared by fine-tuning, evaluation and recognition.

A word crop (any size, any form :mod:`textmask_ocr.imaging` accepts) becomes the model's input
tensor as its :class:`~recognizers.RecognizerConfig` describes: decoded by
:func:`~textmask_ocr.imaging.image_to_pil`, converted to ``color_mode``, resized bilinearly to
``input_size``, scaled to [0, 1] and normalised ``(x - mean) / std``; an RGB+mask model gets the
text mask (resized alike, 1 = text, not normalised) as its last channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from recognizers import RecognizerConfig
from textmask_ocr.imaging import ImageInput, image_to_pil, mask_to_pil


def _pil_size(config: RecognizerConfig) -> tuple[int, int]:
    height, width = config.input_size
    return width, height


def image_tensor(image: ImageInput, config: RecognizerConfig) -> torch.Tensor:
    """One crop as a (1 or 3, H, W) float tensor in [0, 1], before normalisation."""
    pil = image_to_pil(image).convert(config.color_mode)
    resized = pil.resize(_pil_size(config), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def mask_tensor(mask: ImageInput, config: RecognizerConfig) -> torch.Tensor:
    """A text mask as a (1, H, W) float tensor in [0, 1] (1 = text)."""
    resized = mask_to_pil(mask).resize(_pil_size(config), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).unsqueeze(0)


def model_input(
    image: ImageInput, config: RecognizerConfig, mask: torch.Tensor | ImageInput | None = None
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
    images: Sequence[ImageInput],
    config: RecognizerConfig,
    masks: Sequence[torch.Tensor | ImageInput] | None = None,
) -> torch.Tensor:
    """Stack :func:`model_input` over crops: (N, config.in_channels, H, W)."""
    masks_or_none = masks if masks is not None else [None] * len(images)
    return torch.stack(
        [
            model_input(image, config, mask)
            for image, mask in zip(images, masks_or_none, strict=True)
        ]
    )
