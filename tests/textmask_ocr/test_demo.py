"""A tiny version of the whole demo pipeline, end to end, in well under a minute."""

from __future__ import annotations

import dataclasses
import html
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from recognizers import read_checkpoint
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.data.synth.crops import generate_word
from textmask_ocr.demo import BUDGETS, run_demo
from textmask_ocr.demo.stages import StageRunner
from textmask_ocr.engine.trainer import Trainer
from textmask_ocr.recognition.benchmarks import EvaluatedModel, evaluate_benchmarks
from textmask_ocr.recognition.finetune_settings import FinetuneSettings
from textmask_ocr.report.table import ResultsTable

TINY = dataclasses.replace(
    BUDGETS["fast"],
    name="tiny",
    train_words=96,
    val_words=24,
    test_words=40,
    seg_train_words=32,
    seg_val_words=8,
    seg_crop_size=(32, 64),
    seg_width=1 / 32,
    seg_batch=4,
    phase1_steps=3,
    phase2_steps=2,
    seg_phases=2,
    base_width=0.125,
    base_hidden=16,
    base_steps=6,
    base_batch=16,
    finetune_steps=3,
    finetune_batch=16,
)


@pytest.fixture(scope="module")
def plain_bench(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    """A --bench set without masks, as real word crops come: 16 synthetic crops, masks dropped."""
    path = tmp_path_factory.mktemp("bench") / "plain"
    samples = (generate_word(1_000 + i) for i in range(16))
    write_word_lmdb(path, (WordRecord(s.encoded_image, s.label) for s in samples), quiet=True)
    return [("plain", path)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, plain_bench) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, TINY, seed=0, benches=plain_bench, workers=0, quiet=True)
    return out


def _rows(out: Path) -> dict[str, dict]:
    table = json.loads((out / "results.json").read_text())["table"]
    return {row["method"]: row for row in table["rows"]}


def test_demo_writes_table_report_and_run_records(demo_run: Path) -> None:
    results = json.loads((demo_run / "results.json").read_text())
    assert list(_rows(demo_run)) == ["base", "RM", "PM", "real mask"]
    assert set(results["segmentation"]) == {"mgnet-skip"}
    assert 0.0 <= results["segmentation"]["mgnet-skip"]["f1"] <= 1.0
    assert (demo_run / "table.md").read_text().count("|") > 10
    for run in ("recognizers/base", "recognizers/finetune_rm", "recognizers/finetune_pm"):
        assert (demo_run / run / "metrics.jsonl").is_file()
        assert (demo_run / run / "config.json").is_file()
    assert (demo_run / "config.json").is_file() and (demo_run / "metrics.jsonl").is_file()
    html = (demo_run / "report.html").read_text()
    HTMLParser().feed(html)
    assert html.count("<svg") >= 4 and "data:image/png;base64" in html
    assert "no data" not in html  # every curve found its records


def test_the_base_crnn_trains_with_its_auxiliary_ctc_head_and_the_mask_runs_keep_it(
    demo_run: Path,
) -> None:
    for run in ("base", "finetune_rm"):
        checkpoint = read_checkpoint(demo_run / "recognizers" / run / "best.pt")
        assert checkpoint.config.arch_kwargs["aux_ctc"] is True
        assert checkpoint.state_dict["aux_head.weight"].shape == (37, 64)


def test_every_recognizer_run_strips_the_punctuation_of_its_labels(demo_run: Path) -> None:
    for run in ("base", "finetune_rm", "finetune_pm", "finetune_real"):
        recorded = FinetuneSettings.recorded(demo_run / "recognizers" / run)
        assert recorded["strip_symbols"] is True, run


