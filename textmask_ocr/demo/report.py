"""The demo's ``report.html``: the table, training curves, word and scene example grids."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from textmask_ocr.data.lmdb_format import WordLmdb, decode_image
from textmask_ocr.engine.metrics_log import MetricsLog
from textmask_ocr.recognition.evaluation import BenchmarkResult
from textmask_ocr.report.charts import training_curves
from textmask_ocr.report.examples import SceneExample, SceneGrid, WordExample, WordExampleGrid
from textmask_ocr.report.html import write_report
from textmask_ocr.report.stages import StageTimes
from textmask_ocr.report.table import MetricTable, ResultsTable

if TYPE_CHECKING:
    from textmask_ocr.demo.budget import DemoBudget
    from textmask_ocr.demo.pipeline import DemoPaths
    from textmask_ocr.masking.predictor import Segmenter

WORD_EXAMPLES = 12
SCENE_EXAMPLES = 6


def _log(folder: Path) -> list[dict[str, Any]]:
    return MetricsLog(folder / "metrics.jsonl").read()


def pick_examples(results: Mapping[str, BenchmarkResult], count: int = WORD_EXAMPLES) -> list[int]:
    """Keys of test crops to show: mostly those PM reads right and RM wrong, then the reverse
    and shared failures, so the grid shows corrections without hiding regressions."""
    rows = {method: {row["key"]: row for row in results[method].predictions} for method in results}
    keys = sorted(rows["PM"])
    fixed = [k for k in keys if rows["PM"][k]["correct"] and not rows["RM"][k]["correct"]]
    broken = [k for k in keys if rows["RM"][k]["correct"] and not rows["PM"][k]["correct"]]
    both = [k for k in keys if not rows["RM"][k]["correct"] and not rows["PM"][k]["correct"]]
    share = max(count - count // 3, 1)
    chosen = fixed[:share] + broken[: count // 6 or 1] + both[: count // 6 or 1]
    return chosen[:count]


def word_examples(
    results: Mapping[str, Mapping[str, BenchmarkResult]], paths: DemoPaths, bench: str
) -> WordExampleGrid:
    """The Fig. 9-style grid of test crops with the predicted mask and each method's reading."""
    per_method = {method: scores[bench] for method, scores in results.items() if bench in scores}
    rows = {m: {row["key"]: row for row in r.predictions} for m, r in per_method.items()}
    examples = []
    with WordLmdb(paths.words["test"]) as crops, WordLmdb(paths.predicted("test")) as masks:
        for key in pick_examples(per_method):
            sample = crops.read(key)
            mask = masks.read(key).mask
            examples.append(
                WordExample(
                    image=decode_image(sample.image),
                    truth=crops.decode_label(key, sample.label),
                    predictions={m: rows[m][key]["prediction"] for m in ("base", "RM", "PM")},
                    mask=Image.open(io.BytesIO(mask)) if mask else None,
                    name=f"#{key}",
                )
            )
    return WordExampleGrid(examples, methods=["base", "RM", "PM"])


def scene_examples(segmenter: Segmenter, scenes: Path) -> list[SceneExample]:
    """MGNet's pixel and region masks on a few held-out scenes, beside the ground truth."""
    images = sorted((scenes / "images").glob("*.png"))[:SCENE_EXAMPLES]
    predictions = segmenter.predict(images)
    return [
        SceneExample(
            image=Image.open(path).convert("RGB"),
            pixel_mask=prediction.text,
            region_mask=prediction.region,
            truth_pixel_mask=Image.open(scenes / "pixel_masks" / path.name),
            truth_region_mask=Image.open(scenes / "region_masks" / path.name),
            name=path.stem,
        )
        for path, prediction in zip(images, predictions, strict=True)
    ]


def write_demo_report(
    path: Path,
    *,
    table: ResultsTable,
    results: Mapping[str, Mapping[str, BenchmarkResult]],
    segmentation: Mapping[str, Mapping[str, float]],
    segmenter: Segmenter,
    paths: DemoPaths,
    recognizer_runs: Mapping[str, Path],
    budget: DemoBudget,
) -> Path:
    """Assemble ``report.html`` from the demo's outputs (``recognizer_runs``: method -> run
    folder, for the training curves). The notes say "PM beats RM" only where the exact McNemar
    test finds the difference significant; stage times come from the demo's ``metrics.jsonl``,
    from the run that did each stage."""
    recognizer_logs = {name: _log(folder) for name, folder in recognizer_runs.items()}
    segmenter_logs = {
        "MGNet phase 1": _log(paths.segmenters["mgnet"] / "phase1"),
        "MGNet phase 2": _log(paths.segmenters["mgnet"] / "phase2"),
        "U-Net": _log(paths.segmenters["unet"] / "phase1"),
    }
    curves = [
        training_curves(
            recognizer_logs, metric="loss", title="Recognizer training loss", log_y=True
        ),
        training_curves(
            recognizer_logs, metric="accuracy", kind="val", title="Validation word accuracy (%)"
        ),
        training_curves(segmenter_logs, metric="loss", title="Segmenter training loss", log_y=True),
        training_curves(
            segmenter_logs, metric="text_f1", kind="val", title="Validation F1 (pixel mask)"
        ),
    ]
    bench = table.benchmarks[0]
    notes = [
        table.verdict("PM", column)
        for column in table.columns
        if table.comparison("PM", column) is not None
    ]
    notes.append(f"Budget '{budget.name}'.")
    seg_rows = {
        name: {
            key: 100 * segmentation[arch][key]
            for key in ("precision", "recall", "f1", "foreground_iou")
        }
        for name, arch in (("MGNet", "mgnet"), ("U-Net", "unet"))
    }
    return write_report(
        path,
        title="textmask_ocr demo: text masks for CRNN",
        table=table,
        curves=curves,
        examples=word_examples(results, paths, bench),
        scenes=SceneGrid(scene_examples(segmenter, paths.scenes_val), max_side=160),
        notes=notes,
        segmentation=MetricTable(
            seg_rows, caption="Held-out synthetic scenes, pixel-level mask (%)"
        ),
        timing=StageTimes.from_records(_log(paths.root)).table(),
        details=budget.record(),
    )
