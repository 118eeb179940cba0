"""Training curves as hand-written inline SVG: line charts of several runs with axes and a legend.

Input is what the training engine logs: lists of ``metrics.jsonl`` records, each a dict with
``kind`` (``"train"`` or ``"val"``), ``step`` and numbers such as ``loss``, ``lr``, ``accuracy`` or
``f1``. A record whose value is missing, ``None`` or not finite is skipped (the line joins its
neighbours); on a log axis non-positive values are skipped too. A run with a single point is drawn
as a dot, so every run keeps exactly one ``<polyline>``.

>>> chart = training_curves({"RM": rm_records, "PM": pm_records}, metric="loss", log_y=True)
>>> svg = chart.to_svg()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from textmask_ocr.errors import InputError

# Okabe-Ito: distinguishable for colour-blind readers; the yellow comes last (weak on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

_FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"
_CHAR_WIDTH = 6.6  # average width of an 11 px sans-serif character, for legend layout
_MARKER_LIMIT = 40  # runs with at most this many points also get a dot per point


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Series:
    """One run's curve: a label and its ``(x, y)`` points in increasing ``x``."""

    label: str
    points: tuple[tuple[float, float], ...]

    @classmethod
    def from_records(
        cls,
        label: str,
        records: Iterable[Mapping[str, Any]],
        *,
        metric: str,
        kind: str | None = None,
        x: str = "step",
    ) -> Series:
        """The ``(record[x], record[metric])`` pairs of the records of ``kind`` (all when ``None``)
        whose two values are finite numbers, sorted by ``x``."""
        points = [
            (float(record[x]), float(record[metric]))
            for record in records
            if (kind is None or record.get("kind") == kind)
            and _finite_number(record.get(x))
            and _finite_number(record.get(metric))
        ]
        return cls(label, tuple(sorted(points, key=lambda point: point[0])))


@dataclass(frozen=True)
class Axis:
    """A numeric axis: its domain ``[low, high]``, its ticks, linear or base-10 logarithmic."""

    low: float
    high: float
    ticks: tuple[float, ...]
    log: bool = False

    def fraction(self, value: float) -> float:
        """Where ``value`` lies between ``low`` (0) and ``high`` (1)."""
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        return (value - self.low) / (self.high - self.low)


def linear_axis(low: float, high: float, *, target_ticks: int = 5) -> Axis:
    """An axis whose ends and ticks are round numbers (1, 2, 2.5 or 5 times a power of ten)."""
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    ticks = tuple(_tidy(k * step) for k in range(first, last + 1))
    return Axis(ticks[0], ticks[-1], ticks)


def log_axis(low: float, high: float) -> Axis:
    """A base-10 log axis from the power of ten below ``low`` to the one above ``high`` (> 0).

    Ticks are the powers of ten, with 2 and 5 times each when the axis spans at most two decades,
    and every k-th power when it spans more than six.
    """
    if low <= 0 or high <= 0:
        raise InputError(f"a log axis needs positive values, got [{low}, {high}]")
    low, high = min(low, high), max(low, high)
    first = math.floor(math.log10(low) + 1e-9)
    last = math.ceil(math.log10(high) - 1e-9)
    if last == first:
        last += 1
    decades = last - first
    if decades <= 2:
        multiples: tuple[float, ...] = (1, 2, 5)
        ticks = [_tidy(m * 10.0**e) for e in range(first, last) for m in multiples]
        ticks.append(_tidy(10.0**last))
    else:
        every = math.ceil(decades / 6)
        ticks = [_tidy(10.0**e) for e in range(first, last + 1) if (e - first) % every == 0]
    return Axis(_tidy(10.0**first), _tidy(10.0**last), tuple(ticks), log=True)


def _tidy(value: float) -> float:
    """Drop floating-point noise such as ``0.30000000000000004``."""
    return float(f"{value:.12g}")


