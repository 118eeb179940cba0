"""ICDAR-2013 Focused Scene Text (Challenge 2): word boxes and text-segmentation maps.

Layout of the competition's archives (every folder can be passed explicitly)::

    root/Challenge2_Training_Task12_Images/100.jpg
    root/Challenge2_Training_Task1_GT/gt_100.txt        word boxes  -> region mask
    root/Challenge2_Training_Task2_GT/100_GT.bmp         text pixels -> pixel mask

and ``Test`` in place of ``Training`` for the test split (images ``img_1.jpg``, boxes
``gt_img_1.txt``). Word-box lines are ``x1 y1 x2 y2 "text"`` (training) or
``x1, y1, x2, y2, "text"`` (test), inclusive pixel corners.

Segmentation maps come in two published forms, both read here: colour maps (``*_GT.bmp``, one
colour per character on white) and grey maps (``gt_bw_*``: 255 text, 120 don't care, 0
background). The background is the map's most frequent value, every other value is text, except
that in a grey map the level ``dont_care_level`` (120) marks don't-care pixels (``ignore``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segmentation.datasets.base import (
    GroundTruth,
    Sample,
    SceneAnnotation,
    SegmentationDataset,
    make_annotation,
    match_annotations,
    resolve_folder,
)
from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.imageio import (
    annotation_lines,
    check_same_size,
    list_images,
    open_image,
    read_rgb_image,
)
from segmentation.datasets.polygons import TextPolygon, rectangle

BOX_FILES = ("gt_{stem}.txt", "{stem}.txt")
SEGMENTATION_FILES = ("{stem}_GT", "gt_{stem}", "gt_bw_{digits}", "{stem}")
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_SEPARATOR = r"(?:\s*,\s*|\s+)"
_BOX_LINE = re.compile(
    rf"^\s*{_NUMBER}{_SEPARATOR}{_NUMBER}{_SEPARATOR}{_NUMBER}{_SEPARATOR}{_NUMBER}"
    r"(?:\s*,\s*|\s+|$)\s*(?:\"(.*)\"|(\S.*?))?\s*$"
)


def parse_icdar2013_boxes(path: Path) -> list[TextPolygon]:
    """Parse an ICDAR-2013 word-box file (space- or comma-separated) into rectangle polygons."""
    polygons = []
    for number, line in annotation_lines(path):
        match = _BOX_LINE.match(line)
        if match is None:
            raise DatasetFormatError(f'{path}: line {number}: expected x1 y1 x2 y2 "text"')
        x1, y1, x2, y2 = (float(value) for value in match.groups()[:4])
        if x2 < x1 or y2 < y1:
            raise DatasetFormatError(f"{path}: line {number}: box corners out of order")
        text = match.group(5) if match.group(5) is not None else (match.group(6) or "")
        polygons.append(TextPolygon(rectangle(x1, y1, x2, y2), text=text))
    return polygons


def decode_icdar2013_segmentation(
    path: Path, dont_care_level: int = 120
) -> tuple[np.ndarray, np.ndarray]:
    """Read a segmentation map as ``(text, dont_care)`` boolean ``(H, W)`` arrays."""
    image = open_image(path)
    if image.mode in ("1", "L", "I;16", "I"):
        levels = np.asarray(image.convert("L"), dtype=np.int64)
        background = np.bincount(levels.ravel(), minlength=256).argmax()
        dont_care = (levels == dont_care_level) & (background != dont_care_level)
        return (levels != background) & ~dont_care, dont_care
    rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    values, counts = np.unique(packed, return_counts=True)
    text = packed != values[counts.argmax()]
    return text, np.zeros_like(text)


class ICDAR2013(SegmentationDataset):
    """ICDAR-2013 scenes: pixel masks from the segmentation maps, region masks from word boxes.

    Args:
        root: the dataset folder.
        split: "train" or "test".
        images_dir, boxes_dir, pixel_dir: explicit folders (absolute or relative to ``root``);
            by default the competition's folder names are searched, and a missing ground-truth
            folder means that ground truth is absent. The folder of a kind of ground truth
            that ``ground_truth`` drops is not read.
        dont_care_level: grey level of don't-care pixels in grey segmentation maps.
        size, transform, ground_truth: see :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        images_dir: str | Path | None = None,
        boxes_dir: str | Path | None = None,
        pixel_dir: str | Path | None = None,
        dont_care_level: int = 120,
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        ground_truth: GroundTruth = "both",
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        root = Path(root)
        part = "Training" if split.lower() in ("train", "training") else split.capitalize()
        self.dont_care_level = dont_care_level
        images = resolve_folder(
            root, images_dir, [f"Challenge2_{part}_Task12_Images"], "image", required=True
        )
        boxes = pixels = None
        if ground_truth != "pixel":
            boxes = resolve_folder(
                root, boxes_dir, [f"Challenge2_{part}_Task1_GT"], "word-box", required=False
            )
        if ground_truth != "region":
            pixels = resolve_folder(
                root, pixel_dir, [f"Challenge2_{part}_Task2_GT"], "segmentation", required=False
            )
        if boxes is None and pixels is None:
            raise DatasetFormatError(f"{root}: no ICDAR-2013 ground truth folders found")
        self.image_paths = list_images(images)
        self.names = [path.stem for path in self.image_paths]
        self.box_paths = None if boxes is None else match_annotations(boxes, self.names, BOX_FILES)
        self.pixel_paths = (
            None
            if pixels is None
            else match_annotations(pixels, self.names, SEGMENTATION_FILES, images=True)
        )

    def load_annotation(self, index: int) -> SceneAnnotation:
        image = read_rgb_image(self.image_paths[index])
        pixel = ignore = None
        if self.pixel_paths is not None:
            path = self.pixel_paths[index]
            pixel, ignore = decode_icdar2013_segmentation(path, self.dont_care_level)
            check_same_size(pixel, image, path)
        polygons = None if self.box_paths is None else parse_icdar2013_boxes(self.box_paths[index])
        return make_annotation(
            self.names[index], image, pixel_mask=pixel, ignore=ignore, polygons=polygons
        )
