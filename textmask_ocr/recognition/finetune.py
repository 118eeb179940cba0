"""Fine-tuning a recognizer on word-crop LMDBs with real, random, predicted or no masks.

The paper's recipe (III-C): copy a pretrained recognizer into an RGB+mask one and train only the
new input layer (``train_layers="input"``, every other layer frozen, batch norm in eval mode).
``mask="none"`` trains the unmodified recognizer (the baseline row, or a base model from scratch).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
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
from textmask_ocr.recognition.finetune_settings import FinetuneSettings
from textmask_ocr.recognition.mask_sources import MaskPredictor, collate_inputs
from textmask_ocr.recognition.models import load_base_or_adapted


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


def longest_label(model: nn.Module) -> int:
    """The most characters a label may have for ``model`` to emit it (CTC: without repeats,
    which also need a blank between them; attention: with room for the end symbol). Longer
    training labels are filtered out by the dataset and counted in its ``filter_report``."""
    capacity = _label_capacity(model)
    return capacity if isinstance(build_codec(model.config), CTCCodec) else capacity - 1


def _label_capacity(model: nn.Module) -> int:
    """Most label symbols the model can emit for its input width."""
    config: RecognizerConfig = model.config
    if config.arch == "crnn":
        return type(model).output_length(config.input_size[1])
    return model.max_length


def resumes_from_checkpoint(settings: FinetuneSettings) -> bool:
    """Whether the run continues from a ``last.pt`` (a run resumed before its first checkpoint
    starts again from the beginning, with its recorded settings)."""
    return settings.resume is not None and (Path(settings.resume) / "last.pt").is_file()


def build_model(settings: FinetuneSettings) -> nn.Module:
    """The model to train: from ``--resume``, ``--weights`` (adapted if needed) or from scratch."""
    with_mask = settings.mask != "none"
    if resumes_from_checkpoint(settings):
        payload = load_checkpoint(Path(settings.resume) / "last.pt")
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
    if settings.resume is not None:
        settings.check_resumable(FinetuneSettings.recorded(settings.resume))
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
            max_label_length=settings.max_label_length or longest_label(model),
            strip_symbols=settings.strip_symbols,
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
            grad_clip=settings.grad_clip,
            best_metric="accuracy" if validate is not None else None,
            run_config=settings.record(),
            **settings.trainer_options(),
        ),
        context=context,
    )
    return trainer.fit(resume_from=settings.resume if resumes_from_checkpoint(settings) else None)


__all__ = [
    "FinetuneSettings",
    "RecognitionTask",
    "build_model",
    "build_optimizer",
    "freeze_for",
    "run_finetune",
]
