"""The word-crop LMDB writer: exact bytes, map growth, atomicity, checks, gt.txt input."""

from __future__ import annotations

import logging
import os

import lmdb
import pytest

from tests.textmask_ocr.word_samples import LABELS, encode, noise_image, word_records
from textmask_ocr.atomic import output_lock
from textmask_ocr.data import lmdb_writer
from textmask_ocr.data.folder_dataset import read_gt_file, write_word_folder
from textmask_ocr.data.lmdb_format import NUM_SAMPLES_KEY, WordLmdb
from textmask_ocr.data.lmdb_writer import write_word_lmdb, write_word_lmdb_from_gt
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError


def _read_all(path) -> list[WordRecord]:
    with WordLmdb(path) as db:
        return [record for _, record in db.records()]


def _all_keys(path) -> list[bytes]:
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        keys = [key for key, _ in txn.cursor()]
    env.close()
    return keys


def test_writes_exact_bytes_keys_and_count(tmp_path) -> None:
    records = word_records(LABELS[:4])
    records[1] = WordRecord(records[1].image, records[1].label, None)
    assert write_word_lmdb(tmp_path / "db", records) == 4
    assert _read_all(tmp_path / "db") == records
    keys = _all_keys(tmp_path / "db")
    assert len(keys) == 1 + 4 + 4 + 3
    assert NUM_SAMPLES_KEY in keys
    assert b"mask-000000002" not in keys
    assert sorted(os.listdir(tmp_path)) == ["db"]


def test_unicode_labels_are_utf8(tmp_path) -> None:
    labels = ["café", "日本語", "naïve ß"]
    write_word_lmdb(tmp_path / "db", word_records(labels))
    assert [record.label for record in _read_all(tmp_path / "db")] == labels


def test_map_grows_by_doubling(tmp_path, caplog) -> None:
    # 40 incompressible 48x48 RGB PNGs (~7 KB each) need ~300 KB: 16 KiB -> 512 KiB.
    records = [
        WordRecord(encode(noise_image(48, 48, seed)), f"w{seed}", None) for seed in range(40)
    ]
    caplog.set_level(logging.DEBUG, logger="textmask_ocr.data.lmdb_writer")
    write_word_lmdb(tmp_path / "db", records, initial_map_size=16 * 1024)
    sizes = [int(r.getMessage().rsplit(" ", 2)[-2]) for r in caplog.records if "map full" in r.msg]
    assert len(sizes) >= 4
    assert sizes == [16 * 1024 * 2**k for k in range(1, len(sizes) + 1)]
    assert _read_all(tmp_path / "db") == records


def test_interrupted_write_leaves_nothing(tmp_path) -> None:
    records = word_records(LABELS)

    def interrupted():
        yield from records[:5]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_word_lmdb(tmp_path / "db", interrupted())
    assert os.listdir(tmp_path) == []


def test_interrupted_rewrite_keeps_the_old_lmdb(tmp_path) -> None:
    old = word_records(LABELS[:2])
    write_word_lmdb(tmp_path / "db", old)

    def failing():
        yield word_records(["new"])[0]
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        write_word_lmdb(tmp_path / "db", failing(), overwrite=True)
    assert _read_all(tmp_path / "db") == old
    assert os.listdir(tmp_path) == ["db"]


def test_replaces_an_existing_lmdb_only_when_asked(tmp_path) -> None:
    write_word_lmdb(tmp_path / "db", word_records(LABELS))
    new = word_records(["x"], seed=7)
    with pytest.raises(InputError, match="db: already exists; pass --overwrite to replace it"):
        write_word_lmdb(tmp_path / "db", new)
    assert write_word_lmdb(tmp_path / "db", new, overwrite=True) == 1
    assert _read_all(tmp_path / "db") == new


def test_killed_job_continues_from_its_last_commit(tmp_path, monkeypatch) -> None:
    """A job killed after a commit leaves its partial LMDB; the same job continues it (only the
    remaining records are produced) to the same bytes, another job starts afresh."""
    monkeypatch.setattr(lmdb_writer, "BATCH_SAMPLES", 2)
    records = word_records(LABELS)
    produced: list[int] = []

    def records_from(done: int):
        produced.append(done)
        for record in records[done:]:
            if len(produced) == 1 and record is records[5]:
                raise KeyboardInterrupt  # killed: samples 1-4 were committed
            yield record

    with pytest.raises(KeyboardInterrupt):
        write_word_lmdb(tmp_path / "db", records_from, job="words v1")
    assert os.listdir(tmp_path) == [".db.partial"]
    assert write_word_lmdb(tmp_path / "db", records_from, job="words v1") == len(records)
    assert produced == [0, 4]
    assert _read_all(tmp_path / "db") == records
    assert sorted(os.listdir(tmp_path)) == ["db"]

    with pytest.raises(KeyboardInterrupt):
        produced.clear()
        write_word_lmdb(tmp_path / "again", records_from, job="words v1")
    write_word_lmdb(tmp_path / "again", records_from, job="words v2")  # not the same job
    assert produced == [0, 0] and _read_all(tmp_path / "again") == records


