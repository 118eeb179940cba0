"""Reports: the results table (Markdown, text, JSON, HTML), training curves as inline SVG,
example grids with images as data URIs, time per stage, and the self-contained ``report.html``.

Pure presentation: everything here takes plain numbers, strings, records and images, so the demo
pipeline, ``evaluate`` and users' own scripts can all build the same report.
"""

from __future__ import annotations

from textmask_ocr.report.charts import LineChart, Series, training_curves
from textmask_ocr.report.examples import (
    SceneExample,
    SceneGrid,
    WordExample,
    WordExampleGrid,
    align,
    image_data_uri,
)
from textmask_ocr.report.html import render_report, write_report
from textmask_ocr.report.stages import StageTimes
from textmask_ocr.report.table import (
    DEFAULT_REFERENCE,
    TOTAL,
    BenchmarkScore,
    MetricTable,
    ResultsTable,
)

__all__ = [
    "DEFAULT_REFERENCE",
    "TOTAL",
    "BenchmarkScore",
    "LineChart",
    "MetricTable",
    "ResultsTable",
    "SceneExample",
    "SceneGrid",
    "Series",
    "StageTimes",
    "WordExample",
    "WordExampleGrid",
    "align",
    "image_data_uri",
    "render_report",
    "training_curves",
    "write_report",
]
