"""TextSeg (Xu et al., CVPR 2021): fine text masks with unlabelled ("ignore") pixels.

Layout as distributed (every folder can be passed explicitly)::

    root/image/a00001.jpg
    root/semantic_label/a00001_maskfg.png     foreground label map
    root/annotation/a00001_anno.json          words (``bpoly_label/`` in some copies)
    root/split.json                            {"train": [...], "val": [...], "test": [...]}

Label values of ``*_maskfg.png``: 0 background, 255 ignore (unlabelled), 100 text, 200 text
decoration (effects such as shadows, outlines and 3-D sides); every other non-zero value is
text. ``decoration`` chooses whether 200 counts as "text" (default), "ignore" or "background".

The annotation JSON maps word ids to ``{"text": str, "bbox": [x1, y1, ..., xn, yn], "char": ...}``;
a 4-number bbox is an axis-aligned box ``[x1, y1, x2, y2]``. Its rasterised words give the region
mask; without the annotation folder the samples have no region ground truth.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

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
    check_same_size,
    list_images,
    read_label_levels,
    read_rgb_image,
)
from segmentation.datasets.polygons import TextPolygon, rectangle

BACKGROUND, TEXT, DECORATION, IGNORE = 0, 100, 200, 255
Decoration = Literal["text", "ignore", "background"]


def decode_textseg_mask(
    levels: np.ndarray, decoration: Decoration = "text"
) -> tuple[np.ndarray, np.ndarray]:
    """Split a ``maskfg`` label map into ``(text, ignore)`` boolean arrays."""
    ignore = levels == IGNORE
    text = (levels != BACKGROUND) & ~ignore
    if decoration != "text":
        is_decoration = levels == DECORATION
        text &= ~is_decoration
        if decoration == "ignore":
            ignore |= is_decoration
    return text, ignore


def parse_textseg_words(path: Path) -> list[TextPolygon]:
    """Read the word polygons of a TextSeg ``*_anno.json`` file."""
    try:
        content = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(content, dict):
        raise DatasetFormatError(f"{path}: expected an object of words")
    polygons = []
    for key, word in content.items():
        try:
            values = np.asarray(word["bbox"], dtype=np.float32).ravel()
        except (KeyError, TypeError, ValueError):
            raise DatasetFormatError(f"{path}: word {key}: no numeric 'bbox'") from None
        if values.size == 4:
            points = rectangle(*values)
        elif values.size >= 6 and values.size % 2 == 0:
            points = values.reshape(-1, 2)
        else:
            raise DatasetFormatError(f"{path}: word {key}: 'bbox' has {values.size} numbers")
        polygons.append(TextPolygon(points, text=str(word.get("text", ""))))
    return polygons


class TextSeg(SegmentationDataset):
    """TextSeg scenes: pixel masks with ignore labels, region masks from word polygons.

    Args:
        root: the dataset folder.
        split: "train", "val" or "test" (read from ``split.json``); None keeps every image.
        images_dir, masks_dir, annotations_dir: explicit folders (absolute or relative to
            ``root``); by default ``image``, ``semantic_label`` and ``annotation`` /
            ``bpoly_label``.
        split_file: the split file; by default ``root/split.json``.
        decoration: how label 200 (text decoration) counts: "text", "ignore" or "background".
        size, transform, ground_truth: see :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        *,
        images_dir: str | Path | None = None,
        masks_dir: str | Path | None = None,
        annotations_dir: str | Path | None = None,
        split_file: str | Path | None = None,
        decoration: Decoration = "text",
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        ground_truth: GroundTruth = "both",
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        if decoration not in ("text", "ignore", "background"):
            raise ValueError(f"decoration must be text, ignore or background, not {decoration!r}")
        root = Path(root)
        self.decoration: Decoration = decoration
        images = resolve_folder(root, images_dir, ["image"], "image", required=True)
        masks = resolve_folder(root, masks_dir, ["semantic_label"], "mask", required=True)
        words = resolve_folder(
            root, annotations_dir, ["annotation", "bpoly_label"], "annotation", required=False
        )
        self.image_paths = list_images(images)
        if split is not None:
            self.image_paths = self._select_split(root / (split_file or "split.json"), split)
        self.names = [path.stem for path in self.image_paths]
        self.mask_paths = match_annotations(masks, self.names, ["{stem}_maskfg"], images=True)
        self.word_paths = (
            None if words is None else match_annotations(words, self.names, ["{stem}_anno.json"])
        )

    def _select_split(self, path: Path, split: str) -> list[Path]:
        try:
            splits = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise DatasetFormatError(f"{path}: split file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetFormatError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(splits, dict) or not isinstance(splits.get(split), list):
            raise DatasetFormatError(f"{path}: no list for split {split!r}")
        by_stem = {image.stem: image for image in self.image_paths}
        missing = [stem for stem in splits[split] if stem not in by_stem]
        if missing:
            raise DatasetFormatError(f"{path}: split {split!r} names missing image {missing[0]!r}")
        return [by_stem[stem] for stem in sorted(splits[split])]

    def load_annotation(self, index: int) -> SceneAnnotation:
        image = read_rgb_image(self.image_paths[index])
        path = self.mask_paths[index]
        text, ignore = decode_textseg_mask(
            check_same_size(read_label_levels(path), image, path), self.decoration
        )
        polygons = None if self.word_paths is None else parse_textseg_words(self.word_paths[index])
        return make_annotation(
            self.names[index], image, pixel_mask=text, ignore=ignore, polygons=polygons
        )
