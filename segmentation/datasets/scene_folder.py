"""The scene-folder layout: synthetic scenes (``textmask-ocr synth scenes``) and ICDAR-2013-WARP.

::

    root/images/{stem}.png          RGB scene
    root/pixel_masks/{stem}.png     'L', 255 = text pixel
    root/region_masks/{stem}.png    'L', 255 = inside a text region
    root/polygons/{stem}.json       {"words": [{"text": str, "points": [[x, y], ...]}, ...]}
    root/ignore_masks/{stem}.png    'L', 255 = don't care (optional, only where there is some)
    root/meta.json                  how the folder was made (not read here)

A missing ``region_masks`` folder is replaced by the rasterised ``polygons``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segmentation.datasets.base import (
    GroundTruth,
    Sample,
    SceneAnnotation,
    SegmentationDataset,
    make_annotation,
    match_annotations,
)
from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.imageio import (
    check_same_size,
    list_images,
    read_binary_mask,
    read_rgb_image,
)
from segmentation.datasets.polygons import TextPolygon

IMAGES, PIXEL_MASKS, REGION_MASKS, POLYGONS, IGNORE_MASKS = (
    "images",
    "pixel_masks",
    "region_masks",
    "polygons",
    "ignore_masks",
)


def read_scene_polygons(path: Path) -> list[TextPolygon]:
    """Read a scene folder's ``polygons/{stem}.json``."""
    try:
        content = json.loads(path.read_bytes())
        words = content["words"]
        return [
            TextPolygon(
                np.asarray(word["points"], dtype=np.float32).reshape(-1, 2),
                text=str(word.get("text", "")),
                dont_care=bool(word.get("dont_care", False)),
            )
            for word in words
        ]
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{path}: not valid JSON ({error})") from None
    except (KeyError, TypeError, ValueError) as error:
        raise DatasetFormatError(
            f"{path}: expected {{'words': [{{'text', 'points'}}]}} ({error!r})"
        ) from None


class SyntheticScenes(SegmentationDataset):
    """A scene folder (synthetic scenes, ICDAR-2013-WARP) with selectable ground truth.

    Args:
        root: the folder.
        ground_truth: "both", or "pixel" / "region" to keep one kind only (to simulate the
            semi-supervised mix of the paper); the folders that kind needs must exist.
        size, transform: see :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        ground_truth: GroundTruth = "both",
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        self.root = root = Path(root)
        self.image_paths = list_images(root / IMAGES)
        self.names = [path.stem for path in self.image_paths]
        pixel_dir, region_dir, polygon_dir = (
            root / n for n in (PIXEL_MASKS, REGION_MASKS, POLYGONS)
        )
        self.polygon_paths = (
            match_annotations(polygon_dir, self.names, ["{stem}.json"])
            if polygon_dir.is_dir()
            else None
        )
        self.pixel_paths = self.region_paths = None
        if ground_truth != "region":
            if not pixel_dir.is_dir():
                raise DatasetFormatError(f"{pixel_dir}: pixel-mask folder not found")
            self.pixel_paths = match_annotations(pixel_dir, self.names, ["{stem}"], images=True)
        if ground_truth != "pixel":
            if region_dir.is_dir():
                self.region_paths = match_annotations(
                    region_dir, self.names, ["{stem}"], images=True
                )
            elif self.polygon_paths is None:
                raise DatasetFormatError(f"{region_dir}: region-mask folder not found")
        ignore_folder = root / IGNORE_MASKS
        self.ignore_index = (
            {path.stem: path for path in ignore_folder.glob("*.png")}
            if ignore_folder.is_dir()
            else {}
        )

    @staticmethod
    def _mask(paths: list[Path] | None, index: int, image: torch.Tensor) -> np.ndarray | None:
        if paths is None:
            return None
        return check_same_size(read_binary_mask(paths[index]), image, paths[index])

    def load_annotation(self, index: int) -> SceneAnnotation:
        name = self.names[index]
        image = read_rgb_image(self.image_paths[index])
        ignore_path = self.ignore_index.get(name)
        return make_annotation(
            name,
            image,
            pixel_mask=self._mask(self.pixel_paths, index, image),
            region_mask=self._mask(self.region_paths, index, image),
            ignore=(
                None
                if ignore_path is None
                else check_same_size(read_binary_mask(ignore_path), image, ignore_path)
            ),
            polygons=(
                None
                if self.polygon_paths is None
                else read_scene_polygons(self.polygon_paths[index])
            ),
            ignore_dont_care=False,
        )


def _mask_png(mask: torch.Tensor) -> Image.Image:
    return Image.fromarray(mask.numpy().astype(np.uint8) * 255)


def write_scene(root: Path, annotation: SceneAnnotation) -> None:
    """Write one scene into the folder layout (creating the sub-folders as needed).

    The image is stored as 8-bit RGB PNG; masks that are None are not written (nor is an
    ignore mask without any don't-care pixel), and the polygons go with the region mask.
    """
    stem = annotation.name
    rgb = (annotation.image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    outputs: list[tuple[str, Image.Image]] = [(IMAGES, Image.fromarray(rgb))]
    if annotation.pixel_mask is not None:
        outputs.append((PIXEL_MASKS, _mask_png(annotation.pixel_mask)))
    if annotation.region_mask is not None:
        outputs.append((REGION_MASKS, _mask_png(annotation.region_mask)))
    if annotation.ignore is not None and bool(annotation.ignore.any()):
        outputs.append((IGNORE_MASKS, _mask_png(annotation.ignore)))
    for folder, picture in outputs:
        (root / folder).mkdir(parents=True, exist_ok=True)
        picture.save(root / folder / f"{stem}.png")
    if annotation.region_mask is not None:
        (root / POLYGONS).mkdir(parents=True, exist_ok=True)
        words = {"words": [polygon.to_json() for polygon in annotation.polygons]}
        (root / POLYGONS / f"{stem}.json").write_text(json.dumps(words) + "\n", encoding="utf-8")
