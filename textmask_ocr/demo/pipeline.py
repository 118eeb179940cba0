"""The demo pipeline: data -> segmenters -> base CRNN -> predicted masks -> RM / PM / real -> table.

Every stage writes into its own folder of the output directory and is skipped when its result is
already there, so an interrupted demo continues where it stopped. Nothing is tuned per seed: the
same code runs for every seed and budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import torch

from segmentation.datasets import open_segmentation_dataset
from textmask_ocr.atomic import atomic_write_json, atomic_write_text
from textmask_ocr.data.lmdb_format import WordLmdb, is_lmdb_dir
from textmask_ocr.data.mask_cache import add_masks
from textmask_ocr.data.synth import SceneConfig, default_assets
from textmask_ocr.data.synth.writers import write_synth_scenes, write_synth_words
from textmask_ocr.demo.budget import DemoBudget
from textmask_ocr.demo.report import write_demo_report
from textmask_ocr.engine.metrics_log import MetricsLog, write_config_record
from textmask_ocr.masking.evaluation import validation_metrics
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.masking.sources import DataSource
from textmask_ocr.masking.training import SegTrainSettings, run_train_seg
from textmask_ocr.recognition.benchmarks import results_table
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import BenchmarkResult, evaluate_dataset
from textmask_ocr.recognition.finetune import FinetuneSettings, run_finetune
from textmask_ocr.recognition.models import load_base_or_adapted
from textmask_ocr.report.table import ResultsTable

#: The rows of the table: name -> (mask source, fine-tuning folder or None for the base model).
METHODS: dict[str, tuple[str, str | None]] = {
    "base": ("none", None),
    "RM": ("random", "finetune_rm"),
    "PM": ("predicted", "finetune_pm"),
    "real mask": ("real", "finetune_real"),
}


class DemoPaths:
    """Where each stage of the demo keeps its results, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.scenes_train = self.data / "scenes_train"
        self.scenes_val = self.data / "scenes_val"
        self.words = {
            "train": self.data / "words_train",
            "val": self.data / "words_val",
            "test": self.data / "words_test",
        }
        self.segmenters = {arch: root / "segmenters" / arch for arch in ("mgnet", "unet")}
        self.base = root / "recognizers" / "base"

    def predicted(self, key: str) -> Path:
        """The copy of word LMDB ``key`` (``train``, ``val``, ``test`` or a benchmark name)
        holding MGNet's masks."""
        return self.data / f"words_{key}_pm"

    def finetuned(self, folder: str) -> Path:
        return self.root / "recognizers" / folder


@dataclass
class DemoResult:
    """What the demo measured."""

    table: ResultsTable
    segmentation: dict[str, dict[str, float]]
    seconds: dict[str, float] = field(default_factory=dict)


class _Stages:
    """Runs named stages, timing each and logging it to ``metrics.jsonl``."""

    def __init__(self, root: Path, quiet: bool) -> None:
        self.log = MetricsLog(root / "metrics.jsonl")
        self.quiet = quiet
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        if not self.quiet:
            click.echo(f"[demo] {name} ...", err=True)
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
        self.seconds[name] = seconds
        self.log.write(
            {"kind": "stage", "step": len(self.seconds), "stage": name, "seconds": seconds}
        )
        if not self.quiet:
            click.echo(f"[demo] {name}: {seconds:.0f} s", err=True)
        return result


def has_masks(path: Path) -> bool:
    """Whether every crop of the LMDB at ``path`` has a ground-truth mask."""
    with WordLmdb(path) as db:
        return db.count_masks() == db.num_samples


def _scene_config(budget: DemoBudget) -> SceneConfig:
    return SceneConfig(
        size=budget.scene_size, font_size=budget.scene_font, words=budget.scene_words
    )


def make_data(paths: DemoPaths, budget: DemoBudget, seed: int, workers: int, quiet: bool) -> None:
    """Synthetic scenes and word crops; train, validation and test use different seeds."""
    assets = default_assets()
    scenes = _scene_config(budget)
    workers = max(workers, 1)  # generator processes (the DataLoaders may use none)
    for folder, count, offset in (
        (paths.scenes_train, budget.train_scenes, 0),
        (paths.scenes_val, budget.val_scenes, 1),
    ):
        if not folder.exists():
            write_synth_scenes(
                folder,
                count,
                seed=seed * 10 + offset,
                config=scenes,
                assets=assets,
                workers=workers,
                quiet=quiet,
            )
    for folder, count, offset in (
        (paths.words["train"], budget.train_words, 2),
        (paths.words["val"], budget.val_words, 3),
        (paths.words["test"], budget.test_words, 4),
    ):
        if not is_lmdb_dir(folder):
            write_synth_words(
                folder,
                count,
                seed=seed * 10 + offset,
                assets=assets,
                workers=workers,
                quiet=quiet,
            )


