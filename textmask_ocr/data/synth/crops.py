"""Synthetic word crops with exact pixel-level text masks.

One sample: a label, a font and size, an outline/shadow; the word is drawn into text space,
warped (rotation, aspect, perspective, arc bend), cropped tight around its polygon with a small
random margin, painted onto a random background, and degraded (blur, noise, JPEG). The mask is
the warped glyph coverage thresholded at :attr:`WordStyle.mask_threshold`: outline, shadow and
clutter are not text, and degradations touch only the picture.

A fraction of *hard* samples (:attr:`WordStyle.hard_fraction`) has faint text on a busy
background with clutter in the text's colour: fragments of neighbouring words and strokes. These
are the samples where a text mask genuinely helps a recognizer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from textmask_ocr.data.lmdb_format import encode_polygon
from textmask_ocr.data.records import WordRecord
from textmask_ocr.data.synth.appearance import (
    PaintStyle,
    paint_text,
    sample_colours,
    sample_decoration,
)
from textmask_ocr.data.synth.assets import SynthAssets, default_assets
from textmask_ocr.data.synth.backgrounds import draw_background, draw_clutter
from textmask_ocr.data.synth.colour import luminance
from textmask_ocr.data.synth.effects import ImageEffects, degrade, encode_png
from textmask_ocr.data.synth.fonts import FontFace, sample_face
from textmask_ocr.data.synth.parallel import as_rng, check_run, ordered_map, sample_rng
from textmask_ocr.data.synth.render import (
    TextLayers,
    TextWarp,
    make_warp,
    render_text,
    warp_layers,
    word_polygon,
)
from textmask_ocr.data.synth.words import LabelMix, sample_label


@dataclass(frozen=True)
class WordStyle:
    """The distribution word crops are drawn from. Lengths in pixels unless stated.

    Attributes:
        font_size: (min, max) font size (em height), inclusive.
        labels: where labels come from (:class:`~textmask_ocr.data.synth.words.LabelMix`).
        rotation_std, max_rotation: rotation in degrees, normal with this deviation, clipped.
        perspective_probability, perspective: chance of a perspective distortion, and the largest
            corner displacement as a fraction of the word box's shorter side.
        curve_probability, bend: chance of a curved baseline, and the (min, max) angle in radians
            the word subtends on its arc (arch or smile, at random).
        aspect: (min, max) horizontal stretch, drawn log-uniformly.
        tracking_probability, tracking: chance of extra letter spacing, (min, max) in ems.
        margin_x, margin_y: (min, max) crop margin on each side, as a fraction of the font size.
        hard_fraction: the share of hard samples (faint text, busy background, clutter).
        paint: colours, outline and shadow.
        effects: image-only degradations.
        mask_threshold: a pixel is text when the glyphs cover at least this fraction of it.
    """

    font_size: tuple[int, int] = (20, 40)
    labels: LabelMix = field(default_factory=LabelMix)
    rotation_std: float = 3.0
    max_rotation: float = 12.0
    perspective_probability: float = 0.4
    perspective: float = 0.12
    curve_probability: float = 0.12
    bend: tuple[float, float] = (0.3, 1.0)
    aspect: tuple[float, float] = (0.8, 1.25)
    tracking_probability: float = 0.2
    tracking: tuple[float, float] = (-0.03, 0.15)
    margin_x: tuple[float, float] = (0.03, 0.3)
    margin_y: tuple[float, float] = (0.03, 0.25)
    hard_fraction: float = 0.2
    paint: PaintStyle = field(default_factory=PaintStyle)
    effects: ImageEffects = field(default_factory=ImageEffects)
    mask_threshold: float = 0.5


#: Named distributions (``synth words --style``). ``recognizer``: the words recognizers are
#: trained on (unpunctuated: ``LabelMix.punctuation`` adds marks, see the README). ``wide``: a wider
#: appearance range (pseudowords and more upper case, faux bold, steeper geometry, more hard
#: crops, outlines, shadows and degradations, larger fonts) for training segmenters on
#: information the recognizer's own words do not carry (the demo's design, see the README).
#: Measured on real word crops, each of these widenings slowed a small CRNN's learning in the
#: demo's budget, so the recognizer's style keeps the narrower range.
WORD_STYLES: dict[str, WordStyle] = {
    "recognizer": WordStyle(),
    "wide": WordStyle(
        font_size=(28, 48),
        labels=LabelMix(
            dictionary=0.55,
            alphanumeric=0.15,
            number=0.1,
            pseudoword=0.2,
            lower=0.3,
            title=0.3,
            upper=0.4,
        ),
        rotation_std=5.0,
        max_rotation=20.0,
        perspective_probability=0.6,
        perspective=0.18,
        curve_probability=0.3,
        aspect=(0.7, 1.4),
        hard_fraction=0.4,
        paint=PaintStyle(
            contrast=(0.2, 0.9),
            outline_probability=0.25,
            shadow_probability=0.25,
            bold_probability=0.35,
        ),
        effects=ImageEffects(
            blur_probability=0.4,
            downscale_probability=0.3,
            noise_probability=0.6,
            jpeg_probability=0.6,
        ),
    ),
}


@dataclass(frozen=True, eq=False)
class WordSample:
    """One synthetic word crop.

    Attributes:
        image: the RGB crop, exactly as stored (``image`` decodes ``encoded_image``).
        mask: 'L' image of the crop's size, 255 = text pixel, 0 elsewhere.
        label: the transcription, ``[A-Za-z0-9]{1,24}``.
        polygon: (P, 2) float64 word polygon in crop coordinates (pixel centres at integers),
            clockwise; every mask pixel's centre lies inside it.
        encoded_image: the stored bytes: JPEG when JPEG compression was drawn, PNG otherwise.
    """

    image: Image.Image
    mask: Image.Image
    label: str
    polygon: np.ndarray
    encoded_image: bytes

    def to_record(self) -> WordRecord:
        """The sample as an LMDB record (image bytes as stored, mask as an 8-bit PNG, polygon as
        :func:`~textmask_ocr.data.lmdb_format.encode_polygon` JSON)."""
        return WordRecord(
            self.encoded_image, self.label, encode_png(self.mask), encode_polygon(self.polygon)
        )


def generate_word(
    seed: int | np.random.Generator,
    style: WordStyle | None = None,
    assets: SynthAssets | None = None,
) -> WordSample:
    """Draw one word crop.

    Args:
        seed: an integer seed or a generator (consumed).
        style: the distribution (default :class:`WordStyle`).
        assets: fonts and background pictures (default: the built-in and system fonts).
    """
    rng = as_rng(seed)
    style = style or WordStyle()
    assets = assets or default_assets()
    label = sample_label(rng, style.labels)
    face = sample_face(rng, assets.fonts)
    font_size = int(rng.integers(style.font_size[0], style.font_size[1] + 1))
    hard = bool(rng.random() < style.hard_fraction)
    decoration = sample_decoration(rng, style.paint, font_size)
    tracking = 0.0
    if rng.random() < style.tracking_probability:
        tracking = font_size * rng.uniform(*style.tracking)
    layers = render_text(
        label,
        face.load(font_size),
        stroke_width=decoration.stroke_width,
        tracking=tracking,
        embolden=decoration.embolden,
    )
    warp = _sample_warp(rng, style, layers.ink_box)
    polygon = word_polygon(layers.ink_box, warp)

    margins = font_size * rng.uniform(
        [style.margin_x[0], style.margin_y[0]] * 2, [style.margin_x[1], style.margin_y[1]] * 2
    )
    x0, y0 = (math.floor(v) for v in polygon.min(axis=0) - margins[:2])
    x1, y1 = (math.ceil(v) for v in polygon.max(axis=0) + margins[2:])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    warp = warp.shifted(-x0, -y0)
    polygon = polygon - (x0, y0)
    warped = warp_layers(layers.stack(), warp, width, height)
    coverage, outline = warped[0], (warped[1] if decoration.stroke_width else None)

    canvas = draw_background(rng, width, height, assets.backgrounds, busy=hard)
    colours = sample_colours(rng, style.paint, float(luminance(canvas).mean()), hard=hard)
    if hard:
        _draw_hard_clutter(rng, canvas, colours.fill, layers, warp, face, font_size, style)
    paint_text(canvas, coverage, outline, decoration, colours)
    degraded = degrade(rng, canvas, style.effects)

    mask = Image.fromarray(np.where(coverage >= style.mask_threshold, 255, 0).astype(np.uint8))
    encoded = degraded.jpeg if degraded.jpeg is not None else encode_png(degraded.image)
    return WordSample(degraded.image, mask, label, polygon, encoded)


def _sample_warp(
    rng: np.random.Generator, style: WordStyle, ink_box: tuple[int, int, int, int]
) -> TextWarp:
    rotation = float(
        np.clip(rng.normal(0.0, style.rotation_std), -style.max_rotation, style.max_rotation)
    )
    bend = 0.0
    if rng.random() < style.curve_probability:
        bend = rng.uniform(*style.bend) * rng.choice([-1.0, 1.0])
    aspect = math.exp(rng.uniform(math.log(style.aspect[0]), math.log(style.aspect[1])))
    jitter = None
    if rng.random() < style.perspective_probability:
        jitter = rng.uniform(-style.perspective, style.perspective, (4, 2))
    return make_warp(ink_box, rotation=rotation, bend=bend, aspect=aspect, corner_jitter=jitter)


def _draw_hard_clutter(
    rng: np.random.Generator,
    canvas: np.ndarray,
    colour: np.ndarray,
    layers: TextLayers,
    warp: TextWarp,
    face: FontFace,
    font_size: int,
    style: WordStyle,
) -> None:
    """Clutter in the text's colour: a neighbouring word cut by the crop, and strokes."""
    height, width = canvas.shape[:2]
    if rng.random() < 0.7:
        neighbour = render_text(sample_label(rng, style.labels), face.load(font_size))
        x0, _, x1, _ = layers.ink_box
        gap = font_size * rng.uniform(0.25, 0.6)
        side = int(rng.integers(4))  # above, below, left, right
        if side < 2:
            offset_x = x0 - neighbour.ink_box[0] + font_size * rng.uniform(-1.0, 1.0)
            pitch = font_size * rng.uniform(1.05, 1.4) * (-1 if side == 0 else 1)
        else:
            offset_x = (
                (x0 - gap - neighbour.ink_box[2])
                if side == 2
                else (x1 + gap - neighbour.ink_box[0])
            )
            pitch = 0.0
        offset_y = layers.baseline - neighbour.baseline + pitch
        fragment = warp_layers(
            neighbour.coverage[None], warp, width, height, source_offset=(offset_x, offset_y)
        )[0]
        canvas += (colour - canvas) * fragment[..., None]
    draw_clutter(
        rng, canvas, colour, count=int(rng.integers(1, 4)), max_width=max(1, font_size // 10)
    )


def word_record(index: int, *, seed: int, style: WordStyle, assets: SynthAssets) -> WordRecord:
    """Sample ``index`` of the run seeded with ``seed``, as an LMDB record."""
    return generate_word(sample_rng(seed, index), style, assets).to_record()


def iter_word_records(
    n: int,
    seed: int = 0,
    style: WordStyle | None = None,
    assets: SynthAssets | None = None,
    workers: int = 1,
    start: int = 0,
) -> Iterator[WordRecord]:
    """``n`` word records, sample ``i`` drawn from ``sample_rng(seed, i)``, in order (from
    sample ``start`` on: the rest of an interrupted run).

    The output is identical for any ``workers`` (processes; 1 = this process).

    Raises:
        InputError: ``n`` or ``workers`` below 1, or a negative ``seed``.
    """
    check_run(n, seed, workers)
    task = functools.partial(
        word_record, seed=seed, style=style or WordStyle(), assets=assets or default_assets()
    )
    return ordered_map(task, n, workers, start)
