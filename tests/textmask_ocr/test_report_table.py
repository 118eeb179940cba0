"""The results table: pooled totals, deltas, Markdown/text/HTML rendering, JSON round trip."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from textmask_ocr.errors import InputError
from textmask_ocr.recognition.protocol import PROTOCOLS
from textmask_ocr.recognition.significance import PairedComparison, mcnemar_exact_p
from textmask_ocr.report.table import (
    PROTOCOL_PHRASES,
    TOTAL,
    BenchmarkScore,
    MetricTable,
    ResultsTable,
    format_delta,
)

SYN, IC13 = "synthetic held-out", "IC13"


def score(count: int, correct: int, distance: float) -> dict[str, float | int]:
    return {
        "count": count,
        "correct": correct,
        "accuracy": 100.0 * correct / count,
        "norm_edit_distance": distance,
    }


# Hand-computed: totals pool 250 words; accuracy and edit distance are count-weighted.
RESULTS = {
    "base": {SYN: score(200, 150, 0.10), IC13: score(50, 40, 0.08)},
    "RM": {SYN: score(200, 152, 0.09), IC13: score(50, 38, 0.12)},
    "PM": {SYN: score(200, 160, 0.06), IC13: score(50, 42, 0.05)},
    "real mask": {SYN: score(200, 170, 0.04), IC13: score(50, 45, 0.03)},
}
EXPECTED_TOTAL_ACCURACY = {"base": 76.0, "RM": 76.0, "PM": 80.8, "real mask": 86.0}
EXPECTED_TOTAL_DISTANCE = {"base": 0.096, "RM": 0.096, "PM": 0.058, "real mask": 0.038}
EXPECTED_DELTAS = {  # accuracy minus RM's, per column
    "base": {SYN: -1.0, IC13: 4.0, TOTAL: 0.0},
    "RM": {SYN: 0.0, IC13: 0.0, TOTAL: 0.0},
    "PM": {SYN: 4.0, IC13: 8.0, TOTAL: 4.8},
    "real mask": {SYN: 9.0, IC13: 14.0, TOTAL: 10.0},
}


@pytest.fixture
def table() -> ResultsTable:
    return ResultsTable.from_results(RESULTS)


def test_totals_are_pooled_over_words_not_averaged_over_benchmarks(table: ResultsTable) -> None:
    # base: 150/200 and 40/50 pool to 190/250 = 76.0 %, where a plain mean would give 77.5 %.
    for method, expected in EXPECTED_TOTAL_ACCURACY.items():
        total = table.score(method, TOTAL)
        assert total.count == 250
        assert total.accuracy == pytest.approx(expected, abs=1e-12)
        assert total.norm_edit_distance == pytest.approx(EXPECTED_TOTAL_DISTANCE[method], abs=1e-12)


def test_deltas_against_the_reference_row(table: ResultsTable) -> None:
    for method, row in EXPECTED_DELTAS.items():
        for column, expected in row.items():
            assert table.delta(method, column) == pytest.approx(expected, abs=1e-12)
    assert table.delta("PM", SYN, "norm_edit_distance") == pytest.approx(0.06 - 0.09)
    assert table.delta("PM", TOTAL, "norm_edit_distance") == pytest.approx(0.058 - 0.096)


def test_deltas_against_another_reference_and_none() -> None:
    against_base = ResultsTable.from_results(RESULTS, reference="base")
    assert against_base.delta("PM", TOTAL) == pytest.approx(80.8 - 76.0)
    assert ResultsTable.from_results(RESULTS, reference=None).delta("PM", SYN) is None


def test_markdown_matches_hand_written_table(table: ResultsTable) -> None:
    expected = (
        "| Method | synthetic held-out (n=200) | IC13 (n=50) | Total (n=250) |\n"
        "| :--- | ---: | ---: | ---: |\n"
        "| base | 75.00 (-1.00) | 80.00 (+4.00) | 76.00 (±0.00) |\n"
        "| RM | 76.00 | 76.00 | 76.00 |\n"
        "| PM | 80.00 (+4.00) | 84.00 (+8.00) | 80.80 (+4.80) |\n"
        "| real mask | 85.00 (+9.00) | 90.00 (+14.00) | 86.00 (+10.00) |\n"
        "\n"
        "*Word accuracy (%); ignore case and symbols; in parentheses: difference to RM; "
        "Total: all words pooled.*\n"
    )
    assert table.to_markdown() == expected


def parse_markdown(markdown: str) -> dict[str, dict[str, tuple[float, float | None]]]:
    """Read back {method: {column: (value, delta)}} from a rendered Markdown table."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header = [re.sub(r" \(n=\d+\)$", "", cell) for cell in cells[0][1:]]
    parsed = {}
    for row in cells[2:]:
        values = {}
        for column, cell in zip(header, row[1:], strict=True):
            match = re.fullmatch(r"(-?[\d.]+)(?: \(([+±-][\d.]+)\))?", cell)
            assert match, cell
            delta = match.group(2)
            values[column] = (float(match.group(1)), float(delta.lstrip("±")) if delta else None)
        parsed[row[0]] = values
    return parsed


