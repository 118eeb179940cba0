"""``report.html``: a sample report from synthetic inputs, parsed back; atomic writing; a
headless-Chromium screenshot via ``scripts/screenshot_report.py`` where Chromium is installed."""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.textmask_ocr.script_loader import SCRIPTS, load_script
from textmask_ocr.errors import InputError
from textmask_ocr.report import (
    MetricTable,
    ResultsTable,
    SceneExample,
    WordExample,
    render_report,
    training_curves,
    write_report,
)

SCRIPT = SCRIPTS / "screenshot_report.py"


def rendered_word(text: str, size: tuple[int, int] = (100, 32)) -> tuple[np.ndarray, np.ndarray]:
    """A dark word on a light noisy background and its exact text mask (bool)."""
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).text((4, 6), text, fill=255, font=ImageFont.load_default(size=18))
    noise = np.random.default_rng(len(text)).integers(0, 40, size=(size[1], size[0], 3))
    ink = np.asarray(mask)[..., None] > 127
    image = np.where(ink, np.array([40, 30, 90]), np.array([215, 205, 180]) - noise)
    return image.astype(np.uint8), ink[..., 0]


def rendered_scene(words: list[tuple[str, tuple[int, int]]]) -> SceneExample:
    size = (160, 120)
    pixel, region = Image.new("L", size, 0), Image.new("L", size, 0)
    font = ImageFont.load_default(size=20)
    for text, origin in words:
        ImageDraw.Draw(pixel).text(origin, text, fill=255, font=font)
        left, top, right, bottom = ImageDraw.Draw(pixel).textbbox(origin, text, font=font)
        ImageDraw.Draw(region).rectangle((left - 3, top - 3, right + 3, bottom + 3), fill=255)
    ink = np.asarray(pixel) > 127
    gradient = np.linspace(90, 200, size[0], dtype=np.float64)[None, :, None]
    image = np.where(ink[..., None], 250.0, gradient * np.array([0.6, 0.8, 1.0]))
    blurred_pixel = np.asarray(pixel, dtype=np.float32) / 255 * 0.9
    return SceneExample(
        image.astype(np.uint8),
        blurred_pixel,
        np.asarray(region) > 0,
        truth_pixel_mask=ink,
        name="scene_0001.png",
    )


RESULTS = {
    "base": {"synthetic held-out": (2000, 1534, 0.061), "IC13": (857, 601, 0.094)},
    "RM": {"synthetic held-out": (2000, 1524, 0.062), "IC13": (857, 598, 0.095)},
    "PM": {"synthetic held-out": (2000, 1590, 0.052), "IC13": (857, 612, 0.088)},
    "real mask": {"synthetic held-out": (2000, 1626, 0.047), "IC13": (857, 620, 0.085)},
}


def sample_report_inputs() -> dict:
    """Every section of the report, from synthetic numbers, curves, crops and scenes."""
    table = ResultsTable.from_results(
        {
            method: {
                bench: {"count": n, "correct": c, "accuracy": 100 * c / n, "norm_edit_distance": d}
                for bench, (n, c, d) in row.items()
            }
            for method, row in RESULTS.items()
        }
    )

    def run(rate: float, floor: float, steps: int = 1200, every: int = 20) -> list[dict]:
        rows = []
        for step in range(0, steps + 1, every):
            rows.append({"kind": "train", "step": step, "loss": 3 * math.exp(-step / rate) + floor})
            if step % 200 == 0:
                accuracy = 100 * (1 - 0.9 * math.exp(-step / rate)) - 15 * floor
                rows.append({"kind": "val", "step": step, "accuracy": accuracy})
        rows.append({"kind": "train", "step": steps + every, "loss": None})
        return rows

    runs = {"RM": run(400, 0.5), "PM": run(350, 0.35), "real mask": run(300, 0.25)}
    curves = [
        training_curves(runs, metric="loss", title="Fine-tuning: CTC loss", log_y=True),
        training_curves(
            runs,
            metric="accuracy",
            kind="val",
            title="Fine-tuning: validation word accuracy",
            y_label="accuracy (%)",
            y_range=(0, 100),
        ),
    ]
    words = [
        ("marriott", {"base": "narriott", "RM": "marrlott", "PM": "marriott"}),
        ("dunbar", {"base": "dundar", "RM": "dundar", "PM": "dunbar"}),
        ("mediterranean", {"base": "meditenanean", "RM": "meditoranean", "PM": "mediterranean"}),
        ("Hotel!", {"base": "hotel", "RM": "hote", "PM": "hotei"}),
    ]
    examples = []
    for index, (truth, predictions) in enumerate(words):
        image, mask = rendered_word(truth, (140, 32) if len(truth) > 10 else (100, 32))
        examples.append(WordExample(image, truth, predictions, mask=mask, name=f"#{index + 1}"))
    scenes = [rendered_scene([("OPEN", (20, 20)), ("cafe", (60, 70))])]
    segmentation = MetricTable(
        {
            "MGNet": {"F1": 80.5, "Precision": 83.3, "Recall": 81.6, "IoU": 67.1},
            "U-Net": {"F1": 75.3, "Precision": 81.2, "Recall": 75.9, "IoU": 61.0},
        },
        caption="Held-out synthetic scenes, per-image mean, %.",
    )
    return {
        "title": "textmask-ocr demo <seed 0>",
        "table": table,
        "curves": curves,
        "examples": examples,
        "scenes": scenes,
        "notes": ["PM closes 55 % of the gap between RM and the real mask.", "a < b & c"],
        "segmentation": segmentation,
        "details": {"seed": 0, "budget": "fast", "wall time": "14 min 2 s"},
    }


