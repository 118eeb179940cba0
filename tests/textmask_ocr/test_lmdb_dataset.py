"""LmdbWordDataset: items, counted filtering, read-time skips, pickling and DataLoader workers."""

from __future__ import annotations

import logging
import pickle

import lmdb
import numpy as np
import pytest
from torch.utils.data import DataLoader

from tests.textmask_ocr.word_samples import LABELS, word_records
from textmask_ocr.data.filtering import (
    BAD_MASK,
    EMPTY_LABEL,
    FILTER_REASONS,
    OUTSIDE_ALPHABET,
    TOO_LONG,
    UNDECODABLE_IMAGE,
    UNDECODABLE_LABEL,
)
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_format import decode_image, label_key
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError

# 1 ok, 2 empty, 3 outside "abc...z", 4 too long (> 6), 5 ok, 6 upper-case only
FILTER_LABELS = ["hello", "", "a-b", "toolonglabel", "ocr", "MASK"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def key_and_label(sample: dict) -> tuple[int, str]:
    """A picklable transform for spawn workers."""
    return sample["key"], sample["label"]


@pytest.fixture
def lmdb_path(tmp_path):
    path = tmp_path / "words.lmdb"
    write_word_lmdb(path, word_records(LABELS))
    return path


def test_real_fixture(shared_fixtures) -> None:
    dataset = LmdbWordDataset(shared_fixtures / "mmocr_toy/rec_toy_dataset/imgs.lmdb")
    assert len(dataset) == dataset.num_samples == 10
    assert not dataset.has_masks
    sample = dataset[0]
    assert sample["label"] == "GRAND"
    assert sample["key"] == 1
    assert sample["mask"] is None
    assert sample["image"].mode == "RGB"
    assert dataset.filter_report == dict.fromkeys(FILTER_REASONS, 0)


def test_broken_fixture(shared_fixtures) -> None:
    with pytest.raises(InputError, match=r"broken\.lmdb: corrupt word LMDB"):
        LmdbWordDataset(shared_fixtures / "mmocr_toy/rec_toy_dataset/broken.lmdb")


def test_items_match_the_written_records(lmdb_path) -> None:
    records = word_records(LABELS)
    dataset = LmdbWordDataset(lmdb_path)
    assert dataset.has_masks
    assert len(dataset) == len(records)
    for i, record in enumerate(records):
        sample = dataset[i]
        assert set(sample) == {"image", "label", "mask", "key"}
        assert sample["key"] == i + 1
        assert sample["label"] == record.label
        expected = np.asarray(decode_image(record.image).convert("RGB"))
        assert np.array_equal(np.asarray(sample["image"]), expected)
        assert sample["mask"].mode == "L"
        assert sample["mask"].size == sample["image"].size
        assert np.array_equal(np.asarray(sample["mask"]), np.asarray(decode_image(record.mask)))
    assert dataset[-1]["key"] == len(records)
    with pytest.raises(IndexError):
        dataset[len(records)]


def test_has_masks_false_when_one_sample_lacks_a_mask(tmp_path) -> None:
    records = word_records(LABELS[:3])
    records[1] = WordRecord(records[1].image, records[1].label, None)
    write_word_lmdb(tmp_path / "db", records)
    dataset = LmdbWordDataset(tmp_path / "db")
    assert not dataset.has_masks
    assert [dataset[i]["mask"] is None for i in range(3)] == [False, True, False]


def test_label_filters_are_counted_and_reported_once(tmp_path, caplog) -> None:
    write_word_lmdb(tmp_path / "db", word_records(FILTER_LABELS))
    with caplog.at_level(logging.WARNING, logger="textmask_ocr.data.filtering"):
        dataset = LmdbWordDataset(tmp_path / "db", alphabet=ALPHABET, max_label_length=6)
    assert dataset.keys == [1, 5]
    assert [dataset[i]["label"] for i in range(len(dataset))] == ["hello", "ocr"]
    report = dict.fromkeys(FILTER_REASONS, 0)
    report.update({EMPTY_LABEL: 1, OUTSIDE_ALPHABET: 2, TOO_LONG: 1})
    assert dataset.filter_report == report
    assert sum(report.values()) + len(dataset) == dataset.num_samples
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.endswith(
        "skipped 4 of 6 samples (empty label: 1, label with characters outside the alphabet: "
        "2, label longer than max_label_length: 1)"
    )


def test_lowercase_normalizes_before_filtering(tmp_path) -> None:
    write_word_lmdb(tmp_path / "db", word_records(FILTER_LABELS))
    dataset = LmdbWordDataset(tmp_path / "db", alphabet=ALPHABET, lowercase=True)
    assert [dataset[i]["label"] for i in range(len(dataset))] == [
        "hello",
        "toolonglabel",
        "ocr",
        "mask",
    ]
    assert dataset.filter_report[OUTSIDE_ALPHABET] == 1


def test_strip_symbols_drops_characters_outside_the_alphabet(tmp_path) -> None:
    labels = ["$4.50", "?!", "Don't", "a-b", "ocr"]
    write_word_lmdb(tmp_path / "db", word_records(labels))
    alphabet = ALPHABET + "0123456789"
    dataset = LmdbWordDataset(
        tmp_path / "db", alphabet=alphabet, lowercase=True, strip_symbols=True
    )
    expected = ["".join(c for c in label.lower() if c in alphabet) for label in labels]
    assert [dataset[i]["label"] for i in range(len(dataset))] == [
        label for label in expected if label
    ]
    assert dataset.keys == [1, 3, 4, 5]
    assert dataset.filter_report[EMPTY_LABEL] == 1
    assert dataset.filter_report[OUTSIDE_ALPHABET] == 0
    skipping = LmdbWordDataset(tmp_path / "db", alphabet=alphabet, lowercase=True)
    assert skipping.keys == [5]
    assert skipping.filter_report[OUTSIDE_ALPHABET] == 4


def test_strip_symbols_needs_an_alphabet(tmp_path) -> None:
    write_word_lmdb(tmp_path / "db", word_records(["ocr"]))
    with pytest.raises(
        InputError, match=r"^strip_symbols: needs an alphabet to tell the symbols by$"
    ):
        LmdbWordDataset(tmp_path / "db", strip_symbols=True)


def test_empty_labels_are_always_filtered(tmp_path) -> None:
    write_word_lmdb(tmp_path / "db", word_records(FILTER_LABELS))
    dataset = LmdbWordDataset(tmp_path / "db")
    assert dataset.keys == [1, 3, 4, 5, 6]
    assert dataset.filter_report[EMPTY_LABEL] == 1


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (["hello", ""], {}, "sample 2: empty label: ''"),
        (
            ["he", "a-b"],
            {"alphabet": "helo"},
            r"sample 2: label with characters outside the alphabet: 'a-b' has '-ab'",
        ),
        (
            ["ok", "toolonglabel"],
            {"max_label_length": 5},
            "sample 2: label longer than max_label_length: 'toolonglabel' has 12 > 5 characters",
        ),
    ],
)
def test_strict_raises_with_index_and_reason(tmp_path, labels, kwargs, match) -> None:
    write_word_lmdb(tmp_path / "db", word_records(labels))
    with pytest.raises(InputError, match=match):
        LmdbWordDataset(tmp_path / "db", strict=True, **kwargs)
    assert len(LmdbWordDataset(tmp_path / "db", **kwargs)) == 1


