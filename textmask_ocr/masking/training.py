"""``textmask-ocr train-seg``: the two-phase training recipe of the paper (III-B-2, IV-A-2).

- **Phase 1**: the loop open (zero guidance, ``model(image, phases=1)``), soft IoU only, Adam at
  ``phase1_lr`` (1e-4), on the ``--data`` sets mixed by ``--data-ratio`` (the paper: COCO-TS and
  MLT-S, polygon-only, then Total-Text and ICDAR-2013-WARP).
- **Phase 2**: the loop closed (``phases=2``), soft IoU + 10 subset + 0.1 CRF (eq. 5, minus the
  ablated terms), Adam at ``phase2_lr`` (1e-5), initialised from phase 1's final weights, on the
  ``--phase2-data`` sets (default: the ``--data`` sets that carry pixel-level masks).

``phases=1`` stops after phase 1: the paper's "Ours-alpha" ("Phase 2 training disabled", IV-C-1;
Table IV(a) also ticks the subset and CRF losses in that row, which the recipe of III-B-2 never
uses in phase 1; we follow the text). Its checkpoint's config says to run the network open-loop.
``--no-subset-loss`` and ``--no-crf-loss`` drop phase 2's weakly supervised terms ("Ours-gamma"
without the CRF term, "Ours-beta" without both).

The U-Net baseline (``arch="unet"``) trains its single pixel-level branch on the same data with
the same losses: polygon-only samples give it no soft-IoU term. Its phase 1 is the baseline of the
paper's tables; a phase 2 adds a fine-tuning stage at ``phase2_lr`` whose only extra term is the
CRF loss on samples without a pixel-level mask (no guidance loop, no region output, hence no
subset loss).

Each phase is a run of the shared :class:`~textmask_ocr.engine.Trainer` in ``OUT/phase1`` and
``OUT/phase2`` (``metrics.jsonl``, ``config.json``, ``best.pt`` by validation F1, ``last.pt``);
``OUT/config.json`` records the settings, ``OUT/model.pt`` holds the final weights and config
(no training state). ``resume`` continues exactly where the run stopped, in either phase or between
them: a finished phase 1 is not rerun, and phase 2 starts from its final weights as it would have.
Training images are resized to ``size x size`` (or ``H x W`` for a pair; word crops keep their
aspect ratio and are padded); validation runs at that size too.

Phase 2 needs a real budget: its answer O'_T comes from the decoders fed non-zero guidance, which
phase 1 never showed them, so it starts far worse than phase 1's O_T and only overtakes it after
enough steps. Measured on 40 synthetic 64 px scenes, width 1/8, phase 1 at 3e-3, held-out F1:
250 phase-1 steps alone 0.37; + 20 phase-2 steps at 3e-4: 0.05; 200 + 40 at 1e-3: 0.19;
150 + 100 at 1e-3: 0.31.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import ConcatDataset, default_collate

from segmentation.augment import AugmentConfig, build_augmentation
from segmentation.configs import (
    ARCHS,
    DEFAULT_CROP_HEIGHT,
    STRIDE,
    TWO_BRANCH_ARCHS,
    SegmenterConfig,
    build_segmenter,
    normalize_image,
)
from segmentation.datasets import SegmentationDataset, mixture_order
from segmentation.losses import CRFSettings, semi_supervised_loss
from segmentation.outputs import SegmentationOutput
from textmask_ocr.engine import DistributedContext, Trainer, TrainerConfig, load_checkpoint
from textmask_ocr.engine.checkpoint import save_checkpoint
from textmask_ocr.engine.metrics_log import MetricsLog, write_config_record
from textmask_ocr.engine.sampling import EpochOrder, shuffled_order
from textmask_ocr.errors import InputError
from textmask_ocr.masking.evaluation import validation_metrics
from textmask_ocr.masking.predictor import MODEL_FILE
from textmask_ocr.masking.sources import DataSource, has_pixel_masks

CRF_MODES = ("window", "dense")
#: Settings that may differ when a run is resumed: they do not change what is computed.
RUNTIME_SETTINGS = ("out", "resume", "workers", "quiet")


@dataclass
class SegTrainSettings:
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
        threshold: validation threshold.
        select_best: ``model.pt`` holds the best validated checkpoint over both phases instead
            of the final weights (a short phase 2 can end below phase 1).
        resume: continue the run in this folder.
        deterministic: deterministic algorithms (exact resume on any device; slower).
    """

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
    threshold: float = 0.5
    select_best: bool = False
    resume: Path | None = None
    quiet: bool = False
    deterministic: bool = False

    def record(self) -> dict[str, Any]:
        """JSON-friendly copy (data sets as ``KIND[:GT][@SPLIT]=DIR`` strings)."""
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], origin: str = "settings") -> SegTrainSettings:
        """Settings from a mapping with the field names (a ``--config`` file, a run's record).

        Raises:
            InputError: unknown or missing keys, values of the wrong form (naming ``origin``).
        """
        names = {field.name for field in dataclasses.fields(cls)}
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

    @classmethod
    def from_run(cls, run_dir: str | Path) -> SegTrainSettings:
        """The recorded settings of the run in ``run_dir``, set to resume it."""
        path = Path(run_dir) / "config.json"
        if not path.is_file():
            raise InputError(f"--resume {run_dir}: no config.json (not a train-seg run folder)")
        try:
            recorded = dict(json.loads(path.read_text(encoding="utf-8"))["config"])
            recorded.pop("model", None)  # the network's config, recorded beside the settings
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"{path}: unreadable run record ({error})") from None
        settings = cls.from_dict(recorded, origin=str(path))
        return dataclasses.replace(settings, out=Path(run_dir), resume=Path(run_dir))

    def validate(self) -> None:
        """:class:`InputError` naming the flag of the first bad value."""
        checks = (
            ("--arch", self.arch in ARCHS, f"choose from {', '.join(ARCHS)}"),
            ("--crf", self.crf in CRF_MODES, f"choose from {', '.join(CRF_MODES)}"),
            ("--phases", self.phases in (1, 2), "choose 1 or 2"),
            ("--size", _valid_size(self.size), f"a side or HxW, multiples of {STRIDE}"),
            ("--width", self.width > 0, "must be positive"),
            ("--phase1-steps", self.phase1_steps >= 1, "must be positive"),
            ("--phase2-steps", self.phase2_steps >= 1, "must be positive"),
            ("--phase1-lr", self.phase1_lr > 0, "must be positive"),
            ("--phase2-lr", self.phase2_lr > 0, "must be positive"),
            ("--batch-size", self.batch_size >= 1, "must be positive"),
            ("--threshold", 0 < self.threshold < 1, "must lie in (0, 1)"),
        )
        for flag, ok, requirement in checks:
            if not ok:
                name = flag[2:].replace("-", "_")
                raise InputError(f"{flag} {getattr(self, name)!r}: {requirement}")
        if not self.data:
            raise InputError("--data is required (KIND[:GT]=DIR, repeatable)")
        if self.data_ratio is not None:
            if len(self.data_ratio) != len(self.data):
                raise InputError(
                    f"--data-ratio given {len(self.data_ratio)} times for {len(self.data)} --data"
                )
            if min(self.data_ratio) < 0 or sum(self.data_ratio) <= 0:
                raise InputError(
                    f"--data-ratio {self.data_ratio}: must be >= 0 with a positive sum"
                )

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


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, DataSource | Path):
        return str(value)
    return value


