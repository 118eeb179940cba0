"""ICDAR-2013: word-box files, both segmentation-map forms, and the reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.datasets import ICDAR2013, DatasetFormatError
from segmentation.datasets.icdar2013 import decode_icdar2013_segmentation, parse_icdar2013_boxes


def test_space_and_comma_separated_boxes(tmp_path):
    train = tmp_path / "gt_100.txt"
    train.write_text('38 43 920 215 "Tiredness"\n275 264 665 450 "kills"\n\n')
    test = tmp_path / "gt_img_1.txt"
    test.write_text('\ufeff38, 43, 920, 215, "Tired, \\"really\\""\r\n1, 2, 3, 4, ""\r\n')
    first, second = parse_icdar2013_boxes(train)
    assert first.text == "Tiredness" and second.text == "kills"
    assert first.points.tolist() == [[38, 43], [920, 43], [920, 215], [38, 215]]
    third, fourth = parse_icdar2013_boxes(test)
    assert third.text == 'Tired, \\"really\\"' and fourth.text == ""
    assert fourth.points.tolist() == [[1, 2], [3, 2], [3, 4], [1, 4]]


def test_malformed_box_lines_name_file_and_line(tmp_path):
    path = tmp_path / "gt_5.txt"
    path.write_text('1 2 3 4 "a"\n3843 920 "x"\n')
    with pytest.raises(DatasetFormatError, match=r'gt_5\.txt: line 2: expected x1 y1 x2 y2 "text"'):
        parse_icdar2013_boxes(path)
    path.write_text('10 2 3 4 "a"\n')
    with pytest.raises(DatasetFormatError, match="line 1: box corners out of order"):
        parse_icdar2013_boxes(path)


def test_colour_map_on_white_marks_every_coloured_pixel_as_text(tmp_path):
    rgb = np.full((6, 8, 3), 255, dtype=np.uint8)
    rgb[1, 1:3] = (10, 200, 30)  # character 1
    rgb[3:5, 5] = (0, 0, 0)  # character 2
    Image.fromarray(rgb).save(tmp_path / "100_GT.bmp")
    text, dont_care = decode_icdar2013_segmentation(tmp_path / "100_GT.bmp")
    expected = np.zeros((6, 8), dtype=bool)
    expected[1, 1:3] = expected[3:5, 5] = True
    assert np.array_equal(text, expected) and not dont_care.any()


def test_grey_map_has_text_and_dont_care_levels(tmp_path):
    levels = np.zeros((5, 5), dtype=np.uint8)
    levels[1, 1:4] = 255
    levels[3, 0:2] = 120
    Image.fromarray(levels).save(tmp_path / "gt_bw_1.png")
    text, dont_care = decode_icdar2013_segmentation(tmp_path / "gt_bw_1.png")
    assert np.array_equal(text, levels == 255) and np.array_equal(dont_care, levels == 120)


def _competition_layout(root, split="Training", names=("100", "101")):
    images = root / f"Challenge2_{split}_Task12_Images"
    boxes = root / f"Challenge2_{split}_Task1_GT"
    maps = root / f"Challenge2_{split}_Task2_GT"
    for folder in (images, boxes, maps):
        folder.mkdir(parents=True)
    for index, name in enumerate(names):
        Image.new("RGB", (48, 32), (90, 90, 90 + index)).save(images / f"{name}.png")
        separator = ", " if split == "Test" else " "
        (boxes / f"gt_{name}.txt").write_text(
            separator.join(["4", "6", "30", "14", '"WORD"']) + "\n"
        )
        if split == "Test":
            levels = np.zeros((32, 48), dtype=np.uint8)
            levels[8:12, 6:28] = 255
            levels[20:22, 40:44] = 120
            Image.fromarray(levels).save(maps / f"gt_bw_{name.split('_')[-1]}.png")
        else:
            rgb = np.full((32, 48, 3), 255, dtype=np.uint8)
            rgb[8:12, 6:28] = (200, 30, 30)
            Image.fromarray(rgb).save(maps / f"{name}_GT.bmp")
        (maps / f"{name}_GT.txt").write_text("character boxes, not read\n")


def test_training_split_reads_pixel_and_region_masks(tmp_path):
    _competition_layout(tmp_path)
    dataset = ICDAR2013(tmp_path, split="train")
    assert dataset.names == ["100", "101"] and dataset.pixel_paths[0].name == "100_GT.bmp"
    sample = dataset[1]
    pixel = torch.zeros(32, 48)
    pixel[8:12, 6:28] = 1
    region = torch.zeros(32, 48)
    region[6:15, 4:31] = 1
    assert torch.equal(sample["pixel_mask"][0], pixel)
    assert torch.equal(sample["region_mask"][0], region)
    assert sample["has_pixel"] and sample["has_region"] and not sample["ignore"].any()
    assert dataset.load_annotation(0).polygons[0].text == "WORD"


def test_test_split_reads_grey_maps_with_dont_care(tmp_path):
    _competition_layout(tmp_path, split="Test", names=("img_1", "img_2"))
    sample = ICDAR2013(tmp_path, split="test")[0]
    assert sample["name"] == "img_1"
    assert sample["pixel_mask"].sum() == 4 * 22
    ignore = torch.zeros(1, 32, 48, dtype=torch.bool)
    ignore[0, 20:22, 40:44] = True
    assert torch.equal(sample["ignore"], ignore)


def test_dropped_ground_truth_folders_are_not_needed(tmp_path):
    _competition_layout(tmp_path)
    maps = tmp_path / "Challenge2_Training_Task2_GT"
    for path in maps.iterdir():
        path.unlink()
    with pytest.raises(DatasetFormatError, match=r"100_GT: no mask for image '100'"):
        ICDAR2013(tmp_path)
    sample = ICDAR2013(tmp_path, ground_truth="region")[0]
    assert not sample["has_pixel"] and sample["has_region"] and sample["region_mask"].sum() > 0
    maps.rmdir()
    sample = ICDAR2013(tmp_path)[0]  # no Task 2 folder at all: boxes only
    assert not sample["has_pixel"] and sample["has_region"]


def test_missing_ground_truth_is_reported(tmp_path):
    _competition_layout(tmp_path)
    (tmp_path / "Challenge2_Training_Task1_GT/gt_101.txt").unlink()
    with pytest.raises(DatasetFormatError, match=r"gt_101\.txt: no annotation for image '101'"):
        ICDAR2013(tmp_path)
    assert len(ICDAR2013(tmp_path, ground_truth="pixel")) == 2  # boxes are not read
    with pytest.raises(DatasetFormatError, match="nowhere: word-box folder not found"):
        ICDAR2013(tmp_path, boxes_dir="nowhere")
    empty = tmp_path / "empty"
    (empty / "Challenge2_Training_Task12_Images").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(empty / "Challenge2_Training_Task12_Images/1.png")
    with pytest.raises(DatasetFormatError, match="no ICDAR-2013 ground truth folders found"):
        ICDAR2013(empty)
