"""Synthetic scenes: pixel mask within region mask, polygons consistent, folder layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFont

from segmentation.datasets import rasterize_polygons
from textmask_ocr.data.synth import (
    SceneConfig,
    SynthAssets,
    generate_scene,
    iter_scene_files,
    sample_rng,
)
from textmask_ocr.data.synth.scenes import encode_scene
from textmask_ocr.data.synth.writers import write_synth_scenes
from textmask_ocr.errors import InputError

SMALL = SceneConfig(size=128, words=(3, 5))


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fonts")
    (folder / "aileron.ttf").write_bytes(ImageFont.load_default(size=20).font_bytes)
    return SynthAssets.find(folder)


def signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


@pytest.mark.parametrize("index", range(4))
def test_pixel_mask_lies_in_region_mask_and_polygons_match_it(assets, index):
    scene = generate_scene(sample_rng(0, index), SMALL, assets)
    assert scene.image.mode == "RGB" and scene.image.size == (128, 128)
    pixel = np.asarray(scene.pixel_mask)
    region = np.asarray(scene.region_mask)
    assert scene.pixel_mask.mode == scene.region_mask.mode == "L"
    assert set(np.unique(pixel).tolist()) <= {0, 255} and set(np.unique(region).tolist()) <= {
        0,
        255,
    }
    assert len(scene.polygons) >= 1
    assert 0 < (pixel > 0).sum() < (region > 0).sum()
    assert not np.any((pixel > 0) & (region == 0))

    # the JSON polygons, read back, rasterise to exactly the region mask; each word holds ink
    files = encode_scene(scene, "000000")
    words = json.loads(files["polygons/000000.json"])["words"]
    assert [word["text"] for word in words] == [word.text for word in scene.polygons]
    polygons = [np.array(word["points"], dtype=np.float64) for word in words]
    np.testing.assert_array_equal(rasterize_polygons(polygons, 128, 128), region > 0)
    for points in polygons:
        assert points.shape[1] == 2 and len(points) >= 4
        assert signed_area(points) > 0  # clockwise on screen
        assert np.any((pixel > 0) & rasterize_polygons([points], 128, 128))


def test_words_do_not_overlap(assets):
    scene = generate_scene(sample_rng(3, 0), SceneConfig(size=160, words=(8, 8)), assets)
    rasters = [rasterize_polygons([word.points], 160, 160) for word in scene.polygons]
    assert np.sum(rasters, axis=0).max() == 1


def test_same_seed_same_files_whatever_the_workers(assets):
    serial = list(iter_scene_files(3, seed=9, config=SMALL, assets=assets, workers=1))
    parallel = list(iter_scene_files(3, seed=9, config=SMALL, assets=assets, workers=2))
    assert serial == parallel
    assert serial[0]["images/000000.png"] != serial[1]["images/000001.png"]


def test_scene_folder_layout_and_meta(tmp_path, assets):
    out = tmp_path / "scenes"
    assert write_synth_scenes(out, 3, seed=4, config=SMALL, assets=assets, quiet=True) == 3
    stems = ["000000", "000001", "000002"]
    assert sorted(p.name for p in out.iterdir()) == [
        "images",
        "meta.json",
        "pixel_masks",
        "polygons",
        "region_masks",
    ]
    for folder, suffix in [
        ("images", ".png"),
        ("pixel_masks", ".png"),
        ("region_masks", ".png"),
        ("polygons", ".json"),
    ]:
        assert sorted(p.name for p in (out / folder).iterdir()) == [s + suffix for s in stems]
    with Image.open(out / "images" / "000001.png") as image:
        assert (image.mode, image.size) == ("RGB", (128, 128))
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["seed"], meta["n"], meta["config"]["size"]) == (4, 3, 128)
    assert meta["assets"]["fonts"] == ["pillow-default", "aileron.ttf"]
    # the files are those of the in-memory generator
    expected = next(iter_scene_files(1, seed=4, config=SMALL, assets=assets))
    for relative, data in expected.items():
        assert (out / relative).read_bytes() == data
    # a rerun replaces its own folder
    write_synth_scenes(out, 1, seed=4, config=SMALL, assets=assets, quiet=True)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png"]


def test_refuses_to_replace_other_folders(tmp_path, assets):
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="not a synthetic scene folder"):
        write_synth_scenes(tmp_path, 1, config=SMALL, assets=assets, quiet=True)
    assert (tmp_path / "keep.txt").read_text() == "precious"
    with pytest.raises(InputError, match="exists and is not a folder"):
        write_synth_scenes(tmp_path / "keep.txt", 1, config=SMALL, assets=assets, quiet=True)


def test_bad_scene_size_is_an_input_error():
    with pytest.raises(InputError, match="--size must be at least 64"):
        SceneConfig(size=32)