class PageParser(HTMLParser):
    """Collects tags, attributes, text, and the raw source of every inline <svg>."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.svgs: list[str] = []
        self._svg_start: int | None = None
        self._depth = 0

    def _offset(self) -> int:
        line, column = self.getpos()
        return sum(len(row) for row in self.source.splitlines(keepends=True)[: line - 1]) + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "svg":
            self._svg_start = self._offset()

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._svg_start is not None:
            end = self.source.index("</svg>", self._offset()) + len("</svg>")
            self.svgs.append(self.source[self._svg_start : end])
            self._svg_start = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(page: str) -> PageParser:
    parser = PageParser(page)
    parser.feed(page)
    parser.close()
    return parser


def test_report_contains_every_section_and_nothing_external(tmp_path: Path) -> None:
    inputs = sample_report_inputs()
    path = write_report(tmp_path / "out" / "report.html", **inputs)
    page = path.read_text(encoding="utf-8")
    parsed = parse_page(page)
    text = " ".join(" ".join(parsed.text).split())
    tags = [tag for tag, _ in parsed.tags]

    assert page.startswith("<!DOCTYPE html>")
    assert "script" not in tags and "link" not in tags
    for tag, attributes in parsed.tags:  # self-contained: no external resource at all
        for name in ("src", "href"):
            value = attributes.get(name)
            assert value is None or value.startswith("data:image/png;base64,"), (tag, value)
    assert "url(" not in page and "@import" not in page

    table: ResultsTable = inputs["table"]
    for method in table.methods:
        for column in table.columns:
            assert f"{table.score(method, column).accuracy:.2f}" in text
    assert "79.50 (+3.30)" in text  # PM on the synthetic set: (1590 - 1524) / 2000
    assert f"(n={2000 + 857})" in text
    assert "80.50" in text and "U-Net" in text  # segmentation table
    assert "textmask-ocr demo <seed 0>" in text and "a < b & c" in text  # escaped, read back
    assert "14 min 2 s" in text

    assert len(parsed.svgs) == 2 == tags.count("svg")
    for svg in parsed.svgs:
        root = ET.fromstring(svg)
        assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 3
    images = [attributes["src"] for tag, attributes in parsed.tags if tag == "img"]
    assert len(images) == 4 * 2 + 4  # crop + mask per word; scene, 2 predicted, 1 truth mask
    marks = [attributes.get("class") for tag, attributes in parsed.tags if tag == "mark"]
    assert marks.count("fixed") >= 4 and marks.count("wrong") >= 5


def test_sections_are_optional() -> None:
    parsed = parse_page(render_report(title="empty"))
    assert [tag for tag, _ in parsed.tags].count("section") == 0
    only_notes = parse_page(render_report(title="t", notes="one paragraph"))
    assert "one paragraph" in only_notes.text


def test_report_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    path.write_text("previous report", encoding="utf-8")
    original = pathlib.Path.write_text

    def interrupted(self: Path, data: str, *args: object, **kwargs: object) -> int:
        original(self, data[: len(data) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pathlib.Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(path, title="new", table=sample_report_inputs()["table"])
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(InputError, match="image bytes: cannot read image"):
        write_report(path, title="t", examples=[WordExample(b"junk", "a", {"PM": "a"})])
    assert path.read_text(encoding="utf-8") == "previous report"


def test_screenshot_script_explains_a_missing_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_script("screenshot_report")
    report = write_report(tmp_path / "report.html", title="t")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CHROMIUM", raising=False)
    assert script.main([str(report)]) == 2
    assert "Chromium not found" in capsys.readouterr().err
    assert script.main([str(tmp_path / "absent.html")]) == 1


def test_screenshot_shows_the_rendered_report(tmp_path: Path) -> None:
    script = load_script("screenshot_report")
    if script.find_chromium() is None:
        pytest.skip("Chromium is not installed")
    report = write_report(tmp_path / "report.html", **sample_report_inputs())
    out = tmp_path / "report.png"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(report), "--out", str(out), "--full-page"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as screenshot:
        pixels = np.asarray(screenshot.convert("RGB"))
    assert pixels.shape[1] == 1280 and 1500 < pixels.shape[0] < 16000
    # Something was drawn: the Okabe-Ito blue of the first curve and the green of a correction.
    colours = {tuple(p) for p in pixels.reshape(-1, 3)[::7]}
    assert (0, 114, 178) in colours
    assert pixels.std() > 20
