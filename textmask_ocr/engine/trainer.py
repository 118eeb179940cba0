"""The training loop shared by recognizer fine-tuning and segmentation training.

A job supplies a model, an optimizer, a scheduler, a dataset with its epoch order, and a
:class:`TrainTask` (how to compute a step's loss, how to evaluate). The :class:`Trainer` runs a
fixed number of optimizer steps with:

- AMP (float16 + GradScaler on CUDA, bfloat16 autocast on CPU), losses kept in float32 by the task;
- DDP through ``torchrun`` (only rank 0 logs and writes; saved weights have no ``module.`` prefix);
- non-finite steps skipped and counted, consistently on every rank, so a NaN never kills a run;
- ``metrics.jsonl`` and ``config.json`` in the output folder, progress on a terminal or in a log
  (:class:`~textmask_ocr.progress.Progress`), warnings through ``logging``;
- atomic ``last.pt`` / ``best.pt`` checkpoints, every ``checkpoint_every`` steps and at least
  every ``checkpoint_minutes`` of training, and exact resume: model, optimizer, scheduler,
  scaler, step, best metric, RNG states, the task's own state, and the data position;
- ``complete.json``, written last when the run has reached ``max_steps`` (see
  :func:`is_complete`): a ``best.pt`` or ``last.pt`` alone does not mean the run finished.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from textmask_ocr.engine.checkpoint import (
    capture_rng_state,
    clear_complete,
    load_checkpoint,
    mark_complete,
    restore_rng_state,
    save_checkpoint,
)
from textmask_ocr.engine.distributed import DistributedContext
from textmask_ocr.engine.metrics_log import MetricsLog, write_config_record
from textmask_ocr.engine.sampling import EpochOrder, ResumableSampler, SeededDataset
from textmask_ocr.errors import InputError
from textmask_ocr.progress import Progress

logger = logging.getLogger(__name__)


class TrainTask(Protocol):
    """What a job plugs into the :class:`Trainer`."""

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch (a float32 scalar) and extra numbers to log. Runs under autocast."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation metrics, the same on every rank (reduce over ranks inside)."""

    def set_train_mode(self, model: nn.Module) -> None:
        """Put the model in training mode (a task may keep frozen parts in eval mode)."""

    def state_dict(self) -> dict[str, Any]:
        """The task's own resumable state (its RNGs, counters)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class TrainerConfig:
    """Loop settings. ``eval_every=0`` evaluates only at the end; ``checkpoint_minutes=0``
    checkpoints on the step interval alone."""

    out_dir: Path
    max_steps: int
    batch_size: int
    seed: int = 0
    num_workers: int = 0
    amp: bool = False
    grad_clip: float | None = None
    log_every: int = 50
    eval_every: int = 0
    checkpoint_every: int = 500
    checkpoint_minutes: float = 0.0
    best_metric: str | None = None
    best_mode: str = "max"
    quiet: bool = False
    deterministic: bool = False
    run_config: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Runs ``config.max_steps`` optimizer steps of ``task`` on ``dataset``.

    Args:
        model: the (unwrapped) model; wrapped in DDP here when the job is distributed.
        model_config: the dict stored in checkpoints to rebuild ``model`` with no flags.
        optimizer / scheduler: built by the caller over the parameters it wants trained; the
            scheduler is stepped once per optimizer step.
        dataset: map-style dataset of samples; read through :class:`SeededDataset`.
        order: one epoch's global index order from a seeded generator.
        collate_fn: batches samples.
        task: the :class:`TrainTask`.
        context: the process's :class:`DistributedContext`.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        model_config: dict[str, Any],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        dataset: Dataset,
        order: EpochOrder,
        collate_fn: Callable[[list[Any]], Any],
        task: TrainTask,
        config: TrainerConfig,
        context: DistributedContext | None = None,
    ) -> None:
        self.context = context or DistributedContext()
        self.model = model.to(self.context.device)
        self.model_config = model_config
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.task = task
        self.config = config
        self.out_dir = Path(config.out_dir)
        self.sampler = ResumableSampler(
            order,
            seed=config.seed,
            num_replicas=self.context.world_size,
            rank=self.context.rank,
        )
        self.dataset = SeededDataset(dataset)
        self.collate_fn = collate_fn
        device_type = self.context.device.type
        self.amp_dtype = torch.float16 if device_type == "cuda" else torch.bfloat16
        use_scaler = config.amp and device_type == "cuda"
        self.scaler = torch.amp.GradScaler(device_type, enabled=use_scaler)
        self.step = 0
        self.best: float | None = None
        self.skipped_steps = 0
        #: Seconds on a monotonic clock, for the time interval between checkpoints.
        self.clock: Callable[[], float] = time.monotonic
        self.metrics = MetricsLog(self.out_dir / "metrics.jsonl")
        self.steps_per_epoch = len(self.sampler._rank_share()) // config.batch_size
        if self.steps_per_epoch == 0:
            raise InputError(
                f"--batch-size {config.batch_size} is larger than the training data "
                f"({len(self.sampler._rank_share())} samples per process)"
            )

    # ---------------------------------------------------------------- state
    def trainer_state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly where it stands."""
        return {
            "step": self.step,
            "best": self.best,
            "skipped_steps": self.skipped_steps,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng_state(),
            "task": self.task.state_dict(),
        }

    def resume(self, run_dir: str | Path) -> None:
        """Restore the state saved in ``<run_dir>/last.pt``."""
        path = Path(run_dir) / "last.pt"
        payload = load_checkpoint(path)
        state = payload.get("trainer")
        if state is None:
            raise InputError(f"{path}: holds weights only, no training state to resume")
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.task.load_state_dict(state["task"])
        restore_rng_state(state["rng"])
        self.step = state["step"]
        self.best = state["best"]
        self.skipped_steps = state["skipped_steps"]

    def save(self, name: str) -> None:
        """Write ``<out>/<name>`` (rank 0 only)."""
        if not self.context.is_main:
            return
        save_checkpoint(
            self.out_dir / name,
            model_state=self.model.state_dict(),
            model_config=self.model_config,
            trainer_state=self.trainer_state(),
            run_config=self.config.run_config,
        )

    # ---------------------------------------------------------------- data
    def _batches(self) -> Iterator[Any]:
        """Batches from the current step on, epoch after epoch, in the exact resumable order."""
        epoch, offset = divmod(self.step, self.steps_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            self.sampler.set_start(offset * self.config.batch_size)
            loader = DataLoader(
                self.dataset,
                batch_size=self.config.batch_size,
                sampler=self.sampler,
                drop_last=True,
                num_workers=self.config.num_workers,
                collate_fn=self.collate_fn,
                generator=torch.Generator(),  # keeps the global RNG untouched by loader start-up
                pin_memory=self.context.device.type == "cuda",
            )
            yield from loader
            epoch, offset = epoch + 1, 0

    # ---------------------------------------------------------------- loop
    def fit(self, resume_from: str | Path | None = None) -> dict[str, float]:
        """Train to ``max_steps`` (continuing a run when ``resume_from`` is given).

        Returns the last validation metrics.
        """
        if self.config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        if resume_from is not None:
            self.resume(resume_from)
        else:
            torch.manual_seed(self.config.seed)
        if self.context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            clear_complete(self.out_dir)
            write_config_record(self.out_dir, self.config.run_config)
            self.metrics.truncate_after(self.step if resume_from is not None else -1)
        network = self.model
        if self.context.is_distributed:
            device_ids = [self.context.device.index] if self.context.device.type == "cuda" else None
            network = DistributedDataParallel(self.model, device_ids=device_ids)

        last_metrics: dict[str, float] = {}
        window = _Window()
        batches = self._batches()
        progress = Progress(
            self.config.max_steps,
            label="training",
            unit="steps",
            done=self.step,
            quiet=self.config.quiet or not self.context.is_main,
        )
        last_saved = self.clock()
        with progress:
            while self.step < self.config.max_steps:
                batch = next(batches)
                self.task.set_train_mode(network)
                started = time.perf_counter()
                loss, extras = self._optimizer_step(network, batch)
                self.step += 1
                window.add(loss, extras, self.config.batch_size, time.perf_counter() - started)
                progress.update(1, f"loss {loss:.4f}" if math.isfinite(loss) else "loss nan")
                if self.step % self.config.log_every == 0 or self.step == self.config.max_steps:
                    self._log_train(window)
                    window = _Window()
                at_end = self.step == self.config.max_steps
                if at_end or (self.config.eval_every and self.step % self.config.eval_every == 0):
                    last_metrics = self._evaluate()
                minutes = (self.clock() - last_saved) / 60
                interval = self.config.checkpoint_minutes
                if (
                    at_end
                    or self.step % self.config.checkpoint_every == 0
                    or (interval and minutes >= interval)
                ):
                    self.save("last.pt")
                    last_saved = self.clock()
        if self.context.is_main:
            mark_complete(self.out_dir, {"step": self.step, "metrics": last_metrics})
        self.context.barrier()  # every rank returns once rank 0 has written the run's files
        return last_metrics

    def _optimizer_step(self, network: nn.Module, batch: Any) -> tuple[float, dict[str, float]]:
        """One forward/backward/update; returns the loss (nan when the step was skipped)."""
        self.optimizer.zero_grad(set_to_none=True)
        device_type = self.context.device.type
        with torch.autocast(device_type, dtype=self.amp_dtype, enabled=self.config.amp):
            loss, extras = self.task.training_step(network, batch)
        finite = self.context.all_reduce_sum(torch.tensor([float(torch.isfinite(loss))]))
        if finite.item() < self.context.world_size:
            self._skip()
            return float("nan"), extras
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.config.grad_clip if self.config.grad_clip else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm) if parameters else None
        if grad_norm is not None and not torch.isfinite(grad_norm) and not self.scaler.is_enabled():
            self._skip()
            return float("nan"), extras
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return float(loss.detach()), extras

    def _skip(self) -> None:
        """Count a non-finite step; the schedule still advances so steps stay aligned."""
        self.skipped_steps += 1
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        if self.context.is_main:
            logger.warning("step %d skipped (non-finite loss)", self.step + 1)

    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            metrics = self.task.evaluate(self.model)
        if self.context.is_main:
            self.metrics.write({"kind": "val", "step": self.step, **metrics})
        key = self.config.best_metric
        if key is not None and key in metrics:
            value = metrics[key]
            better = self.best is None or (
                value > self.best if self.config.best_mode == "max" else value < self.best
            )
            if better:
                self.best = value
                self.save("best.pt")
        return metrics

    def _log_train(self, window: _Window) -> None:
        if not self.context.is_main or window.steps == 0:
            return
        record: dict[str, Any] = {
            "kind": "train",
            "step": self.step,
            "loss": window.mean_loss(),
            "lr": self.optimizer.param_groups[0]["lr"],
            "samples_per_s": window.samples_per_second() * self.context.world_size,
            "skipped_steps": self.skipped_steps,
        }
        record.update(window.mean_extras())
        self.metrics.write(record)


class _Window:
    """Running sums of the steps between two log lines."""

    def __init__(self) -> None:
        self.steps = 0
        self.finite_steps = 0
        self.loss_sum = 0.0
        self.samples = 0
        self.seconds = 0.0
        self.extras: dict[str, float] = {}

    def add(self, loss: float, extras: dict[str, float], samples: int, seconds: float) -> None:
        self.steps += 1
        self.samples += samples
        self.seconds += seconds
        if math.isfinite(loss):
            self.finite_steps += 1
            self.loss_sum += loss
            for key, value in extras.items():
                self.extras[key] = self.extras.get(key, 0.0) + float(value)

    def mean_loss(self) -> float | None:
        return self.loss_sum / self.finite_steps if self.finite_steps else None

    def mean_extras(self) -> dict[str, float]:
        return {key: value / max(self.finite_steps, 1) for key, value in self.extras.items()}

    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0
