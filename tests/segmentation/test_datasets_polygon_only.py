"""COCO-TS (COCO-Text JSON) and MLT-S (ICDAR-MLT text files): polygon-level ground truth only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.datasets import MLT, COCOText, DatasetFormatError, rasterize_polygons
from segmentation.datasets.polygon_only import parse_coco_text, parse_mlt_txt
from segmentation.datasets.polygons import rectangle

TRAIN_A = "COCO_train2014_000000000001.jpg"
TRAIN_B = "COCO_train2014_000000000002.jpg"
VAL_C = "COCO_train2014_000000000003.jpg"


def _coco_json(path):
    content = {
        "cats": {},
        "imgToAnns": {},
        "imgs": {
            "1": {"id": 1, "file_name": TRAIN_A, "set": "train", "width": 40, "height": 30},
            "2": {"id": 2, "file_name": TRAIN_B, "set": "train", "width": 40, "height": 30},
            "3": {"id": 3, "file_name": VAL_C, "set": "val", "width": 40, "height": 30},
        },
        "anns": {
            "10": {
                "image_id": 1,
                "mask": [2, 3, 20, 3, 24, 12, 4, 10],
                "bbox": [2, 3, 22, 9],
                "utf8_string": "STOP",
                "legibility": "legible",
            },
            "11": {"image_id": 1, "bbox": [30, 20, 5, 4], "legibility": "illegible"},
            "12": {"image_id": 2, "polygon": [1, 1, 9, 1, 9, 5], "utf8_string": "x"},
            "13": {"image_id": 3, "mask": [], "bbox": [0, 0, 3, 3], "utf8_string": "v"},
        },
    }
    path.write_text(json.dumps(content))
    return path


def _coco_tree(root):
    _coco_json(root / "COCO_Text.json")
    (root / "train2014").mkdir()
    for name in (TRAIN_A, TRAIN_B, VAL_C, "COCO_train2014_000000000099.jpg"):
        Image.new("RGB", (40, 30), (120, 130, 140)).save(root / "train2014" / name)


def test_coco_text_polygons_bboxes_and_legibility(tmp_path):
    words = parse_coco_text(_coco_json(tmp_path / "c.json"), split="train")
    assert sorted(words) == [TRAIN_A, TRAIN_B]
    stop, illegible = words[TRAIN_A]
    assert stop.text == "STOP" and not stop.dont_care
    assert stop.points.tolist() == [[2, 3], [20, 3], [24, 12], [4, 10]]
    assert illegible.dont_care and np.array_equal(illegible.points, rectangle(30, 20, 35, 24))
    assert words[TRAIN_B][0].points.tolist() == [[1, 1], [9, 1], [9, 5]]
    assert list(parse_coco_text(tmp_path / "c.json", split="val")) == [VAL_C]
    assert len(parse_coco_text(tmp_path / "c.json", split=None)) == 3


def test_coco_ts_reader_uses_images_that_have_words(tmp_path):
    _coco_tree(tmp_path)
    dataset = COCOText(tmp_path)
    assert dataset.names == [TRAIN_A[:-4], TRAIN_B[:-4]]
    sample = dataset[0]
    assert not sample["has_pixel"] and sample["has_region"] and sample["pixel_mask"].sum() == 0
    stop = np.array([[2, 3], [20, 3], [24, 12], [4, 10]])
    expected = rasterize_polygons([stop, rectangle(30, 20, 35, 24)], 30, 40)
    assert torch.equal(sample["region_mask"][0], torch.from_numpy(expected).float())
    ignore = torch.zeros(30, 40, dtype=torch.bool)
    ignore[20:25, 30:36] = True
    assert torch.equal(sample["ignore"][0], ignore)
    assert COCOText(tmp_path, split="val").names == [VAL_C[:-4]]
    assert len(COCOText(tmp_path, split=None)) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"anns": {}}', r"not a COCO-Text file \(no 'imgs' table\)"),
        ('{"imgs": {}, "anns": {"5": {"image_id": 7}}}', "annotation 5 refers to unknown image 7"),
        (
            '{"imgs": {"1": {"file_name": "a.jpg", "set": "train"}}, '
            '"anns": {"5": {"image_id": 1, "mask": [1, 2, 3]}}}',
            "annotation 5: 'mask' has 3 numbers",
        ),
        (
            '{"imgs": {"1": {"set": "train"}}, '
            '"anns": {"5": {"image_id": 1, "bbox": [0, 0, 1, 1]}}}',
            r"annotation 5: malformed \(KeyError\('file_name'\)\)",
        ),
    ],
)
def test_bad_coco_text_files_are_reported(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=rf"bad\.json: {message}"):
        parse_coco_text(path)


def test_coco_ts_reports_missing_annotations_and_unmatched_images(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "other.jpg")
    with pytest.raises(DatasetFormatError, match=r"no COCO-Text annotations \(cocotext\.v2\.json"):
        COCOText(tmp_path)
    _coco_json(tmp_path / "cocotext.v2.json")
    with pytest.raises(
        DatasetFormatError, match="images: none of its images has words in cocotext"
    ):
        COCOText(tmp_path)


MLT_LINES = (
    "\ufeff10,5,40,5,40,20,10,20,Latin,Hello, world\n"
    "50,5,70,8,68,25,49,22,Arabic,###\n"
    "\n"
    "1,1,5,1,5,4,1,4,Symbols,$\n"
)


def test_mlt_lines_keep_commas_in_transcriptions(tmp_path):
    path = tmp_path / "gt_img_1.txt"
    path.write_text(MLT_LINES, encoding="utf-8")
    first, second, third = parse_mlt_txt(path)
    assert first.text == "Hello, world" and not first.dont_care
    assert first.points.tolist() == [[10, 5], [40, 5], [40, 20], [10, 20]]
    assert second.text == "###" and second.dont_care
    assert third.text == "$" and third.points.tolist() == [[1, 1], [5, 1], [5, 4], [1, 4]]


def test_malformed_mlt_lines_name_file_and_line(tmp_path):
    path = tmp_path / "gt_img_2.txt"
    path.write_text("1,2,3,4,5,6,7,8,Latin,ok\n1,2,3,4,5,6,7,Latin,short\n")
    with pytest.raises(DatasetFormatError, match=r"gt_img_2\.txt: line 2: bad coordinates"):
        parse_mlt_txt(path)
    path.write_text("1,2,3\n")
    with pytest.raises(DatasetFormatError, match=r"line 1: expected x1,y1,\.\.\.,x4,y4,script"):
        parse_mlt_txt(path)


def test_mlt_s_reader(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "gt").mkdir()
    Image.new("RGB", (80, 30), "white").save(tmp_path / "images" / "img_1.jpg")
    Image.new("L", (80, 30), 128).save(tmp_path / "images" / "img_2.png")
    (tmp_path / "gt" / "gt_img_1.txt").write_text(MLT_LINES, encoding="utf-8")
    (tmp_path / "gt" / "gt_img_2.txt").write_text("")
    dataset = MLT(tmp_path)
    first, second = dataset[0], dataset[1]
    assert not first["has_pixel"] and first["has_region"]
    polygons = parse_mlt_txt(tmp_path / "gt" / "gt_img_1.txt")
    region = rasterize_polygons([p.points for p in polygons], 30, 80)
    assert torch.equal(first["region_mask"][0], torch.from_numpy(region).float())
    assert torch.equal(
        first["ignore"][0], torch.from_numpy(rasterize_polygons([polygons[1].points], 30, 80))
    )
    assert second["has_region"] and second["region_mask"].sum() == 0  # a scene without words
    assert torch.allclose(second["image"], torch.full((3, 30, 80), 128 / 255))
    (tmp_path / "gt" / "gt_img_2.txt").unlink()
    with pytest.raises(DatasetFormatError, match=r"gt_img_2\.txt: no annotation for image 'img_2'"):
        MLT(tmp_path)
