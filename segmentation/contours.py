"""Polygons from binary masks in pure NumPy: connected components, border following, simplification.

The steps (what ``cv2.findContours`` + ``cv2.approxPolyDP`` do, without OpenCV):

1. **Components.** Foreground is 8-connected and background 4-connected (the pair of
   connectivities under which every border is a simple closed curve). Pixels are grouped into
   horizontal runs; runs of adjacent rows that touch are joined by a vectorised union-find, so the
   Python-level work is per run, not per pixel.
2. **Border following** (Suzuki & Abe, "Topological structural analysis of digitized binary images
   by border following", 1985, steps 3.1-3.5). The outer border of each foreground component starts
   at its first pixel in raster order; the border of each hole (a background component that does not
   reach the image frame) starts at the foreground pixel left of the hole's first pixel. Following
   visits the border pixels in order; a pixel where the border touches itself (a one-pixel-wide
   line) is visited once per pass.
3. **Simplification** by the Douglas-Peucker algorithm on the closed curve.

Coordinates are ``(x, y) = (column, row)`` of pixel centres, the convention of the datasets'
polygon annotations: :func:`segmentation.datasets.rasterize_polygons` (which fills the pixels whose
centre is inside or on a polygon) turns an unsimplified outer border back into its component's
pixels, holes filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Contour", "find_contours", "simplify_polygon", "trace_polygons"]

# Neighbour directions, clockwise on screen (rows grow downwards): E, SE, S, SW, W, NW, N, NE.
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
_EAST, _WEST = 0, 4


@dataclass(frozen=True)
class Contour:
    """One border of a binary mask.

    Attributes:
        points: (K, 2) int64 border pixels ``(x, y)`` in order along the border (K >= 1; a closed
            curve, the last point is a neighbour of the first): clockwise on screen (x right,
            y down) for an outer border, as word polygons are annotated, counterclockwise for a
            hole. Outer borders start at the component's first pixel in raster order.
        is_hole: False for the outer border of a foreground component, True for the border of a
            hole inside one.
        parent: for a hole, the index (in the list :func:`find_contours` returns) of the outer
            border of the component around it; None for outer borders.
        area: pixels of the component (outer border, holes not counted) or of the hole.
    """

    points: np.ndarray
    is_hole: bool
    parent: int | None
    area: int


@dataclass(frozen=True)
class _Runs:
    """Horizontal runs of True pixels in raster order: row, first column, end column (exclusive)."""

    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> _Runs:
        edges = np.diff(mask.astype(np.int8), axis=1, prepend=0, append=0)
        rows, starts = np.nonzero(edges == 1)
        _, ends = np.nonzero(edges == -1)
        return cls(rows, starts, ends)

    def __len__(self) -> int:
        return len(self.rows)

    def touching_pairs(self, diagonal: bool, row_length: int) -> tuple[np.ndarray, np.ndarray]:
        """Index pairs ``(a, b)`` of runs in consecutive rows (a above b) that are connected:
        sharing a column, or with ``diagonal`` also touching at a corner."""
        reach = 1 if diagonal else 0
        stride = row_length + 3  # larger than any column offset below, so rows never mix
        start_keys = self.rows * stride + self.starts
        end_keys = self.rows * stride + self.ends
        above = (self.rows - 1) * stride
        # Runs of the row above with end > b.start - reach and start < b.end + reach.
        first = np.searchsorted(end_keys, above + self.starts - reach, side="right")
        stop = np.searchsorted(start_keys, above + self.ends + reach, side="left")
        counts = np.maximum(stop - first, 0)
        below = np.repeat(np.arange(len(self)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(first, counts) + offsets, below

    def components(self, diagonal: bool, row_length: int) -> np.ndarray:
        """Component id of every run (0, 1, ... in raster order of each component's first run)."""
        parent = np.arange(len(self))
        above, below = self.touching_pairs(diagonal, row_length)
        while len(above):
            roots_above, roots_below = parent[above], parent[below]
            differ = roots_above != roots_below
            if not differ.any():
                break
            roots_above, roots_below = roots_above[differ], roots_below[differ]
            lower = np.minimum(roots_above, roots_below)
            np.minimum.at(parent, roots_above, lower)  # hook each root onto the smaller root
            np.minimum.at(parent, roots_below, lower)
            while True:  # pointer jumping: every run points at its root again
                grandparent = parent[parent]
                if np.array_equal(grandparent, parent):
                    break
                parent = grandparent
        return np.unique(parent, return_inverse=True)[1].reshape(-1)


def _follow_border(pixels: bytes, row_length: int, start: int, towards_zero: int) -> list[int]:
    """Suzuki-Abe border following (steps 3.1-3.5) on a flattened 0/1 image with a zero frame.

    Args:
        pixels: the image, row-major, one byte per pixel (non-zero = foreground).
        row_length: pixels per row.
        start: flat index of the border's first pixel (foreground).
        towards_zero: direction from ``start`` to the background pixel the border separates it
            from (west of an outer border's first pixel, east for a hole's).

    Returns:
        the flat indices of the border pixels, starting at ``start``, in clockwise order on screen
        around the foreground for an outer border (counterclockwise around a hole).
    """
    offsets = [dr * row_length + dc for dr, dc in _DIRECTIONS]
    for turn in range(1, 9):  # 3.1: clockwise from the background pixel
        direction = (towards_zero + turn) % 8
        if pixels[start + offsets[direction]]:
            break
    else:
        return [start]  # an isolated pixel
    last = start + offsets[direction]
    border, current, towards_previous = [start], start, direction
    while True:
        for turn in range(1, 9):  # 3.3: counterclockwise from the previous pixel
            direction = (towards_previous - turn) % 8
            following = current + offsets[direction]
            if pixels[following]:
                break
        if following == start and current == last:  # 3.5: back at the start
            return border[:1] + border[:0:-1]  # reversed: outer borders clockwise on screen
        border.append(following)
        current, towards_previous = following, (direction + 4) % 8


def find_contours(mask: np.ndarray) -> list[Contour]:
    """Every border of a binary mask: the outer border of each 8-connected foreground component,
    then the border of each hole (a 4-connected background component enclosed by one).

    Args:
        mask: (H, W) array, foreground where non-zero.

    Returns:
        outer borders first, one per component, in raster order of the components' first pixels
        (so the outer border of component ``i`` is at index ``i``), then the hole borders in raster
        order of the holes' first pixels, each with ``parent`` = its component's index.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    framed = np.pad(mask != 0, 1)  # a background frame: borders never leave the array
    width = framed.shape[1]
    pixels = framed.astype(np.uint8).tobytes()

    runs = _Runs.of(framed)
    run_component = runs.components(diagonal=True, row_length=width)
    contours: list[Contour] = []
    if len(runs):
        count = int(run_component.max()) + 1
        first_runs = np.unique(run_component, return_index=True)[1]
        areas = np.bincount(run_component, weights=runs.ends - runs.starts, minlength=count)
        for run, area in zip(first_runs, areas, strict=True):
            start = int(runs.rows[run]) * width + int(runs.starts[run])
            border = _follow_border(pixels, width, start, _WEST)
            contours.append(Contour(_to_xy(border, width), False, None, int(area)))

    gaps = _Runs.of(~framed)
    gap_component = gaps.components(diagonal=False, row_length=width)
    # The frame's first row is one background run: its component is the outside, not a hole.
    hole_ids, first_gaps = np.unique(gap_component, return_index=True)
    gap_areas = np.bincount(gap_component, weights=gaps.ends - gaps.starts)
    run_end_keys = runs.rows * (width + 1) + runs.ends
    for hole, gap in zip(hole_ids[1:], first_gaps[1:], strict=True):
        row, column = int(gaps.rows[gap]), int(gaps.starts[gap])
        # The foreground pixel left of the hole's first pixel ends a run of its component.
        run = int(np.searchsorted(run_end_keys, row * (width + 1) + column))
        border = _follow_border(pixels, width, row * width + column - 1, _EAST)
        contours.append(
            Contour(_to_xy(border, width), True, int(run_component[run]), int(gap_areas[hole]))
        )
    return contours


def _to_xy(border: list[int], framed_width: int) -> np.ndarray:
    """Flat indices in the framed image -> (K, 2) ``(x, y)`` in the mask's coordinates."""
    rows, columns = np.divmod(np.asarray(border, dtype=np.int64), framed_width)
    return np.stack((columns - 1, rows - 1), axis=1)


def simplify_polygon(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Douglas-Peucker simplification of a closed polygon.

    The ring is split at its first vertex and the vertex farthest from it; each chain keeps the
    vertex farthest from its chord (distance to the segment) while that exceeds ``epsilon``,
    recursively. Kept vertices are a subset of ``points`` in their order.

    Args:
        points: (K, 2) vertices.
        epsilon: the largest distance a removed vertex may lie from the result, in pixels;
            0 keeps every vertex.

    Returns:
        (K', 2) with the dtype of ``points``.
    """
    points = np.asarray(points)
    count = len(points)
    if count < 3 or epsilon <= 0:
        return points.copy()
    coordinates = points.astype(np.float64)
    far = int(np.argmax(((coordinates - coordinates[0]) ** 2).sum(axis=1)))
    keep = np.zeros(count, dtype=bool)
    keep[0] = keep[far] = True
    ring = np.concatenate((coordinates, coordinates[:1]))
    chains = [(0, far), (far, count)] if far else []
    while chains:
        first, last = chains.pop()
        if last - first < 2:
            continue
        distances = _segment_distances(ring[first + 1 : last], ring[first], ring[last])
        farthest = int(np.argmax(distances))
        if distances[farthest] > epsilon:
            middle = first + 1 + farthest
            keep[middle] = True
            chains += [(first, middle), (middle, last)]
    return points[keep]


def _segment_distances(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each of (K, 2) ``points`` to the segment ``ab``."""
    direction = b - a
    length = float(direction @ direction)
    t = np.zeros(len(points)) if length == 0 else ((points - a) @ direction) / length
    nearest = a + np.clip(t, 0.0, 1.0)[:, None] * direction
    return np.sqrt(((points - nearest) ** 2).sum(axis=1))


def trace_polygons(
    mask: np.ndarray, *, epsilon: float = 1.0, min_area: int = 1
) -> list[np.ndarray]:
    """Outline polygons of the foreground components of a mask (holes are not cut out).

    Args:
        mask: (H, W) array, foreground where non-zero.
        epsilon: Douglas-Peucker tolerance in pixels (0: every border pixel).
        min_area: components with fewer pixels are dropped.

    Returns:
        one (K, 2) int64 array of ``(x, y)`` pixel-centre vertices per component, in raster order
        of the components' first pixels.
    """
    return [
        simplify_polygon(contour.points, epsilon)
        for contour in find_contours(mask)
        if not contour.is_hole and contour.area >= min_area
    ]
