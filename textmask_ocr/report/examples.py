"""Example grids for the report: word crops with predictions (the paper's Fig. 9) and scenes.

The word grid shows, per crop, the input, the predicted mask, each method's reading and the ground
truth. Characters are compared under the evaluation protocol after a character-level alignment
(:func:`align`, an edit-distance backtrace): wrong and missing characters are marked in every
prediction, and in the improved method's row (``PM``) the characters it reads right where a
baseline (``base`` or ``RM``) read them wrong are marked as corrected.

Images are embedded as base64 PNG data URIs, so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image

from textmask_ocr.errors import InputError
from textmask_ocr.imaging import ImageInput, image_to_pil
from textmask_ocr.recognition.protocol import PROTOCOLS, normalize_text

MATCH, SUBSTITUTE, EXTRA, MISSING = "match", "substitute", "extra", "missing"


# --------------------------------------------------------------------------------- images


def image_data_uri(image: ImageInput, *, max_side: int | None = None) -> str:
    """``data:image/png;base64,...`` of ``image`` (any form :mod:`textmask_ocr.imaging` accepts:
    probability maps as floats in [0, 1]), shrunk to at most ``max_side`` pixels a side."""
    picture = image_to_pil(image)
    if max_side is not None and max(picture.size) > max_side:
        picture = picture.copy()  # thumbnail works in place, and may have been given the original
        picture.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(image: ImageInput | None, alt: str, css: str, max_side: int | None) -> str:
    if image is None:
        return "<span class='absent'>–</span>"
    uri = image_data_uri(image, max_side=max_side)
    return f"<img class='{css}' src='{uri}' alt='{html.escape(alt, quote=True)}'>"


# --------------------------------------------------------------------------------- alignment


class AlignmentStep(NamedTuple):
    """One step of an alignment of a prediction against the truth.

    ``kind`` is ``match`` or ``substitute`` (both indices set), ``extra`` (a predicted character
    with no counterpart; ``truth_index`` is ``None``) or ``missing`` (a true character the
    prediction lacks; ``prediction_index`` is ``None``).
    """

    kind: str
    prediction_index: int | None
    truth_index: int | None


def align(prediction: str, truth: str) -> tuple[AlignmentStep, ...]:
    """A minimum-cost (Levenshtein) alignment of ``prediction`` to ``truth``.

    Among the optimal alignments it returns the one read left to right: walking from the first
    characters, it takes a diagonal step (match or substitution) whenever that stays optimal, else
    an ``extra`` step, else a ``missing`` one; i.e. the lexicographically smallest optimal
    alignment in that order. So ``meditoranean`` against ``mediterranean`` reads "o for e, then
    one r missing", not "e missing, then o for r".
    """
    rows, cols = len(prediction), len(truth)
    # remaining[i][j]: edit distance between the suffixes prediction[i:] and truth[j:].
    remaining = [[(rows - i) + (cols - j) for j in range(cols + 1)] for i in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            remaining[i][j] = min(
                remaining[i + 1][j + 1] + (prediction[i] != truth[j]),
                remaining[i + 1][j] + 1,
                remaining[i][j + 1] + 1,
            )
    steps = []
    i = j = 0
    while i < rows or j < cols:
        here = remaining[i][j]
        if i < rows and j < cols and here == remaining[i + 1][j + 1] + (prediction[i] != truth[j]):
            steps.append(AlignmentStep(MATCH if prediction[i] == truth[j] else SUBSTITUTE, i, j))
            i, j = i + 1, j + 1
        elif i < rows and here == remaining[i + 1][j] + 1:
            steps.append(AlignmentStep(EXTRA, i, None))
            i += 1
        else:
            steps.append(AlignmentStep(MISSING, None, j))
            j += 1
    return tuple(steps)


def matched_truth_positions(prediction: str, truth: str) -> frozenset[int]:
    """Indices of the characters of ``truth`` that the alignment matches exactly."""
    return frozenset(step.truth_index for step in align(prediction, truth) if step.kind == MATCH)


def corrected_positions(improved: str, baselines: Sequence[str], truth: str) -> frozenset[int]:
    """Truth positions ``improved`` reads right while at least one baseline reads them wrong."""
    fixed = set(matched_truth_positions(improved, truth))
    if not baselines:
        return frozenset()
    kept_by_all = frozenset.intersection(
        *(matched_truth_positions(baseline, truth) for baseline in baselines)
    )
    return frozenset(fixed - kept_by_all)


class MarkedChar(NamedTuple):
    """A character of a displayed prediction: ``state`` is ``ok``, ``fixed``, ``wrong`` (a
    substituted or extra character) or ``missing`` (``char`` is then the absent true character)."""

    char: str
    state: str


def mark_prediction(
    prediction: str, truth: str, *, corrected: frozenset[int] = frozenset()
) -> tuple[MarkedChar, ...]:
    """The prediction's characters, each marked against ``truth``; ``corrected`` holds truth
    positions whose matched characters are shown as fixed."""
    marks = []
    for step in align(prediction, truth):
        if step.kind == MATCH:
            state = "fixed" if step.truth_index in corrected else "ok"
            marks.append(MarkedChar(prediction[step.prediction_index], state))
        elif step.kind == MISSING:
            marks.append(MarkedChar(truth[step.truth_index], "missing"))
        else:
            marks.append(MarkedChar(prediction[step.prediction_index], "wrong"))
    return tuple(marks)


def marked_html(marks: Sequence[MarkedChar]) -> str:
    """HTML for marked characters: runs of ``ok`` text plain, the others in ``<mark>``/``<del>``."""
    pieces = []
    for char, state in marks:
        text = html.escape(char)
        if state == "ok":
            pieces.append(text)
        elif state == "missing":
            pieces.append(f"<span class='missing' title='missing “{text}”'>□</span>")
        else:
            pieces.append(f"<mark class='{state}'>{text}</mark>")
    return "".join(pieces) or "<span class='absent'>(empty)</span>"


# --------------------------------------------------------------------------------- word grid


@dataclass(frozen=True)
class WordExample:
    """One word crop for the Fig. 9-style grid.

    Attributes:
        image: the input crop.
        truth: the ground-truth text.
        predictions: method -> predicted text (e.g. ``{"base": .., "RM": .., "PM": ..}``).
        mask: the predicted mask shown under the crop (255 or 1.0 = text), if any.
        name: a short caption (e.g. the LMDB index).
    """

    image: ImageInput
    truth: str
    predictions: Mapping[str, str]
    mask: ImageInput | None = None
    name: str = ""


@dataclass(frozen=True)
class WordExampleGrid:
    """Word examples laid out as in the paper's Fig. 9: one column per crop, one row per kind.

    Attributes:
        examples: the crops.
        methods: prediction rows in order; by default the first example's methods.
        improved: the method whose corrected characters are marked (skipped if absent).
        baselines: the methods it is compared with.
        protocol: text normalisation before comparison (see ``recognition.protocol``).
        columns: crops per block of the grid; longer lists wrap into several blocks.
    """

    examples: Sequence[WordExample]
    methods: Sequence[str] | None = None
    improved: str = "PM"
    baselines: Sequence[str] = ("base", "RM")
    protocol: str = "ignore-case-symbols"
    columns: int = 6
    max_side: int = 256

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InputError(
                f"unknown protocol {self.protocol!r}; choose from {', '.join(PROTOCOLS)}"
            )
        if self.columns < 1:
            raise InputError(f"columns must be at least 1, got {self.columns}")

    def row_methods(self) -> tuple[str, ...]:
        if self.methods is not None:
            return tuple(self.methods)
        return tuple(self.examples[0].predictions) if self.examples else ()

    def cell(self, example: WordExample, method: str) -> str:
        """The HTML of ``method``'s reading of ``example``, marked against the truth."""
        if method not in example.predictions:
            return "<span class='absent'>–</span>"
        truth = normalize_text(example.truth, self.protocol)
        prediction = normalize_text(example.predictions[method], self.protocol)
        corrected: frozenset[int] = frozenset()
        if method == self.improved:
            baselines = [
                normalize_text(example.predictions[name], self.protocol)
                for name in self.baselines
                if name in example.predictions and name != method
            ]
            corrected = corrected_positions(prediction, baselines, truth)
        verdict = (
            "<span class='verdict right' title='correct'>✓</span>"
            if prediction == truth
            else "<span class='verdict wrong' title='wrong'>✗</span>"
        )
        return marked_html(mark_prediction(prediction, truth, corrected=corrected)) + verdict

    def to_html(self) -> str:
        methods = self.row_methods()
        blocks = []
        for start in range(0, len(self.examples), self.columns):
            chunk = self.examples[start : start + self.columns]
            rows = []
            if any(example.name for example in chunk):
                rows.append(
                    "<tr class='names'><th scope='row'></th>"
                    + "".join(f"<td>{html.escape(example.name)}</td>" for example in chunk)
                    + "</tr>"
                )
            rows.append(
                self._row(
                    "Input", [_img(e.image, "input crop", "crop", self.max_side) for e in chunk]
                )
            )
            if any(example.mask is not None for example in self.examples):
                masks = [_img(e.mask, "predicted mask", "crop mask", self.max_side) for e in chunk]
                rows.append(self._row("Predicted mask", masks))
            for method in methods:
                css = "improved" if method == self.improved else ""
                rows.append(self._row(method, [self.cell(e, method) for e in chunk], css=css))
            rows.append(
                self._row(
                    "Ground truth",
                    [html.escape(normalize_text(e.truth, self.protocol)) for e in chunk],
                    css="truth",
                )
            )
            blocks.append(f"<table class='examples words'><tbody>{''.join(rows)}</tbody></table>")
        return "".join(blocks)

    @staticmethod
    def _row(label: str, cells: Sequence[str], *, css: str = "") -> str:
        attribute = f" class='{css}'" if css else ""
        return (
            f"<tr{attribute}><th scope='row'>{html.escape(label)}</th>"
            + "".join(f"<td>{cell}</td>" for cell in cells)
            + "</tr>"
        )


