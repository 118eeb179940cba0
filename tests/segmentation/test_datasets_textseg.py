"""TextSeg: ``maskfg`` label values, word polygons and splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.datasets import DatasetFormatError, TextSeg, rasterize_polygons
from segmentation.datasets.polygons import rectangle
from segmentation.datasets.textseg import decode_textseg_mask, parse_textseg_words

LEVELS = np.array([[0, 100, 200, 255, 50]], dtype=np.uint8)


@pytest.mark.parametrize(
    ("decoration", "text", "ignore"),
    [
        ("text", [0, 1, 1, 0, 1], [0, 0, 0, 1, 0]),
        ("ignore", [0, 1, 0, 0, 1], [0, 0, 1, 1, 0]),
        ("background", [0, 1, 0, 0, 1], [0, 0, 0, 1, 0]),
    ],
)
def test_label_values(decoration, text, ignore):
    decoded_text, decoded_ignore = decode_textseg_mask(LEVELS, decoration)
    assert decoded_text[0].astype(int).tolist() == text
    assert decoded_ignore[0].astype(int).tolist() == ignore


def _textseg_tree(root):
    for folder in ("image", "semantic_label", "annotation"):
        (root / folder).mkdir(parents=True)
    for index, stem in enumerate(["a00001", "a00002", "a00003"]):
        Image.new("RGB", (32, 24), (index, 0, 0)).save(root / "image" / f"{stem}.jpg")
        levels = np.zeros((24, 32), dtype=np.uint8)
        levels[4:8, 4:20] = 100
        levels[8:9, 4:20] = 200
        levels[20:24, 0:4] = 255
        Image.fromarray(levels).save(root / "semantic_label" / f"{stem}_maskfg.png")
        words = {
            "0000": {"text": "HI", "bbox": [2, 2, 22, 2, 22, 10, 2, 10], "char": {}},
            "0001": {"text": "yo", "bbox": [25, 15, 30, 20]},
        }
        (root / "annotation" / f"{stem}_anno.json").write_text(json.dumps(words))
    (root / "split.json").write_text(json.dumps({"train": ["a00003", "a00001"], "val": ["a00002"]}))


def test_reader_gives_pixel_region_and_ignore(tmp_path):
    _textseg_tree(tmp_path)
    dataset = TextSeg(tmp_path)
    assert dataset.names == ["a00001", "a00002", "a00003"]
    sample = dataset[0]
    pixel = torch.zeros(24, 32)
    pixel[4:9, 4:20] = 1
    ignore = torch.zeros(24, 32, dtype=torch.bool)
    ignore[20:24, 0:4] = True
    assert torch.equal(sample["pixel_mask"][0], pixel)
    assert torch.equal(sample["ignore"][0], ignore)
    region = rasterize_polygons([rectangle(2, 2, 22, 10), rectangle(25, 15, 30, 20)], 24, 32)
    assert torch.equal(sample["region_mask"][0], torch.from_numpy(region).float())
    assert sample["has_pixel"] and sample["has_region"]
    assert TextSeg(tmp_path, decoration="background")[0]["pixel_mask"].sum() == 4 * 16


def test_split_file_selects_and_sorts(tmp_path):
    _textseg_tree(tmp_path)
    assert TextSeg(tmp_path, split="train").names == ["a00001", "a00003"]
    assert TextSeg(tmp_path, split="val").names == ["a00002"]
    with pytest.raises(DatasetFormatError, match=r"split\.json: no list for split 'test'"):
        TextSeg(tmp_path, split="test")
    (tmp_path / "split.json").write_text(json.dumps({"test": ["a00009"]}))
    with pytest.raises(DatasetFormatError, match="split 'test' names missing image 'a00009'"):
        TextSeg(tmp_path, split="test")


def test_without_annotations_there_is_no_region(tmp_path):
    _textseg_tree(tmp_path)
    for path in (tmp_path / "annotation").iterdir():
        path.unlink()
    (tmp_path / "annotation").rmdir()
    sample = TextSeg(tmp_path)[1]
    assert sample["has_pixel"] and not sample["has_region"]


def test_bad_word_boxes_and_missing_masks(tmp_path):
    path = tmp_path / "x_anno.json"
    path.write_text(json.dumps({"0000": {"text": "a", "bbox": [1, 2, 3]}}))
    with pytest.raises(DatasetFormatError, match=r"x_anno\.json: word 0000: 'bbox' has 3 numbers"):
        parse_textseg_words(path)
    path.write_text(json.dumps({"0007": {"text": "a"}}))
    with pytest.raises(DatasetFormatError, match="word 0007: no numeric 'bbox'"):
        parse_textseg_words(path)
    _textseg_tree(tmp_path / "t")
    (tmp_path / "t" / "semantic_label" / "a00002_maskfg.png").unlink()
    with pytest.raises(DatasetFormatError, match="a00002_maskfg: no mask for image 'a00002'"):
        TextSeg(tmp_path / "t")