@pytest.mark.parametrize("metric", ["accuracy", "norm_edit_distance"])
def test_markdown_reads_back_to_the_rounded_numbers(table: ResultsTable, metric: str) -> None:
    decimals = 2 if metric == "accuracy" else 4
    parsed = parse_markdown(table.to_markdown(metric))
    assert list(parsed) == list(table.methods)
    for method, row in parsed.items():
        assert list(row) == list(table.columns)
        for column, (value, delta) in row.items():
            assert value == round(table.score(method, column).value(metric), decimals)
            if method == "RM":
                assert delta is None
            else:
                assert delta == pytest.approx(round(table.delta(method, column, metric), decimals))


def test_json_round_trip_keeps_every_number(table: ResultsTable) -> None:
    data = json.loads(json.dumps(table.to_json()))
    assert ResultsTable.from_json(data) == table
    assert data["reference"] == "RM"
    assert data["protocol"] == "ignore-case-symbols"
    assert data["benchmarks"] == [SYN, IC13]
    rows = {row["method"]: row for row in data["rows"]}
    assert list(rows) == ["base", "RM", "PM", "real mask"]
    for method, expected in RESULTS.items():
        for benchmark, values in expected.items():
            cell = rows[method]["benchmarks"][benchmark]
            for key in ("count", "correct", "accuracy", "norm_edit_distance"):
                assert cell[key] == pytest.approx(values[key], abs=1e-12)
            assert cell["delta_accuracy"] == pytest.approx(EXPECTED_DELTAS[method][benchmark])
        total = rows[method]["total"]
        assert total["count"] == 250
        assert total["accuracy"] == pytest.approx(EXPECTED_TOTAL_ACCURACY[method])
        assert total["norm_edit_distance"] == pytest.approx(EXPECTED_TOTAL_DISTANCE[method])
        assert total["delta_accuracy"] == pytest.approx(EXPECTED_DELTAS[method][TOTAL])
    no_reference = ResultsTable.from_results(RESULTS, reference=None).to_json()
    assert no_reference["rows"][0]["total"]["delta_accuracy"] is None


def test_text_rendering_aligns_values_and_deltas() -> None:
    table = ResultsTable.from_results(
        {"RM": {SYN: score(2000, 1524, 0.1)}, "PM": {SYN: score(2000, 1626, 0.05)}}
    )
    assert table.to_text() == (
        "Word accuracy (%); ignore case and symbols; in parentheses: difference to RM.\n"
        "Method  synthetic held-out (n=2000)\n"
        "------  ---------------------------\n"
        "RM                    76.20\n"
        "PM                    81.30 (+5.10)\n"
    )
    lines = ResultsTable.from_results(RESULTS).to_text().splitlines()[3:]
    assert len(lines) == 4
    for start in (11, 39, 55):  # the three value columns: decimal points line up in each
        assert len({line.index(".", start) for line in lines}) == 1


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.strong: list[str] = []
        self.deltas: list[tuple[str, str]] = []
        self.reference_rows = 0
        self._stack: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("class") == "reference":
            self.reference_rows += 1
        self._stack.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._stack:
            return
        tag, attributes = self._stack[-1]
        if tag == "strong":
            self.strong.append(data)
        css = attributes.get("class") or ""
        if tag == "span" and css.startswith("delta"):
            self.deltas.append((css.split()[1], data))


