"""Tiny recognizers and word-crop LMDBs for the recognition tests (fine-tuning, evaluation, CLI).

The fixtures built from these helpers live in ``conftest.py`` beside this file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from click.testing import CliRunner, Result

from recognizers import build_recognizer
from tests.recognizers.helpers import randomize_, tiny_config
from textmask_ocr.cli import main
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.data.synth import iter_word_records
from textmask_ocr.recognition.finetune import FinetuneSettings

TRAIN_SIZE = 64
VAL_SIZE = 23  # odd: two processes read 12 and 11 of it
UNMASKED_SIZE = 16
BATCH_SIZE = 8  # 64 / 8 = 8 steps per epoch


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine their
    spin-waiting makes them many times slower; the thread count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class WordLmdbs(NamedTuple):
    """Synthetic word-crop LMDBs of the recognition tests."""

    train: Path  # TRAIN_SIZE words, each with its mask
    val: Path  # VAL_SIZE words, each with its mask
    unmasked: Path  # UNMASKED_SIZE words, no mask-%09d entries (polygons kept)


def write_word_lmdbs(root: Path) -> WordLmdbs:
    """Write the three LMDBs under ``root`` (about 0.3 s)."""
    lmdbs = WordLmdbs(root / "train.lmdb", root / "val.lmdb", root / "unmasked.lmdb")
    write_word_lmdb(lmdbs.train, iter_word_records(TRAIN_SIZE, seed=1), quiet=True)
    write_word_lmdb(lmdbs.val, iter_word_records(VAL_SIZE, seed=2), quiet=True)
    unmasked = (
        WordRecord(record.image, record.label, None, record.polygon)
        for record in iter_word_records(UNMASKED_SIZE, seed=3)
    )
    write_word_lmdb(lmdbs.unmasked, unmasked, quiet=True)
    return lmdbs


def save_public_weights(arch: str, path: Path, seed: int = 0) -> Path:
    """A tiny random recognizer in the public checkpoint form: CRNN a bare state dict (like
    ``crnn.pth``), ASTER ``{'state_dict': ...}``; no config is stored."""
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the initialisation randomize_ keeps (convs, LSTMs, ...)
        model = randomize_(build_recognizer(tiny_config(arch)), seed=seed)
    state = model.state_dict()
    torch.save(state if arch == "crnn" else {"state_dict": state}, path)
    return path


def finetune_settings(
    out: Path, lmdbs: WordLmdbs, weights: Path | None, **changes: Any
) -> FinetuneSettings:
    """Fine-tuning settings of a tiny, exactly reproducible run on ``lmdbs.train``."""
    values: dict[str, Any] = {
        "train": [lmdbs.train],
        "weights": weights,
        "mask": "random",
        "steps": 4,
        "batch_size": BATCH_SIZE,
        "workers": 0,
        "schedule": "constant",
        "log_every": 1,
        "eval_every": 0,
        "quiet": True,
        "deterministic": True,
        **changes,
    }
    return FinetuneSettings(out=out, **values)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of ``<run_dir>/metrics.jsonl``."""
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def run_cli(*args: object) -> Result:
    """``textmask-ocr ARGS`` in this process."""
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(result: Result, fragment: str, exit_code: int = 1) -> str:
    """The command failed with ``exit_code`` and printed one line ``Error: ...fragment...``."""
    assert result.exit_code == exit_code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    assert fragment in lines[0], lines[0]
    return lines[0]
