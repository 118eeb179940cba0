"""The one preprocessing path of recognizers, shared by fine-tuning, evaluation and recognition.

A word crop (any size, any PIL mode) becomes the model's input tensor: converted to the model's
colour mode, resized bilinearly to its input size, scaled to [0, 1] and normalised
``(x - mean) / std``; an RGB+mask model gets the text mask as one more channel, resized and
normalised the same way (255 = text maps to 1 before normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

ImageLike = Image.Image | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class InputSpec:
    """What a recognizer reads.

    Attributes:
        color: PIL mode of the image channels, ``"L"`` (1 channel) or ``"RGB"`` (3 channels).
        height, width: the input size.
        mean, std: normalisation of every channel, mask included.
        with_mask: whether a mask channel follows the image channels.
    """

    color: str
    height: int
    width: int
    mean: float = 0.5
    std: float = 0.5
    with_mask: bool = False

    @property
    def channels(self) -> int:
        return (1 if self.color == "L" else 3) + int(self.with_mask)


def to_pil(image: ImageLike, *, mask: bool = False) -> Image.Image:
    """Accept PIL images, HxW / HxWxC uint8 arrays, or CxHxW tensors in [0, 1] or [0, 255].

    Masks (``mask=True``) come back in mode ``"L"``; non-zero booleans map to 255.
    """
    if isinstance(image, Image.Image):
        return image.convert("L") if mask and image.mode != "L" else image
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if isinstance(image, torch.Tensor) and array.ndim == 3:
        array = array.transpose(1, 2, 0)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        scale = 255.0 if array.size and float(array.max()) <= 1.0 else 1.0
        array = np.clip(array.astype(np.float32) * scale, 0, 255).round().astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC image, got shape {tuple(array.shape)}")
    pil = Image.fromarray(array)
    return pil.convert("L") if mask else pil


def image_tensor(image: ImageLike, spec: InputSpec) -> torch.Tensor:
    """One crop as a (1 or 3, H, W) float tensor in [0, 1], before normalisation."""
    pil = to_pil(image).convert(spec.color)
    resized = pil.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def mask_tensor(mask: ImageLike, spec: InputSpec) -> torch.Tensor:
    """A text mask as a (1, H, W) float tensor in [0, 1] (1 = text), before normalisation."""
    resized = to_pil(mask, mask=True).resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).unsqueeze(0)


def model_input(
    image: ImageLike, spec: InputSpec, mask: torch.Tensor | ImageLike | None = None
) -> torch.Tensor:
    """The normalised (spec.channels, H, W) input of one crop.

    Args:
        image: the crop.
        spec: what the model reads.
        mask: for a model with a mask channel: a PIL/array mask of any size (resized here) or a
            (1, H, W) tensor already at the input size with values in [0, 1].
    """
    channels = [image_tensor(image, spec)]
    if spec.with_mask:
        if mask is None:
            raise ValueError("this recognizer reads a mask channel: pass a mask")
        is_ready = isinstance(mask, torch.Tensor) and mask.shape == (1, spec.height, spec.width)
        channels.append(mask.float() if is_ready else mask_tensor(mask, spec))
    return (torch.cat(channels) - spec.mean) / spec.std


def batch_inputs(
    images: Sequence[ImageLike],
    spec: InputSpec,
    masks: Sequence[torch.Tensor | ImageLike] | None = None,
) -> torch.Tensor:
    """Stack :func:`model_input` over crops: (N, spec.channels, H, W)."""
    masks_or_none = masks if masks is not None else [None] * len(images)
    return torch.stack(
        [model_input(image, spec, mask) for image, mask in zip(images, masks_or_none, strict=True)]
    )
