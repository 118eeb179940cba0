"""``run_finetune``: exact resume, which layers train, CTC safety (too-long labels, NaN steps)."""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from recognizers import CRNN, ctc_loss, input_layers
from tests.textmask_ocr.recognition_fixtures import (
    WordLmdbs,
    finetune_settings,
    read_metrics,
)
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.data.synth import iter_word_records
from textmask_ocr.engine import is_complete, load_checkpoint
from textmask_ocr.recognition.finetune import FinetuneSettings, RecognitionTask, run_finetune
from textmask_ocr.recognition.models import load_base_or_adapted

pytestmark = pytest.mark.usefixtures("single_thread_torch", "restore_determinism")

STEPS = 4  # N: the runs below compare N + N steps with 2N straight ones
CRNN_FRAMES = 26  # T of a 100-pixel-wide input
# A skipped first step advances the schedule before any optimizer step; PyTorch warns about it.
SCHEDULE_BEFORE_OPTIMIZER = "ignore:Detected call of `lr_scheduler.step:UserWarning"


class Interrupted(Exception):
    """Stands for a crash or a killed job in the middle of a run."""


def assert_nested_equal(left: Any, right: Any, where: str = "") -> None:
    """Equal structures; tensors equal exactly."""
    if isinstance(left, torch.Tensor):
        assert isinstance(right, torch.Tensor) and torch.equal(left, right), where
    elif isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), where
        for key in left:
            assert_nested_equal(left[key], right[key], f"{where}/{key}")
    elif isinstance(left, list | tuple):
        assert len(left) == len(right), where
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_nested_equal(a, b, f"{where}/{index}")
    else:
        assert left == right, where


def without_speed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "samples_per_s"} for row in rows]


def assert_same_run(expected: Path, actual: Path) -> None:
    """Same weights, optimizer, scheduler, RNG and task state, same best.pt, same log."""
    for name in ("last.pt", "best.pt"):
        if (expected / name).exists() or (actual / name).exists():
            left, right = load_checkpoint(expected / name), load_checkpoint(actual / name)
            assert_nested_equal(left["state_dict"], right["state_dict"], f"{name}:state_dict")
            assert_nested_equal(left["trainer"], right["trainer"], f"{name}:trainer")
    assert without_speed(read_metrics(actual)) == without_speed(read_metrics(expected))


