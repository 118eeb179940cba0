"""Scoring pixel-level text masks: validation in ``train-seg``, and ``textmask-ocr evaluate-seg``.

Metrics (:mod:`segmentation.metrics`): per-image precision, recall and F1 averaged over images (the
paper's Table II), dataset-level foreground IoU and F-score, and with several methods the F1
top-1 rate (eq. 6). The ground truth of an image is a label map: 0 background, 1 text, and
``ignore_label`` on the dataset's don't-care pixels (TextSeg's ``255``, ICDAR-2013's grey level
120, Total-Text's ``#`` words), which count nowhere; with ``ignore_label=None`` they are scored like
every other pixel.

- :func:`validation_metrics`: the network on a validation set at the training size, batched,
  sharded over DDP ranks (per-image counts gathered from every rank), for the pixel-level output
  and the polygon-level one.
- :func:`evaluate_methods`: trained models (at each image's own size, or resized to ``--size``)
  and saved masks of any other method (``<name>_text.png``) on one dataset, a table and JSON.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

from segmentation.configs import normalize_image
from segmentation.datasets import DatasetFormatError
from segmentation.datasets.imageio import open_image
from segmentation.metrics import SegmentationMeter, confusion_counts, f1_top1_rate
from textmask_ocr.atomic import atomic_write_json, atomic_write_text
from textmask_ocr.engine import DistributedContext
from textmask_ocr.engine.sampling import ShardSampler
from textmask_ocr.errors import InputError
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.masking.sources import DataSource, has_pixel_masks
from textmask_ocr.progress import track
from textmask_ocr.report.table import MetricTable

#: Saved masks of a method are ``<scene name><TEXT_SUFFIX>`` (what ``textmask-ocr segment`` writes).
TEXT_SUFFIX = "_text.png"

_TABLE_COLUMNS = {
    "precision": "Precision (%)",
    "recall": "Recall (%)",
    "f1": "F1 (%)",
    "foreground_iou": "FG IoU (%)",
    "fscore": "F-score (%)",
}


def ground_truth_labels(mask: Tensor, ignore: Tensor | None, ignore_label: int | None) -> Tensor:
    """The label map scored against: (..., H, W) int64, 1 on text, 0 elsewhere, and
    ``ignore_label`` where ``ignore`` is set (unless ``ignore_label`` is None)."""
    labels = (mask > 0.5).long()
    if ignore_label is not None and ignore is not None:
        labels = labels.masked_fill(ignore.bool(), ignore_label)
    return labels


def check_ignore_label(ignore_label: int | None) -> None:
    if ignore_label is not None and ignore_label in (0, 1):
        raise InputError(f"--ignore-label {ignore_label}: 0 and 1 are background and text")


# ---------------------------------------------------------------------- validation in training
def validation_metrics(
    model: nn.Module,
    dataset: Dataset,
    *,
    phases: int,
    threshold: float = 0.5,
    ignore_label: int | None = 255,
    batch_size: int = 8,
    num_workers: int = 0,
    context: DistributedContext | None = None,
) -> dict[str, float]:
    """Scores of the network on ``dataset`` (samples of one size), the same on every rank.

    The pixel-level output (O'_T after ``phases=2``, O_T after 1) is scored on the samples with a
    pixel-level mask, the polygon-level output on those with a region mask.

    Returns:
        ``text_<metric>`` and ``region_<metric>`` for ``precision``, ``recall``, ``f1``,
        ``foreground_iou``, ``fscore`` (fractions), for each output that has scored images.
    """
    context = context or DistributedContext()
    config = model.config
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), num_replicas=context.world_size, rank=context.rank),
        num_workers=num_workers,
        collate_fn=default_collate,
    )
    counts: dict[str, list[Tensor]] = {"text": [], "region": []}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in loader:
            image = batch["image"].to(context.device, non_blocking=True)
            outputs = model(normalize_image(image, config), phases=phases)
            predictions = {"text": outputs.final_text, "region": outputs.final_region}
            for kind, mask_key, has_key in (
                ("text", "pixel_mask", "has_pixel"),
                ("region", "region_mask", "has_region"),
            ):
                selected = batch[has_key].bool()
                if predictions[kind] is None or not selected.any():
                    continue
                labels = ground_truth_labels(batch[mask_key], batch["ignore"], ignore_label)
                counts[kind].append(
                    confusion_counts(
                        predictions[kind][selected.to(context.device)].cpu(),
                        labels[selected],
                        threshold,
                        ignore_label,
                    )
                )
    model.train(was_training)
    metrics: dict[str, float] = {}
    for kind, parts in counts.items():
        local = torch.cat(parts) if parts else torch.zeros(0, 3, dtype=torch.long)
        meter = SegmentationMeter(threshold, ignore_label)
        for rank_counts in context.gather_objects(local):
            meter.merge(rank_counts)
        if len(meter.counts):
            scores = meter.compute().as_dict()
            metrics.update({f"{kind}_{name}": scores[name] for name in _TABLE_COLUMNS})
    return metrics


# ---------------------------------------------------------------------- evaluate-seg
class MaskMethod(Protocol):
    """A method under evaluation: gives the text probability map of each scene."""

    name: str
    source: str

    def text_probabilities(self, samples: Sequence[dict[str, Any]]) -> list[np.ndarray]:
        """(H, W) float arrays in [0, 1], one per sample, at the sample's image size."""


@dataclass
class ModelMethod:
    """A segmentation checkpoint, run by a :class:`Segmenter` (``size`` as in its ``predict``)."""

    name: str
    source: str
    segmenter: Segmenter
    size: int | None = None
    batch_size: int = 8

    def text_probabilities(self, samples: Sequence[dict[str, Any]]) -> list[np.ndarray]:
        predictions = self.segmenter.predict(
            [sample["image"] for sample in samples], size=self.size, batch_size=self.batch_size
        )
        return [prediction.text for prediction in predictions]


@dataclass
class SavedMasksMethod:
    """Masks another method saved as ``<folder>/<scene name>_text.png`` (8-bit: value / 255)."""

    name: str
    source: str
    folder: Path

    def text_probabilities(self, samples: Sequence[dict[str, Any]]) -> list[np.ndarray]:
        return [self._read(sample) for sample in samples]

    def _read(self, sample: dict[str, Any]) -> np.ndarray:
        path = self.folder / f"{sample['name']}{TEXT_SUFFIX}"
        try:
            image = open_image(path)
        except DatasetFormatError as error:
            raise InputError(f"--predictions {self.folder}: {error}") from None
        levels = np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.float32)
        height, width = sample["image"].shape[-2:]
        if levels.shape != (height, width):
            raise InputError(
                f"{path}: mask is {levels.shape[1]}x{levels.shape[0]} but the scene is "
                f"{width}x{height}"
            )
        return levels / 255.0


