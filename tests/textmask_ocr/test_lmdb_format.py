"""The word-crop LMDB format: key names, record checks, and WordLmdb validation."""

from __future__ import annotations

import lmdb
import numpy as np
import pytest

from tests.textmask_ocr.word_samples import LABELS, encode, noise_image, word_records
from textmask_ocr.data.lmdb_format import (
    PROBE_SAMPLES,
    UndecodableError,
    WordLmdb,
    check_record,
    decode_image,
    decode_mask,
    decode_polygon,
    encode_polygon,
    image_key,
    label_key,
    mask_key,
    polygon_key,
)
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError


def _raw_lmdb(path, items: dict[bytes, bytes]) -> None:
    env = lmdb.open(str(path), map_size=2**20)
    with env.begin(write=True) as txn:
        for key, value in items.items():
            txn.put(key, value)
    env.close()


def test_key_names_are_nine_digit_one_based() -> None:
    assert image_key(1) == b"image-000000001"
    assert label_key(123456789) == b"label-123456789"
    assert mask_key(42) == b"mask-000000042"


def test_real_fixture_reads(shared_fixtures) -> None:
    with WordLmdb(shared_fixtures / "mmocr_toy/rec_toy_dataset/imgs.lmdb") as db:
        assert db.num_samples == 10
        labels = [raw.decode() for _, raw in db.iter_labels()]
        assert labels[0] == "GRAND"
        assert len(labels) == 10
        assert db.count_masks() == 0
        assert decode_image(db.read(1).image).size[0] > 0


def test_broken_fixture_is_one_line_error(shared_fixtures) -> None:
    path = shared_fixtures / "mmocr_toy/rec_toy_dataset/broken.lmdb"
    with pytest.raises(InputError, match=r"broken\.lmdb: corrupt word LMDB: image-000000001") as e:
        WordLmdb(path)
    assert "\n" not in str(e.value)


def test_missing_path(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        WordLmdb(tmp_path / "absent")


def test_a_file_is_not_an_lmdb(tmp_path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InputError, match=r"an LMDB is a folder holding data\.mdb"):
        WordLmdb(tmp_path / "x.txt")


def test_folder_without_data_mdb(tmp_path) -> None:
    with pytest.raises(InputError, match=r"no data\.mdb in this folder"):
        WordLmdb(tmp_path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "data.mdb is empty"), (bytes(range(256)) * 64, "MDB_INVALID")],
)
def test_data_mdb_that_is_not_lmdb(tmp_path, content, reason) -> None:
    (tmp_path / "data.mdb").write_bytes(content)
    with pytest.raises(InputError, match=f"unreadable LMDB.*{reason}"):
        WordLmdb(tmp_path)


def test_lmdb_without_num_samples(tmp_path) -> None:
    _raw_lmdb(tmp_path, {b"image-000000001": b"x", b"label-000000001": b"a"})
    with pytest.raises(InputError, match="no 'num-samples' key"):
        WordLmdb(tmp_path)


@pytest.mark.parametrize(("value", "reason"), [(b"ten", "not an integer"), (b"-1", "negative")])
def test_bad_num_samples(tmp_path, value, reason) -> None:
    _raw_lmdb(tmp_path, {b"num-samples": value})
    with pytest.raises(InputError, match=reason):
        WordLmdb(tmp_path)


def test_missing_last_key_is_named(tmp_path) -> None:
    record = word_records(["a"])[0]
    _raw_lmdb(
        tmp_path,
        {b"num-samples": b"2", image_key(1): record.image, label_key(1): b"a"},
    )
    with pytest.raises(InputError, match=r"image-000000002 missing \(num-samples = 2\)"):
        WordLmdb(tmp_path)


def test_missing_middle_label_is_named_by_iter_labels(tmp_path) -> None:
    image = word_records(["a"])[0].image
    items = {b"num-samples": b"3"}
    for index in (1, 2, 3):
        items[image_key(index)] = image
    items[label_key(1)] = b"a"
    items[label_key(3)] = b"c"
    _raw_lmdb(tmp_path, items)
    with WordLmdb(tmp_path) as db, pytest.raises(InputError, match="label-000000002 missing"):
        list(db.iter_labels())


def test_probe_accepts_when_a_later_image_decodes(tmp_path) -> None:
    good = word_records(["b"])[0].image
    _raw_lmdb(
        tmp_path,
        {
            b"num-samples": b"2",
            image_key(1): b"not an image",
            label_key(1): b"a",
            image_key(2): good,
            label_key(2): b"b",
        },
    )
    with WordLmdb(tmp_path) as db:
        assert db.num_samples == 2


def test_probe_rejects_when_no_leading_image_decodes(tmp_path) -> None:
    count = PROBE_SAMPLES + 1
    items = {b"num-samples": str(count).encode()}
    for index in range(1, count + 1):
        items[image_key(index)] = b"garbage"
        items[label_key(index)] = b"x"
    _raw_lmdb(tmp_path, items)
    with pytest.raises(
        InputError, match=f"image-000000001: image does not decode.*2-{PROBE_SAMPLES}"
    ):
        WordLmdb(tmp_path)


