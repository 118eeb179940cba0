"""Text polygons and their rasterisation into region masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segmentation.rasterize import rasterize_polygons


@dataclass
class TextPolygon:
    """One annotated text instance.

    Attributes:
        points: ``(N, 2)`` float32 vertices ``(x, y)`` in pixels of the stored image, N >= 3.
            Integer coordinates are pixel centres, as in every dataset's annotation files.
        text: the transcription ('' when none is given).
        dont_care: the annotators marked it unreadable ('#' in Total-Text, '###' in ICDAR-MLT,
            'illegible' in COCO-Text): still text, but excluded from losses through ``ignore``.
    """

    points: np.ndarray
    text: str = ""
    dont_care: bool = False

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32).reshape(-1, 2)

    def to_json(self) -> dict[str, object]:
        """``{"text", "points": [[x, y], ...]}`` (plus ``"dont_care": true`` when set)."""
        record: dict[str, object] = {"text": self.text, "points": self.points.tolist()}
        if self.dont_care:
            record["dont_care"] = True
        return record


def rectangle(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """The ``(4, 2)`` clockwise corners of the axis-aligned box with inclusive corners."""
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)


def densify(points: np.ndarray, per_edge: int) -> np.ndarray:
    """Insert ``per_edge - 1`` evenly spaced points on every edge of a closed polygon.

    Returns ``(N * per_edge, 2)`` points starting at the first vertex; ``per_edge=1`` returns the
    vertices unchanged.
    """
    closed = np.concatenate([points, points[:1]], axis=0)
    steps = np.arange(per_edge, dtype=np.float32)[None, :, None] / per_edge
    starts, ends = closed[:-1, None, :], closed[1:, None, :]
    return (starts + (ends - starts) * steps).reshape(-1, 2)


def polygon_masks(
    polygons: Sequence[TextPolygon], height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Region mask of all polygons and the mask of the don't-care ones, both ``(H, W)`` bool."""
    region = rasterize_polygons((p.points for p in polygons), height, width)
    dont_care = rasterize_polygons((p.points for p in polygons if p.dont_care), height, width)
    return region, dont_care
