"""The demo pipeline: data -> segmenters -> base CRNN -> predicted masks -> RM / PM / real -> table.

The experiment of the paper in miniature: the segmenter learns pixel-level masks from data the
recognizer never sees (crops of a wider appearance range);
the base recognizer learns from its own words; its new input layer is then fine-tuned with random
(RM), predicted (PM) and ground-truth (real) masks, and every method is scored on the held-out
synthetic crops and on any ``--bench`` sets (real word crops have no masks: their real-mask cell
is empty), with paired significance tests against RM.

Every stage is done only once its completion record exists (:class:`StageRunner`); training
stages resume from their own checkpoints, so a demo killed anywhere continues where it stopped
and never reports a half-trained model. Nothing is tuned per seed: the same code runs for every
seed and budget.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from textmask_ocr.atomic import atomic_write_json, atomic_write_text
from textmask_ocr.data.lmdb_format import WordLmdb, is_lmdb_dir
from textmask_ocr.data.mask_cache import add_masks
from textmask_ocr.data.synth import default_assets
from textmask_ocr.data.synth.crops import WORD_STYLES
from textmask_ocr.data.synth.writers import write_synth_words
from textmask_ocr.demo.budget import DemoBudget
from textmask_ocr.demo.report import SEGMENTER_NAMES, write_demo_report
from textmask_ocr.demo.stages import StageRunner
from textmask_ocr.engine.metrics_log import write_config_record
from textmask_ocr.masking.evaluation import validation_metrics
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.masking.sources import DataSource
from textmask_ocr.masking.training.recipe import run_train_seg
from textmask_ocr.masking.training.settings import SegTrainSettings
from textmask_ocr.recognition.benchmarks import results_table
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import BenchmarkResult, evaluate_dataset
from textmask_ocr.recognition.finetune import FinetuneSettings, run_finetune
from textmask_ocr.recognition.models import load_base_or_adapted
from textmask_ocr.report.table import ResultsTable

logger = logging.getLogger(__name__)

#: The name of the synthetic held-out benchmark in tables.
SYNTHETIC_TEST = "synthetic test"


@dataclass(frozen=True)
class Method:
    """One row of the table: how the recognizer is fed and where it was fine-tuned.

    Attributes:
        name: the row's name (``base``, ``RM``, ``PM``, ``PM (U-Net)``, ``real mask``).
        mask: the mask source (``none``, ``random``, ``predicted``, ``real``).
        folder: the fine-tuning run under ``recognizers/``, or ``None`` for the base model.
        segmenter: the architecture whose masks a ``predicted`` row reads.
    """

    name: str
    mask: str
    folder: str | None = None
    segmenter: str | None = None


def demo_methods(segmenters: Sequence[str]) -> list[Method]:
    """The table's rows: base, RM, one PM row per segmenter (the first is ``PM``), real mask."""
    predicted = [
        Method(
            "PM" if i == 0 else f"PM ({SEGMENTER_NAMES.get(arch, arch)})",
            "predicted",
            "finetune_pm" if i == 0 else f"finetune_pm_{arch}",
            arch,
        )
        for i, arch in enumerate(segmenters)
    ]
    return [
        Method("base", "none"),
        Method("RM", "random", "finetune_rm"),
        *predicted,
        Method("real mask", "real", "finetune_real"),
    ]


