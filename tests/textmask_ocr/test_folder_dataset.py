"""Folder + gt.txt word data: parsing, the dataset, and writing folders."""

from __future__ import annotations

import numpy as np
import pytest

from tests.textmask_ocr.word_samples import LABELS, word_records
from textmask_ocr.data.filtering import FILTER_REASONS, OUTSIDE_ALPHABET, UNDECODABLE_IMAGE
from textmask_ocr.data.folder_dataset import (
    FolderWordDataset,
    read_gt_file,
    write_word_folder,
)
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_writer import write_word_lmdb_from_gt
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError


@pytest.fixture
def folder(tmp_path):
    records = word_records(LABELS)
    records[2] = WordRecord(records[2].image, records[2].label, None)
    out = tmp_path / "words"
    write_word_folder(out, enumerate(records, start=1), quiet=True)
    return out


def test_write_word_folder_layout(folder) -> None:
    lines = (folder / "gt.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"images/000000001.png\t{LABELS[0]}\tmasks/000000001.png"
    assert lines[2] == f"images/000000003.jpg\t{LABELS[2]}"  # JPEG bytes keep their extension
    assert len(lines) == len(LABELS)
    assert sorted(p.name for p in folder.iterdir()) == ["gt.txt", "images", "masks"]
    assert len(list((folder / "masks").iterdir())) == len(LABELS) - 1


def test_dataset_items(folder) -> None:
    records = word_records(LABELS)
    dataset = FolderWordDataset(folder)
    assert len(dataset) == dataset.num_samples == len(LABELS)
    assert not dataset.has_masks
    assert dataset.filter_report == dict.fromkeys(FILTER_REASONS, 0)
    sample = dataset[0]
    assert set(sample) == {"image", "label", "mask", "key"}
    assert sample["key"] == 1
    assert sample["label"] == LABELS[0]
    assert sample["image"].mode == "RGB"
    assert sample["mask"].mode == "L" and sample["mask"].size == sample["image"].size
    assert dataset[2]["mask"] is None
    assert (folder / "images/000000001.png").read_bytes() == records[0].image


def test_dataset_matches_lmdb_dataset_from_the_same_folder(folder, tmp_path) -> None:
    write_word_lmdb_from_gt(folder / "gt.txt", tmp_path / "db")
    from_folder = FolderWordDataset(folder / "gt.txt", alphabet="abcdefghijklmnopqrstuvwxyz")
    from_lmdb = LmdbWordDataset(tmp_path / "db", alphabet="abcdefghijklmnopqrstuvwxyz")
    assert from_folder.keys == from_lmdb.keys
    assert from_folder.filter_report == from_lmdb.filter_report
    assert from_folder.filter_report[OUTSIDE_ALPHABET] == 3  # "World", "42", "a-b"
    for i in range(len(from_folder)):
        a, b = from_folder[i], from_lmdb[i]
        assert (a["key"], a["label"]) == (b["key"], b["label"])
        assert np.array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
        assert (a["mask"] is None) == (b["mask"] is None)


def test_undecodable_image_is_skipped_at_read_time(folder) -> None:
    (folder / "images/000000002.png").write_bytes(b"broken")
    dataset = FolderWordDataset(folder)
    assert [dataset[i]["key"] for i in range(3)] == [1, 3, 3]
    assert dataset.filter_report[UNDECODABLE_IMAGE] == 1
    with pytest.raises(InputError, match="sample 2: undecodable image"):
        FolderWordDataset(folder, strict=True)[1]


def test_file_removed_after_construction_names_the_line(folder) -> None:
    dataset = FolderWordDataset(folder)
    (folder / "images/000000004.png").unlink()
    with pytest.raises(InputError, match=r"gt\.txt:4: No such file or directory"):
        dataset[3]


def test_read_gt_file_resolves_paths_and_keeps_labels_exactly(tmp_path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    absolute = tmp_path / "sub" / "b.png"
    absolute.parent.mkdir()
    absolute.write_bytes(b"")
    (tmp_path / "labels.txt").write_text(f"a.png\t two  words \n\n{absolute}\tx\tsub/b.png\n")
    entries = read_gt_file(tmp_path / "labels.txt")
    assert [(e.image, e.label, e.mask) for e in entries] == [
        (tmp_path / "a.png", " two  words ", None),
        (absolute, "x", absolute),
    ]
    assert [e.where.rsplit(":", 1)[1] for e in entries] == ["1", "3"]


def test_missing_gt_file(tmp_path) -> None:
    with pytest.raises(InputError, match=r"gt\.txt: no such label file"):
        FolderWordDataset(tmp_path)


def test_write_refuses_a_folder_that_is_not_a_word_folder(tmp_path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not a word folder"):
        write_word_folder(tmp_path, enumerate(word_records(["a"]), start=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_write_rejects_labels_with_tabs_or_line_breaks(tmp_path) -> None:
    records = word_records(["ok", "bad\tlabel"])
    with pytest.raises(InputError, match="sample 2: label 'bad\\\\tlabel' has a tab or line break"):
        write_word_folder(tmp_path / "out", enumerate(records, start=1))
    assert not (tmp_path / "out").exists()


def test_write_replaces_a_previous_export(folder) -> None:
    records = word_records(["new"], seed=9)
    assert write_word_folder(folder, enumerate(records, start=1)) == 1
    assert FolderWordDataset(folder).num_samples == 1
    assert not (folder / "images/000000002.png").exists()
