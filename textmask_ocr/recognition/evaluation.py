"""Scoring a recognizer on word-crop benchmarks under a mask source, sharded over processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from recognizers import build_codec
from textmask_ocr.engine.checkpoint import capture_rng_state, restore_rng_state
from textmask_ocr.engine.distributed import DistributedContext
from textmask_ocr.engine.sampling import SeededDataset, ShardSampler
from textmask_ocr.progress import Progress
from textmask_ocr.recognition.mask_sources import collate_inputs
from textmask_ocr.recognition.protocol import WordAccuracy

EVAL_SEED = 20_240_601  # sample i's random mask at evaluation time is drawn from EVAL_SEED + i


@dataclass
class BenchmarkResult:
    """Scores of one benchmark and, on request, what the model read for every sample."""

    name: str
    metric: WordAccuracy
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.metric.as_dict()}


@torch.no_grad()
def evaluate_dataset(
    model: nn.Module,
    dataset: Dataset,
    *,
    name: str = "val",
    protocol: str = "ignore-case-symbols",
    batch_size: int = 64,
    num_workers: int = 0,
    context: DistributedContext | None = None,
    keep_predictions: bool = False,
    quiet: bool = True,
) -> BenchmarkResult:
    """Word accuracy of ``model`` on ``dataset`` (whose transform yields model inputs).

    Each process reads its :class:`ShardSampler` share; sums are added over processes, so every
    sample counts exactly once. Sample ``i`` is read with every RNG seeded by ``EVAL_SEED + i``
    (:class:`SeededDataset`), so its random mask, and the scores, do not depend on the batch size,
    the number of workers or of processes; the caller's RNG states are left as they were.

    Args:
        model: an unwrapped recognizer in eval mode (``model.config``, ``model.predict``).
        dataset: word crops whose transform is a ``SampleToInput`` (model inputs).
        keep_predictions: gather per-sample rows (key, label, prediction, confidence, correct).
        quiet: no progress reports (the default: validation inside training stays silent).
    """
    context = context or DistributedContext()
    codec = build_codec(model.config)
    device = next(model.parameters()).device
    share = ShardSampler(len(dataset), num_replicas=context.world_size, rank=context.rank)
    loader = DataLoader(
        SeededDataset(dataset),
        batch_size=batch_size,
        sampler=[(index, EVAL_SEED + index) for index in share],
        num_workers=num_workers,
        collate_fn=collate_inputs,
    )
    metric = WordAccuracy(protocol=protocol)
    rows: list[dict[str, Any]] = []
    rng_state = capture_rng_state()  # SeededDataset reseeds this process's RNGs (workers=0)
    progress = Progress(
        len(share), label=f"evaluating {name}", unit="words", quiet=quiet or not context.is_main
    )
    try:
        for batch in loader:
            predictions = codec.decode(*model.predict(batch["input"].to(device)))
            progress.update(len(predictions))
            texts = [prediction.text for prediction in predictions]
            hits = metric.update(texts, batch["labels"])
            if keep_predictions:
                rows.extend(
                    {
                        "key": key,
                        "label": label,
                        "prediction": prediction.text,
                        "confidence": prediction.confidence,
                        "correct": hit,
                    }
                    for key, label, prediction, hit in zip(
                        batch["keys"], batch["labels"], predictions, hits, strict=True
                    )
                )
    finally:
        restore_rng_state(rng_state)
    progress.close()
    sums = context.all_reduce_sum(
        torch.tensor([metric.total, metric.correct, metric.edit_distance_sum], dtype=torch.float64)
    )
    merged = WordAccuracy(protocol=protocol)
    merged.merge(int(sums[0]), int(sums[1]), float(sums[2]))
    if keep_predictions:
        rows = sorted(
            (row for shard in context.gather_objects(rows) for row in shard),
            key=lambda row: row["key"],
        )
    return BenchmarkResult(name, merged, rows)
