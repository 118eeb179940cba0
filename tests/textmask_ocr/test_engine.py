"""The training engine: exact resume, non-finite steps, checkpoints, metrics log, samplers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from textmask_ocr.engine import (
    ResumableSampler,
    SeededDataset,
    ShardSampler,
    Trainer,
    TrainerConfig,
    is_complete,
    load_checkpoint,
    save_checkpoint,
)
from textmask_ocr.engine.checkpoint import capture_rng_state, restore_rng_state
from textmask_ocr.engine.sampling import shuffled_order
from textmask_ocr.errors import InputError


class NoisyPoints(Dataset):
    """Points whose features get random noise at read time (exercises per-sample seeding)."""

    def __init__(self, size: int = 40) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, 4, generator=generator)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index] + 0.1 * torch.randn(4), self.y[index]


class RegressionTask:
    """Linear regression whose step also draws from the global RNG (like a random mask)."""

    def __init__(self, poison_step: int | None = None) -> None:
        self.poison_step = poison_step
        self.calls = 0

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        self.calls += 1
        x = x * (1 + 0.01 * torch.rand_like(x))
        loss = ((model(x).squeeze(1) - y) ** 2).mean().float()
        if self.calls == self.poison_step:
            loss = loss * float("nan")
        return loss, {"mse": float(loss.detach())}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        weight = model.weight.detach()
        return {"error": float((weight - torch.tensor([[1.0, -2.0, 0.5, 3.0]])).abs().sum())}

    def set_train_mode(self, model: nn.Module) -> None:
        model.train()

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = state["calls"]


def make_trainer(
    out: Path, max_steps: int, task: RegressionTask | None = None, *, quiet: bool = True
) -> Trainer:
    torch.manual_seed(123)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=20)
    dataset = NoisyPoints()
    return Trainer(
        model=model,
        model_config={"arch": "linear"},
        optimizer=optimizer,
        scheduler=scheduler,
        dataset=dataset,
        order=shuffled_order(len(dataset)),
        collate_fn=torch.utils.data.default_collate,
        task=task or RegressionTask(),
        config=TrainerConfig(
            out_dir=out,
            max_steps=max_steps,
            batch_size=6,
            seed=7,
            log_every=2,
            eval_every=5,
            checkpoint_every=5,
            best_metric="error",
            best_mode="min",
            quiet=quiet,
            deterministic=True,
        ),
    )


def test_resume_is_exact(tmp_path: Path) -> None:
    """N steps, then resume to 2N, equals 2N straight steps (weights, optimizer, metrics)."""
    straight = make_trainer(tmp_path / "straight", 20)
    straight.fit()

    first = make_trainer(tmp_path / "split", 10)
    first.fit()
    second = make_trainer(tmp_path / "split", 20)
    torch.manual_seed(999)  # a resumed run must not depend on the RNG state it starts with
    second.fit(resume_from=tmp_path / "split")

    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    straight_log = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    split_log = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    drop_timing = [
        {k: v for k, v in json.loads(line).items() if k != "samples_per_s"} for line in straight_log
    ]
    assert drop_timing == [
        {k: v for k, v in json.loads(line).items() if k != "samples_per_s"} for line in split_log
    ]
    assert second.step == 20 and second.task.calls == 20


def test_checkpoints_follow_the_step_and_the_time_interval(tmp_path: Path) -> None:
    """last.pt is written every checkpoint_every steps, and whenever checkpoint_minutes have
    passed since the last one (a clock reading 25 s per step: every third step), and at the end;
    complete.json appears only once the run has finished."""
    trainer = make_trainer(tmp_path, 10)
    trainer.config.checkpoint_every = 4
    trainer.config.checkpoint_minutes = 1.0
    trainer.clock = lambda: 25.0 * trainer.step
    saved: list[tuple[int, bool]] = []
    save = trainer.save

    def recording_save(name: str) -> None:
        save(name)
        if name == "last.pt":
            saved.append((trainer.step, is_complete(tmp_path)))

    trainer.save = recording_save  # type: ignore[method-assign]
    trainer.fit()
    assert saved == [(3, False), (4, False), (7, False), (8, False), (10, False)]
    assert is_complete(tmp_path)
    assert json.loads((tmp_path / "complete.json").read_text())["step"] == 10
    make_trainer(tmp_path, 20).fit(resume_from=tmp_path)  # continuing clears it, then finishes
    assert json.loads((tmp_path / "complete.json").read_text())["step"] == 20


def test_resume_drops_metrics_after_the_checkpoint(tmp_path: Path) -> None:
    make_trainer(tmp_path, 10).fit()
    log = tmp_path / "metrics.jsonl"
    with log.open("a") as stream:  # an interrupted tail written after the last checkpoint
        stream.write(json.dumps({"kind": "train", "step": 11, "loss": 0.0}) + "\n")
    make_trainer(tmp_path, 12).fit(resume_from=tmp_path)
    steps = [row["step"] for row in map(json.loads, log.read_text().splitlines())]
    assert steps == sorted(steps) and steps.count(11) == 0 and steps[-1] == 12


def test_non_finite_step_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = make_trainer(tmp_path, 6, RegressionTask(poison_step=3))
    with caplog.at_level(logging.WARNING, logger="textmask_ocr.engine"):
        trainer.fit()
    assert trainer.skipped_steps == 1
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "step 3 skipped (non-finite loss)")
    ]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if row["kind"] == "train"]
    assert train_rows[1]["skipped_steps"] == 1 and train_rows[1]["loss"] is not None


def test_training_reports_progress_through_logging_and_resumes_its_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a terminal (pytest captures stderr) every step is due a line once the interval is
    0 s; a quiet trainer says nothing."""
    monkeypatch.setattr("textmask_ocr.progress.LOG_INTERVAL_S", 0.0)
    with caplog.at_level(logging.INFO, logger="textmask_ocr.progress"):
        make_trainer(tmp_path / "quiet", 2).fit()
        assert caplog.records == []
        make_trainer(tmp_path / "run", 2, quiet=False).fit()
        make_trainer(tmp_path / "run", 3, quiet=False).fit(resume_from=tmp_path / "run")
    lines = [record.getMessage() for record in caplog.records]
    starts = [
        "training: 1/2 steps (50.0%), ",
        "training: 2/2 steps (100.0%), ",
        "training: 2/2 steps in ",
        "training: 3/3 steps (100.0%), ",  # the resumed run goes on counting from step 2
        "training: 3/3 steps in ",
    ]
    assert len(lines) == len(starts)
    assert all(line.startswith(start) for line, start in zip(lines, starts, strict=True)), lines
    assert all(", loss " in line for line in lines if "steps (" in line)


