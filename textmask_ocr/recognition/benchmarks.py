"""What ``textmask-ocr evaluate`` and ``recognize`` do, as functions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from recognizers import Prediction, load_recognizer, read_checkpoint
from textmask_ocr.atomic import atomic_write_json, atomic_write_text
from textmask_ocr.engine import DistributedContext
from textmask_ocr.engine.metrics_log import write_config_record
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import image_to_pil, mask_to_pil
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import BenchmarkResult, evaluate_dataset
from textmask_ocr.recognition.mask_sources import MaskPredictor
from textmask_ocr.recognition.models import MaskedRecognizer
from textmask_ocr.recognition.protocol import check_standard_size
from textmask_ocr.recognition.significance import compare_methods
from textmask_ocr.report.table import TOTAL, ResultsTable


def load_for_mask(path: str | os.PathLike[str], arch: str | None, mask: str) -> nn.Module:
    """A recognizer from ``path`` (ours, or public with ``arch``) that fits mask source ``mask``."""
    model = load_recognizer(read_checkpoint(path), arch=arch)
    if mask == "none" and model.config.mask_channel:
        raise InputError(
            f"{path}: this recognizer reads a mask; choose --mask real|random|predicted"
        )
    if mask != "none" and not model.config.mask_channel:
        raise InputError(f"{path}: this recognizer has no mask channel; use --mask none")
    return model


@dataclass(frozen=True)
class EvaluatedModel:
    """A checkpoint to score, the mask source it reads, and its row name in the table.

    Attributes:
        name: the table's row (``PM``, ``best.pt``...).
        path: the checkpoint (ours, or a public one with ``arch``).
        mask: mask source (``real``, ``random``, ``predicted`` or ``none``).
        arch: architecture of a public checkpoint (ours need none).
    """

    name: str
    path: Path
    mask: str = "none"
    arch: str | None = None


@dataclass
class EvaluationReport:
    """Scores per model and benchmark, the table (with paired comparisons against the first
    model when there are several), and where the JSON went."""

    results: dict[str, list[BenchmarkResult]]
    table: ResultsTable
    results_path: Path

    @property
    def table_text(self) -> str:
        """The table, then one line per compared cell: the verdict, difference, interval, p."""
        verdicts = [
            self.table.verdict(method, column)
            for method, row in self.table.comparisons.items()
            for column in self.table.columns
            if column in row
        ]
        return self.table.to_text() + "".join(f"{verdict}\n" for verdict in verdicts)


def results_table(
    results: Mapping[str, Mapping[str, BenchmarkResult]],
    *,
    reference: str | None,
    protocol: str = "ignore-case-symbols",
) -> ResultsTable:
    """The table of ``method -> benchmark -> result``; a method may lack a benchmark (``—``).

    With a ``reference`` and per-sample predictions (``keep_predictions``), every other method
    gets its paired comparison with the reference (exact McNemar p-value, bootstrap interval) on
    each benchmark both read and, when it read all of them, on the pooled ``Total``.
    """
    comparisons = {}
    if reference is not None and all(
        result.predictions for row in results.values() for result in row.values()
    ):
        comparisons = compare_methods(
            {m: {b: r.predictions for b, r in row.items()} for m, row in results.items()},
            reference,
            pooled=TOTAL,
        )
    return ResultsTable.from_results(
        {m: {b: r.metric.as_dict() for b, r in row.items()} for m, row in results.items()},
        reference=reference,
        protocol=protocol,
        comparisons=comparisons,
    )


def evaluate_benchmarks(
    models: Sequence[EvaluatedModel],
    benchmarks: Sequence[tuple[str, Path]],
    *,
    out: Path,
    predictor: MaskPredictor | None = None,
    protocol: str = "ignore-case-symbols",
    batch_size: int = 64,
    num_workers: int = 0,
    save_predictions: bool = False,
    quiet: bool = False,
) -> EvaluationReport:
    """Score each model on each ``(name, path)`` benchmark and write ``out/results.json``.

    With several models, the first is the reference: every other one is compared with it on the
    same crops (matched by sample index) with the exact McNemar test and a paired bootstrap
    interval of the accuracy difference. ``save_predictions`` writes
    ``predictions/<bench>.jsonl``, under ``predictions/<model>/`` when there are several;
    ``quiet``: no progress reports.
    """
    names = [model.name for model in models]
    if not names or len(set(names)) != len(names):
        raise InputError(f"models need distinct names, got {', '.join(names) or 'none'}")
    context = DistributedContext.from_environment()
    compare = len(models) > 1
    results: dict[str, dict[str, BenchmarkResult]] = {}
    for index, entry in enumerate(models):
        model = load_for_mask(entry.path, entry.arch, entry.mask).to(context.device).eval()
        results[entry.name] = {}
        for name, path in benchmarks:
            dataset = recognizer_dataset(path, model.config, entry.mask, predictor)
            if index == 0:
                check_standard_size(name, len(dataset))
            results[entry.name][name] = evaluate_dataset(
                model,
                dataset,
                name=name,
                protocol=protocol,
                batch_size=batch_size,
                num_workers=num_workers,
                context=context,
                keep_predictions=save_predictions or compare,
                quiet=quiet,
            )
    table = results_table(results, reference=names[0] if compare else None, protocol=protocol)
    results_path = Path(out) / "results.json"
    if context.is_main:
        described = [
            {"name": m.name, "path": str(m.path), "mask": m.mask, "arch": m.arch} for m in models
        ]
        write_config_record(
            out,
            {
                "models": described,
                "benchmarks": {name: str(path) for name, path in benchmarks},
                "protocol": protocol,
            },
        )
        atomic_write_json({"models": described, **table.to_json()}, results_path)
        for model_name, row in results.items() if save_predictions else ():
            folder = Path(out) / "predictions" / (model_name if compare else "")
            for result in row.values():
                lines = "".join(json.dumps(r) + "\n" for r in result.predictions)
                atomic_write_text(lines, folder / f"{result.name}.jsonl")
    return EvaluationReport(
        {name: list(row.values()) for name, row in results.items()}, table, results_path
    )


def _mask_file(mask_dir: Path, image: Path) -> Path:
    matches = sorted(mask_dir.glob(f"{image.stem}.*"))
    if not matches:
        raise InputError(f"{mask_dir}: no mask named {image.stem}.* for {image}")
    return matches[0]


def recognize_files(
    model_path: str | os.PathLike[str],
    images: Sequence[Path],
    *,
    arch: str | None = None,
    mask_dir: Path | None = None,
    predictor: MaskPredictor | None = None,
    batch_size: int = 64,
) -> Iterator[tuple[Path, Prediction]]:
    """Read image files with a checkpoint; masks from ``mask_dir`` or the ``predictor``."""
    model = load_recognizer(read_checkpoint(model_path), arch=arch)
    recognizer = MaskedRecognizer(model, segmenter=predictor)
    masks: list[Any] | None = None
    if model.config.mask_channel and mask_dir is not None:
        masks = [mask_to_pil(_mask_file(mask_dir, path)) for path in images]
    elif model.config.mask_channel and predictor is None:
        raise InputError(
            f"{model_path}: this recognizer reads a mask: pass --mask-dir or --segmenter"
        )
    crops = [image_to_pil(path) for path in images]
    yield from zip(images, recognizer.recognize(crops, masks, batch_size=batch_size), strict=True)