def test_a_second_writer_of_one_output_is_refused(tmp_path) -> None:
    with (
        output_lock(tmp_path / "db"),
        pytest.raises(InputError, match="db: another process is writing it"),
    ):
        write_word_lmdb(tmp_path / "db", word_records(LABELS))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("existing", ["file", "folder"])
def test_refuses_to_replace_something_else(tmp_path, existing) -> None:
    out = tmp_path / "out"
    if existing == "file":
        out.write_text("keep me")
        match = "exists and is not a folder"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        match = "exists and is not an LMDB folder"
    with pytest.raises(InputError, match=match):
        write_word_lmdb(out, word_records(["a"]))
    assert "keep me" in (out.read_text() if existing == "file" else (out / "notes.txt").read_text())


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (lambda r: WordRecord(b"\x89PNG\r\n\x1a\n junk", r.label, r.mask), "image does not decode"),
        (lambda r: WordRecord(r.image, r.label, r.image), "mask is mode 'RGB'"),
        (
            lambda r: WordRecord(r.image, r.label, encode(noise_image(3, 3, 0, "L"))),
            "mask is 3x3, image is 11x6",
        ),
    ],
)
def test_bad_record_is_named_and_nothing_written(tmp_path, broken, match) -> None:
    records = word_records(LABELS[:5])
    records[3] = broken(records[3])
    with pytest.raises(InputError, match=f"^record 4: {match}"):
        write_word_lmdb(tmp_path / "db", records)
    assert os.listdir(tmp_path) == []


def _gt_folder(tmp_path, lines: list[str]):
    root = tmp_path / "crops"
    (root / "img").mkdir(parents=True)
    for i, record in enumerate(word_records(LABELS[:3])):
        (root / "img" / f"{i}.png").write_bytes(record.image)
        (root / "img" / f"{i}_mask.png").write_bytes(record.mask)
    (root / "gt.txt").write_text("".join(lines), encoding="utf-8")
    return root


def test_from_gt_with_masks_bom_crlf_and_blank_lines(tmp_path) -> None:
    records = word_records(LABELS[:3])
    lines = [
        "\ufeffimg/0.png\thello\timg/0_mask.png\r\n",
        "\n",
        "img/1.png\tWorld with space\r\n",
        "img/2.png\t42\timg/2_mask.png",
    ]
    root = _gt_folder(tmp_path, lines)
    assert write_word_lmdb_from_gt(root / "gt.txt", tmp_path / "db", quiet=True) == 3
    expected = [
        records[0],
        WordRecord(records[1].image, "World with space", None),
        records[2],
    ]
    assert _read_all(tmp_path / "db") == expected
    assert write_word_lmdb_from_gt(root, tmp_path / "db2") == 3  # the folder works too


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("img/0.png hello\n", r"gt\.txt:2: expected 'image<TAB>label'"),
        ("img/0.png\ta\tb\tc\n", r"gt\.txt:2: expected"),
        ("\thello\n", r"gt\.txt:2: expected"),
        ("img/9.png\thello\n", r"gt\.txt:2: image file .*9\.png' not found"),
        ("img/0.png\thello\timg/9_mask.png\n", r"gt\.txt:2: mask file .*9_mask\.png' not found"),
    ],
)
def test_from_gt_bad_lines_name_file_and_line(tmp_path, line, match) -> None:
    root = _gt_folder(tmp_path, ["img/1.png\tok\n", line])
    with pytest.raises(InputError, match=match):
        write_word_lmdb_from_gt(root / "gt.txt", tmp_path / "db")
    assert not (tmp_path / "db").exists()


def test_from_gt_undecodable_image_names_line(tmp_path) -> None:
    root = _gt_folder(tmp_path, ["img/1.png\tok\n", "img/bad.png\tbad\n"])
    (root / "img" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"gt\.txt:2: image does not decode"):
        write_word_lmdb_from_gt(root / "gt.txt", tmp_path / "db")
    assert not (tmp_path / "db").exists()


def test_from_gt_rejects_non_utf8_and_missing_file(tmp_path) -> None:
    (tmp_path / "gt.txt").write_bytes(b"a.png\t\xff\xfe\n")
    with pytest.raises(InputError, match=r"gt\.txt:1: not UTF-8 text \(byte 6\)"):
        write_word_lmdb_from_gt(tmp_path / "gt.txt", tmp_path / "db")
    with pytest.raises(InputError, match=r"absent\.txt: no such label file"):
        write_word_lmdb_from_gt(tmp_path / "absent.txt", tmp_path / "db")


def test_round_trip_write_export_create(tmp_path) -> None:
    records = word_records(LABELS)
    records[4] = WordRecord(records[4].image, "spaced  label ", records[4].mask)
    write_word_lmdb(tmp_path / "a.lmdb", records)
    with WordLmdb(tmp_path / "a.lmdb") as db:
        assert write_word_folder(tmp_path / "exported", db.records(), quiet=True) == len(records)
    assert [entry.mask is not None for entry in read_gt_file(tmp_path / "exported")] == [
        True
    ] * len(records)
    write_word_lmdb_from_gt(tmp_path / "exported" / "gt.txt", tmp_path / "b.lmdb")
    assert _read_all(tmp_path / "b.lmdb") == records
    assert _all_keys(tmp_path / "a.lmdb") == _all_keys(tmp_path / "b.lmdb")