def _source(value: Any, key: str) -> DataSource:
    if not isinstance(value, str):
        raise InputError(f"{key}: expected KIND[:GT]=DIR strings, got {value!r}")
    return DataSource.parse(value, f"--{key.replace('_', '-')}")


# ---------------------------------------------------------------------- the task
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


# ---------------------------------------------------------------------- the recipe
def _open_all(
    sources: list[DataSource], settings: SegTrainSettings, transform: Any
) -> list[SegmentationDataset]:
    return [source.open(size=settings.input_size, transform=transform) for source in sources]


def plan_phases(settings: SegTrainSettings, datasets: list[SegmentationDataset]) -> list[PhaseSpec]:
    """The phases to run, with their data (``datasets``: the opened ``settings.data``)."""
    phases = [
        PhaseSpec(
            1,
            settings.phase1_steps,
            settings.phase1_lr,
            use_subset=False,
            use_crf=False,
            sources=list(settings.data),
            ratios=settings.data_ratio,
        )
    ]
    if settings.phases == 2:
        sources = settings.phase2_data
        if sources is None:
            sources = [
                source
                for source, dataset in zip(settings.data, datasets, strict=True)
                if has_pixel_masks(dataset)
            ]
        if not sources:
            raise InputError(
                "phase 2 trains on pixel-level data and no --data set has pixel masks: "
                "pass --phase2-data, or --phases 1"
            )
        phases.append(
            PhaseSpec(
                2,
                settings.phase2_steps,
                settings.phase2_lr,
                use_subset=settings.subset_loss and settings.arch in TWO_BRANCH_ARCHS,
                use_crf=settings.crf_loss,
                sources=list(sources),
            )
        )
    return phases