def test_resume_continues_exactly_like_a_straight_run(
    tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> None:
    # Every layer trains (batch-norm statistics too), random masks are drawn per sample, and the
    # validation at step N (where the first half stops) writes best.pt in both runs.
    common = {"train_layers": "all", "val": word_lmdbs.val, "eval_every": STEPS}
    straight, split = tmp_path / "straight", tmp_path / "split"
    run_finetune(finetune_settings(straight, word_lmdbs, crnn_weights, steps=2 * STEPS, **common))

    run_finetune(finetune_settings(split, word_lmdbs, crnn_weights, steps=STEPS, **common))
    halfway = load_checkpoint(split / "last.pt")
    assert halfway["trainer"]["step"] == STEPS
    run_finetune(FinetuneSettings.resumed(split, {"steps": 2 * STEPS}))

    assert_same_run(straight, split)
    final = load_checkpoint(split / "last.pt")["state_dict"]
    initial = load_base_or_adapted(crnn_weights, arch="crnn", with_mask=True).state_dict()
    for before, after in ((initial, halfway["state_dict"]), (halfway["state_dict"], final)):
        assert not torch.equal(before["rnn.1.embedding.weight"], after["rnn.1.embedding.weight"])
    steps = [row["step"] for row in read_metrics(split)]
    assert steps == [1, 2, 3, 4, 4, 5, 6, 7, 8, 8]  # train lines, val at N and 2N


def test_onecycle_run_interrupted_after_a_checkpoint_resumes_exactly(
    tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = {"steps": 2 * STEPS, "schedule": "onecycle", "checkpoint_every": STEPS}
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    run_finetune(finetune_settings(straight, word_lmdbs, crnn_weights, **common))

    step_calls = itertools.count(1)
    training_step = RecognitionTask.training_step

    def crash_in_step_n_plus_2(self: RecognitionTask, *args: Any) -> Any:
        if next(step_calls) == STEPS + 2:
            raise Interrupted
        return training_step(self, *args)

    monkeypatch.setattr(RecognitionTask, "training_step", crash_in_step_n_plus_2)
    with pytest.raises(Interrupted):
        run_finetune(finetune_settings(interrupted, word_lmdbs, crnn_weights, **common))
    monkeypatch.undo()
    assert load_checkpoint(interrupted / "last.pt")["trainer"]["step"] == STEPS
    # step N + 1 was logged after the checkpoint: the resumed run forgets and redoes it
    assert [row["step"] for row in read_metrics(interrupted)] == list(range(1, STEPS + 2))

    assert not is_complete(interrupted)  # last.pt and best.pt alone do not mean finished
    run_finetune(FinetuneSettings.from_run(interrupted))
    assert is_complete(interrupted) and is_complete(straight)
    assert_same_run(straight, interrupted)
    learning_rates = [row["lr"] for row in read_metrics(straight) if row["kind"] == "train"]
    assert learning_rates.index(max(learning_rates)) in (0, 1)  # one-cycle: warm-up then decay
    assert learning_rates[-1] < learning_rates[2] < learning_rates[1]


@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_train_layers_input_changes_only_the_input_convs(
    arch: str, tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path, aster_weights: Path
) -> None:
    weights = crnn_weights if arch == "crnn" else aster_weights
    settings = finetune_settings(tmp_path, word_lmdbs, weights, arch=arch, steps=3)
    assert settings.train_layers == "input"  # the default, as in the paper
    run_finetune(settings)
    trained = load_checkpoint(tmp_path / "last.pt")["state_dict"]
    base = load_base_or_adapted(weights, arch=arch, with_mask=True).state_dict()

    assert list(trained) == list(base)
    trainable = set(input_layers(arch))
    assert trainable < set(base)
    assert any(key.endswith("running_var") for key in base)  # frozen statistics are compared
    for key, value in base.items():
        assert torch.equal(trained[key], value) != (key in trainable), key
    for key in trainable:
        if key.endswith("weight"):
            assert not base[key][:, 3].any()  # the mask channel started at zero...
            assert trained[key][:, 3].abs().sum() > 0  # ...and learned


def test_train_layers_all_updates_batch_norm_statistics(
    tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> None:
    run_finetune(finetune_settings(tmp_path, word_lmdbs, crnn_weights, steps=3, train_layers="all"))
    trained = load_checkpoint(tmp_path / "last.pt")["state_dict"]
    base = load_base_or_adapted(crnn_weights, arch="crnn", with_mask=True).state_dict()
    for index in (2, 4, 6):
        norm = f"cnn.batchnorm{index}"
        assert not torch.equal(trained[f"{norm}.running_mean"], base[f"{norm}.running_mean"])
        assert trained[f"{norm}.num_batches_tracked"] == base[f"{norm}.num_batches_tracked"] + 3
    assert not torch.equal(trained["rnn.0.rnn.weight_ih_l0"], base["rnn.0.rnn.weight_ih_l0"])


def write_labelled_lmdb(path: Path, labels: list[str]) -> Path:
    """Synthetic crops (with masks) under the given labels."""
    records = iter_word_records(len(labels), seed=5)
    write_word_lmdb(
        path,
        (WordRecord(r.image, label, r.mask) for r, label in zip(records, labels, strict=True)),
        quiet=True,
    )
    return path


def test_labels_the_ctc_head_cannot_emit_are_dropped_and_counted(
    tmp_path: Path, crnn_weights: Path, word_lmdbs: WordLmdbs, caplog: pytest.LogCaptureFixture
) -> None:
    # CTC needs one frame per character plus a blank between repeated ones: T = 26 frames fit
    # "ab" * 13 (26 + 0) and "a" * 13 (13 + 12), not "a" * 14 (14 + 13). A label of more than
    # 26 characters never fits: the dataset filters it out and counts it in its skip report;
    # the repeats are found per batch, dropped and counted by the task.
    too_long, repeats = ["0123456789" * 3], ["a" * 14, "a" * 14]
    fitting = ["ab" * 13, "a" * 13, *(f"w{i}rd" for i in range(12))]
    labels = too_long + repeats + fitting  # 17 samples, 16 kept: 2 steps per epoch
    lmdb = write_labelled_lmdb(tmp_path / "long.lmdb", labels)
    lmdbs = WordLmdbs(lmdb, word_lmdbs.val, word_lmdbs.unmasked)
    settings = finetune_settings(tmp_path / "run", lmdbs, crnn_weights, steps=4)  # 2 epochs

    with pytest.warns(UserWarning, match=rf"labels longer than the model can emit \({CRNN_FRAMES}"):
        run_finetune(settings)

    assert f"{lmdb}: skipped 1 of 17 samples (label longer than max_label_length: 1)" in (
        caplog.text
    )
    rows = [row for row in read_metrics(tmp_path / "run") if row["kind"] == "train"]
    assert sum(row["too_long_labels"] for row in rows) == 2 * len(repeats)  # per step, summed
    assert all(math.isfinite(row["loss"]) and row["skipped_steps"] == 0 for row in rows)
    trainer = load_checkpoint(tmp_path / "run" / "last.pt")["trainer"]
    assert trainer["task"]["too_long_labels"] == 2 * len(repeats)
    assert trainer["step"] == 4


def test_strip_symbols_trains_on_punctuated_labels_instead_of_skipping_them(
    tmp_path: Path, crnn_weights: Path, word_lmdbs: WordLmdbs, caplog: pytest.LogCaptureFixture
) -> None:
    labels = ["$4.50", "don't", "?!", *(f"w{i}rd" for i in range(13))]  # 16 samples
    lmdb = write_labelled_lmdb(tmp_path / "punctuated.lmdb", labels)
    lmdbs = WordLmdbs(lmdb, word_lmdbs.val, word_lmdbs.unmasked)
    run_finetune(finetune_settings(tmp_path / "skip", lmdbs, crnn_weights, steps=1))
    assert f"{lmdb}: skipped 3 of 16 samples (label with characters outside the alphabet: 3)" in (
        caplog.text
    )
    caplog.clear()
    stripping = finetune_settings(tmp_path / "strip", lmdbs, crnn_weights, steps=1)
    stripping.strip_symbols = True
    run_finetune(stripping)
    # "$4.50" -> "450" and "don't" -> "dont" are kept; "?!" leaves nothing and is skipped
    assert f"{lmdb}: skipped 1 of 16 samples (empty label: 1)" in caplog.text
    assert FinetuneSettings.recorded(tmp_path / "strip")["strip_symbols"] is True


@pytest.mark.filterwarnings(SCHEDULE_BEFORE_OPTIMIZER)
def test_a_batch_with_no_usable_label_is_a_skipped_step(
    tmp_path: Path, crnn_weights: Path, word_lmdbs: WordLmdbs
) -> None:
    lmdb = write_labelled_lmdb(tmp_path / "long.lmdb", ["z" * 20] * 8)
    lmdbs = WordLmdbs(lmdb, word_lmdbs.val, word_lmdbs.unmasked)
    with pytest.warns(UserWarning, match="labels longer than the model can emit"):
        run_finetune(finetune_settings(tmp_path / "run", lmdbs, crnn_weights, steps=2))
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    assert checkpoint["trainer"]["skipped_steps"] == 2
    assert checkpoint["trainer"]["task"]["too_long_labels"] == 16
    initial = load_base_or_adapted(crnn_weights, arch="crnn", with_mask=True).state_dict()
    assert_nested_equal(checkpoint["state_dict"], initial)


def nan_loss_at(step: int):
    """A CTC loss that is NaN on its ``step``-th call."""
    calls = itertools.count(1)

    def loss(logits, targets, lengths, reduction="mean"):
        value = ctc_loss(logits, targets, lengths, reduction)
        return value * float("nan") if next(calls) == step else value

    return staticmethod(loss)


@pytest.mark.filterwarnings(SCHEDULE_BEFORE_OPTIMIZER)
def test_a_nan_loss_step_is_skipped_and_leaves_the_weights_untouched(
    tmp_path: Path,
    word_lmdbs: WordLmdbs,
    crnn_weights: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(CRNN, "loss", nan_loss_at(1))
    with caplog.at_level(logging.WARNING, logger="textmask_ocr.engine"):
        run_finetune(finetune_settings(tmp_path / "one", word_lmdbs, crnn_weights, steps=1))
    checkpoint = load_checkpoint(tmp_path / "one" / "last.pt")
    initial = load_base_or_adapted(crnn_weights, arch="crnn", with_mask=True).state_dict()
    assert_nested_equal(checkpoint["state_dict"], initial)
    assert checkpoint["trainer"]["skipped_steps"] == 1
    assert checkpoint["trainer"]["optimizer"]["state"] == {}  # no update was taken
    assert "step 1 skipped (non-finite loss)" in caplog.messages

    monkeypatch.setattr(CRNN, "loss", nan_loss_at(2))
    run_finetune(finetune_settings(tmp_path / "three", word_lmdbs, crnn_weights, steps=3))
    rows = read_metrics(tmp_path / "three")[:3]
    assert [row["skipped_steps"] for row in rows] == [0, 1, 1]
    assert rows[1]["loss"] is None and math.isfinite(rows[0]["loss"] + rows[2]["loss"])
    state = load_checkpoint(tmp_path / "three" / "last.pt")["state_dict"]
    assert all(torch.isfinite(value).all() for value in state.values())
    assert not torch.equal(state["cnn.conv0.weight"], initial["cnn.conv0.weight"])
