"""Dataset kinds by name, for the command line (``--data totaltext=DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segmentation.datasets.base import SegmentationDataset
from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.icdar2013 import ICDAR2013
from segmentation.datasets.polygon_only import MLT, COCOText
from segmentation.datasets.scene_folder import SyntheticScenes
from segmentation.datasets.textseg import TextSeg
from segmentation.datasets.totaltext import TotalText

DATASETS: dict[str, type[SegmentationDataset]] = {
    "synth": SyntheticScenes,
    "totaltext": TotalText,
    "icdar2013": ICDAR2013,
    "icdar2013-warp": SyntheticScenes,
    "coco-ts": COCOText,
    "mlt-s": MLT,
    "textseg": TextSeg,
}


def register_dataset(kind: str, reader: type[SegmentationDataset]) -> None:
    """Make ``reader`` available as ``kind`` (lower-case) to :func:`open_segmentation_dataset`
    and the command line; for readers that live outside this package (e.g. the word-crop LMDB
    reader of the application layer). Registering a kind again replaces its reader."""
    DATASETS[kind.lower()] = reader


def open_segmentation_dataset(kind: str, root: str | Path, **options: Any) -> SegmentationDataset:
    """Open the dataset of ``kind`` (a key of :data:`DATASETS`) at ``root``.

    ``options`` go to the reader (``size``, ``transform``, ``ground_truth``, ``split``, folder
    paths...). Unknown kinds and missing folders raise :class:`DatasetFormatError`.
    """
    reader = DATASETS.get(kind.lower())
    if reader is None:
        raise DatasetFormatError(
            f"unknown dataset kind {kind!r}; expected one of {', '.join(DATASETS)}"
        )
    if not Path(root).is_dir():
        raise DatasetFormatError(f"{root}: dataset folder not found")
    return reader(root, **options)