class DemoPaths:
    """Where each stage of the demo keeps its results, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.words = {
            "train": self.data / "words_train",
            "val": self.data / "words_val",
            "test": self.data / "words_test",
        }
        self.seg_words = {
            "train": self.data / "seg_words_train",
            "val": self.data / "seg_words_val",
        }
        self.base = root / "recognizers" / "base"

    def segmenter(self, arch: str) -> Path:
        return self.root / "segmenters" / arch

    def predicted(self, key: str, arch: str) -> Path:
        """The copy of word LMDB ``key`` (``train``, ``val``, ``test`` or a benchmark name)
        holding the masks of segmenter ``arch``."""
        return self.data / "masks" / arch / key

    def recognizer(self, method: Method) -> Path:
        return self.root / "recognizers" / method.folder if method.folder else self.base


@dataclass
class DemoResult:
    """What the demo measured."""

    table: ResultsTable
    segmentation: dict[str, dict[str, float]]
    seconds: dict[str, float] = field(default_factory=dict)
    bench_table: ResultsTable | None = None


def has_masks(path: Path) -> bool:
    """Whether every crop of the LMDB at ``path`` has a ground-truth mask."""
    with WordLmdb(path) as db:
        return db.num_samples > 0 and db.count_masks() == db.num_samples


def make_data(paths: DemoPaths, budget: DemoBudget, seed: int, quiet: bool) -> None:
    """Synthetic word crops of the recognizer's and the segmenter's styles, drawn by one process
    per available core (the data do not depend on how many); every set has its own seed, and
    each LMDB appears only when complete."""
    assets = default_assets()
    recognizer_assets = default_assets(package_fonts=budget.recognizer_fonts == "all")
    for role, found in (("recognizer", recognizer_assets), ("segmenter", assets)):
        families = sorted({face.family for face in found.fonts})
        logger.info(
            "[demo] %s fonts: %d faces of %d families (%s)",
            role,
            len(found.fonts),
            len(families),
            ", ".join(families),
        )
    word_sets = [
        (paths.words["train"], budget.train_words, 2, "recognizer", recognizer_assets),
        (paths.words["val"], budget.val_words, 3, "recognizer", recognizer_assets),
        (paths.words["test"], budget.test_words, 4, "recognizer", recognizer_assets),
        (paths.seg_words["train"], budget.seg_train_words, 5, budget.seg_style, assets),
        (paths.seg_words["val"], budget.seg_val_words, 6, budget.seg_style, assets),
    ]
    for folder, count, offset, style, fonts in word_sets:
        if not is_lmdb_dir(folder):
            write_synth_words(
                folder,
                count,
                seed=seed * 10 + offset,
                style=WORD_STYLES[style],
                assets=fonts,
                workers=available_cores(),
                quiet=quiet,
            )


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def train_segmenter(
    paths: DemoPaths, arch: str, budget: DemoBudget, seed: int, workers: int, quiet: bool
) -> Path:
    """Train ``arch`` on the segmenter's crops: MGNet variants in ``budget.seg_phases`` phases,
    the U-Net baseline in phase 1; resumes a run the last demo left unfinished."""
    out = paths.segmenter(arch)
    settings = SegTrainSettings(
        out=out,
        data=[DataSource("words", paths.seg_words["train"])],
        val=DataSource("words", paths.seg_words["val"]),
        arch=arch,
        width=budget.seg_width,
        size=budget.seg_crop_size,
        phases=1 if arch == "unet" else budget.seg_phases,
        augment=budget.seg_augment,
        phase1_steps=budget.phase1_steps,
        phase2_steps=budget.phase2_steps,
        phase1_lr=budget.phase1_lr,
        phase2_lr=budget.phase2_lr,
        batch_size=budget.seg_batch,
        workers=workers,
        seed=seed,
        eval_every=max(budget.phase1_steps // 3, 1),
        select_best=True,
        resume=out if (out / "config.json").exists() else None,
        quiet=quiet,
    )
    run_train_seg(settings)
    return out / "model.pt"


def score_segmenter(checkpoint: Path, crops: Path) -> dict[str, float]:
    """Pixel-level precision, recall, F1 and foreground IoU on held-out crops with exact masks,
    at the segmenter's training size (padding left out)."""
    model = Segmenter.from_pretrained(checkpoint).model
    dataset = DataSource("words", crops).open(size=model.config.input_size)
    metrics = validation_metrics(model, dataset, phases=model.config.phases)
    prefix = "text_"
    return {key.removeprefix(prefix): v for key, v in metrics.items() if key.startswith(prefix)}