def parse_named_path(value: str, flag: str) -> tuple[str, Path]:
    """``NAME=PATH`` or a bare ``PATH`` (named after its file or folder)."""
    name, separator, path = value.partition("=")
    if not separator:
        path = value
        name = Path(value).stem if Path(value).is_file() else Path(value).name
    if not name or not path:
        raise InputError(f"{flag} {value!r}: expected NAME=PATH or PATH")
    return name, Path(path)


@dataclass
class SegEvaluation:
    """Result of :func:`evaluate_methods`.

    Attributes:
        scores: method name -> metric -> value (fractions; ``f1_top1_rate`` with several methods).
        names: the scored scenes, in order.
        per_image_f1: method name -> F1 of each scene.
        table: the printed table (percent).
        results_path: the JSON written.
    """

    scores: dict[str, dict[str, float]]
    names: list[str]
    per_image_f1: dict[str, list[float]]
    table: MetricTable
    results_path: Path


def evaluate_methods(
    methods: Sequence[MaskMethod],
    source: DataSource,
    out: str | os.PathLike[str],
    *,
    threshold: float = 0.5,
    ignore_label: int | None = 255,
    batch_size: int = 8,
    quiet: bool = False,
) -> SegEvaluation:
    """Score every method's pixel-level masks on the scenes of ``source`` that have pixel masks.

    Writes ``<out>/results.json`` (settings, scores, per-image F1) and ``<out>/table.md``.
    """
    if not methods:
        raise InputError("nothing to evaluate: pass --model and/or --predictions")
    names = [method.name for method in methods]
    if len(set(names)) != len(names):
        raise InputError(f"method names repeat: {', '.join(names)} (use NAME=PATH)")
    if not 0.0 < threshold < 1.0:
        raise InputError(f"--threshold {threshold}: must lie in (0, 1)")
    check_ignore_label(ignore_label)
    dataset = source.open(default_split="test")
    if not has_pixel_masks(dataset):
        raise InputError(f"--data {source}: has no pixel-level masks to score against")

    meters = {method.name: SegmentationMeter(threshold, ignore_label) for method in methods}
    scene_names: list[str] = []
    chunks = [
        range(start, min(start + batch_size, len(dataset)))
        for start in range(0, len(dataset), batch_size)
    ]
    for chunk in track(chunks, total=len(chunks), label="evaluating", quiet=quiet):
        samples = [dataset[index] for index in chunk]
        samples = [sample for sample in samples if bool(sample["has_pixel"])]
        if not samples:
            continue
        scene_names += [sample["name"] for sample in samples]
        for method in methods:
            for sample, probability in zip(
                samples, method.text_probabilities(samples), strict=True
            ):
                labels = ground_truth_labels(
                    sample["pixel_mask"][0], sample["ignore"][0], ignore_label
                )
                meters[method.name].update(torch.from_numpy(probability)[None], labels[None])

    scores = {name: meter.compute().as_dict() for name, meter in meters.items()}
    per_image = {name: meter.per_image_f1() for name, meter in meters.items()}
    if len(methods) > 1:
        rates = f1_top1_rate(torch.stack([per_image[name] for name in names], dim=1))
        for name, rate in zip(names, rates.tolist(), strict=True):
            scores[name]["f1_top1_rate"] = rate
    columns = dict(_TABLE_COLUMNS, **({"f1_top1_rate": "F1 top-1 (%)"} if len(methods) > 1 else {}))
    table = MetricTable(
        {
            name: {title: 100 * scores[name][key] for key, title in columns.items()}
            for name in names
        },
        caption=(
            f"Pixel-level text segmentation on {source} ({len(scene_names)} images; "
            f"threshold {threshold}; per-image P/R/F1 averaged over images, dataset-level "
            "foreground IoU and F-score)"
        ),
    )
    record = {
        "data": str(source),
        "threshold": threshold,
        "ignore_label": ignore_label,
        "methods": [
            {"name": method.name, "source": method.source, **scores[method.name]}
            for method in methods
        ],
        "per_image": {
            "names": scene_names,
            "f1": {name: per_image[name].tolist() for name in names},
        },
    }
    out = Path(out)
    results_path = out / "results.json"
    atomic_write_json(record, results_path)
    atomic_write_text(table.to_markdown(), out / "table.md")
    return SegEvaluation(
        scores=scores,
        names=scene_names,
        per_image_f1={name: per_image[name].tolist() for name in names},
        table=table,
        results_path=results_path,
    )
