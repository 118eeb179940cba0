"""Resizing that keeps the aspect ratio: word crops brought to a fixed training size by padding.

A scene is resized to the training size outright (:class:`SegmentationDataset` squashes it); a word
crop is much wider than high, and squashing it into a square would distort its strokes. Instead
:class:`ResizeAndPad` scales the crop to the target height, keeping its aspect ratio, and pads the
width (right side) up to the target width. A crop still wider than the target after that is scaled
to the target width instead (its height then falls short and the bottom is padded too).

Padding carries no label: the image gets a neutral colour (0.5 grey, zero after the usual
``(x - 0.5) / 0.5`` normalisation), both masks 0, and ``ignore`` True, so that the soft IoU terms
and the evaluation (with an ignore label) leave the padded pixels out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from segmentation.datasets.base import Sample

#: The colour of padded image pixels (every channel), in [0, 1].
PAD_VALUE = 0.5


def fit_size(height: int, width: int, size: Sequence[int]) -> tuple[int, int]:
    """The (height, width) a ``height x width`` crop is resized to inside ``size`` = (H, W).

    ``(H, max(1, round(width * H / height)))`` when that width fits in W, otherwise
    ``(max(1, round(height * W / width)), W)``.
    """
    target_height, target_width = size
    resized_width = max(1, round(width * target_height / height))
    if resized_width <= target_width:
        return target_height, resized_width
    return max(1, round(height * target_width / width)), target_width


class ResizeAndPad:
    """Joint transform of a sample (image as ``tv_tensors.Image``, masks as ``tv_tensors.Mask``):
    resize to :func:`fit_size` (image bilinear with antialiasing, masks nearest, as
    ``v2.Resize`` does) and pad right and bottom to ``size`` = (H, W).

    Padded pixels: image :data:`PAD_VALUE`, ``pixel_mask`` and ``region_mask`` 0, ``ignore`` True.
    Other keys pass through.
    """

    def __init__(self, size: Sequence[int]) -> None:
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, sample: Sample) -> Sample:
        height, width = sample["image"].shape[-2:]
        resized = v2.Resize(fit_size(height, width, self.size), antialias=True)(sample)
        padded = dict(resized)
        padded["image"] = tv_tensors.Image(self._pad(resized["image"], PAD_VALUE))
        for key in ("pixel_mask", "region_mask"):
            padded[key] = tv_tensors.Mask(self._pad(resized[key], 0))
        padded["ignore"] = tv_tensors.Mask(self._pad(resized["ignore"], True))
        return padded

    def _pad(self, tensor: torch.Tensor, value: float | bool) -> torch.Tensor:
        """(C, h, w) -> (C, H, W) with ``tensor`` in the top-left corner and ``value`` elsewhere."""
        height, width = tensor.shape[-2:]
        out = torch.full(
            (*tensor.shape[:-2], *self.size), value, dtype=tensor.dtype, device=tensor.device
        )
        out[..., :height, :width] = tensor.as_subclass(torch.Tensor)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"
