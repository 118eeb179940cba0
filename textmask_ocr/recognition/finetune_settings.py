"""The settings of ``textmask-ocr finetune`` (:class:`FinetuneSettings`) and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from recognizers import default_cfgs
from textmask_ocr.engine.run_settings import RunSettings, check_ratios, is_positive_number
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.mask_sources import MASK_SOURCES

OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")
SCHEDULES = ("onecycle", "cosine", "constant")
TRAIN_LAYERS = ("input", "all")
MASK_INITS = ("zero", "mean", "random")


@dataclass
class FinetuneSettings(RunSettings):
    """Everything ``textmask-ocr finetune`` takes (also the run's config record).

    Attributes:
        out: the run folder.
        train: training LMDBs; ``train_ratio``: their sampling ratios (default: by size).
        arch, weights: the recognizer and its base checkpoint (None: from scratch, with
            ``arch_kwargs`` such as ``width_mult``).
        resume: continue the run in this folder.
        val: validation LMDB or folder; ``best.pt`` follows its word accuracy.
        mask, segmenter: the mask source (``real``, ``random``, ``predicted``, ``none``).
        train_layers: ``input`` (the new input layer only, the paper's recipe) or ``all``.
        mask_init: initial weights of the new mask input channel.
        optimizer, lr, weight_decay, schedule, steps, batch_size, grad_clip: the optimisation.
        checkpoint_every, checkpoint_minutes: ``last.pt`` is written every so many steps and at
            least every so many minutes of training (0: no time interval).
        max_label_length: longer training labels are skipped (None: the model's longest).
        strip_symbols: drop the characters outside the model's alphabet from training labels
            (``"$4.50"`` -> ``"450"`` for a case-insensitive alphanumeric CRNN, as the
            ``ignore-case-symbols`` protocol scores it) instead of skipping those samples.
    """

    FLAGS: ClassVar[Mapping[str, str]] = {"arch_kwargs": "--width-mult/--all-bn/--aux-ctc"}

    out: Path
    train: list[Path]
    arch: str = "crnn"
    weights: Path | None = None
    resume: Path | None = None
    train_ratio: list[float] | None = None
    val: Path | None = None
    mask: str = "random"
    segmenter: Path | None = None
    train_layers: str = "input"
    mask_init: str = "zero"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    steps: int = 1000
    batch_size: int = 64
    workers: int = 2
    amp: bool = False
    grad_clip: float | None = 5.0
    seed: int = 0
    eval_every: int = 500
    log_every: int = 50
    checkpoint_every: int = 500
    checkpoint_minutes: float = 10.0
    max_label_length: int | None = None
    strip_symbols: bool = False
    quiet: bool = False
    deterministic: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], origin: str = "settings") -> FinetuneSettings:
        """Settings from a mapping of field names to JSON values (a run's record)."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"{origin}: unknown settings {', '.join(sorted(unknown))}")
        converted = dict(values)
        for key in ("out", "weights", "resume", "val", "segmenter"):
            if converted.get(key) is not None:
                converted[key] = Path(converted[key])
        converted["train"] = [Path(path) for path in converted.get("train") or []]
        if "out" not in converted:
            raise InputError(f"{origin}: missing out")
        return cls(**converted)

    def may_change(self, name: str) -> bool:
        """Runtime settings, and ``steps`` under a constant schedule (others span the run)."""
        return super().may_change(name) or (name == "steps" and self.schedule == "constant")

    def resume_hint(self, name: str) -> str:
        return " (only --schedule constant runs can be extended)" if name == "steps" else ""

    def validate(self) -> None:
        """:class:`InputError` naming the flag of the first bad value."""
        for flag, value, choices in (
            ("--mask", self.mask, MASK_SOURCES),
            ("--optimizer", self.optimizer, OPTIMIZERS),
            ("--schedule", self.schedule, SCHEDULES),
            ("--train-layers", self.train_layers, TRAIN_LAYERS),
            ("--mask-init", self.mask_init, MASK_INITS),
            ("--arch", self.arch, tuple(default_cfgs)),
        ):
            if value not in choices:
                raise InputError(f"{flag} {value!r}: choose from {', '.join(choices)}")
        self.check_values(
            (
                ("--lr", is_positive_number(self.lr), "must be a positive number"),
                ("--weight-decay", 0 <= self.weight_decay < float("inf"), "must be >= 0"),
                ("--steps", self.steps >= 1, "must be positive"),
            )
        )
        if not self.train:
            raise InputError("--train is required (a training LMDB, repeatable)")
        check_ratios("--train-ratio", self.train_ratio, len(self.train), "--train")
        if self.mask == "none" and self.train_layers == "input":
            raise InputError("--mask none has no new input layer to train: use --train-layers all")


__all__ = ["MASK_INITS", "OPTIMIZERS", "SCHEDULES", "TRAIN_LAYERS", "FinetuneSettings"]
