"""The engine task of one phase of ``train-seg``: the eq. 5 loss of a batch, validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from segmentation.configs import SegmenterConfig, normalize_image
from segmentation.losses import CRFSettings, semi_supervised_loss
from segmentation.outputs import SegmentationOutput
from textmask_ocr.masking.sources import DataSource


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of the recipe: forward phases, losses, optimizer, data."""

    number: int
    steps: int
    lr: float
    use_subset: bool
    use_crf: bool
    sources: list[DataSource]
    ratios: list[float] | None = None

    @property
    def run_name(self) -> str:
        return f"phase{self.number}"


class SegmentationTask:
    """The :class:`~textmask_ocr.engine.TrainTask` of one phase.

    ``training_step`` normalises the batch's images (kept in [0, 1] for the CRF term), runs the
    network with ``phases`` and returns the eq. 5 loss; the logged extras are its unweighted terms
    ``loss_iou`` and, when used, ``loss_subset`` and ``loss_crf``.
    """

    def __init__(
        self,
        config: SegmenterConfig,
        phase: PhaseSpec,
        *,
        crf_settings: CRFSettings,
        validate: Callable[[nn.Module], dict[str, float]] | None,
        device: torch.device,
    ) -> None:
        self.config = config
        self.phase = phase
        self.crf_settings = crf_settings
        self.validate = validate
        self.device = device

    def training_step(
        self, model: nn.Module, batch: dict[str, Any]
    ) -> tuple[Tensor, dict[str, float]]:
        batch = {
            key: value.to(self.device, non_blocking=True) if isinstance(value, Tensor) else value
            for key, value in batch.items()
        }
        outputs = model(normalize_image(batch["image"], self.config), phases=self.phase.number)
        total, parts = semi_supervised_loss(
            outputs,
            batch,
            use_subset=self.phase.use_subset,
            use_crf=self.phase.use_crf,
            crf_settings=self.crf_settings,
        )
        extras = {f"loss_{name}": float(value) for name, value in parts.items() if name != "total"}
        return total + _zero_on_every_output(outputs), extras

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.validate(model) if self.validate is not None else {}

    def set_train_mode(self, model: nn.Module) -> None:
        model.train()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _zero_on_every_output(outputs: SegmentationOutput) -> Tensor:
    """0 times the sum of every output's logits.

    Keeps every branch in the graph: when a batch's ground truth gives a branch no loss term (a
    pixel-only batch in phase 1 for the polygon decoder; a polygon-only batch for U-Net), its
    parameters still get a zero gradient, as DistributedDataParallel needs, and a loss with no
    term at all still backpropagates. Single-process and DDP runs thus update identically.
    """
    sums = [logits.float().sum() for logits in outputs if logits is not None]
    return 0.0 * torch.stack(sums).sum()


__all__ = ["PhaseSpec", "SegmentationTask"]
