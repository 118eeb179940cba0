"""Polygon-only scene-text sets: COCO-TS (COCO-Text annotations) and MLT-S (ICDAR-MLT).

The paper (IV-A-1) uses these large sets with their text polygons only: the pixel-level masks
published for them are machine-generated, so every sample here has ``has_pixel`` False and a
region mask rasterised from the polygons.

COCO-Text JSON (v1.4 ``COCO_Text.json`` or v2 ``cocotext.v2.json``)::

    {"imgs": {"<id>": {"id", "file_name", "set": "train"|"val", "width", "height"}},
     "anns": {"<id>": {"image_id", "mask": [x1, y1, x2, y2, ...], "bbox": [x, y, w, h],
                       "utf8_string", "legibility": "legible"|"illegible", ...}}}

The polygon is taken from ``mask`` (v2), ``polygon`` or ``points`` (TextOCR), else from ``bbox``.
Illegible words are don't care. Only images in the image folder that have at least one word are
used, so a COCO-TS folder (a subset of COCO train2014) works with the full COCO-Text file.

ICDAR-MLT text files (``gt_img_1.txt`` for ``img_1.jpg``), one word a line::

    x1,y1,x2,y2,x3,y3,x4,y4,script,transcription

where the transcription may contain commas and ``###`` marks a don't-care word.
"""

from __future__ import annotations

import json
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
from segmentation.datasets.imageio import annotation_lines, list_images, read_rgb_image
from segmentation.datasets.polygons import TextPolygon, rectangle

MLT_DONT_CARE = "###"
MLT_FILES = ("gt_{stem}.txt", "{stem}.txt")


def _coco_points(annotation: dict, path: Path, key: str) -> np.ndarray:
    for field in ("mask", "polygon", "points"):
        flat = annotation.get(field)
        if flat:
            values = np.asarray(flat, dtype=np.float32).ravel()
            if values.size < 6 or values.size % 2:
                raise DatasetFormatError(
                    f"{path}: annotation {key}: '{field}' has {values.size} numbers, "
                    "expected x, y pairs of at least 3 points"
                )
            return values.reshape(-1, 2)
    bbox = annotation.get("bbox")
    if not bbox or len(bbox) != 4:
        raise DatasetFormatError(f"{path}: annotation {key}: no polygon and no 4-number 'bbox'")
    x, y, width, height = (float(value) for value in bbox)
    return rectangle(x, y, x + width, y + height)


def parse_coco_text(path: Path, split: str | None = "train") -> dict[str, list[TextPolygon]]:
    """Read a COCO-Text JSON file into ``{file_name: polygons}`` for the images of ``split``.

    ``split`` None keeps every image; images without words are left out.
    """
    try:
        content = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(content, dict) or not isinstance(content.get("imgs"), dict):
        raise DatasetFormatError(f"{path}: not a COCO-Text file (no 'imgs' table)")
    if not isinstance(content.get("anns"), dict):
        raise DatasetFormatError(f"{path}: not a COCO-Text file (no 'anns' table)")
    images = content["imgs"]
    polygons: dict[str, list[TextPolygon]] = {}
    for key, annotation in content["anns"].items():
        try:
            image = images.get(str(annotation.get("image_id")))
            if image is None:
                raise DatasetFormatError(
                    f"{path}: annotation {key} refers to unknown image {annotation.get('image_id')}"
                )
            if split is not None and image.get("set") != split:
                continue
            polygon = TextPolygon(
                _coco_points(annotation, path, key),
                text=str(annotation.get("utf8_string", annotation.get("text", ""))),
                dont_care=annotation.get("legibility") == "illegible",
            )
            polygons.setdefault(Path(image["file_name"]).name, []).append(polygon)
        except DatasetFormatError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise DatasetFormatError(f"{path}: annotation {key}: malformed ({error!r})") from None
    return polygons


