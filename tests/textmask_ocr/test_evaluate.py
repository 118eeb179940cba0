"""``textmask-ocr evaluate`` and ``recognize``: scores against a brute-force recount, the table,
and one preprocessing path (recognize on exported files == evaluate on the LMDB)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from recognizers import load_recognizer
from tests.textmask_ocr.recognition_fixtures import (
    WordLmdbs,
    assert_one_line_error,
    one_torch_thread,
    run_cli,
)
from textmask_ocr.data.lmdb_format import WordLmdb
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.recognition.benchmarks import results_table
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import BenchmarkResult, evaluate_dataset
from textmask_ocr.recognition.models import MaskedCRNN
from textmask_ocr.recognition.protocol import WordAccuracy
from textmask_ocr.recognition.significance import bootstrap_difference_interval, mcnemar_exact_p

pytestmark = pytest.mark.usefixtures("single_thread_torch")


class Benchmarks(NamedTuple):
    model: Path  # an RGB+mask CRNN of ours (mask weights 'mean': the mask matters)
    iiit5k: Path  # the val crops relabelled from the model's own reading (see below)
    words: Path  # the train LMDB as it is


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance by the textbook dynamic programme."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def normalized(text: str, protocol: str) -> str:
    if protocol == "exact":
        return text
    lower = text.lower()
    return lower if protocol == "ignore-case" else "".join(c for c in lower if c.isalnum())


def brute_force_scores(rows: list[dict[str, Any]], protocol: str) -> dict[str, float | int]:
    pairs = [
        (normalized(r["prediction"], protocol), normalized(r["label"], protocol)) for r in rows
    ]
    correct = sum(p == g for p, g in pairs)
    distances = [edit_distance(p, g) / max(len(p), len(g)) if p or g else 0.0 for p, g in pairs]
    return {
        "count": len(rows),
        "correct": correct,
        "accuracy": 100 * correct / len(rows),
        "norm_edit_distance": sum(distances) / len(rows),
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def relabel(i: int, prediction: str, label: str) -> str:
    """Sample i's new label: the model's reading, upper-cased with a symbol (right only when
    case and symbols are ignored), the reading itself (always right), or the true label."""
    if i % 3 == 0:
        return prediction.upper() + "!"
    return prediction if i % 3 == 1 else label


@pytest.fixture(scope="module")
def benchmarks(
    tmp_path_factory: pytest.TempPathFactory, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> Benchmarks:
    root = tmp_path_factory.mktemp("benchmarks")
    model = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
    model_path = model.save(root / "rgbmask.pt")
    with one_torch_thread():
        dataset = recognizer_dataset(word_lmdbs.val, model.config, "real")
        rows = evaluate_dataset(model.model, dataset, keep_predictions=True).predictions
    with WordLmdb(word_lmdbs.val) as db:
        records = [record for _, record in db.records()]
    assert [row["key"] for row in rows] == list(range(1, len(records) + 1))
    assert all(row["prediction"] for row in rows)  # an empty label would be filtered out
    relabelled = (
        WordRecord(record.image, relabel(i, row["prediction"], record.label), record.mask)
        for i, (record, row) in enumerate(zip(records, rows, strict=True))
    )
    write_word_lmdb(root / "iiit5k.lmdb", relabelled, quiet=True)
    return Benchmarks(model_path, root / "iiit5k.lmdb", word_lmdbs.train)


def evaluate(benchmarks: Benchmarks, out: Path, *options: object) -> Any:
    return run_cli(
        "evaluate",
        "--model",
        benchmarks.model,
        "--bench",
        f"IIIT5K={benchmarks.iiit5k}",
        "--bench",
        f"words={benchmarks.words}",
        "--out",
        out,
        *options,
    )


@pytest.mark.parametrize("protocol", ["ignore-case-symbols", "exact"])
def test_results_json_equals_a_recount_of_the_predictions(
    benchmarks: Benchmarks, tmp_path: Path, protocol: str
) -> None:
    with pytest.warns(UserWarning, match="benchmark IIIT5K: 23 samples, the standard IIIT5K"):
        result = evaluate(
            benchmarks, tmp_path, "--mask", "real", "--protocol", protocol, "--save-predictions"
        )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"] == protocol
    assert results["models"] == [
        {"name": "rgbmask.pt", "path": str(benchmarks.model), "mask": "real", "arch": None}
    ]
    assert results["benchmarks"] == ["IIIT5K", "words"]
    (row,) = results["rows"]
    assert row["method"] == "rgbmask.pt"

    recounts = {}
    for name, lmdb in (("IIIT5K", benchmarks.iiit5k), ("words", benchmarks.words)):
        predictions = read_jsonl(tmp_path / "predictions" / f"{name}.jsonl")
        with WordLmdb(lmdb) as db:
            labels = [record.label for _, record in db.records()]
        assert [p["key"] for p in predictions] == list(range(1, len(labels) + 1))
        assert [p["label"] for p in predictions] == labels
        recount = brute_force_scores(predictions, protocol)
        recounts[name] = recount
        scores = row["benchmarks"][name]
        assert scores["count"] == recount["count"] and scores["correct"] == recount["correct"]
        assert scores["accuracy"] == pytest.approx(recount["accuracy"], abs=1e-12)
        assert scores["norm_edit_distance"] == pytest.approx(
            recount["norm_edit_distance"], abs=1e-12
        )
        hits = [p["correct"] for p in predictions]
        assert hits == [
            normalized(p["prediction"], protocol) == normalized(p["label"], protocol)
            for p in predictions
        ]
    # by construction of the labels: the model's reading is right, its upper-cased reading with
    # a symbol is right only when case and symbols are ignored
    hits = [p["correct"] for p in read_jsonl(tmp_path / "predictions" / "IIIT5K.jsonl")]
    assert all(hits[1::3])
    assert all(hits[0::3]) if protocol == "ignore-case-symbols" else not any(hits[0::3])

    total = row["total"]
    count = sum(r["count"] for r in recounts.values())
    assert total["count"] == count == 23 + 64
    assert total["correct"] == sum(r["correct"] for r in recounts.values())
    weighted = sum(r["norm_edit_distance"] * r["count"] for r in recounts.values()) / count
    assert total["norm_edit_distance"] == pytest.approx(weighted, abs=1e-12)
    assert total["accuracy"] == pytest.approx(100 * total["correct"] / count, abs=1e-12)

    header, rule, line = result.stdout.splitlines()[1:4]  # stderr: progress lines
    assert header.split() == ["Method", "IIIT5K", "(n=23)", "words", "(n=64)", "Total", "(n=87)"]
    assert set(rule) == {"-", " "}
    cells = [f"{row['benchmarks'][n]['accuracy']:.2f}" for n in ("IIIT5K", "words")]
    assert line.split() == ["rgbmask.pt", *cells, f"{total['accuracy']:.2f}"]
    assert result.stdout.splitlines()[-1] == f"results written to {tmp_path / 'results.json'}"


def test_recognize_on_exported_files_matches_evaluate_sample_by_sample(
    benchmarks: Benchmarks, tmp_path: Path
) -> None:
    """One preprocessing path: files read by ``recognize`` give what ``evaluate`` read."""
    exported = tmp_path / "exported"
    assert run_cli("lmdb", "export", benchmarks.iiit5k, exported, "--quiet").exit_code == 0
    with pytest.warns(UserWarning, match="benchmark IIIT5K: 23 samples"):
        evaluated = run_cli(
            "evaluate",
            "--model",
            benchmarks.model,
            "--bench",
            f"IIIT5K={benchmarks.iiit5k}",
            "--mask",
            "real",
            "--save-predictions",
            "--out",
            tmp_path / "eval",
        )
    assert evaluated.exit_code == 0, evaluated.output
    expected = read_jsonl(tmp_path / "eval" / "predictions" / "IIIT5K.jsonl")

    images = sorted((exported / "images").iterdir())
    assert len(images) == len(expected) == 23
    recognized = run_cli(
        "recognize",
        *images,
        "--model",
        benchmarks.model,
        "--mask-dir",
        exported / "masks",
        "--batch-size",
        4,
    )
    assert recognized.exit_code == 0, recognized.output
    lines = recognized.output.splitlines()
    assert len(lines) == len(images)
    for line, image, row in zip(lines, images, expected, strict=True):
        path, text, confidence = line.split("\t")
        assert Path(path) == image and int(image.stem) == row["key"]
        assert text == row["prediction"]
        assert confidence == f"{row['confidence']:.4f}"


def test_a_folder_benchmark_scores_like_its_lmdb(benchmarks: Benchmarks, tmp_path: Path) -> None:
    exported = tmp_path / "exported"
    assert run_cli("lmdb", "export", benchmarks.words, exported, "--quiet").exit_code == 0
    model = load_recognizer(benchmarks.model).eval()
    with one_torch_thread():
        from_lmdb, from_folder = (
            evaluate_dataset(model, recognizer_dataset(path, model.config, "real"), name="words")
            for path in (benchmarks.words, exported)
        )
    assert from_folder.metric == from_lmdb.metric
    assert from_lmdb.metric.total == 64


def test_random_mask_scores_do_not_depend_on_batching_or_workers(benchmarks: Benchmarks) -> None:
    model = load_recognizer(benchmarks.model).eval()
    dataset = recognizer_dataset(benchmarks.iiit5k, model.config, "random")
    reference = evaluate_dataset(model, dataset, batch_size=64, keep_predictions=True)
    for batch_size, workers in ((5, 0), (4, 2)):
        again = evaluate_dataset(
            model, dataset, batch_size=batch_size, num_workers=workers, keep_predictions=True
        )
        assert again.predictions == reference.predictions, (batch_size, workers)
    real = evaluate_dataset(
        model,
        recognizer_dataset(benchmarks.iiit5k, model.config, "real"),
        keep_predictions=True,
    )
    confidences = [[row["confidence"] for row in r.predictions] for r in (real, reference)]
    assert confidences[0] != confidences[1]  # the random masks are used, and are not the real ones


def test_evaluate_prints_one_column_per_benchmark_for_a_public_checkpoint(
    aster_weights: Path, word_lmdbs: WordLmdbs, tmp_path: Path
) -> None:
    result = run_cli(
        "evaluate",
        "--model",
        aster_weights,
        "--arch",
        "aster",
        "--bench",
        word_lmdbs.val,
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[1]
    assert re.fullmatch(r"Method\s+val\.lmdb \(n=23\)", header)  # a bare PATH names the column
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["models"][0]["mask"] == "none"
    assert results["rows"][0]["benchmarks"]["val.lmdb"]["count"] == 23


def test_two_models_are_compared_on_the_same_crops(benchmarks: Benchmarks, tmp_path: Path) -> None:
    """`--model A --model B`: B against A per benchmark and pooled, recounted from the saved
    per-sample predictions with the brute-force definitions of McNemar and the bootstrap."""
    with pytest.warns(UserWarning, match="benchmark IIIT5K: 23 samples"):
        result = run_cli(
            "evaluate", "--model", f"real={benchmarks.model}", "--mask", "real",
            "--model", f"random={benchmarks.model}", "--mask", "random",
            "--bench", f"IIIT5K={benchmarks.iiit5k}", "--bench", f"words={benchmarks.words}",
            "--out", tmp_path, "--save-predictions",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert [m["mask"] for m in data["models"]] == ["real", "random"]
    assert data["reference"] == "real"
    reference_row, random_row = data["rows"]
    assert reference_row["benchmarks"]["IIIT5K"]["comparison"] is None

    pooled: tuple[list[bool], list[bool]] = ([], [])
    for name in ("IIIT5K", "words"):
        first, second = (
            read_jsonl(tmp_path / "predictions" / model / f"{name}.jsonl")
            for model in ("real", "random")
        )
        assert [row["key"] for row in first] == [row["key"] for row in second]
        hits = [row["correct"] for row in first], [row["correct"] for row in second]
        pooled[0].extend(hits[0])
        pooled[1].extend(hits[1])
        comparison = random_row["benchmarks"][name]["comparison"]
        b = sum(x and not y for x, y in zip(*hits, strict=True))
        c = sum(y and not x for x, y in zip(*hits, strict=True))
        assert (comparison["reference_only"], comparison["method_only"]) == (b, c)
        assert comparison["count"] == len(first)
        assert comparison["p_value"] == mcnemar_exact_p(b, c)
        assert comparison["difference"] == pytest.approx(
            random_row["benchmarks"][name]["accuracy"]
            - reference_row["benchmarks"][name]["accuracy"]
        )
        assert comparison["interval"] == list(bootstrap_difference_interval(*hits))
        assert comparison["resamples"] == 10_000
    total = random_row["total"]["comparison"]
    assert total["count"] == 23 + 64
    assert total["interval"] == list(bootstrap_difference_interval(*pooled))
    verdicts = result.output.splitlines()[-4:-1]
    assert [line.split(":")[0] for line in verdicts] == ["IIIT5K", "words", "Total"]
    assert all("exact McNemar" in line for line in verdicts)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--model x={m} --model y={m} --mask real --mask real --mask real",
         "--mask given 3 times for 2 --model"),
        ("--model {m} --model {m}", "--model names repeat: rgbmask.pt, rgbmask.pt"),
        ("--model x={m} --model x={m}", "--model names repeat: x, x"),
        ("--model missing.pt", "--model missing.pt: no such file"),
        ("--model {m} --mask real --segmenter {m}", "--segmenter is used with --mask predicted"),
    ],
)  # fmt: skip
def test_compare_options_get_one_line_errors(
    benchmarks: Benchmarks, tmp_path: Path, options: str, message: str
) -> None:
    arguments = options.format(m=benchmarks.model).split()
    result = run_cli(
        "evaluate", "--bench", f"words={benchmarks.words}", "--out", tmp_path, *arguments
    )
    assert_one_line_error(result, message)


def test_evaluation_reports_its_progress_in_words_unless_quiet(
    benchmarks: Benchmarks, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("textmask_ocr.progress.LOG_INTERVAL_S", 0.0)  # a line at every batch
    model = load_recognizer(benchmarks.model).eval()
    dataset = recognizer_dataset(benchmarks.words, model.config, "real")
    with caplog.at_level(logging.INFO, logger="textmask_ocr.progress"), one_torch_thread():
        evaluate_dataset(model, dataset, name="words", batch_size=20)  # quiet by default
        assert caplog.records == []
        evaluate_dataset(model, dataset, name="words", batch_size=20, quiet=False)
    counts = [re.match(r"evaluating words: (\d+/\d+) words", m)[1] for m in caplog.messages]
    assert counts == ["20/64", "40/64", "60/64", "64/64", "64/64"]  # the last: the closing line
    assert " in " in caplog.messages[-1] and "ETA" not in caplog.messages[-1]


def benchmark_result(name: str, hits: list[bool]) -> BenchmarkResult:
    metric = WordAccuracy()
    metric.update(["a" if hit else "b" for hit in hits], ["a"] * len(hits))
    rows = [{"key": i + 1, "correct": hit} for i, hit in enumerate(hits)]
    return BenchmarkResult(name, metric, rows)


def test_results_table_keeps_a_partial_row_and_compares_what_was_read() -> None:
    """The demo's table: the real-mask row has no score where the crops have no masks."""
    hits = {
        "RM": {"synthetic": [True, False, True, True], "IIIT5K": [False, False, True]},
        "PM": {"synthetic": [True] * 4, "IIIT5K": [True] * 3},
        "real mask": {"synthetic": [False] * 4},
    }
    results = {
        method: {name: benchmark_result(name, row_hits) for name, row_hits in row.items()}
        for method, row in hits.items()
    }
    table = results_table(results, reference="RM")
    assert table.methods == ("RM", "PM", "real mask")
    assert table.score("real mask", "IIIT5K") is None
    assert set(table.comparisons["PM"]) == {"synthetic", "IIIT5K", "Total"}
    assert set(table.comparisons["real mask"]) == {"synthetic"}
    pooled = table.comparison("PM", "Total")
    assert (pooled.count, pooled.reference_only, pooled.method_only) == (7, 0, 3)
    assert pooled.p_value == mcnemar_exact_p(0, 3) == 0.25
    assert table.to_text().splitlines()[-1].split()[-2:] == ["—", "—"]
    without_rows = {
        m: {b: BenchmarkResult(b, r.metric) for b, r in row.items()} for m, row in results.items()
    }
    assert results_table(without_rows, reference="RM").comparisons == {}  # nothing to pair
