"""The scene-folder layout of ``textmask-ocr synth scenes`` and ICDAR-2013-WARP."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.datasets import (
    DatasetFormatError,
    SyntheticScenes,
    TextPolygon,
    make_annotation,
    open_segmentation_dataset,
    rasterize_polygons,
    write_scene,
)
from segmentation.datasets.polygons import rectangle

WORDS = {
    "words": [
        {"text": "curve", "points": [[4, 4], [20, 2], [28, 10], [6, 14]]},
        {"text": "box", "points": [[30, 20], [44, 20], [44, 28], [30, 28]]},
    ]
}


def _synth_layout(root, count=3):
    """The folder exactly as the synthetic-scene generator writes it (built by hand here)."""
    for folder in ("images", "pixel_masks", "region_masks", "polygons"):
        (root / folder).mkdir(parents=True)
    (root / "meta.json").write_text(json.dumps({"n": count, "seed": 0}))
    expected = {}
    for index in range(count):
        stem = f"{index:06d}"
        rgb = np.random.default_rng(index).integers(0, 256, (32, 48, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / "images" / f"{stem}.png")
        points = [np.array(word["points"]) for word in WORDS["words"]]
        region = rasterize_polygons(points, 32, 48)
        pixel = region & (rgb[..., 0] > 127)
        Image.fromarray(pixel.astype(np.uint8) * 255).save(root / "pixel_masks" / f"{stem}.png")
        Image.fromarray(region.astype(np.uint8) * 255).save(root / "region_masks" / f"{stem}.png")
        (root / "polygons" / f"{stem}.json").write_text(json.dumps(WORDS))
        expected[stem] = (rgb, pixel, region)
    return expected


def test_reads_the_generator_layout_exactly(tmp_path):
    expected = _synth_layout(tmp_path)
    dataset = SyntheticScenes(tmp_path)
    assert dataset.names == ["000000", "000001", "000002"]
    for index, (stem, (rgb, pixel, region)) in enumerate(expected.items()):
        sample = dataset[index]
        assert sample["name"] == stem and sample["has_pixel"] and sample["has_region"]
        assert torch.equal(sample["image"], torch.from_numpy(rgb).permute(2, 0, 1) / 255.0)
        assert torch.equal(sample["pixel_mask"][0], torch.from_numpy(pixel).float())
        assert torch.equal(sample["region_mask"][0], torch.from_numpy(region).float())
        assert not sample["ignore"].any()
    polygons = dataset.load_annotation(0).polygons
    assert [p.text for p in polygons] == ["curve", "box"]
    assert polygons[0].points.tolist() == WORDS["words"][0]["points"]


@pytest.mark.parametrize("kept", ["pixel", "region"])
def test_one_kind_of_ground_truth_can_be_dropped(tmp_path, kept):
    _synth_layout(tmp_path, count=1)
    sample = SyntheticScenes(tmp_path, ground_truth=kept)[0]
    assert bool(sample["has_pixel"]) == (kept == "pixel")
    assert bool(sample["has_region"]) == (kept == "region")
    dropped = "region_mask" if kept == "pixel" else "pixel_mask"
    assert sample[dropped].sum() == 0
    assert sample["pixel_mask" if kept == "pixel" else "region_mask"].sum() > 0


def test_only_the_folders_the_kept_ground_truth_needs_are_required(tmp_path):
    _synth_layout(tmp_path, count=1)
    for path in (tmp_path / "pixel_masks").iterdir():
        path.unlink()
    (tmp_path / "pixel_masks").rmdir()
    with pytest.raises(DatasetFormatError, match="pixel_masks: pixel-mask folder not found"):
        SyntheticScenes(tmp_path)
    assert SyntheticScenes(tmp_path, ground_truth="region")[0]["has_region"]


def test_region_comes_from_polygons_without_region_masks(tmp_path):
    expected = _synth_layout(tmp_path, count=1)
    for path in (tmp_path / "region_masks").iterdir():
        path.unlink()
    (tmp_path / "region_masks").rmdir()
    sample = SyntheticScenes(tmp_path)[0]
    assert torch.equal(sample["region_mask"][0], torch.from_numpy(expected["000000"][2]).float())
    (tmp_path / "polygons" / "000000.json").write_text('{"words": [{"text": "a"}]}')
    with pytest.raises(DatasetFormatError, match=r"000000\.json: expected \{'words'"):
        SyntheticScenes(tmp_path)[0]


def test_missing_scene_files_are_reported(tmp_path):
    _synth_layout(tmp_path, count=2)
    (tmp_path / "region_masks" / "000001.png").unlink()
    with pytest.raises(
        DatasetFormatError, match=r"region_masks/000001: no mask for image '000001'"
    ):
        SyntheticScenes(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"images: image folder not found"):
        SyntheticScenes(tmp_path / "nothing")


def test_write_scene_round_trips_through_the_reader(tmp_path):
    image = torch.rand(3, 20, 30)
    pixel = np.zeros((20, 30), dtype=bool)
    pixel[5:8, 4:12] = True
    polygons = [
        TextPolygon(rectangle(3, 4, 14, 10), text="word"),
        TextPolygon(np.array([[20.5, 2.25], [28, 2], [27, 9]]), text="#", dont_care=True),
    ]
    annotation = make_annotation("scene_a", image, pixel_mask=pixel, polygons=polygons)
    write_scene(tmp_path, annotation)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ignore_masks", "images", "pixel_masks", "polygons", "region_masks"
    ]  # fmt: skip
    read = SyntheticScenes(tmp_path).load_annotation(0)
    assert torch.equal(read.image, (image * 255).round() / 255)
    assert torch.equal(read.pixel_mask, annotation.pixel_mask)
    assert torch.equal(read.region_mask, annotation.region_mask)
    assert torch.equal(read.ignore, annotation.ignore) and read.ignore.sum() > 0
    assert [(p.text, p.dont_care) for p in read.polygons] == [("word", False), ("#", True)]
    assert np.array_equal(read.polygons[1].points, polygons[1].points)


def test_scene_without_region_ground_truth_writes_no_polygons(tmp_path):
    pixel = np.ones((4, 4), dtype=bool)
    write_scene(tmp_path, make_annotation("p", torch.zeros(3, 4, 4), pixel_mask=pixel))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "pixel_masks"]
    sample = SyntheticScenes(tmp_path, ground_truth="pixel")[0]
    assert sample["has_pixel"] and not sample["has_region"]


def test_registry_kinds_for_scene_folders(tmp_path):
    _synth_layout(tmp_path, count=2)
    for kind in ("synth", "icdar2013-warp"):
        dataset = open_segmentation_dataset(kind, tmp_path, size=16)
        assert len(dataset) == 2 and dataset[1]["region_mask"].shape == (1, 16, 16)
