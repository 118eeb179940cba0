"""The shared sample format, image decoding, polygon rasterisation and the dataset registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from segmentation.datasets import (
    DATASETS,
    COCOText,
    DatasetFormatError,
    SyntheticScenes,
    TextPolygon,
    TotalText,
    annotation_to_sample,
    make_annotation,
    open_segmentation_dataset,
    rasterize_polygons,
    read_rgb_image,
    register_dataset,
)
from segmentation.datasets.base import match_annotations
from segmentation.datasets.imageio import read_label_levels
from segmentation.datasets.polygons import densify, rectangle


def test_rgb_image_is_read_unchanged(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    image = read_rgb_image(tmp_path / "a.png")
    assert image.dtype == torch.float32 and image.shape == (3, 5, 7)
    assert torch.equal(image, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_grayscale_and_palette_images_become_three_equal_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray).save(tmp_path / "g.png")
    image = read_rgb_image(tmp_path / "g.png")
    expected = torch.from_numpy(gray).float() / 255
    assert all(torch.equal(image[c], expected) for c in range(3))

    palette_image = Image.fromarray(gray).convert("P")
    palette_image.save(tmp_path / "p.png")
    reference = np.asarray(palette_image.convert("RGB"), dtype=np.float32) / 255
    assert torch.equal(
        read_rgb_image(tmp_path / "p.png"), torch.from_numpy(reference).permute(2, 0, 1)
    )


def test_sixteen_bit_png_keeps_its_precision(tmp_path):
    levels = np.array([[0, 1000, 1001], [30000, 65534, 65535]], dtype=np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.png")
    image = read_rgb_image(tmp_path / "deep.png")
    expected = torch.from_numpy(levels.astype(np.float32) / 65535)
    assert torch.allclose(image[0], expected, atol=1e-7)
    assert image[0, 0, 1] != image[0, 0, 2]  # 8 bits would merge 1000 and 1001
    assert read_label_levels(tmp_path / "deep.png")[1].tolist() == [117, 255, 255]


def test_transparent_pixels_are_composited_over_white(tmp_path):
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent black
    rgba[0, 2] = (0, 0, 255, 51)  # 20 % blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    image = read_rgb_image(tmp_path / "t.png")
    assert torch.allclose(image[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(image[:, 0, 1], torch.tensor([1.0, 1.0, 1.0]))
    assert torch.allclose(image[:, 0, 2], torch.tensor([0.8, 0.8, 1.0]))


def test_unreadable_and_missing_images_name_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetFormatError, match=r"broken\.png: cannot read image"):
        read_rgb_image(tmp_path / "broken.png")
    with pytest.raises(DatasetFormatError, match=r"absent\.png: file not found"):
        read_rgb_image(tmp_path / "absent.png")


def test_rectangle_fills_exactly_its_inclusive_pixel_range():
    mask = rasterize_polygons([rectangle(2, 1, 6, 3)], 6, 9)
    expected = np.zeros((6, 9), dtype=bool)
    expected[1:4, 2:7] = True
    assert np.array_equal(mask, expected)


def _inside(points: np.ndarray, x: float, y: float) -> bool:
    """Even-odd ray casting, the brute-force reference."""
    inside = False
    for (x1, y1), (x2, y2) in zip(points, np.roll(points, -1, axis=0), strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _distance_to_boundary(points: np.ndarray, x: float, y: float) -> float:
    best = np.inf
    for start, end in zip(points, np.roll(points, -1, axis=0), strict=True):
        edge, offset = end - start, np.array([x, y]) - start
        t = np.clip(offset @ edge / (edge @ edge), 0, 1) if edge.any() else 0.0
        best = min(best, float(np.hypot(*(offset - t * edge))))
    return best


def _star(cx: float, cy: float, radius: float) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    radii = radius * np.array([1, 0.4] * 5)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def test_polygon_rasterisation_equals_brute_force_at_every_pixel_centre():
    """Inside (even-odd) or on the outline, for float and integer vertices, convex, concave,
    self-intersecting, partly off the image, a segment and a single point."""
    rng = np.random.default_rng(0)
    shapes = [
        np.array([[3, 4], [25, 2], [30, 15], [18, 9], [6, 20]], dtype=np.float64),
        _star(12.3, 10.7, 9.0),
        rng.uniform(-4, 36, (4, 2)),
        rng.uniform(0, 30, (7, 2)) + 0.5,
        rng.integers(-2, 30, (6, 2)).astype(np.float64),
        # a crop's word polygon whose rounded-vertex fill missed centre (35, 23)
        np.array(
            [
                [2.58030704, 4.32543419],
                [38.54524333, 6.71186743],
                [37.41969296, 23.67456581],
                [1.45475667, 21.28813257],
            ]
        ),
        np.array([[2.0, 3.0], [9.0, 10.0]]),
        np.array([[5.0, 7.0]]),
    ]
    height, width = 24, 40
    for shape in shapes:
        mask = rasterize_polygons([shape], height, width)
        expected = np.array(
            [
                [
                    _inside(shape, x, y) or _distance_to_boundary(shape, x, y) <= 1e-9
                    for x in range(width)
                ]
                for y in range(height)
            ]
        )
        np.testing.assert_array_equal(mask, expected, err_msg=str(shape.tolist()))
    union = rasterize_polygons(shapes, height, width)
    np.testing.assert_array_equal(
        union, np.logical_or.reduce([rasterize_polygons([s], height, width) for s in shapes])
    )


def test_densify_puts_evenly_spaced_points_on_every_edge():
    points = densify(rectangle(0, 0, 4, 2), per_edge=2)
    assert points.tolist() == [[0, 0], [2, 0], [4, 0], [4, 1], [4, 2], [2, 2], [0, 2], [0, 1]]
    assert np.array_equal(densify(rectangle(0, 0, 4, 2), per_edge=1), rectangle(0, 0, 4, 2))


def _annotation(with_pixel: bool = True, with_polygons: bool = True):
    image = torch.rand(3, 10, 12)
    pixel = np.zeros((10, 12), dtype=bool)
    pixel[3:5, 3:8] = True
    polygons = [
        TextPolygon(rectangle(2, 2, 9, 6), text="word"),
        TextPolygon(rectangle(0, 8, 3, 9), text="#", dont_care=True),
    ]
    return make_annotation(
        "scene",
        image,
        pixel_mask=pixel if with_pixel else None,
        polygons=polygons if with_polygons else None,
    )


def test_sample_format_keys_dtypes_and_values():
    annotation = _annotation()
    sample = annotation_to_sample(annotation)
    assert set(sample) == {
        "image", "pixel_mask", "region_mask", "has_pixel", "has_region", "ignore", "name"
    }  # fmt: skip
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, 10, 12)
    for key in ("pixel_mask", "region_mask"):
        assert sample[key].dtype == torch.float32 and sample[key].shape == (1, 10, 12)
    assert sample["ignore"].dtype == torch.bool and sample["ignore"].shape == (1, 10, 12)
    assert sample["has_pixel"].dtype == torch.bool and sample["has_pixel"].shape == ()
    assert bool(sample["has_pixel"]) and bool(sample["has_region"])
    assert sample["name"] == "scene"
    assert sample["pixel_mask"].sum() == 10
    assert sample["region_mask"].sum() == 8 * 5 + 4 * 2  # word box + don't-care box
    expected_ignore = torch.zeros(1, 10, 12, dtype=torch.bool)
    expected_ignore[0, 8:10, 0:4] = True
    assert torch.equal(sample["ignore"], expected_ignore)


def test_absent_ground_truth_gives_zeros_and_false_flags():
    sample = annotation_to_sample(_annotation(with_pixel=False, with_polygons=False))
    assert not sample["has_pixel"] and not sample["has_region"]
    assert sample["pixel_mask"].sum() == 0 and sample["region_mask"].sum() == 0
    assert not sample["ignore"].any()


def test_an_empty_polygon_list_is_a_known_empty_region():
    annotation = make_annotation("empty", torch.rand(3, 4, 4), polygons=[])
    sample = annotation_to_sample(annotation)
    assert bool(sample["has_region"]) and sample["region_mask"].sum() == 0


@pytest.mark.parametrize(("kept", "has_pixel", "has_region"), [
    ("both", True, True), ("pixel", True, False), ("region", False, True)
])  # fmt: skip
def test_ground_truth_selection_drops_the_other_kind(kept, has_pixel, has_region):
    sample = annotation_to_sample(_annotation(), ground_truth=kept)
    assert bool(sample["has_pixel"]) == has_pixel and bool(sample["has_region"]) == has_region
    assert (sample["pixel_mask"].sum() > 0) == has_pixel
    assert (sample["region_mask"].sum() > 0) == has_region


def _write_scene_folder(root, sizes):
    for folder in ("images", "pixel_masks", "region_masks"):
        (root / folder).mkdir(parents=True)
    for index, (height, width) in enumerate(sizes):
        rng = np.random.default_rng(index)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            root / "images" / f"s{index}.png"
        )
        mask = np.zeros((height, width), dtype=np.uint8)
        mask[height // 4 : height // 2, width // 4 : width // 2] = 255
        Image.fromarray(mask).save(root / "pixel_masks" / f"s{index}.png")
        Image.fromarray(mask).save(root / "region_masks" / f"s{index}.png")


def test_fixed_size_resizes_masks_with_nearest_and_batches_collate(tmp_path):
    _write_scene_folder(tmp_path, [(40, 64), (30, 20)])
    dataset = SyntheticScenes(tmp_path, size=16)
    batch = default_collate([dataset[0], dataset[1]])
    assert batch["image"].shape == (2, 3, 16, 16)
    assert batch["pixel_mask"].shape == batch["region_mask"].shape == (2, 1, 16, 16)
    assert batch["ignore"].shape == (2, 1, 16, 16) and batch["ignore"].dtype == torch.bool
    assert batch["has_pixel"].tolist() == [True, True] and batch["name"] == ["s0", "s1"]
    assert set(batch["pixel_mask"].unique().tolist()) == {0.0, 1.0}
    expected = torch.zeros(16, 16)
    expected[4:8, 4:8] = 1  # the quarter-to-half box, scaled
    assert torch.equal(batch["pixel_mask"][0, 0], expected)
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1


def test_size_may_be_height_and_width(tmp_path):
    _write_scene_folder(tmp_path, [(40, 64)])
    sample = SyntheticScenes(tmp_path, size=(8, 24))[0]
    assert sample["image"].shape == (3, 8, 24) and sample["region_mask"].shape == (1, 8, 24)


def test_invalid_ground_truth_choice_is_rejected(tmp_path):
    _write_scene_folder(tmp_path, [(8, 8)])
    with pytest.raises(ValueError, match="ground_truth must be one of both, pixel, region"):
        SyntheticScenes(tmp_path, ground_truth="polygon")


def test_registry_names_every_reader():
    assert DATASETS["totaltext"] is TotalText and DATASETS["coco-ts"] is COCOText
    assert DATASETS["synth"] is DATASETS["icdar2013-warp"] is SyntheticScenes
    own = {
        kind for kind, reader in DATASETS.items() if reader.__module__.startswith("segmentation.")
    }
    assert own == {
        "synth", "totaltext", "icdar2013", "icdar2013-warp", "coco-ts", "mlt-s", "textseg"
    }  # fmt: skip


def test_readers_from_outside_the_package_can_be_registered(tmp_path, monkeypatch):
    monkeypatch.setattr("segmentation.datasets.registry.DATASETS", dict(DATASETS))
    from segmentation.datasets import registry

    class Renamed(SyntheticScenes):
        pass

    register_dataset("Scenes-Copy", Renamed)
    assert registry.DATASETS["scenes-copy"] is Renamed
    _write_scene_folder(tmp_path, [(12, 12)])
    assert isinstance(registry.open_segmentation_dataset("scenes-copy", tmp_path), Renamed)


def test_registry_opens_a_folder_and_forwards_options(tmp_path):
    _write_scene_folder(tmp_path, [(12, 12)])
    dataset = open_segmentation_dataset("SYNTH", tmp_path, size=4, ground_truth="region")
    assert isinstance(dataset, SyntheticScenes) and len(dataset) == 1
    assert dataset[0]["image"].shape == (3, 4, 4) and not dataset[0]["has_pixel"]


def test_registry_rejects_unknown_kinds_and_missing_folders(tmp_path):
    with pytest.raises(DatasetFormatError, match="unknown dataset kind 'svt'; expected one of"):
        open_segmentation_dataset("svt", tmp_path)
    with pytest.raises(DatasetFormatError, match="nowhere: dataset folder not found"):
        open_segmentation_dataset("synth", tmp_path / "nowhere")


def test_missing_annotation_names_the_expected_file(tmp_path):
    (tmp_path / "gt_img_1.txt").write_text("")
    (tmp_path / "IMG_2.TXT").write_text("")
    found = match_annotations(tmp_path, ["img_1", "img_2"], ["gt_{stem}.txt", "{stem}.txt"])
    assert [path.name for path in found] == ["gt_img_1.txt", "IMG_2.TXT"]
    with pytest.raises(DatasetFormatError, match=r"gt_img_3\.txt: no annotation for image 'img_3'"):
        match_annotations(tmp_path, ["img_3"], ["gt_{stem}.txt"])
    (tmp_path / "gt_bw_7.png").write_bytes(b"")
    assert match_annotations(tmp_path, ["img_7"], ["gt_bw_{digits}"], images=True)[0].name == (
        "gt_bw_7.png"
    )
