"""A tiny version of the whole demo pipeline, end to end, in well under a minute."""

from __future__ import annotations

import dataclasses
import html
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from textmask_ocr.demo import BUDGETS, run_demo
from textmask_ocr.recognition.benchmarks import EvaluatedModel, evaluate_benchmarks
from textmask_ocr.report.table import ResultsTable

TINY = dataclasses.replace(
    BUDGETS["fast"],
    name="tiny",
    scene_size=64,
    train_scenes=12,
    val_scenes=4,
    seg_width=1 / 32,
    seg_batch=4,
    phase1_steps=3,
    phase2_steps=2,
    crop_height=32,
    train_words=96,
    val_words=24,
    test_words=40,
    base_width=0.125,
    base_steps=6,
    base_batch=16,
    finetune_steps=3,
    finetune_batch=16,
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, TINY, seed=0, workers=0, quiet=True)
    return out


def test_demo_writes_table_report_and_run_records(demo_run: Path) -> None:
    results = json.loads((demo_run / "results.json").read_text())
    table = results["table"]
    assert [row["method"] for row in table["rows"]] == ["base", "RM", "PM", "real mask"]
    assert set(results["segmentation"]) == {"mgnet", "unet"}
    assert (demo_run / "table.md").read_text().count("|") > 10
    for run in ("recognizers/base", "recognizers/finetune_rm", "recognizers/finetune_pm"):
        assert (demo_run / run / "metrics.jsonl").is_file() and (
            demo_run / run / "config.json"
        ).is_file()
    assert (demo_run / "config.json").is_file() and (demo_run / "metrics.jsonl").is_file()
    html = (demo_run / "report.html").read_text()
    HTMLParser().feed(html)
    assert html.count("<svg") >= 4 and "data:image/png;base64" in html
    assert "no data" not in html  # every curve found its records


def test_demo_headline_follows_the_paired_test(demo_run: Path) -> None:
    """results.json carries PM's comparison with RM; report.html words it by its p-value and ends
    with the time per stage."""
    data = json.loads((demo_run / "results.json").read_text())["table"]
    rows = {row["method"]: row["benchmarks"]["synthetic test"] for row in data["rows"]}
    assert rows["RM"]["comparison"] is None
    comparison = rows["PM"]["comparison"]
    assert comparison["count"] == TINY.test_words
    assert comparison["difference"] == pytest.approx(
        rows["PM"]["accuracy"] - rows["RM"]["accuracy"]
    )
    page = (demo_run / "report.html").read_text()
    verdict = ResultsTable.from_json(data).verdict("PM", "synthetic test")
    assert html.escape(verdict) in page
    if comparison["p_value"] >= 0.05:
        assert "no significant difference between PM and RM" in verdict
    else:
        assert ("PM beats RM" if comparison["difference"] > 0 else "RM beats PM") in verdict
    assert "<h2>Time per stage</h2>" in page and "<th scope='row'>evaluate</th>" in page


def test_demo_table_agrees_with_the_evaluate_command(demo_run: Path) -> None:
    """Each fine-tuned row equals `textmask-ocr evaluate` on the same checkpoint and crops."""
    rows = {
        row["method"]: row["benchmarks"]["synthetic test"]
        for row in json.loads((demo_run / "results.json").read_text())["table"]["rows"]
    }
    data = demo_run / "data"
    for method, folder, mask, crops in (
        ("RM", "finetune_rm", "random", data / "words_test"),
        ("PM", "finetune_pm", "predicted", data / "words_test_pm"),
        ("real mask", "finetune_real", "real", data / "words_test"),
    ):
        report = evaluate_benchmarks(
            [EvaluatedModel(method, demo_run / "recognizers" / folder / "best.pt", mask)],
            [("synthetic test", crops)],
            out=demo_run / "eval" / folder,
        )
        metric = report.results[method][0].metric
        assert metric.total == rows[method]["count"] == TINY.test_words
        assert metric.correct == rows[method]["correct"], method
        assert metric.accuracy == pytest.approx(rows[method]["accuracy"])


def test_demo_resumes_without_redoing_finished_stages(demo_run: Path) -> None:
    before = {path: path.stat().st_mtime_ns for path in demo_run.rglob("best.pt")}
    run_demo(demo_run, TINY, seed=0, workers=0, quiet=True)
    after = {path: path.stat().st_mtime_ns for path in demo_run.rglob("best.pt")}
    assert before == after and len(before) >= 4
