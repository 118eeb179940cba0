"""``report.html``: one self-contained page (inline CSS and SVG, data-URI images, no scripts).

Sections, each shown only when given: notes, the recognition results table (word accuracy with
deltas and p-values, the edit-distance table folded below it), a segmentation table, training
curves, the Fig. 9-style word grid, the scene grid, the time per stage, and run details.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from textmask_ocr._version import __version__
from textmask_ocr.atomic import atomic_write_text
from textmask_ocr.report.charts import LineChart
from textmask_ocr.report.examples import SceneExample, SceneGrid, WordExample, WordExampleGrid
from textmask_ocr.report.table import PROTOCOL_PHRASES, MetricTable, ResultsTable

STYLE = """
:root { --fg: #1f2328; --muted: #656d76; --border: #d0d7de; --soft: #f6f8fa;
  --good: #1a7f37; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 32px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 38px 0 14px; padding-bottom: 6px;
  border-bottom: 1px solid var(--border); }
.subtitle, .hint { color: var(--muted); margin: 0; }
.hint { font-size: 13px; margin-bottom: 12px; }
.notes { background: var(--soft); border: 1px solid var(--border); border-radius: 8px;
  padding: 10px 16px; margin-top: 20px; }
.notes p { margin: 6px 0; }
table { border-collapse: collapse; }
table.results { font-variant-numeric: tabular-nums; }
table.results caption { caption-side: bottom; text-align: left; color: var(--muted);
  font-size: 13px; padding-top: 8px; }
table.results th, table.results td { padding: 7px 16px; border-bottom: 1px solid var(--border); }
table.results thead th { background: var(--soft); text-align: right; font-weight: 600;
  border-bottom: 2px solid var(--border); }
