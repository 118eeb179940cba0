"""Result tables: recognition accuracy shaped like the paper's Table IV(b), and plain metric grids.

:class:`ResultsTable` holds, for every method (``base``, ``RM``, ``PM``, ``real mask``) and every
benchmark it was scored on, the evaluator's counts: ``count`` words, ``correct`` words and the mean
normalised edit distance. Columns are the benchmarks plus ``Total``, pooled over all words (so
weighted by sample count). Each cell shows word accuracy in percent (or the edit distance) and its
difference to a reference row, the random-mask control ``RM`` by default: ``81.30 (+5.10)``; with
paired comparisons (same crops, :mod:`textmask_ocr.recognition.significance`) the accuracy cell
adds the exact McNemar p-value: ``81.30 (+5.10, p < 0.001)``. A method without a score on a
benchmark (the real-mask row where the crops have no masks) shows ``—`` there and in ``Total``.

The same table renders as Markdown, as plain text for the terminal, as an HTML fragment for the
report, and as JSON that parses back to the same numbers (:meth:`ResultsTable.from_json`).
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from textmask_ocr.errors import InputError
from textmask_ocr.recognition.protocol import PROTOCOLS
from textmask_ocr.recognition.significance import PairedComparison, format_p_value

DEFAULT_REFERENCE = "RM"
TOTAL = "Total"


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is shown: its title, its decimals, and which direction is an improvement."""

    title: str
    decimals: int
    higher_is_better: bool


METRICS: dict[str, MetricSpec] = {
    "accuracy": MetricSpec("Word accuracy (%)", decimals=2, higher_is_better=True),
    "norm_edit_distance": MetricSpec(
        "Normalised edit distance (lower is better)", decimals=4, higher_is_better=False
    ),
}


PROTOCOL_PHRASES = {
    "ignore-case-symbols": "ignore case and symbols",
    "ignore-case": "ignore case",
    "exact": "exact match",
}


def _metric_spec(metric: str) -> MetricSpec:
    if metric not in METRICS:
        raise InputError(f"unknown table metric {metric!r}; choose from {', '.join(METRICS)}")
    return METRICS[metric]


@dataclass(frozen=True)
class BenchmarkScore:
    """One method on one benchmark: ``count`` words, ``correct`` of them right.

    Attributes:
        count: number of evaluated words (> 0).
        correct: words read correctly, in ``[0, count]``.
        norm_edit_distance: mean normalised edit distance over the words, in ``[0, 1]``.
    """

    count: int
    correct: int
    norm_edit_distance: float

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise InputError(f"a benchmark score needs a positive count, got {self.count}")
        if not 0 <= self.correct <= self.count:
            raise InputError(f"correct={self.correct} is outside [0, count={self.count}]")
        if not 0.0 <= self.norm_edit_distance <= 1.0:
            raise InputError(f"norm_edit_distance={self.norm_edit_distance} is outside [0, 1]")

    @property
    def accuracy(self) -> float:
        """Word accuracy in percent, ``100 * correct / count``."""
        return 100.0 * self.correct / self.count

    def value(self, metric: str) -> float:
        """The value of ``metric`` (a key of :data:`METRICS`)."""
        _metric_spec(metric)
        return float(getattr(self, metric))

    @classmethod
    def pooled(cls, scores: Iterable[BenchmarkScore]) -> BenchmarkScore:
        """All words of several benchmarks as one: counts add, edit distance is count-weighted."""
        scores = list(scores)
        count = sum(score.count for score in scores)
        correct = sum(score.correct for score in scores)
        distance = sum(score.norm_edit_distance * score.count for score in scores) / count
        return cls(count, correct, min(max(distance, 0.0), 1.0))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "score") -> BenchmarkScore:
        """Build from the evaluator's dict (``count``, ``correct``, ``norm_edit_distance`` and an
        optional ``accuracy`` in percent, which must agree with ``correct / count``)."""
        if not isinstance(values, Mapping):
            raise InputError(f"{where}: expected a mapping of numbers, got {type(values).__name__}")
        missing = [key for key in ("count", "correct", "norm_edit_distance") if key not in values]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}")
        count, correct = values["count"], values["correct"]
        distance = values["norm_edit_distance"]
        for key, number in (("count", count), ("correct", correct)):
            if isinstance(number, bool) or not isinstance(number, numbers.Integral):
                raise InputError(f"{where}: {key} must be an integer, got {number!r}")
        if isinstance(distance, bool) or not isinstance(distance, numbers.Real):
            raise InputError(f"{where}: norm_edit_distance must be a number, got {distance!r}")
        try:
            score = cls(int(count), int(correct), float(distance))
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
        accuracy = values.get("accuracy")
        if accuracy is not None and not math.isclose(
            float(accuracy), score.accuracy, rel_tol=0.0, abs_tol=1e-6
        ):
            raise InputError(
                f"{where}: accuracy {accuracy} disagrees with correct/count = {score.accuracy}"
            )
        return score

    def to_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "norm_edit_distance": self.norm_edit_distance,
        }


