"""Scene-text segmentation data named on the command line: ``KIND[:GT][@SPLIT]=DIR``.

``KIND`` is a dataset kind of :data:`segmentation.datasets.DATASETS` (``synth``, ``totaltext``,
``icdar2013``, ``icdar2013-warp``, ``coco-ts``, ``mlt-s``, ``textseg``, and ``words``: a word-crop
LMDB, registered here, see :mod:`textmask_ocr.data.word_segmentation`); ``GT`` keeps only one kind
of ground truth (``pixel`` or ``region``; default ``both``), e.g. ``synth:region=scenes`` makes
synthetic scenes act as polygon-only data; ``SPLIT`` selects a split of readers that have them
(``train``/``test`` for Total-Text and ICDAR-2013, ``train``/``val``/``test`` for TextSeg).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmentation.datasets import (
    DATASETS,
    SegmentationDataset,
    open_segmentation_dataset,
    register_dataset,
)
from segmentation.datasets.base import GROUND_TRUTH_CHOICES, Sample
from textmask_ocr.data.word_segmentation import WordCropSegmentation
from textmask_ocr.errors import InputError

register_dataset("words", WordCropSegmentation)


@dataclass(frozen=True)
class DataSource:
    """One dataset to read: kind, folder, ground truth kept, split.

    Attributes:
        kind: a key of :data:`segmentation.datasets.DATASETS`.
        root: the dataset folder.
        ground_truth: ``both``, ``pixel`` or ``region``.
        split: the reader's split, or None for the role's default (see :meth:`open`).
    """

    kind: str
    root: Path
    ground_truth: str = "both"
    split: str | None = None

    @classmethod
    def parse(cls, text: str, flag: str = "--data") -> DataSource:
        """Read ``KIND[:GT][@SPLIT]=DIR``; :class:`InputError` naming ``flag`` otherwise."""
        spec, separator, root = str(text).partition("=")
        spec, _, split = spec.partition("@")
        kind, _, ground_truth = spec.partition(":")
        kind, ground_truth = kind.strip().lower(), ground_truth.strip().lower() or "both"
        if not separator or not kind or not root:
            raise InputError(f"{flag} {text!r}: expected KIND[:GT][@SPLIT]=DIR")
        if kind not in DATASETS:
            raise InputError(
                f"{flag} {text!r}: unknown kind {kind!r}; choose from {', '.join(DATASETS)}"
            )
        if ground_truth not in GROUND_TRUTH_CHOICES:
            raise InputError(
                f"{flag} {text!r}: ground truth {ground_truth!r}; choose from "
                f"{', '.join(GROUND_TRUTH_CHOICES)}"
            )
        return cls(kind, Path(root), ground_truth, split.strip() or None)

    def __str__(self) -> str:
        ground_truth = "" if self.ground_truth == "both" else f":{self.ground_truth}"
        split = "" if self.split is None else f"@{self.split}"
        return f"{self.kind}{ground_truth}{split}={self.root}"

    def open(
        self,
        *,
        size: int | tuple[int, int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        default_split: str | None = None,
    ) -> SegmentationDataset:
        """The dataset reader (``size``/``transform`` as in :class:`SegmentationDataset`).

        ``default_split`` applies when no split was named and the reader has splits: validation
        and evaluation pass ``"test"``, training leaves each reader's own default (its training
        split).
        """
        options: dict[str, Any] = {"ground_truth": self.ground_truth, "size": size}
        if transform is not None:
            options["transform"] = transform
        split = self.split or default_split
        has_splits = "split" in inspect.signature(DATASETS[self.kind]).parameters
        if self.split is not None and not has_splits:
            raise InputError(f"{self}: {self.kind} has no splits")
        if split is not None and has_splits:
            options["split"] = split
        return open_segmentation_dataset(self.kind, self.root, **options)


def has_pixel_masks(dataset: SegmentationDataset) -> bool:
    """Whether the samples of ``dataset`` carry a pixel-level mask (read from its first scene)."""
    if dataset.ground_truth == "region" or len(dataset) == 0:
        return False
    return dataset.load_annotation(0).pixel_mask is not None


def has_region_masks(dataset: SegmentationDataset) -> bool:
    """Whether the samples of ``dataset`` carry a polygon-level mask (from its first scene)."""
    if dataset.ground_truth == "pixel" or len(dataset) == 0:
        return False
    return dataset.load_annotation(0).region_mask is not None
