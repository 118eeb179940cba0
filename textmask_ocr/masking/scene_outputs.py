"""The files ``textmask-ocr segment`` writes for one scene, and the overlay picture.

For an image named ``<name>``, in the output folder (each file written atomically):

- ``<name>_text.png``: pixel-level text mask, 'L', 255 where the text probability >= threshold;
- ``<name>_region.png``: polygon-level (text region) mask, 'L', 0/255 (not for U-Net);
- ``<name>_polygons.json``: ``{"image", "width", "height", "polygons": [[[x, y], ...], ...]}``,
  the outlines of the region mask's components (pixel-centre coordinates, as the datasets'
  annotations), traced by :func:`segmentation.contours.trace_polygons` (not for U-Net);
- ``<name>_overlay.png``: the image with the text pixels tinted red and the polygons outlined in
  green.

All at the input image's size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from textmask_ocr.atomic import atomic_path, atomic_write_text
from textmask_ocr.masking.predictor import SegmentationPrediction

TEXT_COLOUR = np.array([230, 30, 30], dtype=np.float32)
REGION_COLOUR = (40, 210, 60)
TEXT_OPACITY = 0.6


def _save_png(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def mask_image(mask: np.ndarray) -> Image.Image:
    """(H, W) bool -> 'L' image, 255 where True."""
    return Image.fromarray(mask.astype(np.uint8) * 255)


def overlay_image(
    image: torch.Tensor, text_mask: np.ndarray, polygons: Sequence[np.ndarray]
) -> Image.Image:
    """The RGB picture of a prediction.

    Args:
        image: (3, H, W) colours in [0, 1].
        text_mask: (H, W) bool text pixels, tinted :data:`TEXT_COLOUR`.
        polygons: (K, 2) ``(x, y)`` outlines drawn in :data:`REGION_COLOUR`.
    """
    rgb = image.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0
    tint = text_mask[..., None] * TEXT_OPACITY
    rgb = rgb * (1.0 - tint) + TEXT_COLOUR * tint
    picture = Image.fromarray(np.round(rgb).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    line_width = max(1, round(min(picture.size) / 256))
    for polygon in polygons:
        points = [(float(x), float(y)) for x, y in polygon]
        if len(points) == 1:
            draw.point(points, fill=REGION_COLOUR)
        else:
            draw.line([*points, points[0]], fill=REGION_COLOUR, width=line_width)
    return picture


def write_scene_outputs(
    out: Path,
    name: str,
    image: torch.Tensor,
    prediction: SegmentationPrediction,
    *,
    min_area: int = 16,
    epsilon: float = 1.0,
) -> list[Path]:
    """Write the files of one scene (see the module docstring); returns their paths.

    Args:
        out: the output folder (created if needed).
        name: the scene's name (the input file's stem).
        image: (3, H, W) the input in [0, 1], for the overlay.
        prediction: the segmenter's answer for ``image``.
        min_area, epsilon: polygon tracing (smallest region in pixels, simplification tolerance).
    """
    out.mkdir(parents=True, exist_ok=True)
    height, width = prediction.text.shape
    written = [out / f"{name}_text.png"]
    _save_png(mask_image(prediction.text_mask), written[-1])
    polygons = prediction.polygons(epsilon=epsilon, min_area=min_area)
    region_mask = prediction.region_mask
    if region_mask is not None:
        written.append(out / f"{name}_region.png")
        _save_png(mask_image(region_mask), written[-1])
        written.append(out / f"{name}_polygons.json")
        record = {
            "image": name,
            "width": width,
            "height": height,
            "polygons": [polygon.tolist() for polygon in polygons],
        }
        atomic_write_text(json.dumps(record) + "\n", written[-1])
    written.append(out / f"{name}_overlay.png")
    _save_png(overlay_image(image, prediction.text_mask, polygons), written[-1])
    return written
