"""How text is painted: fill colour against its background, outline, drop shadow.

Painting happens after the geometry: it takes the *warped* coverage layers (floats in [0, 1],
see :func:`~textmask_ocr.data.synth.render.warp_layers`) and blends colours onto the background
in this order: shadow, outline, fill. Only the fill coverage is text; the mask ignores the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from textmask_ocr.data.synth.colour import colour_with_luminance, contrasting_luminance


@dataclass(frozen=True)
class PaintStyle:
    """The distribution of text colours and decorations.

    Attributes:
        contrast: (min, max) luminance difference between the fill and the mean background.
        hard_contrast: the same for hard samples (faint text).
        outline_probability: chance of an outline (a stroke around the glyphs).
        outline_width: (min, max) outline width as a fraction of the font size (at least 1 px).
        shadow_probability: chance of a drop shadow.
        shadow_offset: (min, max) shadow offset as a fraction of the font size (at least 1 px).
        shadow_blur: (min, max) shadow blur radius as a fraction of the font size.
        shadow_opacity: (min, max) opacity of the shadow.
        bold_probability: chance of a faux bold (glyphs thickened, see
            :func:`~textmask_ocr.data.synth.render.render_text`), as signs often are.
        bold_width: (min, max) thickening on each side as a fraction of the font size (at
            least 1 px).
    """

    contrast: tuple[float, float] = (0.3, 0.85)
    hard_contrast: tuple[float, float] = (0.12, 0.3)
    outline_probability: float = 0.1
    outline_width: tuple[float, float] = (0.03, 0.08)
    shadow_probability: float = 0.1
    shadow_offset: tuple[float, float] = (0.03, 0.1)
    shadow_blur: tuple[float, float] = (0.0, 0.06)
    shadow_opacity: tuple[float, float] = (0.4, 0.9)
    bold_probability: float = 0.0
    bold_width: tuple[float, float] = (0.015, 0.045)


@dataclass(frozen=True)
class Decoration:
    """A word's weight, outline and shadow geometry (decided before rendering).

    Attributes:
        embolden: faux-bold thickening of the glyphs in pixels (0: the font's own weight).
        stroke_width: outline width in pixels (0: none).
        shadow_offset: (dx, dy) in pixels, or ``None`` for no shadow.
        shadow_blur: Gaussian blur radius of the shadow in pixels.
        shadow_opacity: in [0, 1].
    """

    stroke_width: int = 0
    shadow_offset: tuple[int, int] | None = None
    shadow_blur: float = 0.0
    shadow_opacity: float = 0.0
    embolden: int = 0

    @property
    def reach(self) -> int:
        """How far (pixels) outline and shadow can extend beyond the glyphs."""
        grown = self.embolden + self.stroke_width
        if self.shadow_offset is None:
            return grown
        dx, dy = self.shadow_offset
        return grown + max(abs(dx), abs(dy)) + int(np.ceil(3 * self.shadow_blur))


@dataclass(frozen=True)
class Colours:
    """(3,) float RGB colours of a word's fill, outline and shadow."""

    fill: np.ndarray
    outline: np.ndarray
    shadow: np.ndarray


def sample_decoration(rng: np.random.Generator, style: PaintStyle, font_size: int) -> Decoration:
    """Draw the weight, outline and shadow of one word of ``font_size`` pixels."""
    embolden = 0
    if rng.random() < style.bold_probability:
        embolden = max(1, round(font_size * rng.uniform(*style.bold_width)))
    stroke_width = 0
    if rng.random() < style.outline_probability:
        stroke_width = max(1, round(font_size * rng.uniform(*style.outline_width)))
    if rng.random() >= style.shadow_probability:
        return Decoration(stroke_width, embolden=embolden)
    distance = max(1.0, font_size * rng.uniform(*style.shadow_offset))
    angle = rng.uniform(0, 2 * np.pi)
    offset = (round(distance * np.cos(angle)), round(distance * np.sin(angle)))
    return Decoration(
        stroke_width,
        offset,
        font_size * rng.uniform(*style.shadow_blur),
        rng.uniform(*style.shadow_opacity),
        embolden=embolden,
    )


def sample_colours(
    rng: np.random.Generator, style: PaintStyle, background_luminance: float, *, hard: bool
) -> Colours:
    """Draw fill, outline and shadow colours for text on a background of the given luminance."""
    contrast = rng.uniform(*(style.hard_contrast if hard else style.contrast))
    fill_luminance = contrasting_luminance(rng, background_luminance, contrast)
    fill = colour_with_luminance(rng, fill_luminance)
    outline = colour_with_luminance(
        rng, contrasting_luminance(rng, fill_luminance, rng.uniform(0.3, 0.8))
    )
    shadow = colour_with_luminance(rng, rng.uniform(0.0, 0.25))
    return Colours(fill, outline, shadow)


def paint_text(
    canvas: np.ndarray,
    coverage: np.ndarray,
    outline: np.ndarray | None,
    decoration: Decoration,
    colours: Colours,
) -> None:
    """Blend a warped word onto ``canvas`` in place: shadow, then outline, then fill.

    Args:
        canvas: (H, W, 3) float32 RGB in [0, 1].
        coverage: (H, W) float32 glyph coverage in [0, 1] (the text).
        outline: (H, W) float32 coverage of the glyphs grown by the stroke, or ``None``.
        decoration: the shadow geometry (the stroke is already in ``outline``).
        colours: fill, outline and shadow colours.
    """
    body = coverage if outline is None else np.maximum(coverage, outline)
    if decoration.shadow_offset is not None:
        shadow = _shifted(body, *decoration.shadow_offset)
        if decoration.shadow_blur > 0.3:
            grey = Image.fromarray(np.round(shadow * 255).astype(np.uint8))
            blurred = grey.filter(ImageFilter.GaussianBlur(decoration.shadow_blur))
            shadow = np.asarray(blurred, dtype=np.float32) * (1.0 / 255.0)
        _blend(canvas, shadow * decoration.shadow_opacity, colours.shadow)
    if outline is not None:
        _blend(canvas, outline, colours.outline)
    _blend(canvas, coverage, colours.fill)


def _blend(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    canvas += (colour.astype(np.float32) - canvas) * alpha[..., None]


def _shifted(layer: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``layer`` moved by (dx, dy) pixels, zero where nothing moves in."""
    height, width = layer.shape
    out = np.zeros_like(layer)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = layer[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out
