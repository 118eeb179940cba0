"""Hand-written SVG line charts: record filtering, axes, and where every point is drawn."""

from __future__ import annotations

import itertools
import math
import random
import xml.etree.ElementTree as ET

import pytest

from textmask_ocr.errors import InputError
from textmask_ocr.report.charts import (
    PALETTE,
    LineChart,
    Series,
    format_tick,
    linear_axis,
    log_axis,
    training_curves,
)

SVG = "{http://www.w3.org/2000/svg}"


def records(steps: range, value, kind: str = "train", key: str = "loss") -> list[dict]:
    return [{"kind": kind, "step": step, key: value(step)} for step in steps]


def parse(svg: str) -> tuple[ET.Element, tuple[float, float, float, float]]:
    root = ET.fromstring(svg)
    view_box = tuple(float(v) for v in root.attrib["viewBox"].split())
    return root, view_box


def polyline_points(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in element.attrib["points"].split()]


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    (rect,) = [r for r in root.iter(f"{SVG}rect") if r.attrib.get("class") == "plot-area"]
    return tuple(float(rect.attrib[k]) for k in ("x", "y", "width", "height"))


def test_series_from_records_skips_missing_and_non_finite_values() -> None:
    rows = [
        {"kind": "train", "step": 30, "loss": 0.5},
        {"kind": "train", "step": 10, "loss": 2.0},
        {"kind": "train", "step": 20, "loss": None},
        {"kind": "train", "step": 40, "loss": float("nan")},
        {"kind": "train", "step": 50, "loss": float("inf")},
        {"kind": "train", "step": 60},
        {"kind": "train", "step": 70, "loss": True},
        {"kind": "train", "step": None, "loss": 1.0},
        {"kind": "val", "step": 80, "loss": 0.1},
        {"kind": "train", "step": 90, "loss": 0.25},
    ]
    series = Series.from_records("RM", rows, metric="loss", kind="train")
    assert series.points == ((10.0, 2.0), (30.0, 0.5), (90.0, 0.25))
    everything = Series.from_records("RM", rows, metric="loss", kind=None)
    assert everything.points[-2:] == ((80.0, 0.1), (90.0, 0.25))


def test_one_polyline_per_run_drawn_at_the_exact_coordinates() -> None:
    runs = {
        "RM": records(range(0, 1001, 50), lambda s: 4.0 * math.exp(-s / 300) + 0.3),
        "PM": records(range(0, 1001, 50), lambda s: 3.5 * math.exp(-s / 250) + 0.2),
        "real mask": records(range(0, 601, 100), lambda s: 3.0 * math.exp(-s / 200) + 0.1),
    }
    chart = training_curves(runs, metric="loss", title="Fine-tuning loss")
    root, (vx, vy, vw, vh) = parse(chart.to_svg(width=600, height=300))
    assert (vx, vy, vw, vh) == (0, 0, 600, 300)
    lines = root.findall(f".//{SVG}polyline")
    assert [line.attrib["data-label"] for line in lines] == list(runs)
    assert [line.attrib["stroke"] for line in lines] == list(PALETTE[:3])
    left, top, width, height = plot_area(root)
    x_axis, y_axis = chart.axes()
    for line, run in zip(lines, runs.values(), strict=True):
        drawn = polyline_points(line)
        assert len(drawn) == len(run)
        for (px, py), record in zip(drawn, run, strict=True):
            assert 0 <= px <= vw and 0 <= py <= vh
            assert left <= px <= left + width and top <= py <= top + height
            assert px == pytest.approx(left + x_axis.fraction(record["step"]) * width, abs=0.051)
            assert py == pytest.approx(
                top + (1 - y_axis.fraction(record["loss"])) * height, abs=0.051
            )
    legend = [t.text for t in root.iter(f"{SVG}text")]
    assert {"RM", "PM", "real mask", "Fine-tuning loss", "step", "loss"} <= set(legend)


def test_log_scale_spaces_decades_equally_and_drops_non_positive_values() -> None:
    run = [
        {"kind": "train", "step": s, "loss": v}
        for s, v in [(0, 100.0), (1, 10.0), (2, 1.0), (3, 0.0), (4, -1.0)]
    ]
    chart = training_curves({"run": run}, metric="loss", log_y=True)
    root, _ = parse(chart.to_svg())
    (line,) = root.findall(f".//{SVG}polyline")
    ys = [y for _, y in polyline_points(line)]
    assert len(ys) == 3
    assert ys[1] - ys[0] == pytest.approx(ys[2] - ys[1], abs=0.11)
    assert any(t.text == "loss (log scale)" for t in root.iter(f"{SVG}text"))


