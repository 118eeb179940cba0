"""What ``textmask-ocr evaluate`` and ``recognize`` do, as functions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
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
from textmask_ocr.report.table import ResultsTable


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


@dataclass
class EvaluationReport:
    """Scores per benchmark, the printed table, and where the JSON went."""

    results: list[BenchmarkResult]
    table_text: str
    results_path: Path


def evaluate_benchmarks(
    model_path: str | os.PathLike[str],
    benchmarks: Sequence[tuple[str, Path]],
    *,
    out: Path,
    arch: str | None = None,
    mask: str = "none",
    predictor: MaskPredictor | None = None,
    protocol: str = "ignore-case-symbols",
    batch_size: int = 64,
    num_workers: int = 0,
    save_predictions: bool = False,
    quiet: bool = False,
) -> EvaluationReport:
    """Score a checkpoint on each ``(name, path)`` benchmark and write ``out/results.json``
    (``quiet``: no progress reports)."""
    context = DistributedContext.from_environment()
    model = load_for_mask(model_path, arch, mask).to(context.device).eval()
    results = []
    for name, path in benchmarks:
        dataset = recognizer_dataset(path, model.config, mask, predictor)
        check_standard_size(name, len(dataset))
        results.append(
            evaluate_dataset(
                model,
                dataset,
                name=name,
                protocol=protocol,
                batch_size=batch_size,
                num_workers=num_workers,
                context=context,
                keep_predictions=save_predictions,
                quiet=quiet,
            )
        )
    scores = {result.name: result.metric.as_dict() for result in results}
    table = ResultsTable.from_results(
        {Path(model_path).name: scores}, reference=None, protocol=protocol
    )
    results_path = Path(out) / "results.json"
    if context.is_main:
        write_config_record(
            out,
            {
                "model": str(model_path),
                "benchmarks": {name: str(path) for name, path in benchmarks},
                "mask": mask,
                "protocol": protocol,
            },
        )
        atomic_write_json({"model": str(model_path), "mask": mask, **table.to_json()}, results_path)
        for result in results if save_predictions else []:
            lines = "".join(json.dumps(row) + "\n" for row in result.predictions)
            atomic_write_text(lines, Path(out) / "predictions" / f"{result.name}.jsonl")
    return EvaluationReport(results, table.to_text(), results_path)


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
