"""Example grids: the character alignment against brute force, marks, images as data URIs."""

from __future__ import annotations

import base64
import io
import itertools
import random
from html.parser import HTMLParser

import editdistance
import numpy as np
import pytest
import torch
from PIL import Image

from textmask_ocr.errors import InputError
from textmask_ocr.report.examples import (
    EXTRA,
    MATCH,
    MISSING,
    SUBSTITUTE,
    AlignmentStep,
    MarkedChar,
    SceneExample,
    SceneGrid,
    WordExample,
    WordExampleGrid,
    align,
    corrected_positions,
    image_data_uri,
    mark_prediction,
    matched_truth_positions,
)

DIAGONAL, RANK = "diagonal", {"diagonal": 0, EXTRA: 1, MISSING: 2}


def all_alignments(prediction: str, truth: str) -> list[tuple[AlignmentStep, ...]]:
    """Every way to align the two strings (each a path of diagonal, extra and missing steps)."""
    if not prediction and not truth:
        return [()]
    found = []
    i, j = len(prediction), len(truth)  # build backwards from the end
    if i and j:
        kind = MATCH if prediction[-1] == truth[-1] else SUBSTITUTE
        found += [
            (*head, AlignmentStep(kind, i - 1, j - 1))
            for head in all_alignments(prediction[:-1], truth[:-1])
        ]
    if i:
        found += [
            (*head, AlignmentStep(EXTRA, i - 1, None))
            for head in all_alignments(prediction[:-1], truth)
        ]
    if j:
        found += [
            (*head, AlignmentStep(MISSING, None, j - 1))
            for head in all_alignments(prediction, truth[:-1])
        ]
    return found


def cost(alignment: tuple[AlignmentStep, ...]) -> int:
    return sum(step.kind != MATCH for step in alignment)


def brute_force_alignment(prediction: str, truth: str) -> tuple[AlignmentStep, ...]:
    """The cheapest alignment; ties broken left to right by preferring a diagonal step, then an
    extra character, then a missing one (the documented choice of ``align``)."""
    candidates = all_alignments(prediction, truth)
    best = min(map(cost, candidates))

    def left_to_right_key(alignment: tuple[AlignmentStep, ...]) -> list[int]:
        return [RANK[DIAGONAL if s.kind in (MATCH, SUBSTITUTE) else s.kind] for s in alignment]

    return min((a for a in candidates if cost(a) == best), key=left_to_right_key)


def word_pairs() -> list[tuple[str, str]]:
    short = ["".join(p) for n in range(4) for p in itertools.product("ab", repeat=n)]
    pairs = list(itertools.product(short, repeat=2))
    rng = random.Random(0)
    for _ in range(40):
        pairs.append(
            tuple("".join(rng.choice("abc") for _ in range(rng.randint(0, 5))) for _ in range(2))
        )
    return pairs


def test_alignment_matches_brute_force() -> None:
    for prediction, truth in word_pairs():
        alignment = align(prediction, truth)
        assert alignment == brute_force_alignment(prediction, truth), (prediction, truth)
        assert cost(alignment) == editdistance.eval(prediction, truth)
        # A valid alignment: it walks both strings once, in order.
        assert [s.prediction_index for s in alignment if s.prediction_index is not None] == list(
            range(len(prediction))
        )
        assert [s.truth_index for s in alignment if s.truth_index is not None] == list(
            range(len(truth))
        )


def test_paper_figure_nine_examples() -> None:
    truth = "marriott"
    assert matched_truth_positions("narriott", truth) == frozenset(range(1, 8))
    assert matched_truth_positions("marrlott", truth) == frozenset({0, 1, 2, 3, 5, 6, 7})
    # PM reads both the first (wrong in base) and the fifth character (wrong in RM).
    assert corrected_positions("marriott", ["narriott", "marrlott"], truth) == frozenset({0, 4})
    assert corrected_positions("marriott", ["marriott"], truth) == frozenset()
    assert corrected_positions("marriott", [], truth) == frozenset()
    # A PM that is still wrong at the fifth character corrects only the first.
    assert corrected_positions("marrlott", ["narriott", "marrlott"], truth) == frozenset({0})


def test_mark_prediction_states() -> None:
    assert mark_prediction("marrlott", "marriott") == tuple(
        MarkedChar(c, "wrong" if i == 4 else "ok") for i, c in enumerate("marrlott")
    )
    assert mark_prediction("meditoranean", "mediterranean")[5:8] == (
        MarkedChar("o", "wrong"),
        MarkedChar("r", "ok"),
        MarkedChar("r", "missing"),
    )
    marks = mark_prediction("mediteranean", "mediterranean")
    assert [m.state for m in marks].count("missing") == 1
    assert "".join(m.char for m in marks) == "mediterranean"
    extra = mark_prediction("dunbbar", "dunbar")
    assert [m.state for m in extra].count("wrong") == 1 and len(extra) == 7
    fixed = mark_prediction("marriott", "marriott", corrected=frozenset({0, 4}))
    assert [m.state for m in fixed] == ["fixed", "ok", "ok", "ok", "fixed", "ok", "ok", "ok"]


