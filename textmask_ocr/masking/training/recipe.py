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
(no training state); ``OUT/complete.json`` is written last, when the whole run has finished
(:func:`textmask_ocr.engine.is_complete`). ``resume`` continues exactly where the run stopped,
in either phase or between them: a finished phase 1 is not rerun, and phase 2 starts from its
final weights as it would have. Training images are resized to ``size x size`` (or ``H x W`` for a
pair; word crops keep their aspect ratio and are padded); validation runs at that size too.

Phase 2 needs a real budget: its answer O'_T comes from the decoders fed non-zero guidance, which
phase 1 never showed them, so it starts far worse than phase 1's O_T and only overtakes it after
enough steps. Measured on 40 synthetic 64 px scenes, width 1/8, phase 1 at 3e-3, held-out F1:
250 phase-1 steps alone 0.37; + 20 phase-2 steps at 3e-4: 0.05; 200 + 40 at 1e-3: 0.19;
150 + 100 at 1e-3: 0.31.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, default_collate

from segmentation.augment import AugmentConfig, build_augmentation
from segmentation.configs import TWO_BRANCH_ARCHS, build_segmenter
from segmentation.datasets import SegmentationDataset, mixture_order
from segmentation.losses import CRFSettings
from textmask_ocr.engine import DistributedContext, Trainer, TrainerConfig, load_checkpoint
from textmask_ocr.engine.checkpoint import clear_complete, mark_complete, save_checkpoint
from textmask_ocr.engine.metrics_log import MetricsLog, write_config_record
from textmask_ocr.engine.sampling import EpochOrder, shuffled_order
from textmask_ocr.errors import InputError
from textmask_ocr.masking.evaluation import validation_metrics
from textmask_ocr.masking.predictor import MODEL_FILE
from textmask_ocr.masking.sources import DataSource, has_pixel_masks
from textmask_ocr.masking.training.settings import SegTrainSettings
from textmask_ocr.masking.training.task import PhaseSpec, SegmentationTask


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
        settings.check_resumable(SegTrainSettings.recorded(settings.resume))
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
        clear_complete(out)
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
                best_metric=best_metric,
                run_config={**settings.record(), "phase": phase.number},
                **{**settings.trainer_options(), "seed": settings.seed + phase.number - 1},
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
        mark_complete(out, {"phases": results})
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


__all__ = ["plan_phases", "run_train_seg"]