table.results thead th:first-child, table.results tbody th { text-align: left; }
table.results td { text-align: right; white-space: nowrap; }
table.results tbody th { font-weight: 600; white-space: nowrap; }
tr.reference { background: #fbfaf3; }
.delta { font-size: 13px; }
.delta.better { color: var(--good); }
.delta.worse { color: var(--bad); }
.delta.neutral { color: var(--muted); }
.tag { font-size: 11px; font-weight: 500; color: var(--muted); border: 1px solid var(--border);
  border-radius: 10px; padding: 0 7px; margin-left: 6px; }
details { margin-top: 14px; }
summary { cursor: pointer; color: var(--muted); font-size: 14px; margin-bottom: 8px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
  gap: 16px; }
.charts figure { margin: 0; border: 1px solid var(--border); border-radius: 8px; padding: 6px; }
svg.chart { display: block; width: 100%; height: auto; }
.grid-scroll { overflow-x: auto; }
table.examples { margin-bottom: 18px; }
table.examples th { color: var(--muted); font-weight: 500; font-size: 13px; white-space: nowrap; }
table.examples th[scope='row'] { text-align: right; padding-right: 14px; }
table.examples td { padding: 6px 12px; text-align: center; vertical-align: middle;
  border-left: 1px solid #eaeef2; }
table.words td { font: 16px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.words tr.names td { font: 12px system-ui, sans-serif; color: var(--muted); }
table.words tr.improved td { background: #f3fbf5; }
table.words tr.truth td { font-weight: 700; border-top: 1px solid var(--border); }
img.crop { height: 48px; width: auto; border: 1px solid var(--border); }
img.mask { image-rendering: pixelated; }
img.scene { width: 200px; height: auto; border: 1px solid var(--border);
  image-rendering: pixelated; }
mark { border-radius: 2px; padding: 0 1px; }
mark.wrong { background: #ffebe9; color: var(--bad); font-weight: 700;
  text-decoration: underline; }
mark.fixed { background: #dafbe1; color: var(--good); font-weight: 700; }
.missing { color: var(--bad); }
.absent { color: var(--muted); }
.verdict { margin-left: 6px; font: 12px system-ui, sans-serif; }
.verdict.right { color: var(--good); }
.verdict.wrong { color: var(--bad); }
dl.details { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.details dt { color: var(--muted); }
dl.details dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; overflow-wrap: anywhere; }
footer { margin-top: 44px; color: var(--muted); font-size: 12px; }
"""


def _section(anchor: str, heading: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{escape(heading)}</h2>{body}</section>"


def _examples_hint(grid: WordExampleGrid) -> str:
    baselines = " or ".join(escape(name) for name in grid.baselines)
    protocol = escape(PROTOCOL_PHRASES[grid.protocol])
    return (
        f"<p class='hint'>Predictions compared with the ground truth ({protocol}): "
        "<mark class='wrong'>x</mark> wrong character, "
        "<span class='missing'>□</span> missing character, "
        f"<mark class='fixed'>x</mark> read right by {escape(grid.improved)} where "
        f"{baselines} read it wrong.</p>"
    )


def render_report(
    *,
    title: str,
    table: ResultsTable | None = None,
    curves: Sequence[LineChart] = (),
    examples: WordExampleGrid | Sequence[WordExample] | None = None,
    scenes: SceneGrid | Sequence[SceneExample] | None = None,
    notes: Sequence[str] = (),
    segmentation: MetricTable | None = None,
    timing: MetricTable | None = None,
    details: Mapping[str, object] | None = None,
) -> str:
    """The report page as a string.

    Args:
        title: the page heading.
        table: recognition results (base / RM / PM / real mask by benchmark).
        curves: training-curve charts, drawn two per row.
        examples: the Fig. 9-style word grid (a plain sequence gets the default grid settings).
        scenes: the scene grid (a plain sequence likewise).
        notes: paragraphs of plain text shown under the title (e.g. what the numbers show).
        segmentation: the segmentation comparison (e.g. MGNet vs U-Net F1 on held-out scenes).
        timing: seconds per stage and their share (``report.stages.StageTimes.table()``).
        details: run settings shown at the end (seed, budget, times, paths...).
    """
    if isinstance(notes, str):
        notes = [notes]
    if examples is not None and not isinstance(examples, WordExampleGrid):
        examples = WordExampleGrid(list(examples))
    if scenes is not None and not isinstance(scenes, SceneGrid):
        scenes = SceneGrid(list(scenes))
    body = [
        f"<header><h1>{escape(title)}</h1>"
        f"<p class='subtitle'>textmask-ocr {escape(__version__)} report</p></header>"
    ]
    if notes:
        body.append(
            "<div class='notes'>" + "".join(f"<p>{escape(note)}</p>" for note in notes) + "</div>"
        )
    if table is not None:
        body.append(
            _section(
                "results",
                "Recognition results",
                table.to_html("accuracy")
                + "<details><summary>Normalised edit distance</summary>"
                + table.to_html("norm_edit_distance")
                + "</details>",
            )
        )
    if segmentation is not None:
        body.append(_section("segmentation", "Segmentation", segmentation.to_html()))
    if curves:
        figures = "".join(f"<figure>{chart.to_svg()}</figure>" for chart in curves)
        body.append(_section("curves", "Training curves", f"<div class='charts'>{figures}</div>"))
    if examples is not None and examples.examples:
        body.append(
            _section(
                "examples",
                "Recognition examples",
                _examples_hint(examples) + f"<div class='grid-scroll'>{examples.to_html()}</div>",
            )
        )
    if scenes is not None and scenes.scenes:
        body.append(
            _section("scenes", "Scenes", f"<div class='grid-scroll'>{scenes.to_html()}</div>")
        )
    if timing is not None:
        body.append(_section("timing", "Time per stage", timing.to_html()))
    if details:
        items = "".join(
            f"<dt>{escape(str(key))}</dt><dd>{escape(str(value))}</dd>"
            for key, value in details.items()
        )
        body.append(_section("details", "Run details", f"<dl class='details'>{items}</dl>"))
    body.append(f"<footer>Generated by textmask-ocr {escape(__version__)}.</footer>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    table: ResultsTable | None = None,
    curves: Sequence[LineChart] = (),
    examples: WordExampleGrid | Sequence[WordExample] | None = None,
    scenes: SceneGrid | Sequence[SceneExample] | None = None,
    notes: Sequence[str] = (),
    segmentation: MetricTable | None = None,
    timing: MetricTable | None = None,
    details: Mapping[str, object] | None = None,
) -> Path:
    """Render the report (see :func:`render_report`) and write it atomically to ``path``."""
    page = render_report(
        title=title,
        table=table,
        curves=curves,
        examples=examples,
        scenes=scenes,
        notes=notes,
        segmentation=segmentation,
        timing=timing,
        details=details,
    )
    atomic_write_text(page, path)
    return Path(path)
