"""``textmask-ocr synth words|scenes``: outputs and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import ImageFont

from textmask_ocr.cli import main
from textmask_ocr.data.lmdb_format import WordLmdb


@pytest.fixture(scope="module")
def font_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fonts")
    (folder / "aileron.ttf").write_bytes(ImageFont.load_default(size=20).font_bytes)
    return folder


def run(*args: str):
    return CliRunner().invoke(main, ["synth", *args])


def test_words_writes_an_lmdb_with_masks(tmp_path, font_dir):
    out = tmp_path / "words"
    result = run("words", str(out), "--n", "6", "--seed", "2", "--fonts", str(font_dir), "-q")
    assert result.exit_code == 0, result.output
    assert "wrote 6 word crops with masks" in result.output
    with WordLmdb(out) as db:
        assert db.num_samples == 6
        assert all(db.read(i).mask is not None for i in range(1, 7))


def test_scenes_writes_the_folder(tmp_path, font_dir):
    out = tmp_path / "scenes"
    result = run("scenes", str(out), "--n", "2", "--size", "96", "--fonts", str(font_dir), "-q")
    assert result.exit_code == 0, result.output
    assert len(list((out / "images").glob("*.png"))) == 2
    assert json.loads((out / "meta.json").read_text())["config"]["size"] == 96


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["words", "{out}", "--n", "0"], "--n must be at least 1, got 0"),
        (["scenes", "{out}", "--n", "-3"], "--n must be at least 1, got -3"),
        (["words", "{out}", "--workers", "0"], "--workers must be at least 1"),
        (["words", "{out}", "--seed", "-1"], "--seed must be a non-negative integer"),
        (["words", "{out}", "--fonts", "{missing}"], "--fonts {missing}: no such folder"),
        (["words", "{out}", "--fonts", "{empty}"], "no usable font"),
        (["scenes", "{out}", "--backgrounds", "{missing}"], "--backgrounds {missing}: no such"),
        (["words", "{out}", "--hard-fraction", "1.5"], "--hard-fraction must lie in [0, 1]"),
        (["scenes", "{out}", "--size", "16"], "--size must be at least 64 pixels"),
        (["words", "{file}", "--n", "2", "--fonts", "{fonts}"], "exists and is not a folder"),
        (["scenes", "{empty}", "--n", "1", "--fonts", "{fonts}"], "not a synthetic scene folder"),
    ],
)
def test_bad_input_exits_1_with_one_line(tmp_path, font_dir, args, fragment):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("not fonts, not scenes")
    paths = {
        "out": tmp_path / "out",
        "missing": tmp_path / "missing",
        "file": tmp_path / "file",
        "empty": tmp_path / "empty",
        "fonts": font_dir,
    }
    names = {key: str(value) for key, value in paths.items()}
    result = run(*(arg.format(**names) for arg in args), "-q")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and fragment.format(**names) in lines[0]
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "file").read_text() == "x"
    assert (tmp_path / "empty" / "readme.txt").exists()