def test_html_fragment_marks_best_values_and_delta_directions(table: ResultsTable) -> None:
    collector = _TextCollector()
    collector.feed(table.to_html())
    assert collector.strong == ["85.00", "90.00", "86.00"]  # the real-mask row is best
    assert collector.reference_rows == 1
    assert ("worse", "(-1.00)") in collector.deltas
    assert ("neutral", "(±0.00)") in collector.deltas
    assert ("better", "(+4.80)") in collector.deltas
    distance = _TextCollector()
    distance.feed(table.to_html("norm_edit_distance"))
    assert distance.strong == ["0.0400", "0.0300", "0.0380"]  # lowest is best
    assert ("better", "(-0.0300)") in distance.deltas  # PM on the synthetic set: 0.06 - 0.09


def test_caption_names_every_protocol() -> None:
    assert set(PROTOCOL_PHRASES) == set(PROTOCOLS)
    exact = ResultsTable.from_results(RESULTS, protocol="exact", reference="PM")
    assert exact.caption() == (
        "Word accuracy (%); exact match; in parentheses: difference to PM; Total: all words pooled."
    )


def test_format_delta() -> None:
    assert format_delta(1.949, 2) == "+1.95"
    assert format_delta(-0.4, 2) == "-0.40"
    assert format_delta(-0.004, 2) == "±0.00"
    assert format_delta(0.0, 1) == "±0.0"


def test_single_benchmark_has_no_total_column_but_json_keeps_it() -> None:
    table = ResultsTable.from_results({"RM": {SYN: score(10, 5, 0.2)}})
    assert table.columns == (SYN,)
    assert "Total" not in table.to_markdown()
    assert table.to_json()["rows"][0]["total"]["accuracy"] == 50.0


def test_metric_table_renders_and_rejects_ragged_rows() -> None:
    table = MetricTable(
        {"MGNet": {"F1": 80.5, "Precision": 83.3}, "U-Net": {"F1": 75.3, "Precision": 81.2}},
        caption="held-out scenes, %",
    )
    assert table.to_markdown() == (
        "|  | F1 | Precision |\n| :--- | ---: | ---: |\n"
        "| MGNet | 80.50 | 83.30 |\n| U-Net | 75.30 | 81.20 |\n\n*held-out scenes, %*\n"
    )
    assert table.to_json() == {
        "caption": "held-out scenes, %",
        "rows": {
            "MGNet": {"F1": 80.5, "Precision": 83.3},
            "U-Net": {"F1": 75.3, "Precision": 81.2},
        },
    }
    with pytest.raises(InputError, match="row 'U-Net' has metrics"):
        MetricTable({"MGNet": {"F1": 1.0}, "U-Net": {"Recall": 1.0}})


