"""add-masks: predicted masks cached in a copy of a word LMDB, resumable after a kill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.textmask_ocr.recognition_fixtures import WordLmdbs, assert_one_line_error, run_cli
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.atomic import partial_path
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_format import WordLmdb
from textmask_ocr.data.mask_cache import add_masks, has_predicted_masks
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.models import load_base_or_adapted


def brightness_masks(crops: list[Image.Image]) -> list[Image.Image]:
    """A deterministic stand-in predictor: the crop's gray level as the mask."""
    return [crop.convert("L") for crop in crops]


class Interrupted(RuntimeError):
    pass


def failing_after(calls: int):
    """The stand-in predictor that dies on call ``calls + 1`` (a killed job)."""
    state = {"calls": 0}

    def predict(crops: list[Image.Image]) -> list[Image.Image]:
        state["calls"] += 1
        if state["calls"] > calls:
            raise Interrupted
        return brightness_masks(crops)

    return predict


def stored(path: Path) -> list[tuple[bytes, bytes, bytes | None]]:
    with WordLmdb(path) as db:
        return [tuple(db.read(i)) for i in range(1, db.num_samples + 1)]


def test_copy_keeps_images_and_labels_and_stores_predicted_masks(
    tmp_path: Path, word_lmdbs: WordLmdbs
) -> None:
    out = tmp_path / "pm"
    assert add_masks(word_lmdbs.unmasked, out, brightness_masks, batch_size=5, quiet=True) == 16
    source, copy = stored(word_lmdbs.unmasked), stored(out)
    assert [s[:2] for s in source] == [c[:2] for c in copy]
    dataset = LmdbWordDataset(out)
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample["mask"].size == sample["image"].size
        assert np.array_equal(np.asarray(sample["mask"]), np.asarray(sample["image"].convert("L")))
    assert has_predicted_masks(out) and not has_predicted_masks(word_lmdbs.train)


def test_killed_run_resumes_to_the_same_lmdb(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    straight = tmp_path / "straight"
    add_masks(word_lmdbs.train, straight, brightness_masks, batch_size=8, quiet=True)
    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        add_masks(word_lmdbs.train, resumed, failing_after(3), batch_size=8, quiet=True)
    assert not resumed.exists() and partial_path(resumed).is_dir()
    calls = []

    def counting(crops: list[Image.Image]) -> list[Image.Image]:
        calls.append(len(crops))
        return brightness_masks(crops)

    add_masks(word_lmdbs.train, resumed, counting, batch_size=8, quiet=True)
    assert sum(calls) == 64 - 3 * 8  # only the crops the killed run had not committed
    assert stored(resumed) == stored(straight)
    assert not partial_path(resumed).exists()


def test_existing_output_is_refused(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    with pytest.raises(InputError, match="already exists"):
        add_masks(word_lmdbs.train, word_lmdbs.val, brightness_masks, quiet=True)


def test_mask_sources_respect_where_masks_came_from(
    tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> None:
    predicted = tmp_path / "pm"
    add_masks(word_lmdbs.train, predicted, brightness_masks, quiet=True)
    config = load_base_or_adapted(crnn_weights, arch="crnn", with_mask=True).config
    sample = recognizer_dataset(predicted, config, "predicted")[0]
    assert sample["input"].shape[0] == 4
    with pytest.raises(InputError, match="use --mask predicted"):
        recognizer_dataset(predicted, config, "real")
    with pytest.raises(InputError, match="needs masks cached"):
        recognizer_dataset(word_lmdbs.train, config, "predicted")  # ground truth is no prediction


def test_cli_add_masks_with_a_segmenter(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    checkpoint = save_tiny_checkpoint(tmp_path / "seg.pt", tiny_model())
    result = run_cli(
        "add-masks", word_lmdbs.unmasked, tmp_path / "pm", "--segmenter", checkpoint, "-q"
    )
    assert result.exit_code == 0, result.output
    with WordLmdb(tmp_path / "pm") as db:
        assert db.count_masks() == db.num_samples == 16
    again = run_cli("add-masks", word_lmdbs.unmasked, tmp_path / "pm", "--segmenter", checkpoint)
    assert_one_line_error(again, "already exists")
