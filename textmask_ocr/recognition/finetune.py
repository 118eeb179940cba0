"""Fine-tuning a recognizer on word-crop LMDBs with real, random, predicted or no masks.

The paper's recipe (III-C): copy a pretrained recognizer into an RGB+mask one and train only the
new input layer (``train_layers="input"``, every other layer frozen, batch norm in eval mode).
``mask="none"`` trains the unmodified recognizer (the baseline row, or a base model from scratch).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recognizers import (
    CTCCodec,
    RecognizerConfig,
    build_codec,
    build_recognizer,
    default_cfgs,
    input_layers,
)
from segmentation.datasets.mixing import mixture_order
from textmask_ocr.data.sampling import ConcatWordDataset
from textmask_ocr.engine import DistributedContext, Trainer, TrainerConfig, load_checkpoint
from textmask_ocr.engine.sampling import EpochOrder, shuffled_order
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import evaluate_dataset
from textmask_ocr.recognition.mask_sources import MASK_SOURCES, MaskPredictor, collate_inputs
from textmask_ocr.recognition.models import load_base_or_adapted

OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")
SCHEDULES = ("onecycle", "cosine", "constant")
#: Settings a resumed run must share with the run it continues: the saved optimizer, schedule
#: and data position depend on them (``steps`` too, unless the schedule is constant).
RESUME_INVARIANTS = (
    "arch",
    "optimizer",
    "lr",
    "weight_decay",
    "schedule",
    "train_layers",
    "batch_size",
)


@dataclass
class FinetuneSettings:
    """Everything ``textmask-ocr finetune`` takes (also the run's config record)."""

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
    max_label_length: int | None = None
    quiet: bool = False
    deterministic: bool = False

    def record(self) -> dict[str, Any]:
        """JSON-friendly copy for config.json and checkpoints."""
        return {
            key: [str(v) for v in value] if key == "train" else _plain(value)
            for key, value in dataclasses.asdict(self).items()
        }

    def validate(self) -> None:
        for name, value, choices in (
            ("--mask", self.mask, MASK_SOURCES),
            ("--optimizer", self.optimizer, OPTIMIZERS),
            ("--schedule", self.schedule, SCHEDULES),
            ("--train-layers", self.train_layers, ("input", "all")),
            ("--arch", self.arch, tuple(default_cfgs)),
        ):
            if value not in choices:
                raise InputError(f"{name} {value!r}: choose from {', '.join(choices)}")
        if self.train_ratio is not None and len(self.train_ratio) != len(self.train):
            raise InputError(
                f"--train-ratio given {len(self.train_ratio)} times for {len(self.train)} --train"
            )
        if self.mask == "none" and self.train_layers == "input":
            raise InputError("--mask none has no new input layer to train: use --train-layers all")
        if self.steps < 1 or self.batch_size < 1:
            raise InputError("--steps and --batch-size must be positive")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


class RecognitionTask:
    """The :class:`~textmask_ocr.engine.TrainTask` of recognizer training (CTC or attention).

    Labels the model cannot emit (longer than the CTC output length, counting the blanks forced
    between repeated characters, or than ASTER's decoding steps) are dropped from the batch,
    counted and warned about once. A batch left with no label gives a NaN loss, a step the
    :class:`~textmask_ocr.engine.Trainer` skips and counts on every rank. The logged
    ``too_long_labels`` is the number dropped per step (the Trainer averages extras over its log
    window, like the loss); ``too_long_labels`` of the task state is the run's total.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        train_layers: str,
        validate: Callable[[nn.Module], dict[str, float]] | None,
        device: torch.device,
    ) -> None:
        self.codec = build_codec(model.config)
        self.train_layers = train_layers
        self.validate = validate
        self.device = device
        self.capacity = _label_capacity(model)
        self.too_long_labels = 0

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        keep = [i for i, text in enumerate(batch["labels"]) if self._fits(text)]
        dropped = len(batch["labels"]) - len(keep)
        if dropped:
            if self.too_long_labels == 0:
                warnings.warn(
                    f"labels longer than the model can emit ({self.capacity} steps) are skipped",
                    stacklevel=2,
                )
            self.too_long_labels += dropped
        extras = {"too_long_labels": float(dropped)}
        if not keep:
            return torch.tensor(float("nan"), device=self.device), extras
        texts = [batch["labels"][i] for i in keep]
        targets, lengths = self.codec.encode(texts)
        inputs = batch["input"][keep].to(self.device, non_blocking=True)
        logits = model(inputs, targets.to(self.device), lengths.to(self.device))
        unwrapped = model.module if hasattr(model, "module") else model
        loss = unwrapped.loss(logits, targets.to(self.device), lengths.to(self.device))
        return loss, extras

    def _fits(self, text: str) -> bool:
        text = self.codec.normalize(text)
        if isinstance(self.codec, CTCCodec):
            repeats = sum(a == b for a, b in itertools.pairwise(text))
            return len(text) + repeats <= self.capacity
        return len(text) + 1 <= self.capacity

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.validate(model) if self.validate is not None else {}

    def set_train_mode(self, model: nn.Module) -> None:
        # Training only the input layer keeps every batch-norm statistic of the base model.
        model.train(self.train_layers == "all")

    def state_dict(self) -> dict[str, Any]:
        return {"too_long_labels": self.too_long_labels}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.too_long_labels = state["too_long_labels"]


def _label_capacity(model: nn.Module) -> int:
    """Most label symbols the model can emit for its input width."""
    config: RecognizerConfig = model.config
    if config.arch == "crnn":
        return type(model).output_length(config.input_size[1])
    return model.max_length


def build_model(settings: FinetuneSettings) -> nn.Module:
    """The model to train: from ``--resume``, ``--weights`` (adapted if needed) or from scratch."""
    with_mask = settings.mask != "none"
    if settings.resume is not None:
        payload = load_checkpoint(Path(settings.resume) / "last.pt")
        check_resumable(settings, payload.get("run_config") or {})
        model = build_recognizer(RecognizerConfig.from_dict(payload["config"]))
    elif settings.weights is not None:
        model = load_base_or_adapted(
            settings.weights, arch=settings.arch, with_mask=with_mask, mask_init=settings.mask_init
        )
    else:
        config = default_cfgs[settings.arch]
        config = config.replace(arch_kwargs={**config.arch_kwargs, **settings.arch_kwargs})
        if with_mask:
            config = config.replace(color_mode="RGB", mask_channel=True)
        model = build_recognizer(config)
    if model.config.mask_channel != with_mask:
        raise InputError(
            f"--resume {settings.resume}: the run's model does not fit --mask {settings.mask}"
        )
    return model


def check_resumable(settings: FinetuneSettings, recorded: dict[str, Any]) -> None:
    """Refuse to resume a run (``recorded``: its settings) with settings that change its course.

    A one-cycle or cosine schedule spans the run's ``steps``; a constant one can be extended.
    """
    keys = RESUME_INVARIANTS + (() if settings.schedule == "constant" else ("steps",))
    current = settings.record()
    for key in keys:
        if key in recorded and recorded[key] != current[key]:
            flag = "--" + key.replace("_", "-")
            raise InputError(
                f"--resume {settings.resume}: the run used {flag} {recorded[key]}, not "
                f"{current[key]}; resume with the same value"
                + (" (only --schedule constant runs can be extended)" if key == "steps" else "")
            )


def freeze_for(model: nn.Module, train_layers: str) -> list[nn.Parameter]:
    """Set ``requires_grad`` for ``train_layers`` and return the trainable parameters."""
    trainable = set(input_layers(model.config.arch)) if train_layers == "input" else None
    parameters = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(trainable is None or name in trainable)
        if parameter.requires_grad:
            parameters.append(parameter)
    return parameters


def build_optimizer(
    settings: FinetuneSettings, parameters: list[nn.Parameter]
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Optimizer and per-step schedule from the settings."""
    lr, decay = settings.lr, settings.weight_decay
    optimizer: torch.optim.Optimizer
    if settings.optimizer == "adamw":
        optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=decay)
    elif settings.optimizer == "adam":
        optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=decay)
    elif settings.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=decay)
    else:
        optimizer = torch.optim.Adadelta(parameters, lr=lr, weight_decay=decay)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if settings.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=settings.steps, pct_start=0.15
        )
    elif settings.schedule == "cosine":
        warmup = max(1, settings.steps // 20)

        def cosine(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, settings.steps - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    return optimizer, scheduler


def run_finetune(
    settings: FinetuneSettings,
    *,
    predictor: MaskPredictor | None = None,
    context: DistributedContext | None = None,
) -> dict[str, float]:
    """Train as ``settings`` say; returns the final validation metrics (empty without --val)."""
    settings.validate()
    context = context or DistributedContext.from_environment()
    torch.manual_seed(settings.seed)
    # channels_last: faster convolutions with oneDNN on CPUs and with AMP on GPUs
    model = build_model(settings).to(context.device, memory_format=torch.channels_last)
    parameters = freeze_for(model, settings.train_layers)
    optimizer, scheduler = build_optimizer(settings, parameters)

    sources = [
        recognizer_dataset(
            path,
            model.config,
            settings.mask,
            predictor,
            training=True,
            max_label_length=settings.max_label_length,
        )
        for path in settings.train
    ]
    train_set = ConcatWordDataset(sources)
    order: EpochOrder = (
        shuffled_order(len(train_set))
        if settings.train_ratio is None
        else mixture_order(train_set.sizes, settings.train_ratio, num_samples=None)
    )
    validate = None
    if settings.val is not None:
        val_set = recognizer_dataset(settings.val, model.config, settings.mask, predictor)

        def validate(network: nn.Module) -> dict[str, float]:
            result = evaluate_dataset(
                network,
                val_set,
                batch_size=settings.batch_size,
                num_workers=settings.workers,
                context=context,
            )
            return {
                "accuracy": result.metric.accuracy,
                "norm_edit_distance": result.metric.mean_edit_distance,
            }

    trainer = Trainer(
        model=model,
        model_config=model.config.to_dict(),
        optimizer=optimizer,
        scheduler=scheduler,
        dataset=train_set,
        order=order,
        collate_fn=collate_inputs,
        task=RecognitionTask(
            model, train_layers=settings.train_layers, validate=validate, device=context.device
        ),
        config=TrainerConfig(
            out_dir=settings.out,
            max_steps=settings.steps,
            batch_size=settings.batch_size,
            seed=settings.seed,
            num_workers=settings.workers,
            amp=settings.amp,
            grad_clip=settings.grad_clip,
            log_every=settings.log_every,
            eval_every=settings.eval_every,
            checkpoint_every=settings.checkpoint_every,
            best_metric="accuracy" if validate is not None else None,
            quiet=settings.quiet,
            deterministic=settings.deterministic,
            run_config=settings.record(),
        ),
        context=context,
    )
    return trainer.fit(resume_from=settings.resume)