def parse_mlt_txt(path: Path) -> list[TextPolygon]:
    """Parse an ICDAR-MLT ground-truth file into quadrilaterals (file order)."""
    polygons = []
    for number, line in annotation_lines(path):
        fields = line.split(",", 9)
        if len(fields) < 9:
            raise DatasetFormatError(
                f"{path}: line {number}: expected x1,y1,...,x4,y4,script,transcription"
            )
        try:
            points = np.array([float(value) for value in fields[:8]], dtype=np.float32)
        except ValueError:
            raise DatasetFormatError(f"{path}: line {number}: bad coordinates") from None
        text = fields[9] if len(fields) > 9 else fields[8]
        polygons.append(
            TextPolygon(points.reshape(4, 2), text=text, dont_care=text == MLT_DONT_CARE)
        )
    return polygons


class COCOText(SegmentationDataset):
    """COCO-TS: COCO images with COCO-Text word polygons (polygon-level ground truth only).

    Args:
        root: the dataset folder.
        annotations: the COCO-Text JSON file (absolute or relative to ``root``); by default
            ``cocotext.v2.json`` or ``COCO_Text.json`` in ``root``.
        images_dir: the image folder; by default ``train2014`` or ``images`` in ``root``.
        split: the COCO-Text set ("train" or "val"); None keeps both.
        ignore_dont_care: mark illegible words as ``ignore``.
        size, transform, ground_truth: see :class:`SegmentationDataset`.
    """

    ANNOTATION_FILES = ("cocotext.v2.json", "COCO_Text.json")

    def __init__(
        self,
        root: str | Path,
        *,
        annotations: str | Path | None = None,
        images_dir: str | Path | None = None,
        split: str | None = "train",
        ignore_dont_care: bool = True,
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        ground_truth: GroundTruth = "both",
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        root = Path(root)
        self.ignore_dont_care = ignore_dont_care
        if annotations is None:
            found = [root / name for name in self.ANNOTATION_FILES if (root / name).is_file()]
            if not found:
                raise DatasetFormatError(
                    f"{root}: no COCO-Text annotations ({' or '.join(self.ANNOTATION_FILES)})"
                )
            annotations = found[0]
        annotation_path = root / annotations
        words = parse_coco_text(annotation_path, split)
        folder = resolve_folder(root, images_dir, ["train2014", "images"], "image", required=True)
        self.image_paths = [path for path in list_images(folder) if path.name in words]
        if not self.image_paths:
            raise DatasetFormatError(
                f"{folder}: none of its images has words in {annotation_path.name}"
                + ("" if split is None else f" (set {split!r})")
            )
        self.names = [path.stem for path in self.image_paths]
        self.polygons = [words[path.name] for path in self.image_paths]

    def load_annotation(self, index: int) -> SceneAnnotation:
        return make_annotation(
            self.names[index],
            read_rgb_image(self.image_paths[index]),
            polygons=self.polygons[index],
            ignore_dont_care=self.ignore_dont_care,
        )


class MLT(SegmentationDataset):
    """MLT-S: ICDAR-MLT images with word quadrilaterals (polygon-level ground truth only).

    Args:
        root: the dataset folder.
        images_dir: by default ``images`` or ``ch8_training_images`` in ``root``.
        annotations_dir: by default ``annotations``, ``gt`` or
            ``ch8_training_localization_transcription_gt_v2`` in ``root``.
        ignore_dont_care: mark ``###`` words as ``ignore``.
        size, transform, ground_truth: see :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        images_dir: str | Path | None = None,
        annotations_dir: str | Path | None = None,
        ignore_dont_care: bool = True,
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        ground_truth: GroundTruth = "both",
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        root = Path(root)
        self.ignore_dont_care = ignore_dont_care
        images = resolve_folder(
            root, images_dir, ["images", "ch8_training_images"], "image", required=True
        )
        labels = resolve_folder(
            root,
            annotations_dir,
            ["annotations", "gt", "ch8_training_localization_transcription_gt_v2"],
            "annotation",
            required=True,
        )
        self.image_paths = list_images(images)
        self.names = [path.stem for path in self.image_paths]
        self.annotation_paths = match_annotations(labels, self.names, MLT_FILES)

    def load_annotation(self, index: int) -> SceneAnnotation:
        return make_annotation(
            self.names[index],
            read_rgb_image(self.image_paths[index]),
            polygons=parse_mlt_txt(self.annotation_paths[index]),
            ignore_dont_care=self.ignore_dont_care,
        )