def test_single_point_run_gets_a_dot_and_stays_inside_the_view_box() -> None:
    chart = training_curves(
        {"val": [{"kind": "val", "step": 500, "accuracy": 81.3}]}, metric="accuracy", kind="val"
    )
    root, (_, _, vw, vh) = parse(chart.to_svg())
    (line,) = root.findall(f".//{SVG}polyline")
    ((x, y),) = polyline_points(line)
    assert 0 <= x <= vw and 0 <= y <= vh
    (dot,) = root.findall(f".//{SVG}circle")
    assert (float(dot.attrib["cx"]), float(dot.attrib["cy"])) == (x, y)


def test_empty_runs_draw_axes_with_a_no_data_note() -> None:
    chart = training_curves(
        {"RM": [], "PM": [{"kind": "val", "step": 1, "loss": 1.0}]}, metric="loss"
    )
    root, _ = parse(chart.to_svg())
    assert root.findall(f".//{SVG}polyline") == []
    assert any(t.text == "no data" for t in root.iter(f"{SVG}text"))
    assert chart.axes() is None


def test_y_range_is_covered_and_widened_by_data_outside_it() -> None:
    chart = LineChart(
        "acc", (Series("a", ((0.0, 40.0), (10.0, 60.0))),), "accuracy", y_range=(0, 100)
    )
    assert chart.axes()[1].low == 0 and chart.axes()[1].high == 100
    wide = LineChart("acc", (Series("a", ((0.0, -5.0), (1.0, 120.0))),), "acc", y_range=(0, 100))
    assert wide.axes()[1].low <= -5 and wide.axes()[1].high >= 120


def test_labels_are_escaped_and_the_svg_still_parses() -> None:
    chart = LineChart("a < b & c", (Series("<RM> & 'PM'", ((0.0, 1.0), (1.0, 2.0))),), 'y "q"')
    root, _ = parse(chart.to_svg())
    assert root.find(f"{SVG}title").text == "a < b & c"
    assert root.find(f".//{SVG}polyline").attrib["data-label"] == "<RM> & 'PM'"


def test_linear_axis_ticks_are_round_evenly_spaced_and_cover_the_data() -> None:
    assert linear_axis(0, 1200, target_ticks=6).ticks == (0, 200, 400, 600, 800, 1000, 1200)
    assert linear_axis(0.37, 0.93).ticks == (0.2, 0.4, 0.6, 0.8, 1.0)
    assert linear_axis(5, 5).ticks == (4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6)  # padded by 10 %
    rng = random.Random(0)
    for _ in range(300):
        low = rng.uniform(-1e3, 1e3) * 10 ** rng.randint(-4, 3)
        high = low + rng.uniform(1e-3, 1e3) * 10 ** rng.randint(-3, 3)
        axis = linear_axis(low, high)
        ticks = axis.ticks
        assert ticks[0] <= low and ticks[-1] >= high
        steps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(steps) - min(steps) <= 1e-9 * max(abs(ticks[0]), abs(ticks[-1]), steps[0])
        step = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5)), ticks
        assert 2 <= len(ticks) <= 13
        assert axis.fraction(axis.low) == 0 and axis.fraction(axis.high) == pytest.approx(1)


def test_log_axis_ticks() -> None:
    assert log_axis(0.35, 3.8).ticks == (0.1, 0.2, 0.5, 1, 2, 5, 10)
    assert log_axis(2.0, 3.0).ticks == (1, 2, 5, 10)
    assert log_axis(1e-5, 1e3).ticks == (1e-5, 1e-3, 1e-1, 10, 1e3)
    axis = log_axis(0.01, 100)
    assert axis.fraction(1.0) == pytest.approx(0.5)
    with pytest.raises(InputError, match="log axis needs positive values"):
        log_axis(0.0, 1.0)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.25, "0.25"), (1e-5, "1e-05"), (2500, "2500"), (12000, "12k"), (1.5e6, "1.5M")],
)
def test_format_tick(value: float, text: str) -> None:
    assert format_tick(value) == text


def test_too_small_chart_is_rejected() -> None:
    with pytest.raises(InputError, match="leaves no room"):
        LineChart("t", (), "y").to_svg(width=100, height=60)