def format_delta(delta: float, decimals: int) -> str:
    """``+1.95`` / ``-0.40``; a difference that rounds to zero reads ``±0.00``."""
    text = f"{delta:+.{decimals}f}"
    if float(text) == 0.0:
        return f"±{0:.{decimals}f}"
    return text


MISSING = "—"


@dataclass(frozen=True)
class ResultsTable:
    """Word accuracy of several methods on several benchmarks, with deltas against a reference.

    Attributes:
        scores: method -> benchmark -> :class:`BenchmarkScore`, in display order. A method may
            lack a benchmark (shown as ``—``); a benchmark has the same word count for every
            method that has it. Benchmarks are ordered as they first appear.
        reference: the method the deltas are taken against (``RM`` by default), or ``None``.
        protocol: how predictions were compared (one of ``recognition.protocol.PROTOCOLS``),
            named in the caption.
        comparisons: method -> column (a benchmark or :data:`TOTAL`) -> the paired comparison
            with the reference on the same crops (McNemar p-value, bootstrap interval).
    """

    scores: Mapping[str, Mapping[str, BenchmarkScore]]
    reference: str | None = DEFAULT_REFERENCE
    protocol: str = "ignore-case-symbols"
    comparisons: Mapping[str, Mapping[str, PairedComparison]] = field(default_factory=dict)
    _counts: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InputError(
                f"unknown protocol {self.protocol!r}; choose from {', '.join(PROTOCOLS)}"
            )
        scores = {method: dict(row) for method, row in self.scores.items()}
        if not scores:
            raise InputError("a results table needs at least one method")
        benchmarks = list(dict.fromkeys(bench for row in scores.values() for bench in row))
        if not benchmarks:
            raise InputError("a results table needs at least one benchmark")
        if TOTAL in benchmarks:
            raise InputError(f"{TOTAL!r} is reserved for the pooled column; rename that benchmark")
        for method, row in scores.items():
            if not row:
                raise InputError(f"method {method!r} has no benchmark")
            for benchmark, score in row.items():
                if not isinstance(score, BenchmarkScore):
                    raise InputError(
                        f"{method}/{benchmark}: expected a BenchmarkScore, "
                        f"got {type(score).__name__} (use ResultsTable.from_results)"
                    )
            scores[method] = {bench: row[bench] for bench in benchmarks if bench in row}
        counts: dict[str, int] = {}
        for benchmark in benchmarks:
            found = {m: row[benchmark].count for m, row in scores.items() if benchmark in row}
            if len(set(found.values())) > 1:
                raise InputError(f"benchmark {benchmark!r} has different word counts: {found}")
            counts[benchmark] = next(iter(found.values()))
        if self.reference is not None and self.reference not in scores:
            raise InputError(
                f"reference method {self.reference!r} is not in the table "
                f"({', '.join(scores)}); pass reference=None for no deltas"
            )
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "_counts", {**counts, TOTAL: sum(counts.values())})
        comparisons = {method: dict(row) for method, row in self.comparisons.items() if row}
        for method, row in comparisons.items():
            for column, comparison in row.items():
                self._check_comparison(method, column, comparison)
        object.__setattr__(self, "comparisons", comparisons)

    def _check_comparison(self, method: str, column: str, comparison: PairedComparison) -> None:
        where = f"comparison {method}/{column}"
        if self.reference is None or method == self.reference:
            raise InputError(f"{where}: comparisons are against the reference row")
        if not isinstance(comparison, PairedComparison):
            raise InputError(f"{where}: expected a PairedComparison")
        if method not in self.scores or column not in (*self.benchmarks, TOTAL):
            raise InputError(f"{where}: no such row or column in the table")
        score, reference = self.score(method, column), self.score(self.reference, column)
        if score is None or reference is None or comparison.count != score.count:
            raise InputError(f"{where}: does not match the scores of that cell")
        if not math.isclose(
            comparison.difference, score.accuracy - reference.accuracy, abs_tol=1e-9
        ):
            raise InputError(f"{where}: its difference disagrees with the accuracies")

    @classmethod
    def from_results(
        cls,
        results: Mapping[str, Mapping[str, Mapping[str, Any] | None]],
        *,
        reference: str | None = DEFAULT_REFERENCE,
        protocol: str = "ignore-case-symbols",
        comparisons: Mapping[str, Mapping[str, PairedComparison]] | None = None,
    ) -> ResultsTable:
        """Build from the evaluator's output: ``{method: {benchmark: {"count", "correct",
        "accuracy", "norm_edit_distance"}}}``; a ``None`` score means "not measured"."""
        if not isinstance(results, Mapping):
            raise InputError("results must map method -> benchmark -> score")
        scores = {}
        for method, row in results.items():
            if not isinstance(row, Mapping):
                raise InputError(f"results[{method!r}] must map benchmark -> score")
            scores[method] = {
                benchmark: BenchmarkScore.from_dict(values, where=f"{method}/{benchmark}")
                for benchmark, values in row.items()
                if values is not None
            }
        return cls(scores, reference=reference, protocol=protocol, comparisons=comparisons or {})

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.scores)

    @property
    def benchmarks(self) -> tuple[str, ...]:
        return tuple(bench for bench in self._counts if bench != TOTAL)

    @property
    def columns(self) -> tuple[str, ...]:
        """The displayed columns: the benchmarks, and :data:`TOTAL` when there are several."""
        return self.benchmarks + ((TOTAL,) if len(self.benchmarks) > 1 else ())

    def count(self, column: str) -> int:
        """Words in a benchmark, or in all of them for :data:`TOTAL`."""
        if column not in self._counts:
            raise InputError(
                f"unknown benchmark {column!r}; the table has {', '.join(self._counts)}"
            )
        return self._counts[column]

    def score(self, method: str, column: str) -> BenchmarkScore | None:
        """The score of ``method`` on a benchmark, or pooled over all of them for :data:`TOTAL`;
        ``None`` where the method was not scored (on that benchmark, or on one of them)."""
        if method not in self.scores:
            raise InputError(f"unknown method {method!r}; the table has {', '.join(self.methods)}")
        self.count(column)
        row = self.scores[method]
        if column == TOTAL:
            return BenchmarkScore.pooled(row.values()) if len(row) == len(self.benchmarks) else None
        return row.get(column)

    def delta(self, method: str, column: str, metric: str = "accuracy") -> float | None:
        """``metric`` of ``method`` minus that of the reference row; ``None`` without reference
        or where either row has no score."""
        if self.reference is None:
            return None
        score, reference = self.score(method, column), self.score(self.reference, column)
        if score is None or reference is None:
            return None
        return score.value(metric) - reference.value(metric)

    def comparison(self, method: str, column: str) -> PairedComparison | None:
        """The paired comparison of ``method`` with the reference on ``column``, if measured."""
        return self.comparisons.get(method, {}).get(column)

    def verdict(self, method: str, column: str) -> str:
        """One sentence on ``method`` against the reference: "beats" only when the exact McNemar
        p-value is below 0.05 (:data:`~textmask_ocr.recognition.significance.ALPHA`), otherwise
        "no significant difference (p = ...)"; with both accuracies, the difference and its
        bootstrap interval.

        Raises:
            InputError: no paired comparison was measured for that cell.
        """
        comparison = self.comparison(method, column)
        if comparison is None or self.reference is None:
            raise InputError(f"no paired comparison of {method!r} on {column!r}")
        # a comparison exists only where both rows have a score (checked when the table is built)
        accuracy = cast(BenchmarkScore, self.score(method, column)).accuracy
        reference = cast(BenchmarkScore, self.score(self.reference, column)).accuracy
        p_value = format_p_value(comparison.p_value)
        if comparison.significant:
            winner, loser = (
                (method, self.reference) if comparison.difference > 0 else (self.reference, method)
            )
            claim = f"{winner} beats {loser}"
        else:
            claim = f"no significant difference between {method} and {self.reference} ({p_value})"
        low, high = comparison.interval
        detail = (
            f"{method} {accuracy:.2f}% vs {self.reference} {reference:.2f}% "
            f"({format_delta(comparison.difference, 2)} points, "
            f"{100 * comparison.confidence:.0f}% interval [{low:+.2f}, {high:+.2f}]"
        )
        test = f"exact McNemar on {comparison.count} words"
        if comparison.significant:
            return f"{column}: {claim}, {detail}; {p_value}, {test})."
        return f"{column}: {claim}, {detail}; {test})."

    # ----------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: per method, each benchmark's and the total's counts, accuracy (%),
        normalised edit distance, deltas against the reference (``null`` without one) and the
        paired ``comparison`` (``null`` where none); a cell without a score is ``null``."""
        rows = []
        for method in self.methods:
            cells: dict[str, dict[str, Any] | None] = {}
            for column in (*self.benchmarks, TOTAL):
                score = self.score(method, column)
                if score is None:
                    cells[column] = None
                    continue
                cell: dict[str, Any] = score.to_dict()
                for metric in METRICS:
                    cell[f"delta_{metric}"] = self.delta(method, column, metric)
                comparison = self.comparison(method, column)
                cell["comparison"] = comparison.to_dict() if comparison else None
                cells[column] = cell
            total = cells.pop(TOTAL)
            rows.append({"method": method, "benchmarks": cells, "total": total})
        return {
            "reference": self.reference,
            "protocol": self.protocol,
            "benchmarks": list(self.benchmarks),
            "rows": rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultsTable:
        """Rebuild from :meth:`to_json` output (derived fields are recomputed, not trusted)."""
        try:
            results = {row["method"]: row["benchmarks"] for row in data["rows"]}
            comparisons = {
                row["method"]: {
                    column: PairedComparison.from_dict(
                        cell["comparison"], where=f"{row['method']}/{column}"
                    )
                    for column, cell in (*row["benchmarks"].items(), (TOTAL, row["total"]))
                    if cell is not None and cell.get("comparison") is not None
                }
                for row in data["rows"]
            }
            return cls.from_results(
                results,
                reference=data["reference"],
                protocol=data["protocol"],
                comparisons=comparisons,
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise InputError(f"not a results-table JSON: missing or malformed {error}") from None

    # ----------------------------------------------------------------------------- rendering

    def caption(self, metric: str = "accuracy") -> str:
        spec = _metric_spec(metric)
        parts = [spec.title, PROTOCOL_PHRASES[self.protocol]]
        if self.reference is not None:
            tested = metric == "accuracy" and self.comparisons
            test = " and the exact McNemar p-value on the same words" if tested else ""
            parts.append(f"in parentheses: difference to {self.reference}{test}")
        if len(self.benchmarks) > 1:
            parts.append(f"{TOTAL}: all words pooled")
        if any(len(row) < len(self.benchmarks) for row in self.scores.values()):
            parts.append(f"{MISSING}: not measured on that benchmark")
        return "; ".join(parts) + "."

    def _header(self) -> list[str]:
        return ["Method"] + [f"{column} (n={self.count(column)})" for column in self.columns]

    def _cell_parts(self, method: str, column: str, metric: str, decimals: int) -> tuple[str, str]:
        """The value and the delta text (empty on the reference row or without a reference),
        with the p-value of an accuracy delta; ``—`` where the method has no score."""
        score = self.score(method, column)
        if score is None:
            return MISSING, ""
        value = f"{score.value(metric):.{decimals}f}"
        delta = self.delta(method, column, metric)
        if delta is None or method == self.reference:
            return value, ""
        comparison = self.comparison(method, column) if metric == "accuracy" else None
        p_value = f", {format_p_value(comparison.p_value)}" if comparison else ""
        return value, format_delta(delta, decimals) + p_value

    def to_markdown(self, metric: str = "accuracy", *, decimals: int | None = None) -> str:
        """A GitHub-flavoured Markdown table followed by its caption in italics."""
        decimals = _metric_spec(metric).decimals if decimals is None else decimals
        rows = []
        for method in self.methods:
            cells = [method]
            for column in self.columns:
                value, delta = self._cell_parts(method, column, metric, decimals)
                cells.append(f"{value} ({delta})" if delta else value)
            rows.append(cells)
        align = "l" + "r" * len(self.columns)
        return markdown_grid(self._header(), rows, align) + f"\n\n*{self.caption(metric)}*\n"

    def to_text(self, metric: str = "accuracy", *, decimals: int | None = None) -> str:
        """Aligned plain text for the terminal: caption line, header, one line per method."""
        decimals = _metric_spec(metric).decimals if decimals is None else decimals
        parts = {
            (method, column): self._cell_parts(method, column, metric, decimals)
            for method in self.methods
            for column in self.columns
        }
        rows = [[method] for method in self.methods]
        for column in self.columns:
            value_width = max(len(parts[method, column][0]) for method in self.methods)
            delta_width = max(len(parts[method, column][1]) for method in self.methods)
            for row, method in zip(rows, self.methods, strict=True):
                value, delta = parts[method, column]
                delta_text = f" ({delta})" if delta else ""
                row.append(
                    f"{value:>{value_width}}{delta_text:<{delta_width + 3 * bool(delta_width)}}"
                )
        align = "l" + "r" * len(self.columns)
        return self.caption(metric) + "\n" + text_grid(self._header(), rows, align)

    def to_html(self, metric: str = "accuracy", *, decimals: int | None = None) -> str:
        """An HTML ``<table>`` fragment; deltas carry the class ``better``, ``worse`` or
        ``neutral`` (a difference that rounds to zero, or one whose paired test is not
        significant), the bootstrap interval is the delta's tooltip, the best value of each column
        is bold, and the reference row has the class ``reference``."""
        spec = _metric_spec(metric)
        decimals = spec.decimals if decimals is None else decimals
        pick = max if spec.higher_is_better else min

        def rounded(method: str, column: str) -> float | None:
            score = self.score(method, column)
            return None if score is None else round(score.value(metric), decimals)

        best = {
            column: pick(v for m in self.methods if (v := rounded(m, column)) is not None)
            for column in self.columns
        }
        header = "".join(f"<th scope='col'>{html.escape(text)}</th>" for text in self._header())
        body = []
        for method in self.methods:
            cells = []
            for column in self.columns:
                value, delta = self._cell_parts(method, column, metric, decimals)
                content = html.escape(value)
                if rounded(method, column) == best[column]:
                    content = f"<strong>{content}</strong>"
                if delta:
                    content += " " + self._delta_html(method, column, metric, delta)
                cells.append(f"<td>{content}</td>")
            css = " class='reference'" if method == self.reference else ""
            label = html.escape(method)
            if method == self.reference:
                label += " <span class='tag'>reference</span>"
            body.append(f"<tr{css}><th scope='row'>{label}</th>{''.join(cells)}</tr>")
        return (
            "<table class='results'>"
            f"<caption>{html.escape(self.caption(metric))}</caption>"
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def _delta_html(self, method: str, column: str, metric: str, delta: str) -> str:
        raw = self.delta(method, column, metric) or 0.0
        improved = raw > 0 if _metric_spec(metric).higher_is_better else raw < 0
        comparison = self.comparison(method, column) if metric == "accuracy" else None
        if delta.startswith("±") or (comparison is not None and not comparison.significant):
            direction = "neutral"
        else:
            direction = "better" if improved else "worse"
        title = ""
        if comparison is not None:
            low, high = comparison.interval
            title = (
                f" title='{100 * comparison.confidence:.0f}% bootstrap interval of the "
                f"difference: [{low:+.2f}, {high:+.2f}] points'"
            )
        return f"<span class='delta {direction}'{title}>({html.escape(delta)})</span>"


@dataclass(frozen=True)
class MetricTable:
    """A plain grid of numbers: rows (e.g. MGNet, U-Net) by metrics (e.g. F1, precision, recall).

    Attributes:
        rows: row name -> metric name -> value, in display order; every row has the same metrics.
        caption: one line saying what the numbers are (units, data set).
        decimals: digits after the point.
    """

    rows: Mapping[str, Mapping[str, float]]
    caption: str = ""
    decimals: int = 2
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        rows = {
            name: {key: float(value) for key, value in row.items()}
            for name, row in self.rows.items()
        }
        if not rows:
            raise InputError("a metric table needs at least one row")
        columns = tuple(next(iter(rows.values())))
        for name, row in rows.items():
            if set(row) != set(columns):
                raise InputError(
                    f"row {name!r} has metrics {sorted(row)}, expected {sorted(columns)}"
                )
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "columns", columns)

    def _grid(self) -> tuple[list[str], list[list[str]]]:
        header = ["", *self.columns]
        rows = [
            [name] + [f"{row[column]:.{self.decimals}f}" for column in self.columns]
            for name, row in self.rows.items()
        ]
        return header, rows

    def to_markdown(self) -> str:
        markdown = markdown_grid(*self._grid(), "l" + "r" * len(self.columns))
        return markdown + (f"\n\n*{self.caption}*\n" if self.caption else "\n")

    def to_text(self) -> str:
        text = text_grid(*self._grid(), "l" + "r" * len(self.columns))
        return f"{self.caption}\n{text}" if self.caption else text

    def to_html(self) -> str:
        header, rows = self._grid()
        head = "".join(f"<th scope='col'>{html.escape(text)}</th>" for text in header)
        body = "".join(
            f"<tr><th scope='row'>{html.escape(row[0])}</th>"
            + "".join(f"<td>{html.escape(cell)}</td>" for cell in row[1:])
            + "</tr>"
            for row in rows
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (
            f"<table class='results'>{caption}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "rows": {name: dict(row) for name, row in self.rows.items()},
        }


def markdown_grid(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A Markdown table; ``align`` has one ``l`` or ``r`` per column. ``|`` in cells is escaped."""
    rule = {"l": ":---", "r": "---:"}

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), line([rule[a] for a in align]), *map(line, rows)])


def text_grid(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """Columns padded to a common width (``l``: left-aligned, ``r``: right-aligned), two spaces
    between columns, a rule under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if a == "l" else cell.rjust(width)
            for cell, width, a in zip(cells, widths, align, strict=True)
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *map(line, rows)]) + "\n"