def test_empty_lmdb_is_valid(tmp_path) -> None:
    assert write_word_lmdb(tmp_path / "empty", []) == 0
    with WordLmdb(tmp_path / "empty") as db:
        assert db.num_samples == 0
        assert list(db.iter_labels()) == []
        assert list(db.records()) == []


def test_iter_indexed_ignores_keys_past_num_samples(tmp_path) -> None:
    out = tmp_path / "db"
    write_word_lmdb(out, word_records(LABELS[:3]))
    env = lmdb.open(str(out))
    with env.begin(write=True) as txn:
        txn.put(label_key(4), b"stray")
        txn.put(mask_key(7), b"stray")
    env.close()
    with WordLmdb(out) as db:
        assert [index for index, _ in db.iter_labels()] == [1, 2, 3]
        assert db.count_masks() == 3


def test_decode_mask_checks_mode_and_size() -> None:
    mask = encode(noise_image(8, 6, 0, "L"))
    assert decode_mask(mask, (8, 6)).mode == "L"
    one_bit = encode(noise_image(8, 6, 0, "L").convert("1"))
    assert np.unique(np.asarray(decode_mask(one_bit, (8, 6)))).tolist() == [0, 255]
    with pytest.raises(UndecodableError, match="mask is 8x6, image is 9x6"):
        decode_mask(mask, (9, 6))
    with pytest.raises(UndecodableError, match="mask is mode 'RGB'"):
        decode_mask(encode(noise_image(8, 6, 0)), (8, 6))
    with pytest.raises(UndecodableError, match="mask does not decode"):
        decode_mask(b"\x89PNG\r\n", (8, 6))


def test_polygon_encoding_is_compact_json_and_round_trips_bit_for_bit() -> None:
    points = np.array([[0.1, 2.0], [1e-17, 3.5], [10.0 / 3.0, -0.25]])
    data = encode_polygon(points)
    assert data == b"[[0.1,2.0],[1e-17,3.5],[3.3333333333333335,-0.25]]"
    assert np.array_equal(decode_polygon(data), points)
    assert decode_polygon(encode_polygon([[0, 0], [4, 0], [4, 2]])).tolist() == [
        [0.0, 0.0],
        [4.0, 0.0],
        [4.0, 2.0],
    ]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"[[0,0],[1,1]]", r"at least 3 \[x, y\] points, got shape \(2, 2\)"),
        (b"[[0,0,0],[1,1,1],[2,2,2]]", r"got shape \(3, 3\)"),
        (b"[[0,0],[1,1],[2,NaN]]", "non-finite"),
        (b"[[0,0],[1,1],[2,", "not a JSON list"),
        (b'[["a",0],[1,1],[2,2]]', "not a JSON list"),
        (b"\xff", "not a JSON list"),
    ],
)
def test_bad_polygons_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(UndecodableError, match=match):
        decode_polygon(data)
    record = WordRecord(word_records(["a"])[0].image, "a", polygon=data)
    with pytest.raises(InputError, match=r"^record 1: polygon"):
        check_record(record, "record 1")


def test_polygons_are_stored_as_polygon_keys_and_read_back(tmp_path) -> None:
    records = word_records(LABELS[:3])
    polygon = encode_polygon([[0.5, 0.5], [7.25, 0.5], [7.25, 5.0]])
    records[0] = WordRecord(records[0].image, records[0].label, records[0].mask, polygon)
    records[2] = WordRecord(records[2].image, records[2].label, None, polygon)
    write_word_lmdb(tmp_path / "db", records)
    env = lmdb.open(str(tmp_path / "db"), readonly=True, lock=False)
    with env.begin() as txn:
        stored = {key: value for key, value in txn.cursor() if key.startswith(b"polygon-")}
    env.close()
    assert stored == {polygon_key(1): polygon, polygon_key(3): polygon}
    assert polygon_key(12) == b"polygon-000000012"
    with WordLmdb(tmp_path / "db") as db:
        assert [record for _, record in db.records()] == records
        assert db.read(2).polygon is None  # LMDBs without polygons read as before


def test_check_record_names_the_record_and_returns_formats() -> None:
    records = word_records(LABELS[:3])
    assert check_record(records[0], "r1") == ("PNG", "PNG")
    assert check_record(records[2], "r3") == ("JPEG", "PNG")
    assert check_record(WordRecord(records[0].image, "a"), "r") == ("PNG", None)
    truncated = WordRecord(records[0].image[:40], "a")
    with pytest.raises(InputError, match=r"^gt\.txt:7: image does not decode"):
        check_record(truncated, "gt.txt:7")
    misfit = WordRecord(records[0].image, "a", records[1].mask)
    with pytest.raises(InputError, match=r"^record 2: mask is 9x6, image is 8x6$"):
        check_record(misfit, "record 2")


def test_handles_on_one_lmdb_share_an_environment(tmp_path) -> None:
    records = word_records(LABELS[:2])
    write_word_lmdb(tmp_path / "db", records)
    first, second = WordLmdb(tmp_path / "db"), WordLmdb(tmp_path / "db", validate=False)
    assert first._env is second._env
    first.close()
    first.close()
    assert second.read(2).image == records[1].image
    second.close()
    env = lmdb.open(str(tmp_path / "db"))  # LMDB refuses this while any handle is open
    env.close()
