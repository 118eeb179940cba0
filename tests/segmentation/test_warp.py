"""ICDAR-2013-WARP: the sinusoidal warp and the generated dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.datasets import (
    ICDAR2013,
    DatasetFormatError,
    SinusoidalWarp,
    SyntheticScenes,
    WarpConfig,
    make_annotation,
    rasterize_polygons,
    warp_annotation,
    write_warped_dataset,
)

WARP = SinusoidalWarp(
    bend_amplitude=3.0,
    bend_wavelength=50.0,
    bend_phase=0.4,
    sway_amplitude=1.5,
    sway_wavelength=60.0,
    sway_phase=1.1,
)


def test_folding_configurations_are_rejected():
    with pytest.raises(ValueError, match="warp could fold"):
        WarpConfig(bend_amplitude=(0.0, 0.2), bend_wavelength=(0.5, 1.0))
    with pytest.raises(ValueError, match="0 <= low <= high"):
        WarpConfig(sway_amplitude=(0.03, 0.01))


def test_target_points_invert_the_backward_map():
    points = np.random.default_rng(0).uniform(0, 100, (200, 2))
    landed = WARP.target_points(points)
    assert np.abs(WARP.source_points(landed) - points).max() < 1e-5
    assert np.abs(landed - points).max() > 1.0  # the warp does move points


def test_displacement_formula():
    ((dx, dy),) = WARP.displacement(np.array([[10.0, 20.0]]))
    assert dx == pytest.approx(1.5 * np.sin(2 * np.pi * 20 / 60 + 1.1))
    assert dy == pytest.approx(3.0 * np.sin(2 * np.pi * 10 / 50 + 0.4))


def test_image_grid_and_point_map_agree():
    """A dot warped through the sampling grid lands where target_points sends its centre."""
    height, width = 60, 80
    for x, y in [(20, 15), (55, 40), (70, 10)]:
        dot = np.zeros((height, width), dtype=bool)
        dot[y - 2 : y + 3, x - 2 : x + 3] = True
        annotation = make_annotation("dot", torch.zeros(3, height, width), pixel_mask=dot)
        warped = warp_annotation(annotation, WARP).pixel_mask.numpy()
        ys, xs = np.nonzero(warped)
        (target,) = WARP.target_points(np.array([[x, y]]))
        assert abs(xs.mean() - target[0]) < 0.75 and abs(ys.mean() - target[1]) < 0.75


def _icdar_tree(root):
    images = root / "Challenge2_Training_Task12_Images"
    boxes = root / "Challenge2_Training_Task1_GT"
    maps = root / "Challenge2_Training_Task2_GT"
    for folder in (images, boxes, maps):
        folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for name in ("100", "101"):
        rgb = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(images / f"{name}.png")
        (boxes / f"gt_{name}.txt").write_text('10 20 85 40 "LONGWORD"\n')
        colour = np.full((64, 96, 3), 255, dtype=np.uint8)
        strokes = rng.random((21, 76)) < 0.4
        colour[20:41, 10:86][strokes] = (0, 0, 0)
        Image.fromarray(colour).save(maps / f"{name}_GT.bmp")
    return ICDAR2013(root)


def test_warped_dataset_curves_boxes_and_keeps_masks_consistent(tmp_path):
    source = _icdar_tree(tmp_path / "icdar")
    assert write_warped_dataset(source, tmp_path / "warp", seed=3) == 2
    warped = SyntheticScenes(tmp_path / "warp")
    assert warped.names == ["100", "101"]
    for index in range(2):
        sample, original = warped[index], source[index]
        region = sample["region_mask"][0].bool()
        pixel = sample["pixel_mask"][0].bool()
        assert not (pixel & ~region).any()  # text pixels stay inside their region
        assert pixel.sum() > 0.9 * original["pixel_mask"].sum()
        rows, cols = torch.nonzero(region, as_tuple=True)
        box_area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert region.sum() < 0.9 * box_area  # no longer a filled rectangle
        tops = [int(rows[cols == c].min()) for c in range(int(cols.min()), int(cols.max()) + 1)]
        assert max(tops) - min(tops) >= 3  # its top edge curves
        assert 0.8 < region.sum() / original["region_mask"].sum() < 1.2
        polygon = warped.load_annotation(index).polygons[0]
        assert polygon.text == "LONGWORD" and len(polygon.points) == 4 * 8
        traced = torch.from_numpy(rasterize_polygons([polygon.points], 64, 96))
        assert (traced & region).sum() / (traced | region).sum() > 0.9


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    source = _icdar_tree(tmp_path / "icdar")
    write_warped_dataset(source, tmp_path / "a", seed=5)
    write_warped_dataset(source, tmp_path / "b", seed=5)
    write_warped_dataset(source, tmp_path / "c", seed=6)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) == 2 * 4 + 1
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    different = (tmp_path / "a/region_masks/100.png").read_bytes() != (
        tmp_path / "c/region_masks/100.png"
    ).read_bytes()
    assert different


def test_existing_output_needs_overwrite_and_failures_leave_nothing(tmp_path):
    source = _icdar_tree(tmp_path / "icdar")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("keep me")
    with pytest.raises(DatasetFormatError, match="out: already exists"):
        write_warped_dataset(source, tmp_path / "out")
    seen = []
    write_warped_dataset(
        source, tmp_path / "out", overwrite=True, progress=lambda it: seen.extend(it) or seen
    )
    assert seen == [0, 1] and not (tmp_path / "out" / "old.txt").exists()

    (tmp_path / "icdar/Challenge2_Training_Task12_Images/101.png").write_bytes(b"broken")
    with pytest.raises(DatasetFormatError, match=r"101\.png: cannot read image"):
        write_warped_dataset(source, tmp_path / "failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["icdar", "out"]