def train_segmenter(
    paths: DemoPaths, out: Path, arch: str, budget: DemoBudget, seed: int, workers: int, quiet: bool
) -> Path:
    """Train MGNet (two phases) or the U-Net baseline (pixel branch, phase 1) on the scenes."""
    model = out / "model.pt"
    if model.exists():
        return model
    run_train_seg(
        SegTrainSettings(
            out=out,
            data=[DataSource("synth", paths.scenes_train)],
            val=DataSource("synth", paths.scenes_val),
            arch=arch,
            width=budget.seg_width,
            size=budget.scene_size,
            phases=2 if arch == "mgnet" else 1,
            phase1_steps=budget.phase1_steps,
            phase2_steps=budget.phase2_steps,
            phase1_lr=budget.phase1_lr,
            phase2_lr=budget.phase2_lr,
            batch_size=budget.seg_batch,
            workers=workers,
            seed=seed,
            eval_every=max(budget.phase1_steps // 4, 1),
            select_best=True,
            quiet=quiet,
        )
    )
    return model


def score_segmenters(
    checkpoints: dict[str, Path], scenes: Path, budget: DemoBudget
) -> dict[str, dict[str, float]]:
    """Pixel-level precision, recall, F1 and foreground IoU of each segmenter on ``scenes``."""
    dataset = open_segmentation_dataset("synth", scenes, size=budget.scene_size)
    scores = {}
    for arch, checkpoint in checkpoints.items():
        model = Segmenter.from_checkpoint(checkpoint).model
        metrics = validation_metrics(model, dataset, phases=model.config.phases)
        scores[arch] = {
            key.removeprefix("text_"): value
            for key, value in metrics.items()
            if key.startswith("text_")
        }
    return scores


def train_base(paths: DemoPaths, budget: DemoBudget, seed: int, workers: int, quiet: bool) -> Path:
    """The stand-in for the public pretrained CRNN: a narrow all-BN CRNN trained from scratch."""
    checkpoint = paths.base / "best.pt"
    if checkpoint.exists():
        return checkpoint
    run_finetune(
        FinetuneSettings(
            out=paths.base,
            train=[paths.words["train"]],
            val=paths.words["val"],
            arch="crnn",
            mask="none",
            train_layers="all",
            arch_kwargs={"width_mult": budget.base_width, "batchnorm_everywhere": True},
            optimizer="adamw",
            lr=budget.base_lr,
            weight_decay=1e-4,
            schedule="onecycle",
            steps=budget.base_steps,
            batch_size=budget.base_batch,
            workers=workers,
            seed=seed,
            eval_every=max(budget.base_steps // 4, 1),
            quiet=quiet,
        )
    )
    return checkpoint


def finetune_with_mask(
    paths: DemoPaths,
    method: str,
    base: Path,
    budget: DemoBudget,
    seed: int,
    workers: int,
    quiet: bool,
) -> Path:
    """Adapt the base model to RGB+mask and train its input layer under one mask source."""
    mask, folder = METHODS[method]
    assert folder is not None
    out = paths.finetuned(folder)
    if (out / "best.pt").exists():
        return out / "best.pt"
    predicted = mask == "predicted"
    run_finetune(
        FinetuneSettings(
            out=out,
            train=[paths.predicted("train") if predicted else paths.words["train"]],
            val=paths.predicted("val") if predicted else paths.words["val"],
            arch="crnn",
            weights=base,
            mask=mask,
            train_layers="input",
            optimizer="adamw",
            lr=budget.finetune_lr,
            schedule="onecycle",
            steps=budget.finetune_steps,
            batch_size=budget.finetune_batch,
            workers=workers,
            seed=seed,
            eval_every=max(budget.finetune_steps // 3, 1),
            quiet=quiet,
        )
    )
    return out / "best.pt"


def evaluate_methods(
    checkpoints: dict[str, Path],
    benchmarks: Sequence[tuple[str, Path, Path]],
    workers: int,
) -> dict[str, dict[str, BenchmarkResult]]:
    """Score every method on every ``(name, crops, crops with predicted masks)`` benchmark.

    The real-mask row is scored only where the crops carry ground-truth masks.
    """
    results: dict[str, dict[str, BenchmarkResult]] = {}
    for method, checkpoint in checkpoints.items():
        mask = METHODS[method][0]
        model = load_base_or_adapted(checkpoint, arch="crnn", with_mask=mask != "none").eval()
        results[method] = {}
        for name, crops, predicted in benchmarks:
            source = predicted if mask == "predicted" else crops
            if mask == "real" and not has_masks(crops):
                continue
            dataset = recognizer_dataset(source, model.config, mask)
            results[method][name] = evaluate_dataset(
                model, dataset, name=name, num_workers=workers, keep_predictions=True
            )
    return results


def run_demo(
    out: Path,
    budget: DemoBudget,
    *,
    seed: int = 0,
    weights: Path | None = None,
    benches: Sequence[tuple[str, Path]] = (),
    workers: int = 2,
    quiet: bool = False,
) -> DemoResult:
    """Run every stage (skipping finished ones) and write the table and ``report.html``.

    Args:
        out: the output folder (data, checkpoints, metrics, table, report).
        budget: sizes and schedules (:data:`~textmask_ocr.demo.budget.BUDGETS`).
        seed: seeds every stage (data, initialisation, order).
        weights: a real base CRNN checkpoint (e.g. the public crnn.pth) used instead of training
            the stand-in.
        benches: extra ``(name, LMDB)`` benchmarks (predicted masks are cached for them).
        workers: DataLoader / generator worker processes.
        quiet: no progress bars or stage lines.
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
    stages = _Stages(paths.root, quiet)
    stages.run("data", lambda: make_data(paths, budget, seed, workers, quiet))
    segmenters = {
        arch: stages.run(
            f"train {arch}",
            lambda arch=arch: train_segmenter(
                paths, paths.segmenters[arch], arch, budget, seed, workers, quiet
            ),
        )
        for arch in ("mgnet", "unet")
    }
    segmentation = stages.run(
        "score segmenters", lambda: score_segmenters(segmenters, paths.scenes_val, budget)
    )
    base = weights or stages.run(
        "train base CRNN", lambda: train_base(paths, budget, seed, workers, quiet)
    )
    segmenter = Segmenter.from_checkpoint(segmenters["mgnet"])
    sources = {**paths.words, **dict(benches)}

    def cache_masks() -> None:
        for key, words in sources.items():
            if not is_lmdb_dir(paths.predicted(key)):
                add_masks(
                    words,
                    paths.predicted(key),
                    lambda images: segmenter.crop_masks(images, height=budget.crop_height),
                    quiet=quiet,
                )

    stages.run("predict masks", cache_masks)
    checkpoints = {"base": base}
    for method in ("RM", "PM", "real mask"):
        checkpoints[method] = stages.run(
            f"fine-tune {method}",
            lambda method=method: finetune_with_mask(
                paths, method, base, budget, seed, workers, quiet
            ),
        )
    benchmarks = [
        (name, sources[key], paths.predicted(key))
        for name, key in [("synthetic test", "test"), *((name, name) for name, _ in benches)]
    ]
    results = stages.run("evaluate", lambda: evaluate_methods(checkpoints, benchmarks, workers))
    table = results_table(results, reference="RM")  # "—" where a benchmark has no masks
    atomic_write_json(
        {"table": table.to_json(), "segmentation": segmentation, "seconds": stages.seconds},
        paths.root / "results.json",
    )
    atomic_write_text(table.to_markdown() + "\n", paths.root / "table.md")
    stages.run(
        "report",
        lambda: write_demo_report(
            paths.root / "report.html",
            table=table,
            results=results,
            segmentation=segmentation,
            segmenter=segmenter,
            paths=paths,
            recognizer_runs={
                method: paths.finetuned(folder) if folder else paths.base
                for method, (_, folder) in METHODS.items()
            },
            budget=budget,
        ),
    )
    return DemoResult(table, segmentation, stages.seconds)


def load_results(out: Path) -> dict[str, Any]:
    """The ``results.json`` of a finished demo."""
    return json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
