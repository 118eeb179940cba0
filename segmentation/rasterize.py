"""Exact polygon rasterisation at pixel centres (numpy only, so data generators import it
without torch)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["ON_OUTLINE", "rasterize_polygons"]

#: How far (pixels) a centre may lie from an outline and still count as on it (float rounding).
ON_OUTLINE = 1e-6


def rasterize_polygons(polygons: Iterable[np.ndarray], height: int, width: int) -> np.ndarray:
    """Fill polygons into a boolean ``(height, width)`` mask, boundary pixels included.

    A pixel is set when its centre lies inside a polygon (even-odd rule) or within
    :data:`ON_OUTLINE` of its outline, computed from the float vertices without rounding them to
    the pixel grid: an axis-aligned box with integer corners fills exactly its inclusive pixel
    range, and a polygon drawn around some pixel centres holds every one of them. A single point
    sets the pixel it lies on.
    """
    raster = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            continue
        low = np.maximum(np.ceil(points.min(axis=0) - ON_OUTLINE).astype(int), 0)
        high = np.floor(points.max(axis=0) + ON_OUTLINE).astype(int)
        high = np.minimum(high, [width - 1, height - 1])
        if np.any(high < low):
            continue
        xs = np.arange(low[0], high[0] + 1, dtype=np.float64)
        ys = np.arange(low[1], high[1] + 1, dtype=np.float64)
        inside = np.zeros((ys.size, xs.size), dtype=bool)
        outline = np.zeros_like(inside)
        for start, end in zip(points, np.roll(points, -1, axis=0), strict=True):
            _flip_left_of_crossing(inside, xs, ys, start, end)
            _mark_on_segment(outline, xs, ys, start, end)
        raster[low[1] : high[1] + 1, low[0] : high[0] + 1] |= inside | outline
    return raster


def _flip_left_of_crossing(
    inside: np.ndarray, xs: np.ndarray, ys: np.ndarray, start: np.ndarray, end: np.ndarray
) -> None:
    """Even-odd step of one edge, in place on ``inside`` ``(len(ys), len(xs))``: on each row the
    edge crosses (half-open in y, so a crossing through a vertex counts once), flip the centres
    left of the crossing."""
    (xa, ya), (xb, yb) = start, end
    crosses = (ya > ys) != (yb > ys)
    if crosses.any():
        x_at = xa + (ys[crosses] - ya) * (xb - xa) / (yb - ya)
        inside[crosses] ^= xs[None, :] < x_at[:, None]


def _mark_on_segment(
    outline: np.ndarray, xs: np.ndarray, ys: np.ndarray, start: np.ndarray, end: np.ndarray
) -> None:
    """Set, in place on ``outline`` ``(len(ys), len(xs))``, the centres within
    :data:`ON_OUTLINE` of the segment ``start``-``end``."""
    (xa, ya), (xb, yb) = start, end
    columns = np.flatnonzero((xs >= min(xa, xb) - ON_OUTLINE) & (xs <= max(xa, xb) + ON_OUTLINE))
    rows = np.flatnonzero((ys >= min(ya, yb) - ON_OUTLINE) & (ys <= max(ya, yb) + ON_OUTLINE))
    if columns.size == 0 or rows.size == 0:
        return
    x = xs[columns[0] : columns[-1] + 1][None, :]
    y = ys[rows[0] : rows[-1] + 1][:, None]
    length = float(np.hypot(xb - xa, yb - ya))
    if length == 0.0:
        near = np.ones((y.size, x.size), dtype=bool)
    else:
        near = np.abs((xb - xa) * (y - ya) - (yb - ya) * (x - xa)) <= ON_OUTLINE * length
    outline[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1] |= near