def test_option_values_are_checked(lmdb_path) -> None:
    with pytest.raises(InputError, match="max_label_length: must be >= 1"):
        LmdbWordDataset(lmdb_path, max_label_length=0)
    with pytest.raises(InputError, match="alphabet: empty"):
        LmdbWordDataset(lmdb_path, alphabet="")


def _corrupt_samples(path, values: dict[bytes, bytes]) -> None:
    env = lmdb.open(str(path))
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key, value)
    env.close()


def test_undecodable_image_is_counted_and_next_sample_returned(lmdb_path, caplog) -> None:
    _corrupt_samples(lmdb_path, {b"image-000000003": b"\x89PNG broken", b"mask-000000005": b"x"})
    dataset = LmdbWordDataset(lmdb_path)
    with caplog.at_level(logging.WARNING, logger="textmask_ocr.data.filtering"):
        keys = [dataset[i]["key"] for i in range(len(dataset))]
        again = [dataset[i]["key"] for i in range(len(dataset))]
    assert keys == again == [1, 2, 4, 4, 6, 6, 7, 8]
    assert dataset.filter_report[UNDECODABLE_IMAGE] == 1
    assert dataset.filter_report[BAD_MASK] == 1
    assert len(caplog.records) == 2  # each bad sample logged once, then remembered
    assert "sample 3 skipped at read time" in caplog.records[0].getMessage()


def test_undecodable_image_strict_raises(lmdb_path) -> None:
    _corrupt_samples(lmdb_path, {b"image-000000003": b"junk"})
    dataset = LmdbWordDataset(lmdb_path, strict=True)
    assert dataset[1]["key"] == 2
    with pytest.raises(InputError, match="sample 3: undecodable image: image does not decode"):
        dataset[2]


def test_wraps_around_and_raises_when_no_kept_image_decodes(tmp_path) -> None:
    write_word_lmdb(tmp_path / "db", word_records(["", "b", "c"]))
    _corrupt_samples(tmp_path / "db", {b"image-000000003": b"x"})
    dataset = LmdbWordDataset(tmp_path / "db")
    assert dataset.keys == [2, 3]
    assert dataset[1]["key"] == 2  # sample 3 does not decode: wraps around to sample 2
    del dataset  # releases the LMDB so that it can be opened for writing
    _corrupt_samples(tmp_path / "db", {b"image-000000002": b"x"})
    dataset = LmdbWordDataset(tmp_path / "db")  # sample 1 (empty label) still decodes
    with pytest.raises(InputError, match="no sample has an image that decodes"):
        dataset[0]
    assert dataset.filter_report[UNDECODABLE_IMAGE] == 2


def test_non_utf8_label_is_counted(lmdb_path) -> None:
    _corrupt_samples(lmdb_path, {label_key(2): b"\xff\xfe"})
    dataset = LmdbWordDataset(lmdb_path)
    assert dataset.filter_report[UNDECODABLE_LABEL] == 1
    assert 2 not in dataset.keys


def test_transform_is_applied(lmdb_path) -> None:
    dataset = LmdbWordDataset(lmdb_path, transform=key_and_label)
    assert dataset[0] == (1, LABELS[0])


def test_pickles_without_an_open_environment(lmdb_path) -> None:
    dataset = LmdbWordDataset(lmdb_path)
    assert dataset[0]["key"] == 1  # opens the environment in this process
    assert dataset._lmdb.is_open
    clone = pickle.loads(pickle.dumps(dataset))
    assert not clone._lmdb.is_open
    assert clone.keys == dataset.keys
    assert clone[len(LABELS) - 1]["label"] == LABELS[-1]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_read_every_sample_once(lmdb_path, context) -> None:
    dataset = LmdbWordDataset(lmdb_path, transform=key_and_label)
    dataset[0]  # the parent has its own environment open before the workers start
    loader = DataLoader(
        dataset, batch_size=3, num_workers=2, multiprocessing_context=context, collate_fn=list
    )
    pairs = [pair for batch in loader for pair in batch]
    assert sorted(pairs) == [(key, label) for key, label in enumerate(LABELS, start=1)]
