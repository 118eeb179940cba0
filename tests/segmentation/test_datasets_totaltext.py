"""Total-Text: the real annotation files (legacy .txt and .mat) and the dataset reader."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.datasets import DatasetFormatError, TotalText, rasterize_polygons
from segmentation.datasets.totaltext import (
    parse_totaltext_mat,
    parse_totaltext_txt,
    read_totaltext_polygons,
)

IMG2_TEXTS = ["nauGHTY", "NURIS", "NURIS", "nauGHTY", "EST", "1996", "warunG", "#", "#"]


def _annotations(shared_fixtures):
    return shared_fixtures / "totaltext_annotations"


def test_legacy_txt_of_img2_is_parsed_exactly(shared_fixtures):
    polygons = parse_totaltext_txt(_annotations(shared_fixtures) / "poly_gt_img2.txt")
    assert [p.text for p in polygons] == IMG2_TEXTS
    assert [len(p.points) for p in polygons] == [4, 4, 4, 8, 4, 4, 8, 8, 8]
    assert polygons[0].points.tolist() == [[115, 322], [503, 346], [494, 426], [115, 404]]
    assert polygons[1].points.tolist() == [[734, 360], [1058, 369], [1061, 449], [744, 430]]
    assert polygons[3].points[:, 0].tolist() == [562, 595, 651, 687, 653, 637, 604, 588]
    assert polygons[3].points[:, 1].tolist() == [347, 304, 305, 360, 366, 334, 332, 361]
    assert [p.dont_care for p in polygons] == [False] * 7 + [True, True]


def test_mat_and_txt_forms_of_img2_agree(shared_fixtures):
    folder = _annotations(shared_fixtures)
    from_txt = parse_totaltext_txt(folder / "poly_gt_img2.txt")
    from_mat = parse_totaltext_mat(folder / "poly_gt_img2.mat")
    assert len(from_mat) == len(from_txt) == 9
    for a, b in zip(from_txt, from_mat, strict=True):
        assert np.array_equal(a.points, b.points) and a.text == b.text
        assert a.dont_care == b.dont_care


def test_every_mat_example_is_parsed_exactly(shared_fixtures):
    folder = _annotations(shared_fixtures)
    parsed = {i: parse_totaltext_mat(folder / f"poly_gt_img{i}.mat") for i in range(1, 6)}
    assert [len(parsed[i]) for i in range(1, 6)] == [1, 9, 4, 12, 1]
    (petrosains,) = parsed[1]
    assert petrosains.text == "PETROSAINS" and not petrosains.dont_care
    assert petrosains.points[:, 0].tolist() == [206, 251, 386, 542, 620, 646, 550, 358, 189, 140]
    assert petrosains.points[:, 1].tolist() == [633, 811, 931, 946, 926, 976, 1009, 989, 845, 629]
    assert [p.text for p in parsed[3]] == ["KELUAR", "naughty", "NURS", "restaurant"]
    assert [len(p.points) for p in parsed[3]] == [4, 6, 6, 8]
    assert [p.dont_care for p in parsed[4]] == [False, True] + [False] * 10
    assert parsed[4][1].points.tolist() == [[168, 43], [186, 44], [187, 63], [170, 63]]
    assert parsed[5][0].text == "MEXOUT" and len(parsed[5][0].points) == 8


def test_wrapped_records_and_quoted_transcriptions(tmp_path):
    path = tmp_path / "poly_gt_img9.txt"
    path.write_text(
        "x: [[1 20 20\n  1]], y: [[2 2 9 9]], ornt: [u'h'], transcriptions: [u\"don't\"]\n"
        "x: [[5, 6, 7]], y: [[5, 8, 5]], ornt: [u'#'], transcriptions: [u'caf\\xe9']\n"
    )
    first, second = parse_totaltext_txt(path)
    assert first.text == "don't" and first.points.tolist() == [[1, 2], [20, 2], [20, 9], [1, 9]]
    assert second.text == "café" and second.dont_care
    assert second.points.tolist() == [[5, 5], [6, 8], [7, 5]]


def test_malformed_txt_names_file_and_line(tmp_path):
    path = tmp_path / "poly_gt_bad.txt"
    path.write_text(
        "x: [[1 2 3]], y: [[1 2 3]], ornt: [u'h'], transcriptions: [u'a']\nx: [[1 2 3]] oops\n"
    )
    with pytest.raises(DatasetFormatError, match=r"poly_gt_bad\.txt: line 2: not a Total-Text"):
        parse_totaltext_txt(path)
    path.write_text("x: [[1 2 3]], y: [[1 2]], ornt: [u'h'], transcriptions: [u'a']\n")
    with pytest.raises(DatasetFormatError, match="has 3 x and 2 y coordinates"):
        parse_totaltext_txt(path)
    path.write_text("x: [[1 2 3]], y: [[1 2 3]], ornt: [u'h'], transcriptions: [u'\\x']\n")
    with pytest.raises(DatasetFormatError, match="line 1: bad quoted string"):
        parse_totaltext_txt(path)


def test_malformed_mat_files_are_reported(tmp_path):
    savemat = pytest.importorskip("scipy.io", reason="the .mat reader is the [mat] extra").savemat

    savemat(tmp_path / "poly_gt_a.mat", {"other": np.zeros(3)})
    with pytest.raises(DatasetFormatError, match=r"poly_gt_a\.mat: no 'polygt' variable"):
        parse_totaltext_mat(tmp_path / "poly_gt_a.mat")
    row = np.array([["x:", "abc", "y:", np.array([[1, 2, 3]]), "t", "h"]], dtype=object)
    savemat(tmp_path / "poly_gt_b.mat", {"polygt": row})
    with pytest.raises(DatasetFormatError, match=r"poly_gt_b\.mat: polygon 1: bad coordinates"):
        parse_totaltext_mat(tmp_path / "poly_gt_b.mat")
    (tmp_path / "poly_gt_c.mat").write_bytes(b"MATLAB? no")
    with pytest.raises(DatasetFormatError, match=r"poly_gt_c\.mat: cannot read MATLAB file"):
        parse_totaltext_mat(tmp_path / "poly_gt_c.mat")


def test_mat_without_scipy_explains_the_extra(shared_fixtures, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(
        DatasetFormatError, match=r"needs scipy \(pip install textmask-ocr\[mat\]\)"
    ):
        read_totaltext_polygons(_annotations(shared_fixtures) / "poly_gt_img1.mat")


def test_reader_on_the_real_annotations_rasterises_regions(shared_fixtures, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(1, 6):
        Image.new("RGB", (1100, 1050), (i, 2 * i, 3 * i)).save(images / f"img{i}.png")
    folder = _annotations(shared_fixtures)
    dataset = TotalText(tmp_path, images_dir="images", polygons_dir=folder)
    assert dataset.names == ["img1", "img2", "img3", "img4", "img5"]
    assert dataset.polygon_paths[1].name == "poly_gt_img2.txt"  # the text form wins over .mat
    assert dataset.polygon_paths[0].name == "poly_gt_img1.mat"
    sample = dataset[1]
    assert not sample["has_pixel"] and sample["has_region"]
    polygons = parse_totaltext_txt(folder / "poly_gt_img2.txt")
    region = rasterize_polygons([p.points for p in polygons], 1050, 1100)
    dont_care = rasterize_polygons([p.points for p in polygons if p.dont_care], 1050, 1100)
    assert torch.equal(sample["region_mask"][0], torch.from_numpy(region).float())
    assert torch.equal(sample["ignore"][0], torch.from_numpy(dont_care))
    assert dont_care.sum() > 0
    assert torch.allclose(sample["image"][:, 0, 0], torch.tensor([2, 4, 6]) / 255)


def _layout(root, *, region_folder=False):
    """A two-image Total-Text tree with JPEG character masks and legacy polygons."""
    strokes = {}
    for folder in ("Images/Train", "Groundtruth/Polygon/Train", "Groundtruth/Pixel/Train"):
        (root / folder).mkdir(parents=True)
    for index, name in enumerate(["img11", "img12"]):
        Image.new("RGB", (60, 40), (200, 10 * index, 0)).save(root / f"Images/Train/{name}.png")
        mask = np.zeros((40, 60), dtype=np.uint8)
        mask[10:20, 5 + index : 9 + index] = 255
        mask[10:12, 5:30] = 255
        strokes[name] = mask > 0
        Image.fromarray(mask).save(root / f"Groundtruth/Pixel/Train/{name}.jpg", quality=90)
        (root / f"Groundtruth/Polygon/Train/poly_gt_{name}.txt").write_text(
            "x: [[3 32 32 3]], y: [[8 8 22 22]], ornt: [u'h'], transcriptions: [u'TEXT']\n"
            "x: [[40 50 45]], y: [[30 30 38]], ornt: [u'#'], transcriptions: [u'#']\n"
        )
    if region_folder:
        (root / "Groundtruth/TextRegion/Train").mkdir(parents=True)
        for name in strokes:
            region = np.zeros((40, 60), dtype=np.uint8)
            region[5:25, 0:35] = 255
            Image.fromarray(region).save(root / f"Groundtruth/TextRegion/Train/{name}.png")
    return strokes


def test_reader_finds_the_distributed_layout_and_reads_every_mask(tmp_path):
    strokes = _layout(tmp_path)
    dataset = TotalText(tmp_path, split="train")
    assert len(dataset) == 2
    sample = dataset[1]
    assert sample["name"] == "img12" and sample["has_pixel"] and sample["has_region"]
    assert torch.equal(sample["pixel_mask"][0], torch.from_numpy(strokes["img12"]).float())
    expected_region = np.zeros((40, 60), dtype=bool)
    expected_region[8:23, 3:33] = True
    expected_region |= rasterize_polygons([np.array([[40, 30], [50, 30], [45, 38]])], 40, 60)
    assert torch.equal(sample["region_mask"][0], torch.from_numpy(expected_region).float())
    assert sample["ignore"][0, 34, 45] and not sample["ignore"][0, 15, 15]
    assert not TotalText(tmp_path, ignore_dont_care=False)[1]["ignore"].any()


def test_region_mask_images_take_precedence_over_polygons(tmp_path):
    _layout(tmp_path, region_folder=True)
    sample = TotalText(tmp_path)[0]
    expected = torch.zeros(40, 60)
    expected[5:25, 0:35] = 1
    assert torch.equal(sample["region_mask"][0], expected)
    assert sample["ignore"][0, 34, 45]  # don't care still comes from the polygons


def test_missing_and_mismatched_files_are_reported(tmp_path):
    _layout(tmp_path)
    (tmp_path / "Groundtruth/Polygon/Train/poly_gt_img12.txt").unlink()
    with pytest.raises(DatasetFormatError, match=r"poly_gt_img12\.txt: no annotation for image"):
        TotalText(tmp_path)
    with pytest.raises(
        DatasetFormatError, match=r"no image folder \(looked for Images/Test; pass its path\)"
    ):
        TotalText(tmp_path, split="test")
    with pytest.raises(DatasetFormatError, match="elsewhere: polygon folder not found"):
        TotalText(tmp_path, polygons_dir="elsewhere")


def test_mask_of_another_size_is_reported(tmp_path):
    _layout(tmp_path)
    Image.new("L", (30, 20)).save(tmp_path / "Groundtruth/Pixel/Train/img11.jpg")
    dataset = TotalText(tmp_path, polygons_dir=None)
    with pytest.raises(
        DatasetFormatError, match=r"img11\.jpg: mask is 30x20 but its image is 60x40"
    ):
        dataset[0]
