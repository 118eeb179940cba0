"""``textmask-ocr lmdb create | inspect | export``: outputs, round trip, one-line errors."""

from __future__ import annotations

import lmdb
import pytest
from click.testing import CliRunner

from tests.textmask_ocr.word_samples import LABELS, word_records
from textmask_ocr.cli import main
from textmask_ocr.data.folder_dataset import read_gt_file
from textmask_ocr.data.lmdb_format import WordLmdb
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord


def run(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0]


@pytest.fixture
def masked_lmdb(tmp_path):
    records = word_records(LABELS)
    records[5] = WordRecord(records[5].image, records[5].label, None)
    write_word_lmdb(tmp_path / "words.lmdb", records)
    return tmp_path / "words.lmdb"


def test_inspect_reports_counts_masks_lengths_and_characters(masked_lmdb) -> None:
    result = run("lmdb", "inspect", masked_lmdb, "--alphabet", "abcdefghijklmnopqrstuvwxyz")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "samples:       8" in lines
    assert "masks:         7 of 8 samples" in lines
    # lengths of hello World 42 tmp a-b text mask ocr: 2 x1, 3 x3, 4 x2, 5 x2
    assert "label length:  min 2, mean 3.62, max 5 (0 empty)" in lines
    assert "    2 |        1 #############" in lines
    assert "    3 |        3 " + "#" * 40 in lines
    # 19 distinct: - 2 4 W a b c d e h k l m o p r s t x
    assert "characters:    19 distinct; 0-9 2/10, a-z 15/26, A-Z 1/26, 1 other: '-'" in lines
    assert "alphabet:      15/26 characters used; 3 labels use 4 characters outside it: '-24W'" in (
        lines
    )


def test_inspect_writes_sample_crops_with_masks(masked_lmdb, tmp_path) -> None:
    out = tmp_path / "samples"
    result = run("lmdb", "inspect", masked_lmdb, "--samples", 3, "--samples-dir", out)
    assert result.exit_code == 0, result.output
    assert f"sample crops:  3 written to {out}" in result.output
    entries = read_gt_file(out)
    # evenly spread over 8: samples 1, 3, 6 (sample 6 has no mask)
    assert [entry.label for entry in entries] == [LABELS[0], LABELS[2], LABELS[5]]
    assert [entry.image.name for entry in entries] == [
        "000000001.png",
        "000000003.jpg",
        "000000006.jpg",
    ]
    assert [entry.mask is not None for entry in entries] == [True, True, False]


def test_inspect_real_fixture(shared_fixtures) -> None:
    result = run("lmdb", "inspect", shared_fixtures / "mmocr_toy/rec_toy_dataset/imgs.lmdb")
    assert result.exit_code == 0, result.output
    assert "samples:       10" in result.output
    assert "masks:         0 of 10 samples" in result.output


def test_export_then_create_round_trip(masked_lmdb, tmp_path) -> None:
    exported = tmp_path / "exported"
    result = run("lmdb", "export", masked_lmdb, exported)
    assert result.exit_code == 0, result.output
    assert f"exported 8 samples to {exported}" in result.output
    assert len(list((exported / "masks").iterdir())) == 7
    rebuilt = tmp_path / "rebuilt.lmdb"
    result = run("lmdb", "create", exported / "gt.txt", rebuilt)
    assert result.exit_code == 0, result.output
    assert f"wrote 8 samples to {rebuilt}" in result.output
    with WordLmdb(masked_lmdb) as a, WordLmdb(rebuilt) as b:
        assert list(a.records()) == list(b.records())


@pytest.mark.parametrize("command", ["inspect", "export"])
def test_bad_lmdb_inputs_are_one_line_errors(command, tmp_path, shared_fixtures) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "no_count").mkdir()
    write_word_lmdb(tmp_path / "no_count", [])
    env = lmdb.open(str(tmp_path / "no_count"))
    with env.begin(write=True) as txn:
        txn.delete(b"num-samples")
    env.close()
    cases = {
        tmp_path / "absent": "no such file or directory",
        tmp_path / "folder": "not an LMDB (no data.mdb in this folder)",
        tmp_path / "no_count": "no 'num-samples' key",
        shared_fixtures / "mmocr_toy/rec_toy_dataset/broken.lmdb": "corrupt word LMDB",
    }
    for path, fragment in cases.items():
        extra = [tmp_path / "out"] if command == "export" else []
        assert_one_line_error(run("lmdb", command, path, *extra), fragment)
        assert not (tmp_path / "out").exists()


def test_create_bad_inputs_are_one_line_errors(tmp_path) -> None:
    assert_one_line_error(
        run("lmdb", "create", tmp_path / "gt.txt", tmp_path / "db"), "no such label file"
    )
    (tmp_path / "gt.txt").write_text("missing.png\tword\n")
    assert_one_line_error(
        run("lmdb", "create", tmp_path / "gt.txt", tmp_path / "db"),
        "gt.txt:1: image file",
    )
    (tmp_path / "gt.txt").write_text("no tab here\n")
    assert_one_line_error(run("lmdb", "create", tmp_path, tmp_path / "db"), "gt.txt:1: expected")
    assert not (tmp_path / "db").exists()


def test_samples_without_dir_is_a_usage_error(masked_lmdb) -> None:
    result = run("lmdb", "inspect", masked_lmdb, "--samples", 4)
    assert result.exit_code == 2
    assert "--samples needs --samples-dir" in result.output


@pytest.mark.parametrize("command", ["create", "inspect", "export"])
def test_help(command) -> None:
    result = run("lmdb", command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