def base_crnn_settings(budget: DemoBudget, **fields: Any) -> FinetuneSettings:
    """Training settings of the stand-in base CRNN under ``budget``: a narrow CRNN with batch norm
    after every conv (and, as the budget says, an auxiliary CTC head on its conv features),
    trained from scratch by one-cycle AdamW on labels stripped to its alphabet (punctuated words
    are read past their marks); ``fields`` (``out``, ``train``, ...) add to or override them."""
    defaults: dict[str, Any] = {
        "arch": "crnn",
        "mask": "none",
        "train_layers": "all",
        "arch_kwargs": {
            "width_mult": budget.base_width,
            "hidden_size": budget.base_hidden,
            "batchnorm_everywhere": True,
            "aux_ctc": budget.base_aux_ctc,
        },
        "optimizer": "adamw",
        "lr": budget.base_lr,
        "weight_decay": 1e-4,
        "schedule": "onecycle",
        "steps": budget.base_steps,
        "batch_size": budget.base_batch,
        "strip_symbols": True,
    }
    return FinetuneSettings(**{**defaults, **fields})


def train_base(paths: DemoPaths, budget: DemoBudget, seed: int, workers: int, quiet: bool) -> Path:
    """The stand-in for the public pretrained CRNN, trained on the recognizer's words."""
    run_finetune(
        base_crnn_settings(
            budget,
            out=paths.base,
            train=[paths.words["train"]],
            val=paths.words["val"],
            workers=workers,
            seed=seed,
            eval_every=max(budget.base_steps // 4, 1),
            resume=_resumable(paths.base),
            quiet=quiet,
        )
    )
    return paths.base / "best.pt"


def _resumable(run: Path) -> Path | None:
    """``run`` when an earlier demo left a checkpoint there to continue from; a run folder with
    nothing to resume (killed before its first ``last.pt``) is cleared to start afresh."""
    if (run / "last.pt").is_file():
        return run
    if run.exists():
        shutil.rmtree(run)
    return None


def finetune_with_mask(
    paths: DemoPaths,
    method: Method,
    base: Path,
    budget: DemoBudget,
    seed: int,
    workers: int,
    quiet: bool,
) -> Path:
    """Adapt the base model to RGB+mask and train its input layer under one mask source."""
    out = paths.recognizer(method)
    if method.segmenter is not None:
        train, val = (paths.predicted(key, method.segmenter) for key in ("train", "val"))
    else:
        train, val = paths.words["train"], paths.words["val"]
    run_finetune(
        FinetuneSettings(
            out=out,
            train=[train],
            val=val,
            arch="crnn",
            weights=base,
            mask=method.mask,
            train_layers="input",
            optimizer="adamw",
            lr=budget.finetune_lr,
            schedule="onecycle",
            steps=budget.finetune_steps,
            batch_size=budget.finetune_batch,
            strip_symbols=True,
            workers=workers,
            seed=seed,
            eval_every=max(budget.finetune_steps // 2, 1),
            resume=_resumable(out),
            quiet=quiet,
        )
    )
    return out / "best.pt"


def cache_masks(paths: DemoPaths, arch: str, sources: dict[str, Path], quiet: bool) -> None:
    """Predict segmenter ``arch``'s masks for every word LMDB of ``sources`` (resumable copies)."""
    segmenter = Segmenter.from_pretrained(paths.segmenter(arch) / "model.pt")
    for key, words in sources.items():
        target = paths.predicted(key, arch)
        if not is_lmdb_dir(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            add_masks(words, target, segmenter.crop_masks, quiet=quiet)


def evaluate_methods(
    checkpoints: dict[Method, Path],
    benchmarks: dict[str, Path],
    paths: DemoPaths,
    workers: int,
    quiet: bool = False,
) -> dict[str, dict[str, BenchmarkResult]]:
    """Score every method on every benchmark (name -> crops), keeping per-crop predictions for
    the paired tests. A real-mask method has no score where the crops carry no masks."""
    results: dict[str, dict[str, BenchmarkResult]] = {}
    for method, checkpoint in checkpoints.items():
        model = load_base_or_adapted(
            checkpoint, arch="crnn", with_mask=method.mask != "none"
        ).eval()
        results[method.name] = {}
        for name, crops in benchmarks.items():
            if method.mask == "real" and not has_masks(crops):
                continue
            source = (
                paths.predicted(_bench_key(name), method.segmenter) if method.segmenter else crops
            )
            dataset = recognizer_dataset(source, model.config, method.mask)
            results[method.name][name] = evaluate_dataset(
                model,
                dataset,
                name=name,
                num_workers=workers,
                keep_predictions=True,
                quiet=quiet,
            )
    return results


def _bench_key(name: str) -> str:
    return "test" if name == SYNTHETIC_TEST else name


def run_demo(
    out: Path,
    budget: DemoBudget,
    *,
    seed: int = 0,
    weights: Path | None = None,
    benches: Sequence[tuple[str, Path]] = (),
    workers: int = 0,
    quiet: bool = False,
) -> DemoResult:
    """Run every stage (skipping finished ones) and write the table and ``report.html``.

    Args:
        out: the output folder (data, checkpoints, metrics, table, report).
        budget: sizes and schedules (:data:`~textmask_ocr.demo.budget.BUDGETS`).
        seed: seeds every stage (data, initialisation, order).
        weights: a real base CRNN checkpoint (e.g. the public crnn.pth) used instead of training
            the stand-in.
        benches: extra ``(name, LMDB)`` benchmarks, e.g. real word crops (masks are predicted for
            them; never trained on).
        workers: DataLoader worker processes (the data generator uses one process per core).
        quiet: no progress bars.
    """
    torch.manual_seed(seed)
    paths = DemoPaths(Path(out))
    paths.root.mkdir(parents=True, exist_ok=True)
    write_config_record(
        paths.root,
        {
            "budget": budget.record(),
            "seed": seed,
            "weights": str(weights) if weights else None,
            "benches": {name: str(path) for name, path in benches},
        },
    )
    stages = StageRunner(paths.root)
    stages.run("data", lambda: make_data(paths, budget, seed, quiet), result=lambda: None)
    for arch in budget.segmenters:
        stages.run(
            f"train {arch}",
            lambda arch=arch: train_segmenter(paths, arch, budget, seed, workers, quiet),
            result=lambda arch=arch: paths.segmenter(arch) / "model.pt",
        )
    segmentation = stages.run(
        "score segmenters",
        lambda: {
            arch: score_segmenter(paths.segmenter(arch) / "model.pt", paths.words["test"])
            for arch in budget.segmenters
        },
    )
    base = weights or stages.run(
        "train base CRNN",
        lambda: train_base(paths, budget, seed, workers, quiet),
        result=lambda: paths.base / "best.pt",
    )
    sources = {**paths.words, **dict(benches)}
    for arch in budget.segmenters:
        stages.run(
            f"predict masks {arch}", lambda arch=arch: cache_masks(paths, arch, sources, quiet)
        )
    methods = demo_methods(budget.segmenters)
    checkpoints: dict[Method, Path] = {methods[0]: Path(base)}
    for method in methods[1:]:
        checkpoints[method] = stages.run(
            f"fine-tune {method.name}",
            lambda method=method: finetune_with_mask(
                paths, method, Path(base), budget, seed, workers, quiet
            ),
            result=lambda method=method: paths.recognizer(method) / "best.pt",
        )
    benchmarks = {SYNTHETIC_TEST: paths.words["test"], **dict(benches)}
    results = stages.run(
        "evaluate", lambda: evaluate_methods(checkpoints, benchmarks, paths, workers, quiet)
    )
    table = results_table(results, reference="RM")
    bench_names = {name for name, _ in benches}
    bench_table = (  # the --bench sets alone, pooled in its Total (the real words)
        results_table(
            {
                method: {name: result for name, result in scores.items() if name in bench_names}
                for method, scores in results.items()
                if bench_names & scores.keys()  # the real-mask row reads none of them
            },
            reference="RM",
        )
        if bench_names
        else None
    )
    atomic_write_json(
        {
            "table": table.to_json(),
            "bench_table": bench_table.to_json() if bench_table else None,
            "segmentation": segmentation,
            "seconds": stages.seconds,
        },
        paths.root / "results.json",
    )
    atomic_write_text(table.to_markdown() + "\n", paths.root / "table.md")
    write_demo_report(  # always rewritten: cheap, and it shows every stage's time
        paths.root / "report.html",
        table=table,
        bench_table=bench_table,
        results=results,
        segmentation=segmentation,
        paths=paths,
        methods=methods,
        budget=budget,
    )
    return DemoResult(table, segmentation, stages.seconds, bench_table)


def load_results(out: Path) -> dict[str, Any]:
    """The ``results.json`` of a finished demo."""
    return json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