def test_bench_sets_keep_the_real_mask_row_and_are_pooled_apart(demo_run: Path) -> None:
    """A --bench set without masks: the real-mask row stays with no score there, and the
    bench sets get their own table whose Total pools them alone, compared with RM."""
    results = json.loads((demo_run / "results.json").read_text())
    rows = _rows(demo_run)
    assert list(rows) == ["base", "RM", "PM", "real mask"]
    assert rows["real mask"]["benchmarks"]["plain"] is None
    assert rows["real mask"]["benchmarks"]["synthetic test"]["count"] == TINY.test_words
    bench = ResultsTable.from_json(results["bench_table"])
    assert bench.benchmarks == ("plain",)
    pooled = bench.comparison("PM", "Total")
    assert pooled.count == 16
    assert pooled.difference == pytest.approx(
        rows["PM"]["benchmarks"]["plain"]["accuracy"]
        - rows["RM"]["benchmarks"]["plain"]["accuracy"]
    )
    assert html.escape(bench.verdict("PM", "Total")) in (demo_run / "report.html").read_text()


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
    rows = {name: row["benchmarks"]["synthetic test"] for name, row in _rows(demo_run).items()}
    data = demo_run / "data"
    for method, folder, mask, crops in (
        ("RM", "finetune_rm", "random", data / "words_test"),
        ("PM", "finetune_pm", "predicted", data / "masks" / "mgnet-skip" / "test"),
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


def test_demo_resumes_without_redoing_finished_stages(demo_run: Path, plain_bench) -> None:
    before = {path: path.stat().st_mtime_ns for path in demo_run.rglob("*.pt")}
    first = json.loads((demo_run / "results.json").read_text())
    run_demo(demo_run, TINY, seed=0, benches=plain_bench, workers=0, quiet=True)
    after = {path: path.stat().st_mtime_ns for path in demo_run.rglob("*.pt")}
    assert before == after and len(before) >= 8
    second = json.loads((demo_run / "results.json").read_text())
    assert second["table"] == first["table"]
    assert second["seconds"] == first["seconds"]  # the first run's times, not the skips'


def test_a_demo_killed_mid_stage_redoes_that_stage(
    demo_run: Path, plain_bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill after the base CRNN wrote its first best.pt: the restart does not take the
    half-trained model for the finished one; it trains it again, then the rest, and the table
    is the uninterrupted run's."""
    out = tmp_path / "demo"
    shutil.copytree(demo_run / "data", out / "data")  # the data stage's outputs, not its record
    real_save = Trainer.save

    def killed_after_best(trainer: Trainer, name: str) -> None:
        real_save(trainer, name)
        if name == "best.pt" and trainer.out_dir.name == "base":
            raise KeyboardInterrupt  # the process dies mid-stage

    monkeypatch.setattr(Trainer, "save", killed_after_best)
    with pytest.raises(KeyboardInterrupt):
        run_demo(out, TINY, seed=0, benches=plain_bench, workers=0, quiet=True)
    runner = StageRunner(out)
    assert runner.is_complete("data") and not runner.is_complete("train base CRNN")
    assert (out / "recognizers" / "base" / "best.pt").is_file()  # what fooled the old check
    monkeypatch.setattr(Trainer, "save", real_save)
    run_demo(out, TINY, seed=0, benches=plain_bench, workers=0, quiet=True)
    assert runner.is_complete("train base CRNN") and runner.is_complete("evaluate")
    assert _rows(out) == _rows(demo_run)


def test_stage_runner_records_a_stage_only_when_its_work_returns(tmp_path: Path) -> None:
    runner = StageRunner(tmp_path)
    calls = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        runner.run("stage one", failing)
    assert not runner.is_complete("stage one")
    assert runner.run("stage one", lambda: calls.append("ok") or 7) == 7
    assert runner.is_complete("stage one")
    again = StageRunner(tmp_path)
    assert again.run("stage one", lambda: calls.append("again"), result=lambda: 8) == 8
    assert calls == ["failing", "ok"]
    assert again.seconds["stage one"] == runner.seconds["stage one"]
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(row["stage"], row["skipped"]) for row in log] == [
        ("stage one", False),
        ("stage one", True),
    ]
