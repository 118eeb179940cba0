"""Time per stage: the time of the run that did each stage, shares of the total, rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textmask_ocr.engine.metrics_log import MetricsLog
from textmask_ocr.errors import InputError
from textmask_ocr.report import render_report
from textmask_ocr.report.stages import StageTimes


def stage(name: str, seconds: float, **extra: object) -> dict[str, object]:
    return {"kind": "stage", "stage": name, "seconds": seconds, **extra}


# Run 1 did data and train, then was killed during evaluate (no record). Run 2 skipped both,
# evaluated, and wrote a training record of another kind in between.
TWO_RUNS = [
    stage("data", 12.0, step=1),
    stage("train", 30.0, step=2),
    stage("data", 0.01, step=1, skipped=True),
    {"kind": "train", "step": 5, "loss": 1.0},
    stage("train", 0.02, step=2, skipped=True),
    stage("evaluate", 8.0, step=3),
]


def test_a_resumed_run_reports_the_time_of_the_run_that_did_the_work(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for record in TWO_RUNS:
        log.write(record)
    times = StageTimes.from_records(log.read())
    assert times.seconds == {"data": 12.0, "train": 30.0, "evaluate": 8.0}
    assert list(times.seconds) == ["data", "train", "evaluate"]  # running order
    assert times.earlier == {"data", "train"}
    assert times.total == 50.0


def test_the_latest_run_that_worked_wins_and_a_never_worked_stage_keeps_its_record() -> None:
    records = [
        stage("train", 30.0),
        stage("train", 25.0),  # redone (e.g. its result was incomplete)
        stage("train", 0.5, skipped=True),
        stage("cache", 0.25, skipped=True),  # finished by something this log never saw
        stage("cache", 0.5, skipped=False),
        stage("report", 1.0, skipped=True),
    ]
    times = StageTimes.from_records(records)
    assert times.seconds == {"train": 25.0, "cache": 0.5, "report": 1.0}
    assert times.earlier == {"train", "report"}


def test_the_table_gives_seconds_and_exact_shares() -> None:
    table = StageTimes.from_records(TWO_RUNS).table()
    assert table.rows == {
        "data (earlier run)": {"seconds": 12.0, "share (%)": 24.0},
        "train (earlier run)": {"seconds": 30.0, "share (%)": 60.0},
        "evaluate": {"seconds": 8.0, "share (%)": 16.0},
        "total": {"seconds": 50.0, "share (%)": 100.0},
    }
    assert table.to_text() == (
        "Time per stage (wall clock); (earlier run): skipped by this resumed run, the time of "
        "the run that did it\n"
        "                     seconds  share (%)\n"
        "-------------------  -------  ---------\n"
        "data (earlier run)      12.0       24.0\n"
        "train (earlier run)     30.0       60.0\n"
        "evaluate                 8.0       16.0\n"
        "total                   50.0      100.0\n"
    )
    assert json.loads(json.dumps(table.to_json()))["rows"] == table.rows


def test_the_demo_seconds_dict_makes_the_same_table() -> None:
    table = StageTimes({"data": 1.0, "train": 3.0}).table()
    assert table.caption == "Time per stage (wall clock)"
    assert table.rows["train"] == {"seconds": 3.0, "share (%)": 75.0}
    zero = StageTimes({"data": 0.0}).table()
    assert zero.rows["total"] == {"seconds": 0.0, "share (%)": 0.0}


def test_report_html_has_the_stage_section() -> None:
    page = render_report(title="t", timing=StageTimes.from_records(TWO_RUNS).table())
    assert "<section id='timing'><h2>Time per stage</h2>" in page
    assert "<th scope='row'>data (earlier run)</th><td>12.0</td><td>24.0</td>" in page
    assert "id='timing'" not in render_report(title="t")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: StageTimes({"data": -1.0}), "must be >= 0 s: data"),
        (lambda: StageTimes({"data": float("nan")}), "must be >= 0 s: data"),
        (lambda: StageTimes({"data": 1.0}, frozenset({"train"})), "without a time: train"),
        (lambda: StageTimes.from_records([{"kind": "stage", "stage": "x"}]), "needs 'stage' and"),
        (
            lambda: StageTimes.from_records([stage("x", "soon")]),  # type: ignore[arg-type]
            "needs 'stage' and 'seconds'",
        ),
        (lambda: StageTimes({}).table(), "no stage times recorded"),
    ],
)
def test_bad_stage_records_get_the_documented_error(make, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make()
