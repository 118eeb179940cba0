"""The demo's ``report.html``: the table, significance, training curves, word example grid."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from textmask_ocr.data.lmdb_format import WordLmdb, decode_image
from textmask_ocr.engine.metrics_log import MetricsLog
from textmask_ocr.recognition.evaluation import BenchmarkResult
from textmask_ocr.report.charts import training_curves
from textmask_ocr.report.examples import WordExample, WordExampleGrid
from textmask_ocr.report.html import write_report
from textmask_ocr.report.stages import StageTimes
from textmask_ocr.report.table import TOTAL, MetricTable, ResultsTable

if TYPE_CHECKING:
    from textmask_ocr.demo.budget import DemoBudget
    from textmask_ocr.demo.pipeline import DemoPaths, Method

WORD_EXAMPLES = 12
#: Display names of the segmenter architectures.
SEGMENTER_NAMES = {"mgnet": "MGNet", "mgnet-skip": "MGNet-skip", "unet": "U-Net"}


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
    results: Mapping[str, Mapping[str, BenchmarkResult]],
    crops: Path,
    masks: Path,
    bench: str,
) -> WordExampleGrid:
    """The Fig. 9-style grid of ``bench`` crops with the predicted mask and each method's
    reading (``crops``: the benchmark's LMDB; ``masks``: its copy with the PM row's masks)."""
    per_method = {method: scores[bench] for method, scores in results.items() if bench in scores}
    rows = {m: {row["key"]: row for row in r.predictions} for m, r in per_method.items()}
    examples = []
    with WordLmdb(crops) as crop_db, WordLmdb(masks) as mask_db:
        for key in pick_examples(per_method):
            sample = crop_db.read(key)
            mask = mask_db.read(key).mask
            examples.append(
                WordExample(
                    image=decode_image(sample.image),
                    truth=crop_db.decode_label(key, sample.label),
                    predictions={m: rows[m][key]["prediction"] for m in ("base", "RM", "PM")},
                    mask=Image.open(io.BytesIO(mask)) if mask else None,
                    name=f"#{key}",
                )
            )
    return WordExampleGrid(examples, methods=["base", "RM", "PM"])


def write_demo_report(
    path: Path,
    *,
    table: ResultsTable,
    bench_table: ResultsTable | None,
    results: Mapping[str, Mapping[str, BenchmarkResult]],
    segmentation: Mapping[str, Mapping[str, float]],
    paths: DemoPaths,
    methods: Sequence[Method],
    budget: DemoBudget,
) -> Path:
    """Assemble ``report.html`` from the demo's outputs (``bench_table``: the ``--bench`` sets
    alone, whose Total pools them)."""
    recognizer_logs = {method.name: _log(paths.recognizer(method)) for method in methods}
    segmenter_logs = {}
    for arch in budget.segmenters:
        name = SEGMENTER_NAMES.get(arch, arch)
        for phase in (1, 2):
            folder = paths.segmenter(arch) / f"phase{phase}"
            if folder.is_dir():
                segmenter_logs[f"{name} phase {phase}"] = _log(folder)
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
    notes = [table.verdict("PM", column) for column in (*table.benchmarks, TOTAL)]
    if bench_table is not None:
        pooled = ", ".join(bench_table.benchmarks)
        notes.append(f"Pooled over {pooled}: " + bench_table.verdict("PM", TOTAL))
    notes.append(f"Budget '{budget.name}'; paired tests against RM on the same crops.")
    seg_rows = {
        SEGMENTER_NAMES.get(arch, arch): {
            key: 100 * scores[key] for key in ("precision", "recall", "f1", "foreground_iou")
        }
        for arch, scores in segmentation.items()
    }
    bench = table.benchmarks[0]
    primary = next(method for method in methods if method.name == "PM")
    return write_report(
        path,
        title="textmask_ocr demo: text masks for CRNN",
        table=table,
        curves=curves,
        examples=word_examples(
            results, paths.words["test"], paths.predicted("test", primary.segmenter), bench
        ),
        notes=notes,
        segmentation=MetricTable(
            seg_rows, caption="Held-out synthetic test crops, pixel-level mask (%)"
        ),
        timing=StageTimes.from_records(MetricsLog(paths.root / "metrics.jsonl").read()).table(),
        details=budget.record(),
    )
