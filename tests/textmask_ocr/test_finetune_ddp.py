"""``run_finetune`` in two gloo CPU processes: one writer, plain weights, each val sample once."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import textmask_ocr.engine.trainer as trainer_module
from recognizers import load_recognizer
from tests.textmask_ocr.recognition_fixtures import (
    BATCH_SIZE,
    VAL_SIZE,
    WordLmdbs,
    finetune_settings,
    read_metrics,
)
from textmask_ocr.engine import DistributedContext, load_checkpoint
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import evaluate_dataset
from textmask_ocr.recognition.finetune import run_finetune

pytestmark = pytest.mark.usefixtures("single_thread_torch", "restore_determinism")

WORLD_SIZE = 2
STEPS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(out: Path, lmdbs: WordLmdbs, weights: Path, batch_size: int):
    """Random masks, the input layer only (batch norm frozen), validation every 2 steps."""
    return finetune_settings(
        out, lmdbs, weights, steps=STEPS, batch_size=batch_size, val=lmdbs.val,
        eval_every=2, log_every=2,
    )  # fmt: skip


def _worker(rank: int, root: str, lmdbs: list[str], weights: str, port: int) -> None:
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": str(WORLD_SIZE), "LOCAL_RANK": str(rank)}
        | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    torch.set_num_threads(1)
    root_dir, words = Path(root), WordLmdbs(*map(Path, lmdbs))
    write_config_record = trainer_module.write_config_record

    def record_the_writer(out_dir, config):
        (root_dir / f"config-written-by-rank-{rank}").touch()
        return write_config_record(out_dir, config)

    trainer_module.write_config_record = record_the_writer
    context = DistributedContext.from_environment(device="cpu")
    try:
        run = root_dir / "ddp"
        # each process reads half of the joint batch of the single-process run
        run_finetune(
            settings_for(run, words, Path(weights), BATCH_SIZE // WORLD_SIZE), context=context
        )
        context.barrier()  # rank 0 has written last.pt
        model = load_recognizer(run / "last.pt").eval()
        dataset = recognizer_dataset(words.val, model.config, "random")
        result = evaluate_dataset(
            model, dataset, batch_size=5, context=context, keep_predictions=True
        )
        if context.is_main:
            summary = {
                **result.metric.as_dict(),
                "keys": [row["key"] for row in result.predictions],
            }
            (root_dir / "evaluation.json").write_text(json.dumps(summary))
    finally:
        context.shutdown()


def test_two_gloo_processes_fine_tune_like_one_process(
    tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> None:
    assert VAL_SIZE % WORLD_SIZE == 1  # the ranks read 12 and 11 validation samples
    mp.spawn(
        _worker,
        args=(str(tmp_path), [str(p) for p in word_lmdbs], str(crnn_weights), free_port()),
        nprocs=WORLD_SIZE,
        join=True,
    )
    run = tmp_path / "ddp"
    saved = load_checkpoint(run / "last.pt")["state_dict"]
    assert not any(key.startswith("module.") for key in saved)
    assert sorted(path.name for path in tmp_path.glob("config-written-by-*")) == [
        "config-written-by-rank-0"
    ]
    rows = read_metrics(run)  # rank 0 alone: two train and two val lines
    assert [(row["kind"], row["step"]) for row in rows] == [
        ("train", 2), ("val", 2), ("train", 4), ("val", 4),
    ]  # fmt: skip

    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["count"] == VAL_SIZE
    assert evaluation["keys"] == list(range(1, VAL_SIZE + 1))  # each sample once

    # One process with the joint batch: same weights, and the same validation scores
    single = tmp_path / "single"
    run_finetune(settings_for(single, word_lmdbs, crnn_weights, BATCH_SIZE))
    reference = load_checkpoint(single / "last.pt")["state_dict"]
    assert list(saved) == list(reference)
    for key, value in reference.items():
        torch.testing.assert_close(saved[key], value, rtol=1e-5, atol=1e-7, msg=key)
    model = load_recognizer(run / "last.pt").eval()
    alone = evaluate_dataset(model, recognizer_dataset(word_lmdbs.val, model.config, "random"))
    assert alone.metric.total == VAL_SIZE
    assert evaluation["correct"] == alone.metric.correct
    assert evaluation["norm_edit_distance"] == pytest.approx(
        alone.metric.mean_edit_distance, abs=1e-12
    )
    assert rows[-1]["accuracy"] == evaluation["accuracy"]  # the run's own validation