def _epoch_order(datasets: list[SegmentationDataset], ratios: list[float] | None) -> EpochOrder:
    sizes = [len(dataset) for dataset in datasets]
    if ratios is None:
        return shuffled_order(sum(sizes))
    try:
        return mixture_order(sizes, ratios)
    except ValueError as error:
        raise InputError(f"--data-ratio: {error}") from None


def _check_resume(settings: SegTrainSettings) -> None:
    """A resumed run must use the settings it was started with (runtime settings aside)."""
    recorded = SegTrainSettings.from_run(settings.resume).record()
    current = settings.record()
    changed = [
        key for key in current if key not in RUNTIME_SETTINGS and current[key] != recorded[key]
    ]
    if changed:
        details = ", ".join(f"{key} {recorded[key]!r} -> {current[key]!r}" for key in changed)
        raise InputError(f"--resume {settings.resume}: the run was started otherwise ({details})")


def _finished_step(run_dir: Path) -> int | None:
    """The step saved in ``run_dir/last.pt``, or None when the phase has not started."""
    path = run_dir / "last.pt"
    if not path.is_file():
        return None
    return int(load_checkpoint(path)["trainer"]["step"])


def run_train_seg(
    settings: SegTrainSettings, context: DistributedContext | None = None
) -> dict[str, Any]:
    """Train as ``settings`` say (resuming when ``settings.resume`` is set).

    Returns:
        ``{"phase1": {...}, "phase2": {...}}``: each phase's last validation metrics (empty
        without ``val``), for the phases that ran.
    """
    settings.validate()
    context = context or DistributedContext.from_environment()
    out = Path(settings.out)
    if settings.resume is not None:
        if Path(settings.resume).resolve() != out.resolve():
            raise InputError(f"--resume {settings.resume} and --out {out} must be the same folder")
        _check_resume(settings)
    elif (out / "config.json").exists():
        raise InputError(f"--out {out}: holds a run already; --resume it or choose another folder")

    # Open every data set before writing anything: a bad --data leaves no half-made run folder.
    augmentation = build_augmentation(AugmentConfig()) if settings.augment else None
    phase1_sets = _open_all(settings.data, settings, augmentation)
    phases = plan_phases(settings, phase1_sets)
    training_sets = {
        phase.number: phase1_sets
        if phase.number == 1
        else _open_all(phase.sources, settings, augmentation)
        for phase in phases
    }
    val_set = best_metric = None
    if settings.val is not None:
        val_set = settings.val.open(size=settings.input_size, default_split="test")
        best_metric = "text_f1" if has_pixel_masks(val_set) else "region_f1"
    crf_settings = CRFSettings() if settings.crf == "window" else CRFSettings(radius=None)

    config = settings.model_config()
    context.barrier()  # every rank has checked the folder before rank 0 writes into it
    if context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_config_record(out, {**settings.record(), "model": config.to_dict()})
    torch.manual_seed(settings.seed)
    model = build_segmenter(config).to(context.device)

    results: dict[str, Any] = {}
    for phase in phases:
        run_dir = out / phase.run_name
        phase_config = config.replace(phases=phase.number)
        done = _finished_step(run_dir) if settings.resume is not None else None
        if done is not None and done >= phase.steps:  # finished before the interruption
            model.load_state_dict(load_checkpoint(run_dir / "last.pt")["state_dict"])
            results[phase.run_name] = _last_validation(run_dir)
            continue
        datasets = training_sets[phase.number]
        validate = None
        if val_set is not None:
            validate = functools.partial(
                validation_metrics,
                dataset=val_set,
                phases=phase.number,
                threshold=settings.threshold,
                batch_size=settings.batch_size,
                num_workers=settings.workers,
                context=context,
            )
        model.config = phase_config
        trainer = Trainer(
            model=model,
            model_config=phase_config.to_dict(),
            optimizer=torch.optim.Adam(model.parameters(), lr=phase.lr),
            scheduler=None,
            dataset=ConcatDataset(datasets),
            order=_epoch_order(datasets, phase.ratios),
            collate_fn=default_collate,
            task=SegmentationTask(
                phase_config,
                phase,
                crf_settings=crf_settings,
                validate=validate,
                device=context.device,
            ),
            config=TrainerConfig(
                out_dir=run_dir,
                max_steps=phase.steps,
                batch_size=settings.batch_size,
                seed=settings.seed + phase.number - 1,
                num_workers=settings.workers,
                amp=settings.amp,
                log_every=settings.log_every,
                eval_every=settings.eval_every,
                checkpoint_every=settings.checkpoint_every,
                best_metric=best_metric,
                quiet=settings.quiet,
                deterministic=settings.deterministic,
                run_config={**settings.record(), "phase": phase.number},
            ),
            context=context,
        )
        results[phase.run_name] = trainer.fit(resume_from=run_dir if done is not None else None)

    model.config = config
    final_state, final_config = model.state_dict(), config.to_dict()
    if settings.select_best:
        final_state, final_config = _best_validated(out, phases) or (final_state, final_config)
    if context.is_main:
        save_checkpoint(
            out / MODEL_FILE,
            model_state=final_state,
            model_config=final_config,
            run_config=settings.record(),
        )
    context.barrier()
    return results


def _best_validated(
    out: Path, phases: list[PhaseSpec]
) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """Weights and config of the best validated checkpoint over all phases (None without any).

    A phase-1 winner keeps ``phases=1`` in its config, so it runs open-loop, as it was trained.
    """
    candidates = []
    for phase in phases:
        path = out / phase.run_name / "best.pt"
        if path.is_file():
            payload = load_checkpoint(path)
            candidates.append((payload["trainer"]["best"], phase.number, payload))
    if not candidates:
        return None
    _, _, payload = max(candidates, key=lambda candidate: candidate[:2])
    return payload["state_dict"], payload["config"]


def _last_validation(run_dir: Path) -> dict[str, float]:
    """The last validation record of a finished phase (empty without validation)."""
    rows = [row for row in MetricsLog(run_dir / "metrics.jsonl").read() if row["kind"] == "val"]
    if not rows:
        return {}
    return {key: value for key, value in rows[-1].items() if key not in ("kind", "step")}


__all__ = [
    "PhaseSpec",
    "SegTrainSettings",
    "SegmentationTask",
    "plan_phases",
    "run_train_seg",
]