def format_tick(value: float) -> str:
    """Short tick labels: ``0``, ``0.25``, ``1e-05``, ``2500``, ``12k``, ``1.5M``."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:.6g}"


@dataclass(frozen=True)
class LineChart:
    """Several runs of one metric against the step.

    Attributes:
        title: the chart's heading.
        series: the runs; colours follow their order (:data:`PALETTE`).
        y_label / x_label: axis titles.
        log_y: base-10 logarithmic y axis (for losses).
        y_range: a range the y axis always covers (e.g. ``(0, 100)`` for accuracy in %); data
            beyond it widens the axis rather than being cut.
    """

    title: str
    series: tuple[Series, ...]
    y_label: str
    x_label: str = "step"
    log_y: bool = False
    y_range: tuple[float, float] | None = None

    def _plotted(self, series: Series) -> tuple[tuple[float, float], ...]:
        if not self.log_y:
            return series.points
        return tuple(point for point in series.points if point[1] > 0)

    def axes(self) -> tuple[Axis, Axis] | None:
        """The x and y axes covering every plotted point, or ``None`` when there is none."""
        points = [point for series in self.series for point in self._plotted(series)]
        if not points:
            return None
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        if self.y_range is not None:
            ys += [value for value in self.y_range if value > 0 or not self.log_y]
        x_axis = linear_axis(min(xs), max(xs), target_ticks=6)
        y_axis = log_axis(min(ys), max(ys)) if self.log_y else linear_axis(min(ys), max(ys))
        return x_axis, y_axis

    def to_svg(self, *, width: int = 560, height: int = 320) -> str:
        """A standalone ``<svg>`` element (``viewBox="0 0 width height"``, scales to its box)."""
        legend_rows = _legend_rows([series.label for series in self.series], width - 80)
        top = 34 + 18 * len(legend_rows)
        left, right, bottom = 62, 16, 46
        plot_w, plot_h = width - left - right, height - top - bottom
        if plot_w < 40 or plot_h < 40:
            raise InputError(f"chart size {width}x{height} leaves no room to plot")
        parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
            f"width='{width}' height='{height}' role='img' aria-label={quoteattr(self.title)} "
            f"class='chart' {_FONT} font-size='11'>",
            f"<title>{escape(self.title)}</title>",
            f"<rect x='0' y='0' width='{width}' height='{height}' fill='#ffffff'/>",
            f"<text x='{left}' y='20' font-size='14' font-weight='600' fill='#1f2328'>"
            f"{escape(self.title)}</text>",
        ]
        for row_index, row in enumerate(legend_rows):
            x = float(left)
            y = 34 + 18 * row_index
            for index, label in row:
                color = PALETTE[index % len(PALETTE)]
                parts.append(
                    f"<line x1='{x:.1f}' y1='{y - 4}' x2='{x + 18:.1f}' y2='{y - 4}' "
                    f"stroke='{color}' stroke-width='2.5'/>"
                    f"<text x='{x + 23:.1f}' y='{y}' fill='#1f2328'>{escape(label)}</text>"
                )
                x += _legend_item_width(label)
        axes = self.axes()
        parts.append(
            f"<rect class='plot-area' x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' "
            "fill='none' stroke='#d0d7de'/>"
        )
        if axes is None:
            parts.append(
                f"<text x='{left + plot_w / 2:.1f}' y='{top + plot_h / 2:.1f}' "
                "text-anchor='middle' fill='#656d76'>no data</text>"
            )
        else:
            x_axis, y_axis = axes

            def to_x(value: float) -> float:
                return left + x_axis.fraction(value) * plot_w

            def to_y(value: float) -> float:
                return top + (1.0 - y_axis.fraction(value)) * plot_h

            for tick in x_axis.ticks:
                x = to_x(tick)
                parts.append(
                    f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{top + plot_h}' "
                    "stroke='#eaeef2'/>"
                    f"<text x='{x:.1f}' y='{top + plot_h + 15}' text-anchor='middle' "
                    f"fill='#656d76'>{format_tick(tick)}</text>"
                )
            for tick in y_axis.ticks:
                y = to_y(tick)
                parts.append(
                    f"<line x1='{left}' y1='{y:.1f}' x2='{left + plot_w}' y2='{y:.1f}' "
                    "stroke='#eaeef2'/>"
                    f"<text x='{left - 6}' y='{y + 3.5:.1f}' text-anchor='end' "
                    f"fill='#656d76'>{format_tick(tick)}</text>"
                )
            for index, series in enumerate(self.series):
                points = self._plotted(series)
                if not points:
                    continue
                color = PALETTE[index % len(PALETTE)]
                coordinates = [(to_x(x), to_y(y)) for x, y in points]
                parts.append(
                    f"<polyline fill='none' stroke='{color}' stroke-width='1.8' "
                    f"stroke-linejoin='round' data-label={quoteattr(series.label)} points='"
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
                    + "'/>"
                )
                if len(coordinates) <= _MARKER_LIMIT:
                    parts.extend(
                        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.6' fill='{color}'/>"
                        for x, y in coordinates
                    )
        parts.append(
            f"<text x='{left + plot_w / 2:.1f}' y='{height - 8}' text-anchor='middle' "
            f"fill='#1f2328'>{escape(self.x_label)}</text>"
        )
        label_y = top + plot_h / 2
        parts.append(
            f"<text x='14' y='{label_y:.1f}' text-anchor='middle' fill='#1f2328' "
            f"transform='rotate(-90 14 {label_y:.1f})'>"
            f"{escape(self.y_label + (' (log scale)' if self.log_y else ''))}</text>"
        )
        parts.append("</svg>")
        return "".join(parts)


def _legend_item_width(label: str) -> float:
    return 23 + _CHAR_WIDTH * len(label) + 16


def _legend_rows(labels: Sequence[str], available: float) -> list[list[tuple[int, str]]]:
    """Legend entries ``(index, label)`` packed into rows no wider than ``available``."""
    rows: list[list[tuple[int, str]]] = []
    used = available
    for index, label in enumerate(labels):
        width = _legend_item_width(label)
        if used + width > available and (not rows or rows[-1]):
            rows.append([])
            used = 0.0
        rows[-1].append((index, label))
        used += width
    return rows


def training_curves(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    metric: str,
    kind: str | None = "train",
    title: str | None = None,
    y_label: str | None = None,
    log_y: bool = False,
    y_range: tuple[float, float] | None = None,
) -> LineChart:
    """One chart of ``metric`` for several runs, each given as its ``metrics.jsonl`` records.

    Args:
        runs: run label -> records, in legend order (e.g. ``{"RM": [...], "PM": [...]}``).
        metric: the record key to plot (``"loss"``, ``"accuracy"``, ``"f1"``...).
        kind: keep only records of this kind (``"train"`` or ``"val"``); ``None`` keeps all.
    """
    series = tuple(
        Series.from_records(label, records, metric=metric, kind=kind)
        for label, records in runs.items()
    )
    return LineChart(
        title=title or (f"{metric} ({kind})" if kind else metric),
        series=series,
        y_label=y_label or metric,
        log_y=log_y,
        y_range=y_range,
    )
