"""Concatenated word sources, and opening a source by path."""

from __future__ import annotations

import pytest

from tests.textmask_ocr.word_samples import LABELS, word_records
from textmask_ocr.data.filtering import EMPTY_LABEL, OUTSIDE_ALPHABET
from textmask_ocr.data.folder_dataset import FolderWordDataset, write_word_folder
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.sampling import ConcatWordDataset, open_word_dataset
from textmask_ocr.errors import InputError


@pytest.fixture
def two_sources(tmp_path):
    write_word_lmdb(tmp_path / "a.lmdb", word_records(["", *LABELS[:3]]))
    folder_records = word_records(["x-y", "zz"], masks=False, seed=50)
    write_word_folder(tmp_path / "b", enumerate(folder_records, start=1))
    return tmp_path / "a.lmdb", tmp_path / "b"


def test_concat_word_dataset(two_sources) -> None:
    a = LmdbWordDataset(two_sources[0])
    b = FolderWordDataset(two_sources[1], alphabet="xyz")
    concat = ConcatWordDataset([a, b])
    assert concat.sizes == [3, 1]
    assert len(concat) == 4
    assert [concat[i]["label"] for i in range(4)] == [*LABELS[:3], "zz"]
    assert concat[3]["key"] == 2
    assert not concat.has_masks
    assert concat.filter_report[EMPTY_LABEL] == 1
    assert concat.filter_report[OUTSIDE_ALPHABET] == 1
    assert ConcatWordDataset([a]).has_masks


def test_open_word_dataset_by_path(two_sources, tmp_path) -> None:
    assert isinstance(open_word_dataset(two_sources[0]), LmdbWordDataset)
    assert isinstance(open_word_dataset(two_sources[1]), FolderWordDataset)
    folder = open_word_dataset(two_sources[1] / "gt.txt", alphabet="xyz")
    assert isinstance(folder, FolderWordDataset) and len(folder) == 1
    with pytest.raises(InputError, match="no such file or directory"):
        open_word_dataset(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"neither a word-crop LMDB \(data\.mdb\) nor"):
        open_word_dataset(tmp_path / "empty")
