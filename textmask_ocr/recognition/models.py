"""RGB+mask recognizers for users: ``MaskedCRNN`` and ``MaskedASTER``.

``MaskedCRNN.from_pretrained(path)`` accepts a public base checkpoint (it is loaded strictly and
adapted: a mask channel is added without changing what the model computes) or one of ours (loaded
as is, its stored config says everything). ``.recognize(images, masks=None)`` reads one word crop
or a sequence of them, of any size; without masks, a segmenter given at construction predicts
them. An adapted model reads the mask only once fine-tuned (``textmask-ocr finetune``): given a
segmenter before that, it warns with :class:`MaskIgnoredWarning`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, overload

import numpy as np
import torch
from PIL import Image
from torch import nn

from recognizers import (
    Prediction,
    RecognizerConfig,
    add_mask_channel,
    build_codec,
    load_recognizer,
    mask_is_ignored,
    read_checkpoint,
)
from textmask_ocr.engine.checkpoint import save_checkpoint
from textmask_ocr.engine.distributed import resolve_device
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import ImageInput, image_to_pil
from textmask_ocr.recognition.mask_sources import MaskPredictor
from textmask_ocr.recognition.preprocess import batch_inputs


def load_base_or_adapted(
    weights: str | os.PathLike[str], *, arch: str | None, with_mask: bool, mask_init: str = "zero"
) -> nn.Module:
    """The model of a checkpoint, given a mask channel when ``with_mask`` and it has none.

    A public checkpoint needs ``arch``; ours carry their config. Raises ``CheckpointError`` for a
    file that does not fit, and :class:`InputError` when a mask-less model is asked of an RGB+mask
    checkpoint.
    """
    checkpoint = read_checkpoint(weights)
    model = load_recognizer(checkpoint, arch=arch)
    if with_mask and not model.config.mask_channel:
        model = add_mask_channel(model, mask_init=mask_init)
    elif not with_mask and model.config.mask_channel:
        raise InputError(f"{weights}: holds an RGB+mask recognizer; it needs a mask source")
    return model


SegmenterLike = MaskPredictor | str | os.PathLike[str] | Any


def as_mask_predictor(segmenter: SegmenterLike | None) -> MaskPredictor | None:
    """A crops -> masks callable from a checkpoint path, a ``Segmenter`` or a callable."""
    if segmenter is None:
        return None
    if isinstance(segmenter, str | os.PathLike):
        from textmask_ocr.masking.predictor import Segmenter

        segmenter = Segmenter.from_pretrained(segmenter)
    crop_masks = getattr(segmenter, "crop_masks", None)
    return crop_masks if callable(crop_masks) else segmenter


class MaskIgnoredWarning(UserWarning):
    """A segmenter was given to a recognizer whose mask weights are all zero (not fine-tuned)."""


def _as_batch(items: Any) -> tuple[list[Any], bool]:
    """``(items as a list, whether one item was given)``: a path, bytes, a Pillow image, an array
    or tensor of at most 3 dimensions is one image; a list, tuple or 4-D array / tensor (N, ...)
    is a batch."""
    if isinstance(items, np.ndarray | torch.Tensor):
        return (list(items), False) if items.ndim == 4 else ([items], True)
    if isinstance(items, str | bytes | bytearray | os.PathLike | Image.Image):
        return [items], True
    return list(items), False


class MaskedRecognizer:
    """A recognizer with a mask channel, its codec and its preprocessing, ready to read crops.

    Args:
        model: a model built by :func:`recognizers.build_recognizer` (its ``config`` is used).
        segmenter: optional mask source for calls without masks: a segmentation checkpoint (or
            ``train-seg`` folder), a :class:`~textmask_ocr.masking.predictor.Segmenter`, or any
            callable crops -> masks ('L', each its crop's size).
        device: where to run; defaults to CUDA when available.
    """

    arch: ClassVar[str | None] = None

    def __init__(
        self,
        model: nn.Module,
        *,
        segmenter: SegmenterLike | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if self.arch is not None and model.config.arch != self.arch:
            raise InputError(
                f"{type(self).__name__} needs a {self.arch} model, not {model.config.arch}"
            )
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.codec = build_codec(model.config)
        self.segmenter = as_mask_predictor(segmenter)
        if self.segmenter is not None and model.config.mask_channel and mask_is_ignored(model):
            warnings.warn(
                f"{type(self).__name__}: the mask channel's weights are all zero (a public "
                "checkpoint adapted but not fine-tuned), so the mask has no effect and the "
                "segmenter only costs time; fine-tune it first (textmask-ocr finetune --mask "
                "predicted) and load that checkpoint",
                MaskIgnoredWarning,
                stacklevel=2,
            )

    @property
    def config(self) -> RecognizerConfig:
        return self.model.config

    @classmethod
    def from_pretrained(
        cls,
        weights: str | os.PathLike[str],
        *,
        segmenter: SegmenterLike | None = None,
        mask_init: str = "zero",
        device: str | torch.device | None = None,
    ) -> MaskedRecognizer:
        """Load a public base checkpoint (and adapt it) or one of ours (as is)."""
        model = load_base_or_adapted(weights, arch=cls.arch, with_mask=True, mask_init=mask_init)
        return cls(model, segmenter=segmenter, device=device)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model in the project's checkpoint format (loads with no flags)."""
        save_checkpoint(
            path, model_state=self.model.state_dict(), model_config=self.config.to_dict()
        )
        return Path(path)

    @overload
    def recognize(
        self, images: ImageInput, masks: ImageInput | None = None, *, batch_size: int = 64
    ) -> Prediction: ...

    @overload
    def recognize(
        self,
        images: Sequence[ImageInput],
        masks: Sequence[ImageInput] | None = None,
        *,
        batch_size: int = 64,
    ) -> list[Prediction]: ...

    @torch.no_grad()
    def recognize(
        self, images: Any, masks: Any = None, *, batch_size: int = 64
    ) -> Prediction | list[Prediction]:
        """Read one word crop, or a sequence of them (any size, any form
        :mod:`textmask_ocr.imaging` accepts: files, Pillow images, arrays, tensors).

        Args:
            images: one crop (a path, bytes, a Pillow image, an (H, W[, C]) array or a
                (C, H, W) tensor), or a list / tuple of crops, or an (N, C, H, W) tensor.
            masks: the text mask of each crop (any size, 255 or 1 = text), in the same shape as
                ``images``; predicted by the segmenter when omitted.
            batch_size: crops per forward pass.

        Returns:
            One ``Prediction(text, confidence)`` for one crop, else a list of them, in order.
        """
        crops, single = _as_batch(images)
        mask_list = None if masks is None else [masks] if single else list(masks)
        if mask_list is not None and len(mask_list) != len(crops):
            raise ValueError(f"{len(crops)} images but {len(mask_list)} masks")
        predictions: list[Prediction] = []
        for start in range(0, len(crops), batch_size):
            chunk = [image_to_pil(crop) for crop in crops[start : start + batch_size]]
            chunk_masks = self._masks_for(chunk, mask_list, start)
            inputs = batch_inputs(chunk, self.config, chunk_masks).to(self.device)
            predictions.extend(self.codec.decode(*self.model.predict(inputs)))
        return predictions[0] if single else predictions

    def _masks_for(
        self, chunk: list[Image.Image], masks: Sequence[Any] | None, start: int
    ) -> Sequence[Any] | None:
        if not self.config.mask_channel:
            return None
        if masks is not None:
            return masks[start : start + len(chunk)]
        if self.segmenter is None:
            raise ValueError("pass masks, or give the recognizer a segmenter to predict them")
        return self.segmenter(chunk)


class MaskedCRNN(MaskedRecognizer):
    """CRNN reading RGB + text mask (adapted from a grayscale CRNN)."""

    arch = "crnn"


class MaskedASTER(MaskedRecognizer):
    """ASTER reading RGB + text mask; the mask is rectified by the same TPS as the image."""

    arch = "aster"