class _Cells(HTMLParser):
    """Collects, per table row label, the marks (tag class, text) inside each cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[tuple[str, str]]]] = {}
        self.images: list[str] = []
        self._label: str | None = None
        self._in_th = False
        self._mark: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "th":
            self._in_th = True
        elif tag == "td" and self._label is not None:
            self.rows[self._label].append([])
        elif tag in ("mark", "span"):
            self._mark = attributes.get("class")
        elif tag == "img":
            self.images.append(attributes["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False
        elif tag in ("mark", "span"):
            self._mark = None

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self._label = data
            self.rows.setdefault(data, [])
        elif self._mark and self._label in self.rows and self.rows[self._label]:
            self.rows[self._label][-1].append((self._mark, data))


CROP = np.full((8, 24, 3), 200, dtype=np.uint8)


def test_word_grid_marks_errors_and_corrections_per_row() -> None:
    examples = [
        WordExample(
            CROP,
            "Marriott",
            {"base": "narriott", "RM": "marrlott", "PM": "marriott"},
            mask=np.zeros((8, 24), dtype=bool),
            name="#12",
        ),
        WordExample(CROP, "dunbar", {"base": "dundar", "RM": "dundar", "PM": "dunbar"}),
    ]
    cells = _Cells()
    cells.feed(WordExampleGrid(examples).to_html())
    assert cells.rows["base"][0] == [("wrong", "n"), ("verdict wrong", "✗")]
    assert cells.rows["RM"][0] == [("wrong", "l"), ("verdict wrong", "✗")]
    assert cells.rows["PM"][0] == [("fixed", "m"), ("fixed", "i"), ("verdict right", "✓")]
    assert cells.rows["PM"][1] == [("fixed", "b"), ("verdict right", "✓")]
    assert len(cells.images) == 3  # two crops, one mask (the second example has none)
    assert all(src.startswith("data:image/png;base64,") for src in cells.images)


def test_word_grid_wraps_into_blocks_and_uses_the_protocol() -> None:
    examples = [WordExample(CROP, f"Word-{i}!", {"PM": f"word{i}"}) for i in range(5)]
    page = WordExampleGrid(examples, columns=2).to_html()
    assert page.count("<table") == 3
    assert "word4" in page and "Word-4" not in page  # shown as compared: lower case, no symbols
    assert "class='wrong'" not in page
    assert "Predicted mask" not in page  # no example has a mask
    with pytest.raises(InputError, match="columns must be at least 1"):
        WordExampleGrid(examples, columns=0)
    with pytest.raises(InputError, match="unknown protocol 'loose'"):
        WordExampleGrid(examples, protocol="loose")


def decode(uri: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix) :])))


def test_data_uri_round_trips_pixels() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(decode(image_data_uri(rgb))), rgb)
    chw = torch.from_numpy(rgb).permute(2, 0, 1)
    assert np.array_equal(np.asarray(decode(image_data_uri(chw))), rgb)
    mask = np.array([[True, False], [False, True]])
    assert np.asarray(decode(image_data_uri(mask))).tolist() == [[255, 0], [0, 255]]
    probability = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert np.asarray(decode(image_data_uri(probability))).tolist() == [[0, 128, 255]]
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG")
    assert decode(image_data_uri(buffer.getvalue())).size == (7, 5)
    sixteen = Image.fromarray(np.array([[0, 65535]], dtype=np.uint16))
    assert np.asarray(decode(image_data_uri(sixteen))).tolist() == [[0, 255]]
    big = decode(image_data_uri(np.zeros((100, 400), dtype=np.uint8), max_side=200))
    assert big.size == (200, 50)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"not an image", "image bytes: cannot read image"),
        (np.zeros((2, 2), dtype=np.int64), "must be uint8, uint16, bool or float"),
        (np.array([[0.0, 1.7]]), r"float images must hold values in \[0, 1\]"),
        (np.zeros(4, dtype=np.uint8), r"image arrays must be \(H, W\) or \(H, W, C\)"),
    ],
)
def test_bad_images_are_rejected(image: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        image_data_uri(image)  # type: ignore[arg-type]


def test_scene_grid_adds_ground_truth_columns_only_when_present() -> None:
    scene = np.zeros((16, 16, 3), dtype=np.uint8)
    mask = np.zeros((16, 16), dtype=np.float32)
    predicted_only = SceneGrid([SceneExample(scene, mask, mask, name="a.png")]).to_html()
    assert predicted_only.count("<img") == 3 and "ground truth" not in predicted_only
    with_truth = SceneGrid(
        [
            SceneExample(scene, mask, mask, truth_pixel_mask=mask, name="a.png"),
            SceneExample(scene, mask, mask, name="b.png"),
        ]
    ).to_html()
    assert with_truth.count("<img") == 7  # 4 + 3; the missing truth shows a dash
    assert "Pixel mask (ground truth)" in with_truth
    assert "Region mask (ground truth)" not in with_truth