@pytest.mark.parametrize(
    ("results", "kwargs", "message"),
    [
        ({}, {}, "at least one method"),
        ({"RM": {SYN: score(10, 5, 0.1)}, "PM": {}}, {}, "method 'PM' has no benchmark"),
        (
            {"RM": {SYN: score(10, 5, 0.1)}, "PM": {SYN: score(11, 5, 0.1)}},
            {},
            "different word counts",
        ),
        ({"PM": {SYN: score(10, 5, 0.1)}}, {}, "reference method 'RM' is not in the table"),
        ({"RM": {SYN: {"count": 10, "correct": 11, "norm_edit_distance": 0.1}}}, {}, "correct=11"),
        (
            {"RM": {SYN: {"count": 0, "correct": 0, "norm_edit_distance": 0.0}}},
            {},
            "positive count",
        ),
        ({"RM": {SYN: {"count": 10, "correct": 5}}}, {}, "RM/synthetic held-out: missing"),
        ({"RM": {SYN: {**score(10, 5, 0.1), "accuracy": 60.0}}}, {}, "disagrees"),
        ({"RM": {SYN: {**score(10, 5, 0.1), "count": 10.0}}}, {}, "count must be an integer"),
        ({"RM": {SYN: score(10, 5, 1.5)}}, {}, "outside \\[0, 1\\]"),
        ({"RM": {TOTAL: score(10, 5, 0.1)}}, {}, "reserved for the pooled column"),
        ({"RM": {SYN: score(10, 5, 0.1)}}, {"reference": "PM"}, "'PM' is not in the table"),
        ({"RM": {SYN: score(10, 5, 0.1)}}, {"protocol": "loose"}, "unknown protocol 'loose'"),
    ],
)
def test_bad_results_are_rejected(results: dict, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ResultsTable.from_results(results, **kwargs)


def test_bad_lookups_and_json_are_rejected(table: ResultsTable) -> None:
    with pytest.raises(InputError, match="unknown method 'CRNN'"):
        table.score("CRNN", SYN)
    with pytest.raises(InputError, match="unknown benchmark 'SVT'"):
        table.score("PM", "SVT")
    with pytest.raises(InputError, match="unknown table metric 'f1'"):
        table.to_markdown("f1")
    with pytest.raises(InputError, match="not a results-table JSON"):
        ResultsTable.from_json({"rows": []})
    with pytest.raises(InputError, match="expected a BenchmarkScore"):
        ResultsTable({"RM": {SYN: score(10, 5, 0.1)}})  # type: ignore[dict-item]
    pooled = BenchmarkScore.pooled([BenchmarkScore(3, 1, 0.5), BenchmarkScore(1, 1, 0.1)])
    assert (pooled.count, pooled.correct) == (4, 2)
    assert pooled.norm_edit_distance == pytest.approx((3 * 0.5 + 1 * 0.1) / 4)


def outcomes(count: int, correct: int) -> list[bool]:
    return [True] * correct + [False] * (count - correct)


def test_a_method_without_a_benchmark_keeps_its_row_with_a_dash() -> None:
    results = {
        "RM": {SYN: score(200, 152, 0.09), IC13: score(50, 38, 0.12)},
        "real mask": {SYN: score(200, 170, 0.04), IC13: None},  # IC13 has no masks
    }
    table = ResultsTable.from_results(results)
    assert table.methods == ("RM", "real mask")
    assert table.score("real mask", IC13) is None and table.score("real mask", TOTAL) is None
    assert table.delta("real mask", IC13) is None and table.delta("real mask", SYN) == 9.0
    assert table.to_markdown() == (
        "| Method | synthetic held-out (n=200) | IC13 (n=50) | Total (n=250) |\n"
        "| :--- | ---: | ---: | ---: |\n"
        "| RM | 76.00 | 76.00 | 76.00 |\n"
        "| real mask | 85.00 (+9.00) | — | — |\n"
        "\n"
        "*Word accuracy (%); ignore case and symbols; in parentheses: difference to RM; "
        "Total: all words pooled; —: not measured on that benchmark.*\n"
    )
    assert table.to_text().splitlines()[-1].split() == [
        "real",
        "mask",
        "85.00",
        "(+9.00)",
        "—",
        "—",
    ]
    data = json.loads(json.dumps(table.to_json()))
    real = data["rows"][1]
    assert real["benchmarks"][IC13] is None and real["total"] is None
    assert ResultsTable.from_json(data) == table
    collector = _TextCollector()
    collector.feed(table.to_html())
    assert collector.strong == ["76.00", "76.00", "85.00"]  # a dash is never the best value


def test_comparisons_show_p_values_and_round_trip_through_json() -> None:
    pm = PairedComparison.from_outcomes(outcomes(200, 152), outcomes(200, 160), resamples=300)
    base = PairedComparison.from_outcomes(outcomes(200, 152), outcomes(200, 150), resamples=300)
    table = ResultsTable.from_results(
        {
            "RM": {SYN: score(200, 152, 0.09)},
            "PM": {SYN: score(200, 160, 0.06)},
            "base": {SYN: score(200, 150, 0.1)},
        },
        comparisons={"PM": {SYN: pm}, "base": {SYN: base}},
    )
    assert pm.p_value == mcnemar_exact_p(0, 8) == 2 / 2**8
    markdown = table.to_markdown()
    assert "| PM | 80.00 (+4.00, p = 0.00781) |" in markdown
    assert "| base | 75.00 (-1.00, p = 0.5) |" in markdown
    assert "difference to RM and the exact McNemar p-value on the same words" in markdown
    assert "p = " not in table.to_markdown("norm_edit_distance")  # the test is on accuracy
    data = json.loads(json.dumps(table.to_json()))
    cell = data["rows"][1]["benchmarks"][SYN]["comparison"]
    assert cell["p_value"] == pm.p_value and cell["interval"] == list(pm.interval)
    assert (cell["reference_only"], cell["method_only"], cell["difference"]) == (0, 8, 4.0)
    assert ResultsTable.from_json(data) == table
    assert ResultsTable.from_json(data).comparison("PM", SYN) == pm
    collector = _TextCollector()
    collector.feed(table.to_html())
    assert ("better", "(+4.00, p = 0.00781)") in collector.deltas
    assert ("neutral", "(-1.00, p = 0.5)") in collector.deltas  # not significant: not red
    low, high = pm.interval
    assert (
        f"title='95% bootstrap interval of the difference: [{low:+.2f}, {high:+.2f}] points'"
        in (table.to_html())
    )


@pytest.mark.parametrize(
    ("comparisons", "message"),
    [
        ({"RM": {SYN: "x"}}, "against the reference row"),
        ({"PM": {SYN: "x"}}, "expected a PairedComparison"),
        ({"PM": {IC13: None}}, "expected a PairedComparison"),
        ({"PM": {IC13: PairedComparison(200, 0, 8, 0.1, (0.0, 8.0))}}, "no such row or column"),
        ({"PM": {SYN: PairedComparison(100, 0, 8, 0.1, (0.0, 8.0))}}, "does not match"),
        ({"PM": {SYN: PairedComparison(200, 0, 6, 0.1, (0.0, 8.0))}}, "disagrees"),
    ],
)
def test_bad_comparisons_are_rejected(comparisons: dict, message: str) -> None:
    results = {"RM": {SYN: score(200, 152, 0.09)}, "PM": {SYN: score(200, 160, 0.06)}}
    with pytest.raises(InputError, match=message):
        ResultsTable.from_results(results, comparisons=comparisons)


@pytest.mark.parametrize(
    ("correct", "p_value", "expected"),
    [
        (
            160,
            0.0499,
            "synthetic held-out: PM beats RM, PM 80.00% vs RM 76.00% (+4.00 points, "
            "95% interval [+1.00, +7.00]; p = 0.0499, exact McNemar on 200 words).",
        ),
        (
            160,
            0.05,
            "synthetic held-out: no significant difference between PM and RM "
            "(p = 0.05), PM 80.00% vs RM 76.00% (+4.00 points, 95% interval [+1.00, +7.00]; "
            "exact McNemar on 200 words).",
        ),
        (
            160,
            0.0501,
            "synthetic held-out: no significant difference between PM and RM "
            "(p = 0.0501), PM 80.00% vs RM 76.00% (+4.00 points, 95% interval [+1.00, +7.00]; "
            "exact McNemar on 200 words).",
        ),
        (
            144,
            0.0499,
            "synthetic held-out: RM beats PM, PM 72.00% vs RM 76.00% (-4.00 points, "
            "95% interval [+1.00, +7.00]; p = 0.0499, exact McNemar on 200 words).",
        ),
        (
            144,
            0.05,
            "synthetic held-out: no significant difference between PM and RM "
            "(p = 0.05), PM 72.00% vs RM 76.00% (-4.00 points, 95% interval [+1.00, +7.00]; "
            "exact McNemar on 200 words).",
        ),
    ],
)
def test_verdict_says_beats_only_below_p_005(correct: int, p_value: float, expected: str) -> None:
    # discordant counts that give the accuracies; the p-value is set by hand around 0.05
    b, c = (2, 10) if correct > 152 else (10, 2)
    comparison = PairedComparison(200, b, c, p_value, (1.0, 7.0))
    table = ResultsTable.from_results(
        {"RM": {SYN: score(200, 152, 0.09)}, "PM": {SYN: score(200, correct, 0.06)}},
        comparisons={"PM": {SYN: comparison}},
    )
    assert table.verdict("PM", SYN) == expected
    with pytest.raises(InputError, match="no paired comparison of 'RM'"):
        table.verdict("RM", SYN)