# --------------------------------------------------------------------------------- scene grid


@dataclass(frozen=True)
class SceneExample:
    """One scene for the segmentation grid.

    Attributes:
        image: the scene.
        pixel_mask: the predicted pixel-level mask O'_T (255 or 1.0 = text).
        region_mask: the predicted polygon-level (text region) mask O'_P.
        truth_pixel_mask / truth_region_mask: the ground truth, where the scene has it.
        name: a short caption (file name, F1...).
    """

    image: ImageInput
    pixel_mask: ImageInput
    region_mask: ImageInput
    truth_pixel_mask: ImageInput | None = None
    truth_region_mask: ImageInput | None = None
    name: str = ""


@dataclass(frozen=True)
class SceneGrid:
    """Scenes with their predicted masks, one scene per row; ground-truth columns appear when any
    scene has that ground truth."""

    scenes: Sequence[SceneExample]
    max_side: int = 320

    def to_html(self) -> str:
        columns: list[tuple[str, str]] = [
            ("Scene", "image"),
            ("Pixel mask (predicted)", "pixel_mask"),
            ("Region mask (predicted)", "region_mask"),
        ]
        if any(scene.truth_pixel_mask is not None for scene in self.scenes):
            columns.append(("Pixel mask (ground truth)", "truth_pixel_mask"))
        if any(scene.truth_region_mask is not None for scene in self.scenes):
            columns.append(("Region mask (ground truth)", "truth_region_mask"))
        head = "<th scope='col'></th>" + "".join(
            f"<th scope='col'>{html.escape(title)}</th>" for title, _ in columns
        )
        rows = []
        for scene in self.scenes:
            cells = "".join(
                f"<td>{_img(getattr(scene, key), title, 'scene', self.max_side)}</td>"
                for title, key in columns
            )
            rows.append(f"<tr><th scope='row'>{html.escape(scene.name)}</th>{cells}</tr>")
        return (
            f"<table class='examples scenes'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
