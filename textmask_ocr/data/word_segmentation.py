"""Word-crop LMDBs as segmentation data: the ``words`` kind (``train-seg --data words=LMDB``).

Each crop of a word-crop LMDB (layout in :mod:`textmask_ocr.data.lmdb_format`) is one segmentation
sample: the pixel-level ground truth is its ``mask-%09d`` (text where the level is >= 128), the
polygon-level one its ``polygon-%09d`` rasterised and filled (pixels whose centre lies inside or on
the polygon, as for the scene readers). A crop with only one of the two carries the indicator of
that one (``has_pixel`` / ``has_region``); ``ground_truth`` keeps one kind only, as for scenes.

With a training ``size`` = (H, W) crops keep their aspect ratio: resized to height H, the width
padded to W, or, when wider than W after that, resized to width W and the height padded
(:class:`segmentation.datasets.ResizeAndPad`); the padding is marked ``ignore``, so the soft IoU
losses and the evaluation leave it out. Make H and W multiples of 16 (the network's stride).

The reader lives here, beside the LMDB format it reads; :mod:`textmask_ocr.masking.sources`
registers it with the segmentation package (which never imports this one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segmentation.datasets import (
    ResizeAndPad,
    SceneAnnotation,
    SegmentationDataset,
    TextPolygon,
    make_annotation,
    pil_to_rgb_tensor,
)
from segmentation.datasets.base import GroundTruth, Sample
from textmask_ocr.data.lmdb_format import (
    ProcessLocalLmdb,
    UndecodableError,
    WordLmdb,
    decode_image,
    decode_mask,
    decode_polygon,
)
from textmask_ocr.errors import InputError

#: Mask levels at or above this are text (as the scene readers read binary masks).
MASK_THRESHOLD = 128


class WordCropSegmentation(SegmentationDataset):
    """Segmentation samples from a word-crop LMDB (see the module docstring).

    Args:
        root: the LMDB folder.
        ground_truth: "both", or "pixel" / "region" to keep one kind only.
        size: (H, W) or an int for H = W; crops are resized keeping their aspect ratio and
            padded (see :class:`segmentation.datasets.ResizeAndPad`). None keeps each crop's size.
        transform: see :class:`SegmentationDataset`.

    Sample names are the 1-based LMDB index, ``%09d``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        ground_truth: GroundTruth = "both",
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        self.root = Path(root)
        with WordLmdb(self.root) as db:
            self.names = [f"{index:09d}" for index in range(1, db.num_samples + 1)]
        self._lmdb = ProcessLocalLmdb(self.root)

    def resize_transform(self, size: tuple[int, int]) -> Callable[[Sample], Sample]:
        return ResizeAndPad(size)

    def load_annotation(self, index: int) -> SceneAnnotation:
        key = index + 1
        raw = self._lmdb.get().read(key)
        try:
            picture = decode_image(raw.image)
            pixel = None
            if raw.mask is not None and self.ground_truth != "region":
                levels = np.asarray(decode_mask(raw.mask, picture.size))
                pixel = levels >= MASK_THRESHOLD
            polygons = None
            if raw.polygon is not None and self.ground_truth != "pixel":
                polygons = [TextPolygon(decode_polygon(raw.polygon))]
        except UndecodableError as error:
            raise InputError(f"{self.root}: sample {key}: {error}") from None
        return make_annotation(
            self.names[index], pil_to_rgb_tensor(picture), pixel_mask=pixel, polygons=polygons
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {len(self)} crops)"
