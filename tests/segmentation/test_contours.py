"""Border following, components, holes and Douglas-Peucker, against brute-force references."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest

from segmentation.contours import find_contours, simplify_polygon, trace_polygons
from segmentation.datasets.polygons import rasterize_polygons

EIGHT = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
FOUR = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def label_by_search(mask: np.ndarray, neighbours: list[tuple[int, int]]) -> np.ndarray:
    """Brute-force connected components (breadth-first), numbered in raster order; -1 outside."""
    labels = -np.ones(mask.shape, dtype=int)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start] >= 0:
            continue
        labels[start] = count
        queue = deque([start])
        while queue:
            y, x = queue.popleft()
            for dy, dx in neighbours:
                ny, nx = y + dy, x + dx
                inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                if inside and mask[ny, nx] and labels[ny, nx] < 0:
                    labels[ny, nx] = count
                    queue.append((ny, nx))
        count += 1
    return labels


def border_points(
    foreground: np.ndarray, background: np.ndarray, component: int, gap: int
) -> set[tuple[int, int]]:
    """Pixels of a foreground component 4-adjacent to a background component, as (x, y) in the
    unframed mask (the labels are of the mask framed by one background pixel)."""
    return {
        (x - 1, y - 1)
        for y, x in zip(*np.nonzero(foreground == component), strict=True)
        if any(background[y + dy, x + dx] == gap for dy, dx in FOUR)
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def shapes() -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[:60, :80]
    disk = (yy - 30) ** 2 + (xx - 40) ** 2 <= 15**2
    angle = np.deg2rad(30)
    u = (xx - 40) * np.cos(angle) + (yy - 30) * np.sin(angle)
    v = -(xx - 40) * np.sin(angle) + (yy - 30) * np.cos(angle)
    ellipse = (u / 30) ** 2 + (v / 10) ** 2 <= 1
    rotated_box = (np.abs(u) <= 25) & (np.abs(v) <= 6)
    l_shape = np.zeros((60, 80), dtype=bool)
    l_shape[10:50, 10:22] = True
    l_shape[38:50, 10:60] = True
    return {"disk": disk, "ellipse": ellipse, "rotated_box": rotated_box, "l_shape": l_shape}


@pytest.mark.parametrize("name", list(shapes()))
def test_traced_polygon_rasterises_back_to_the_shape(name: str) -> None:
    mask = shapes()[name]
    (outer,) = find_contours(mask)
    assert not outer.is_hole and outer.area == mask.sum()
    # Unsimplified: pixel-centre border, filled inclusively, is exactly the shape.
    assert np.array_equal(rasterize_polygons([outer.points], *mask.shape), mask)
    (polygon,) = trace_polygons(mask, epsilon=1.0)
    assert 4 <= len(polygon) < len(outer.points) / 2
    assert iou(rasterize_polygons([polygon], *mask.shape), mask) > 0.9


def test_ring_has_one_outer_border_and_one_hole() -> None:
    yy, xx = np.mgrid[:40, :40]
    distance = (yy - 20) ** 2 + (xx - 20) ** 2
    ring = (distance <= 15**2) & (distance > 7**2)
    outer, hole = find_contours(ring)
    assert (outer.is_hole, outer.parent, outer.area) == (False, None, ring.sum())
    assert (hole.is_hole, hole.parent, hole.area) == (True, 0, (distance <= 7**2).sum())
    assert np.array_equal(
        rasterize_polygons([outer.points], 40, 40), distance <= 15**2
    )  # the outline of the ring fills its hole


def test_components_holes_and_nesting_are_counted() -> None:
    mask = np.zeros((30, 40), dtype=bool)
    mask[2:8, 2:8] = True  # a plain square
    mask[2:20, 12:38] = True  # a block with two holes
    mask[5:9, 15:20] = False
    mask[5:17, 25:35] = False
    mask[9:13, 28:32] = True  # an island inside the second hole
    mask[25, 5] = True  # a single pixel
    contours = find_contours(mask)
    outers = [c for c in contours if not c.is_hole]
    holes = [c for c in contours if c.is_hole]
    assert [c.area for c in outers] == [36, 18 * 26 - 20 - 120, 16, 1]
    assert [(c.parent, c.area) for c in holes] == [(1, 20), (1, 120 - 16)]
    assert outers[3].points.tolist() == [[5, 25]]
    assert len(trace_polygons(mask, min_area=2)) == 3 and len(trace_polygons(mask)) == 4


def test_empty_and_full_masks() -> None:
    assert find_contours(np.zeros((5, 7), dtype=bool)) == []
    (full,) = find_contours(np.ones((3, 4), dtype=np.uint8))
    assert full.area == 12
    assert sorted(map(tuple, full.points.tolist())) == sorted(
        {(x, y) for x in range(4) for y in range(3)} - {(1, 1), (2, 1)}
    )
    with pytest.raises(ValueError, match="2-D mask"):
        find_contours(np.zeros((2, 3, 4)))


def test_random_masks_match_brute_force_components_and_borders() -> None:
    """Outer borders = 8-connected components, holes = enclosed 4-connected background
    components; each border visits exactly the component's pixels 4-adjacent to the background
    component on its other side (Suzuki & Abe's border points)."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        height, width = rng.integers(3, 16, size=2)
        mask = rng.random((height, width)) < rng.uniform(0.2, 0.8)
        framed = np.pad(mask, 1)
        foreground = label_by_search(framed, EIGHT)
        background = label_by_search(~framed, FOUR)  # label 0: the outside (frame)
        contours = find_contours(mask)
        outers = [c for c in contours if not c.is_hole]
        holes = [c for c in contours if c.is_hole]
        assert len(outers) == foreground.max() + 1
        assert len(holes) == background.max()  # every background component but the outside

        for index, contour in enumerate(outers):
            y, x = np.argwhere(foreground == index)[0]
            assert contour.area == (foreground == index).sum()
            expected = border_points(foreground, background, index, background[y, x - 1])
            assert set(map(tuple, contour.points.tolist())) == expected
        for index, hole in enumerate(holes, start=1):
            assert hole.area == (background == index).sum()
            y, x = np.argwhere(background == index)[0]
            # The enclosing component: without it, the hole would join the outside.
            alone = label_by_search(foreground != hole.parent, FOUR)
            assert alone[y, x] != alone[0, 0]
            expected = border_points(foreground, background, hole.parent, index)
            assert set(map(tuple, hole.points.tolist())) == expected


def test_douglas_peucker_keeps_corners_within_tolerance() -> None:
    square = np.array(
        [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10], [5, 10], [0, 10], [0, 5]], dtype=np.int64
    )
    assert simplify_polygon(square, 0.5).tolist() == [[0, 0], [10, 0], [10, 10], [0, 10]]
    assert simplify_polygon(square, 0).tolist() == square.tolist()
    assert simplify_polygon(square[:2], 5.0).tolist() == square[:2].tolist()

    rng = np.random.default_rng(3)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 60))
    radii = rng.uniform(8, 12, 60)
    wobbly = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    for epsilon in (0.5, 1.5, 3.0):
        kept = simplify_polygon(wobbly, epsilon)
        positions = [int(np.flatnonzero((wobbly == point).all(axis=1))[0]) for point in kept]
        assert positions == sorted(positions) and positions[0] == 0  # a subset, in order
        ring = np.concatenate([kept, kept[:1]])
        for point in wobbly:  # every dropped vertex lies within epsilon of the result
            distances = [_segment_distance(point, a, b) for a, b in itertools.pairwise(ring)]
            assert min(distances) <= epsilon + 1e-9


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    t = 0.0 if not d.any() else float(np.clip((p - a) @ d / (d @ d), 0, 1))
    return float(np.linalg.norm(p - (a + t * d)))
