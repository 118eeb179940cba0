"""Prediction with a trained segmentation network: scene images and word crops.

:class:`Segmenter` wraps a network built by :func:`segmentation.configs.build_segmenter`. It reads
images in every form :mod:`textmask_ocr.imaging` accepts (files, Pillow images of any mode,
arrays, tensors; :func:`~textmask_ocr.imaging.image_to_tensor`), normalises them with
:func:`segmentation.configs.normalize_image` (the training path), runs the phases the
checkpoint's config names, and maps the probabilities back to each input's size:

- :meth:`Segmenter.predict` for scenes: pixel-level (text) and polygon-level (region)
  probabilities per image, padded to a multiple of 16 and cropped back, or resized to ``S x S``
  and back;
- :meth:`Segmenter.crop_masks` for word crops (the mask channel of RGB+mask recognizers): each crop
  resized to the checkpoint's crop height (``SegmenterConfig.crop_height``; 64 for checkpoints that
  do not record one) and a width that is a multiple of 16, crops of one width batched together.

On CUDA the network runs as deployed: batch norm folded into the convolutions (by
:meth:`Segmenter.from_pretrained`), channels_last weights and inputs, and autocast in bfloat16
where the GPU supports it (float16 otherwise); the probabilities come back in float32.

:func:`crop_mask_predictor` gives the picklable crops -> masks callable the recognition data
pipeline uses (``--mask predicted``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from segmentation.configs import STRIDE, SegmenterConfig, build_segmenter, normalize_image
from segmentation.contours import trace_polygons
from textmask_ocr.engine import load_checkpoint
from textmask_ocr.engine.distributed import resolve_device
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import ImageInput, image_to_tensor

MODEL_FILE = "model.pt"


@dataclass(frozen=True)
class SegmentationPrediction:
    """The network's answer for one image, at the image's size.

    Attributes:
        text: (H, W) float32 pixel-level text probability in [0, 1] (O'_T, or O_T for a network
            run in phase 1 only).
        region: (H, W) float32 polygon-level probability (O'_P or O_P); None for single-branch
            networks (U-Net).
        threshold: where the masks switch to text.
    """

    text: np.ndarray
    region: np.ndarray | None
    threshold: float = 0.5

    @property
    def text_mask(self) -> np.ndarray:
        """(H, W) bool: ``text >= threshold``."""
        return self.text >= self.threshold

    @property
    def region_mask(self) -> np.ndarray | None:
        """(H, W) bool: ``region >= threshold``, or None."""
        return None if self.region is None else self.region >= self.threshold

    def polygons(self, *, epsilon: float = 1.0, min_area: int = 16) -> list[np.ndarray]:
        """Text-region outlines traced from :attr:`region_mask` (empty without a region output):
        (K, 2) int64 ``(x, y)`` pixel-centre vertices each (see
        :func:`segmentation.contours.trace_polygons`)."""
        mask = self.region_mask
        return [] if mask is None else trace_polygons(mask, epsilon=epsilon, min_area=min_area)


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of (N, C, H, W) (antialiased when shrinking)."""
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The half precision to run inference in on ``device``: bfloat16 where supported (CPUs,
    GPUs from Ampere on), float16 on older GPUs."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class Segmenter:
    """Runs a segmentation network on images and word crops.

    Args:
        model: a network from :func:`~segmentation.configs.build_segmenter` (it carries
            ``model.config``); it is moved to ``device`` and put in eval mode.
        device: where to run (default: CUDA if available, else CPU).
        threshold: probability at which :class:`SegmentationPrediction` masks switch to text.
        amp: autocast the network to :func:`autocast_dtype` (default: on CUDA only).

    On CUDA the weights and inputs are channels_last (the fast layout of cuDNN's convolutions).
    """

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device | None = None,
        threshold: float = 0.5,
        *,
        amp: bool | None = None,
    ) -> None:
        config = getattr(model, "config", None)
        if not isinstance(config, SegmenterConfig):
            raise InputError("the model carries no SegmenterConfig (build it with build_segmenter)")
        if not 0.0 < threshold < 1.0:
            raise InputError(f"threshold must lie in (0, 1), got {threshold}")
        self.device = resolve_device(device)
        self.memory_format = (
            torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        )
        self.model = model.to(self.device, memory_format=self.memory_format).eval()
        self.config: SegmenterConfig = config
        self.threshold = threshold
        if amp is None:
            amp = self.device.type == "cuda"
        self.amp_dtype = autocast_dtype(self.device) if amp else None

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device | None = None,
        threshold: float = 0.5,
        *,
        amp: bool | None = None,
    ) -> Segmenter:
        """Load a segmentation checkpoint (or a ``train-seg`` output folder: its ``model.pt``).

        The weights load strictly; batch norm is folded into the convolutions for inference.

        Raises:
            InputError: no such file, not a checkpoint of this project, not a segmentation
                checkpoint, or weights that do not fit the config.
        """
        path = Path(path)
        if path.is_dir():
            if not (path / MODEL_FILE).is_file():
                raise InputError(
                    f"{path}: no {MODEL_FILE} (an unfinished train-seg run? pass a checkpoint "
                    "such as phase1/last.pt)"
                )
            path = path / MODEL_FILE
        payload = load_checkpoint(path)
        try:
            config = SegmenterConfig.from_dict(payload["config"])
        except (ValueError, TypeError) as error:
            raise InputError(f"{path}: not a segmentation checkpoint ({error})") from None
        model = build_segmenter(config)
        try:
            model.load_state_dict(payload["state_dict"])
        except RuntimeError as error:
            detail = " ".join(str(error).split())
            raise InputError(f"{path}: weights do not fit {config.arch}: {detail[:300]}") from None
        model.eval()
        model.fuse_bn_for_inference()
        return cls(model, device=device, threshold=threshold, amp=amp)

    # ------------------------------------------------------------------ network
    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Probabilities of a batch: (N, C, H, W) colours in [0, 1], sides multiples of 16 ->
        text (N, H, W) and region (N, H, W) or None, float32 on the CPU."""
        inputs = normalize_image(images.to(self.device, non_blocking=True), self.config)
        with self._autocast():
            outputs = self.model(
                inputs.contiguous(memory_format=self.memory_format), phases=self.config.phases
            )
        region = outputs.final_region
        return outputs.final_text[:, 0].cpu(), None if region is None else region[:, 0].cpu()

    def _autocast(self) -> AbstractContextManager:
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        )

    # ------------------------------------------------------------------ scenes
    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        size: int | None = None,
        batch_size: int = 8,
    ) -> list[SegmentationPrediction]:
        """Text and region probabilities of each image, at each image's own size.

        Args:
            images: see :data:`~textmask_ocr.imaging.ImageInput`.
            size: None runs each image at its size, padded at the bottom and right (edge pixels
                repeated) to multiples of 16 and cropped back; ``S`` (a multiple of 16) resizes
                to S x S and the probabilities back (bilinear).
            batch_size: images per forward pass (images of one padded size are batched together).

        Returns:
            one :class:`SegmentationPrediction` per image, in order.
        """
        if size is not None and (size < STRIDE or size % STRIDE):
            raise InputError(f"--size {size}: must be a positive multiple of {STRIDE}")
        if batch_size < 1:
            raise InputError(f"--batch-size {batch_size}: must be positive")
        tensors = [image_to_tensor(image) for image in images]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, tensor in enumerate(tensors):
            height, width = tensor.shape[-2:]
            padded = (-(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE)
            groups[(size, size) if size else padded].append(index)
        results: list[SegmentationPrediction | None] = [None] * len(tensors)
        for shape, indices in groups.items():
            for chunk in _chunks(indices, batch_size):
                batch = torch.cat([self._fit(tensors[i][None], shape, size) for i in chunk])
                text, region = self.forward(batch)
                for position, index in enumerate(chunk):
                    original = tuple(tensors[index].shape[-2:])
                    results[index] = SegmentationPrediction(
                        text=self._back(text[position], original, size),
                        region=None
                        if region is None
                        else self._back(region[position], original, size),
                        threshold=self.threshold,
                    )
        return results  # type: ignore[return-value]

    @staticmethod
    def _fit(image: Tensor, shape: tuple[int, int], size: int | None) -> Tensor:
        """(1, 3, H, W) -> (1, 3, *shape): resized to ``size``, or else padded at the bottom
        and right with the edge pixels."""
        if size is not None:
            return _resize(image, shape)
        height, width = image.shape[-2:]
        return F.pad(image, (0, shape[1] - width, 0, shape[0] - height), mode="replicate")

    @staticmethod
    def _back(probability: Tensor, original: tuple[int, int], size: int | None) -> np.ndarray:
        """(h, w) network output -> (H, W) float32 array at the image's size."""
        if size is None:
            probability = probability[: original[0], : original[1]]
        else:
            probability = _resize(probability[None, None], original)[0, 0].clamp(0, 1)
        return np.ascontiguousarray(probability.numpy(), dtype=np.float32)

    # ------------------------------------------------------------------ word crops
    def crop_masks(
        self,
        crops: Sequence[ImageInput],
        *,
        height: int | None = None,
        max_width: int = 256,
        batch_size: int = 32,
    ) -> list[Image.Image]:
        """Pixel-level text masks of word crops, each at its crop's size.

        Each crop is resized to ``height`` (default: the checkpoint's ``crop_height``, the
        height the network was trained at on word crops) and the width keeping its aspect ratio,
        rounded to the nearest multiple of 16 within [16, ``max_width``]; crops of one width go
        through the network together (no padding). The pixel-level output (O'_T, or O_T for a
        phase-1 network) is resized back to the crop (bilinear).

        Returns:
            one 8-bit ``'L'`` image per crop, ``round(255 * probability)``.
        """
        height = self.config.crop_height if height is None else height
        for name, value in (("height", height), ("max_width", max_width)):
            if value < STRIDE or value % STRIDE:
                raise InputError(f"crop {name} {value}: must be a positive multiple of {STRIDE}")
        tensors = [image_to_tensor(crop) for crop in crops]
        by_width: dict[int, list[int]] = defaultdict(list)
        for index, tensor in enumerate(tensors):
            crop_height, crop_width = tensor.shape[-2:]
            width = int(crop_width * height / crop_height / STRIDE + 0.5) * STRIDE
            by_width[min(max(width, STRIDE), max_width)].append(index)
        masks: list[Image.Image | None] = [None] * len(tensors)
        for width, indices in by_width.items():
            for chunk in _chunks(indices, batch_size):
                batch = torch.cat([_resize(tensors[i][None], (height, width)) for i in chunk])
                text, _ = self.forward(batch)
                for position, index in enumerate(chunk):
                    original = tuple(tensors[index].shape[-2:])
                    probability = _resize(text[position][None, None], original)[0, 0]
                    levels = (probability.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
                    masks[index] = Image.fromarray(levels)
        return masks  # type: ignore[return-value]


class CropMaskPredictor:
    """Picklable crops -> masks callable (the ``MaskPredictor`` of the recognition pipeline).

    Holds only the checkpoint path and options; the network loads on first use in each process
    (so DataLoader workers each load their own copy) and is dropped when pickled.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        height: int | None = None,
        max_width: int = 256,
        batch_size: int = 32,
    ) -> None:
        self.path = Path(path)
        self.device = device
        self.options = {"height": height, "max_width": max_width, "batch_size": batch_size}
        self._segmenter: Segmenter | None = None

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            self._segmenter = Segmenter.from_pretrained(self.path, device=self.device)
        return self._segmenter

    def __call__(self, crops: Sequence[ImageInput]) -> list[Image.Image]:
        return self.segmenter.crop_masks(crops, **self.options)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_segmenter"] = None
        return state


def crop_mask_predictor(path: str | os.PathLike[str], **options: Any) -> CropMaskPredictor:
    """The crop-mask predictor of a segmentation checkpoint (checked now, loaded lazily).

    ``options``: ``device`` (default CPU), ``height`` (default: the checkpoint's crop height),
    ``max_width``, ``batch_size`` of :meth:`Segmenter.crop_masks`.
    """
    predictor = CropMaskPredictor(path, **options)
    predictor.segmenter  # noqa: B018 - fail now, with a one-line error, on a bad checkpoint
    return predictor
