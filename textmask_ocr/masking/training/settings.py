"""The settings of ``textmask-ocr train-seg`` (:class:`SegTrainSettings`) and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from segmentation.configs import ARCHS, DEFAULT_CROP_HEIGHT, STRIDE, SegmenterConfig
from textmask_ocr.engine.run_settings import RunSettings, check_ratios, is_positive_number
from textmask_ocr.errors import InputError
from textmask_ocr.masking.sources import DataSource

CRF_MODES = ("window", "dense")


@dataclass
class SegTrainSettings(RunSettings):
    """Everything ``textmask-ocr train-seg`` takes (also the run's config record).

    Attributes:
        out: the run folder.
        data: phase-1 training sets.
        data_ratio: sampling ratio per ``data`` set (default: in proportion to their sizes).
        phase2_data: phase-2 training sets (default: the ``data`` sets with pixel-level masks).
        val: validation set (its ``test`` split where the reader has splits); best.pt follows
            its pixel-level F1.
        arch, width: the network (``mgnet``, ``mgnet-skip`` or ``unet``, channel multiplier).
        size: training (and validation) image side, or (height, width); multiples of 16.
        phases: 2 for the full recipe, 1 to stop after phase 1.
        phase1_steps, phase2_steps, phase1_lr, phase2_lr: length and Adam learning rate of each
            phase.
        subset_loss, crf_loss: phase 2's weakly supervised terms.
        crf: ``window`` (local-window kernel, fast) or ``dense`` (exact kernel, for GPUs).
        augment: rotation, colour jitter and noise on training images.
        checkpoint_every, checkpoint_minutes: ``last.pt`` is written every so many steps and at
            least every so many minutes of training (0: no time interval).
        threshold: validation threshold.
        select_best: ``model.pt`` holds the best validated checkpoint over both phases instead
            of the final weights (a short phase 2 can end below phase 1).
        resume: continue the run in this folder.
        deterministic: deterministic algorithms (exact resume on any device; slower).
    """

    FLAGS: ClassVar[Mapping[str, str]] = {
        "subset_loss": "--no-subset-loss",
        "crf_loss": "--no-crf-loss",
        "augment": "--no-augment",
    }

    out: Path
    data: list[DataSource]
    data_ratio: list[float] | None = None
    phase2_data: list[DataSource] | None = None
    val: DataSource | None = None
    arch: str = "mgnet"
    width: float = 1.0
    size: int | tuple[int, int] = 512
    phases: int = 2
    phase1_steps: int = 20000
    phase2_steps: int = 10000
    phase1_lr: float = 1e-4
    phase2_lr: float = 1e-5
    subset_loss: bool = True
    crf_loss: bool = True
    crf: str = "window"
    augment: bool = True
    batch_size: int = 8
    workers: int = 2
    amp: bool = False
    seed: int = 0
    eval_every: int = 1000
    log_every: int = 50
    checkpoint_every: int = 500
    checkpoint_minutes: float = 10.0
    threshold: float = 0.5
    select_best: bool = False
    resume: Path | None = None
    quiet: bool = False
    deterministic: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], origin: str = "settings") -> SegTrainSettings:
        """Settings from a mapping with the field names (a ``--config`` file, a run's record).

        Raises:
            InputError: unknown or missing keys, values of the wrong form (naming ``origin``).
        """
        names = set(cls.__dataclass_fields__)
        unknown = set(values) - names
        if unknown:
            raise InputError(f"{origin}: unknown settings {', '.join(sorted(unknown))}")
        converted: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                converted[key] = None
            elif key in ("data", "phase2_data"):
                if isinstance(value, str) or not isinstance(value, list):
                    raise InputError(f"{origin}: {key} must be a list of KIND[:GT]=DIR strings")
                converted[key] = [_source(item, key) for item in value]
            elif key == "val":
                converted[key] = _source(value, key)
            elif key in ("out", "resume"):
                converted[key] = Path(value)
            elif key == "data_ratio":
                converted[key] = [float(ratio) for ratio in value]
            elif key == "size" and isinstance(value, list):
                converted[key] = tuple(value)
            else:
                converted[key] = value
        missing = {"out", "data"} - set(converted)
        if missing:
            raise InputError(f"{origin}: missing {', '.join(sorted(missing))}")
        return cls(**converted)

    def validate(self) -> None:
        """:class:`InputError` naming the flag of the first bad value."""
        self.check_values(
            (
                ("--arch", self.arch in ARCHS, f"choose from {', '.join(ARCHS)}"),
                ("--crf", self.crf in CRF_MODES, f"choose from {', '.join(CRF_MODES)}"),
                ("--phases", self.phases in (1, 2), "choose 1 or 2"),
                ("--size", _valid_size(self.size), f"a side or HxW, multiples of {STRIDE}"),
                ("--width", self.width > 0, "must be positive"),
                ("--phase1-steps", self.phase1_steps >= 1, "must be positive"),
                ("--phase2-steps", self.phase2_steps >= 1, "must be positive"),
                ("--phase1-lr", is_positive_number(self.phase1_lr), "must be a positive number"),
                ("--phase2-lr", is_positive_number(self.phase2_lr), "must be a positive number"),
                ("--threshold", 0 < self.threshold < 1, "must lie in (0, 1)"),
            )
        )
        if not self.data:
            raise InputError("--data is required (KIND[:GT]=DIR, repeatable)")
        check_ratios("--data-ratio", self.data_ratio, len(self.data), "--data")

    @property
    def input_size(self) -> tuple[int, int]:
        """The training size as (height, width)."""
        return (self.size, self.size) if isinstance(self.size, int) else self.size

    def model_config(self) -> SegmenterConfig:
        """The network's config; trained on word crops (``words`` data), it segments crops at
        the training height."""
        on_words = any(source.kind == "words" for source in self.data)
        return SegmenterConfig(
            arch=self.arch,
            width=self.width,
            input_size=self.input_size,
            phases=self.phases,
            crop_height=self.input_size[0] if on_words else DEFAULT_CROP_HEIGHT,
        )


def _valid_size(size: Any) -> bool:
    sides = (size, size) if isinstance(size, int) else size
    return (
        isinstance(sides, tuple)
        and len(sides) == 2
        and all(isinstance(side, int) and side >= STRIDE and side % STRIDE == 0 for side in sides)
    )


def _source(value: Any, key: str) -> DataSource:
    if not isinstance(value, str):
        raise InputError(f"{key}: expected KIND[:GT]=DIR strings, got {value!r}")
    return DataSource.parse(value, f"--{key.replace('_', '-')}")


__all__ = ["CRF_MODES", "SegTrainSettings"]