def test_run_folder_has_checkpoints_config_and_metrics(tmp_path: Path) -> None:
    make_trainer(tmp_path, 10).fit()
    payload = load_checkpoint(tmp_path / "last.pt")
    assert payload["trainer"]["step"] == 10 and payload["config"] == {"arch": "linear"}
    assert (tmp_path / "best.pt").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["config"] == {}
    kinds = {json.loads(line)["kind"] for line in (tmp_path / "metrics.jsonl").open()}
    assert kinds == {"train", "val"}
    assert not list(tmp_path.glob(".*tmp*"))


def test_resume_needs_training_state(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "last.pt", model_state={}, model_config={})
    with pytest.raises(InputError, match="no training state"):
        make_trainer(tmp_path, 4).fit(resume_from=tmp_path)


def test_load_checkpoint_rejects_foreign_and_corrupt_files(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(InputError, match="not a textmask_ocr checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"junk\.pt: not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    import random

    import numpy as np

    torch.manual_seed(3)
    save_checkpoint(
        tmp_path / "c.pt", model_state={}, model_config={}, trainer_state=capture_rng_state()
    )
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["trainer"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_resumable_sampler_partitions_and_resumes(world_size: int) -> None:
    shares = []
    for rank in range(world_size):
        sampler = ResumableSampler(shuffled_order(10), seed=1, num_replicas=world_size, rank=rank)
        sampler.set_epoch(2)
        shares.append(list(sampler))
        sampler.set_start(2)
        assert list(sampler) == shares[-1][2:]
    indices = [index for share in shares for index, _ in share]
    assert len(indices) == len(set(indices)) == 10 - 10 % world_size
    seeds = [seed for share in shares for _, seed in share]
    assert len(set(seeds)) == len(seeds)


def test_seeded_dataset_is_deterministic_per_key() -> None:
    dataset = SeededDataset(NoisyPoints())
    first, _ = dataset[(3, 42)]
    torch.rand(5)
    again, _ = dataset[(3, 42)]
    other, _ = dataset[(3, 43)]
    assert torch.equal(first, again) and not torch.equal(first, other)
    torch.manual_seed(42)  # the stream of the global seed: runs keep their samples
    expected, _ = NoisyPoints()[3]
    assert torch.equal(first, expected)


def test_shard_sampler_counts_each_sample_once() -> None:
    seen = sorted(i for rank in range(3) for i in ShardSampler(10, num_replicas=3, rank=rank))
    assert seen == list(range(10))
