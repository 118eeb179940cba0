"""Word rendering with an exact text mask: glyph coverage, geometric warps, word polygons.

A word is drawn once, unwarped, into *text space* (:func:`render_text`): an anti-aliased glyph
coverage layer and, for outlined text, a coverage layer of the glyphs grown by the stroke. A
:class:`TextWarp` (an optional circular-arc bend followed by a homography: rotation, aspect,
perspective) maps text space to the output image. :func:`warp_layers` samples every layer through
the *same* inverse map, so the pixel mask (thresholded warped coverage) is exact by construction,
and :func:`word_polygon` maps the word's ink box through the same forward map.

Coordinates: pixel (row ``i``, column ``j``) of every raster has its centre at ``(x, y) = (j, i)``;
polygons are lists of such ``(x, y)`` points, clockwise on screen (y grows downwards).

Why the mask lies inside the polygon: bilinear sampling gives a non-zero value at ``q`` only if
``q`` is less than one pixel from an inked pixel centre, i.e. inside the ink box grown by
:data:`POLYGON_PAD` = 1 px. The polygon contains the warped grown box: its arc edges are sampled
with the outer edge pushed out so each chord stays outside the arc, and a homography maps
segments to segments. A threshold of 0.5 even leaves half a text-space pixel to spare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Zero pixels around the drawn glyphs in text space (bilinear sampling needs two).
LAYER_BORDER = 2
#: How far (text-space pixels) the word polygon lies outside the ink box.
POLYGON_PAD = 1.0
#: Largest angle (radians) between consecutive polygon points along a bent word.
MAX_ARC_STEP = 0.2
#: Inverse-mapped coordinate for output pixels with no pre-image (behind a homography's horizon).
_NOWHERE = -1e6


@dataclass(frozen=True, eq=False)
class TextLayers:
    """A word drawn unwarped in text space.

    Attributes:
        coverage: (H, W) uint8 glyph coverage, 0..255 (anti-aliased); the text itself.
        outline: (H, W) uint8 coverage of the glyphs grown by the stroke width (it includes the
            glyphs), or ``None`` for text without an outline.
        ink_box: ``(x0, y0, x1, y1)``: first and last column and row holding coverage (inclusive).
        baseline: the row of the text's baseline (to align other text drawn beside it).
    """

    coverage: np.ndarray
    outline: np.ndarray | None
    ink_box: tuple[int, int, int, int]
    baseline: int

    def stack(self) -> np.ndarray:
        """(K, H, W) uint8: the coverage, then the outline when there is one."""
        layers = [self.coverage] if self.outline is None else [self.coverage, self.outline]
        return np.stack(layers)


def render_text(
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    stroke_width: int = 0,
    tracking: float = 0.0,
    embolden: int = 0,
) -> TextLayers:
    """Draw ``text`` into text space.

    Args:
        text: a non-empty string of characters the font draws.
        font: the face at its pixel size.
        stroke_width: outline width in pixels (0: no outline layer).
        tracking: extra space between consecutive characters, in pixels (may be negative).
        embolden: thicken the glyphs by this many pixels on each side (a faux bold: the
            thickened glyphs are the text, and the outline grows from them).

    Raises:
        ValueError: nothing visible was drawn.
    """
    if tracking:
        pieces = [(font.getlength(text[:i]) + i * tracking, char) for i, char in enumerate(text)]
    else:
        pieces = [(0.0, text)]
    grown = embolden + stroke_width
    boxes = np.array(
        [
            np.add(font.getbbox(piece, anchor="ls", stroke_width=grown), (x, 0, x, 0))
            for x, piece in pieces
        ]
    )
    left, top = math.floor(boxes[:, 0].min()), math.floor(boxes[:, 1].min())
    right, bottom = math.ceil(boxes[:, 2].max()), math.ceil(boxes[:, 3].max())
    size = (right - left + 2 * LAYER_BORDER, bottom - top + 2 * LAYER_BORDER)
    origin_x, origin_y = LAYER_BORDER - left, LAYER_BORDER - top

    def draw(stroke: int) -> Image.Image:
        canvas = Image.new("L", size)
        pen = ImageDraw.Draw(canvas)
        for x, piece in pieces:
            pen.text(
                (origin_x + x, origin_y),
                piece,
                font=font,
                fill=255,
                anchor="ls",
                stroke_width=stroke,
            )
        return canvas

    coverage = draw(embolden)
    bbox = coverage.getbbox()
    if bbox is None:
        raise ValueError(f"{text!r} draws nothing in {font.getname()}")
    outline = np.asarray(draw(grown)) if stroke_width > 0 else None
    x0, y0, x1, y1 = bbox
    return TextLayers(np.asarray(coverage), outline, (x0, y0, x1 - 1, y1 - 1), origin_y)


@dataclass(frozen=True)
class ArcBend:
    """Text bent along a circle, keeping lengths along the line ``y = ref_y``.

    The line ``y = ref_y`` becomes an arc of ``radius`` around a centre below the text
    (``sign = +1``, an arch) or above it (``sign = -1``, a smile); ``x = center_x`` stays put.
    """

    center_x: float
    ref_y: float
    radius: float
    sign: int

    @property
    def _center_y(self) -> float:
        return self.ref_y + self.sign * self.radius

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Text space -> bent space."""
        angle = (x - self.center_x) / self.radius
        distance = self.radius - self.sign * (y - self.ref_y)
        return (
            self.center_x + distance * np.sin(angle),
            self._center_y - self.sign * distance * np.cos(angle),
        )

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bent space -> text space."""
        dx, dy = x - self.center_x, self.sign * (self._center_y - y)
        distance, angle = np.hypot(dx, dy), np.arctan2(dx, dy)
        return self.center_x + angle * self.radius, self.ref_y + self.sign * (
            self.radius - distance
        )


@dataclass(frozen=True, eq=False)
class TextWarp:
    """Text space -> output image: an optional :class:`ArcBend`, then a homography.

    Attributes:
        matrix: (3, 3) homography from bent space to output coordinates.
        arc: the bend, or ``None`` for straight text.
    """

    matrix: np.ndarray
    arc: ArcBend | None = None

    def forward(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) text-space points -> (N, 2) output points."""
        x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
        if self.arc is not None:
            x, y = self.arc.forward(x, y)
        return _apply_homography(self.matrix, x, y)

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output coordinates -> text-space coordinates (far outside for points without one)."""
        m = np.linalg.inv(self.matrix)
        w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        valid = w > 1e-8
        w = np.where(valid, w, 1.0)
        u = np.where(valid, (m[0, 0] * x + m[0, 1] * y + m[0, 2]) / w, _NOWHERE)
        v = np.where(valid, (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / w, _NOWHERE)
        if self.arc is not None:
            u, v = self.arc.inverse(u, v)
        return u, v

    def shifted(self, dx: float, dy: float) -> TextWarp:
        """The same warp followed by a translation of the output by ``(dx, dy)``."""
        translation = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
        return TextWarp(translation @ self.matrix, self.arc)


def _apply_homography(matrix: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
    u = (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / w
    v = (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / w
    return np.stack([u, v], axis=1)


def homography_from_points(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The (3, 3) homography mapping 4 ``source`` points onto 4 ``target`` points ((4, 2) each)."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(values, dtype=np.float64))
    return np.append(solution, 1.0).reshape(3, 3)


def make_warp(
    ink_box: tuple[int, int, int, int],
    *,
    rotation: float = 0.0,
    bend: float = 0.0,
    aspect: float = 1.0,
    scale: float = 1.0,
    corner_jitter: np.ndarray | None = None,
) -> TextWarp:
    """Build the warp of a word whose ink occupies ``ink_box``; the output is centred on (0, 0).

    Args:
        ink_box: ``(x0, y0, x1, y1)`` from :class:`TextLayers`.
        rotation: degrees, counter-clockwise on screen.
        bend: total angle (radians) the word's centre line subtends on its arc; positive arches
            the word (centre below), negative makes it smile; 0 keeps it straight. The radius is
            at least the ink height, so strong bends are limited for short words.
        aspect: horizontal stretch (>1 wider) applied before the rotation.
        scale: uniform scale applied before the rotation.
        corner_jitter: (4, 2) displacements of the corners of the (bent) word's bounding box
            (top-left, top-right, bottom-right, bottom-left), in units of its shorter side after
            stretching; a perspective distortion. Magnitudes below 0.25 keep the quad convex.
    """
    x0, y0, x1, y1 = ink_box
    arc = None
    if bend:
        width, height = x1 - x0 + 1, y1 - y0 + 1
        radius = max(width / abs(bend), float(height))
        arc = ArcBend((x0 + x1) / 2, (y0 + y1) / 2, radius, 1 if bend > 0 else -1)
    outline = _text_space_outline(ink_box, arc)
    bent = np.stack(arc.forward(outline[:, 0], outline[:, 1]), axis=1) if arc else outline
    (left, top), (right, bottom) = bent.min(axis=0), bent.max(axis=0)
    source = np.array([[left, top], [right, top], [right, bottom], [left, bottom]])
    centred = (source - [(left + right) / 2, (top + bottom) / 2]) * [aspect * scale, scale]
    if corner_jitter is not None:
        shorter = min((right - left) * aspect, bottom - top) * scale
        centred = centred + np.asarray(corner_jitter, dtype=np.float64) * shorter
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    target = centred @ np.array([[cos, -sin], [sin, cos]])
    return TextWarp(homography_from_points(source, target), arc)


def _text_space_outline(
    ink_box: tuple[int, int, int, int],
    arc: ArcBend | None,
    pad: float = POLYGON_PAD,
    max_step: float = MAX_ARC_STEP,
) -> np.ndarray:
    """Text-space points whose bent, warped image encloses the ink box grown by ``pad``.

    Straight text: the 4 corners. Bent text: top and bottom edges sampled every ``max_step``
    radians at most, with the edge farther from the arc's centre moved out so that each chord
    between samples stays outside the arc. Order: top edge left to right, bottom edge right to
    left (clockwise on screen, as bending and orientation-preserving homographies keep it).
    """
    x0, y0, x1, y1 = ink_box
    left, right, top, bottom = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    if arc is None:
        return np.array(
            [[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float64
        )
    segments = max(1, math.ceil((right - left) / arc.radius / max_step))
    xs = np.linspace(left, right, segments + 1)
    step = (right - left) / arc.radius / segments
    outer_is_top = arc.sign > 0
    outer_y = top if outer_is_top else bottom
    outer_distance = arc.radius - arc.sign * (outer_y - arc.ref_y)
    grown_y = arc.ref_y + arc.sign * (arc.radius - outer_distance / math.cos(step / 2))
    top_y, bottom_y = (grown_y, bottom) if outer_is_top else (top, grown_y)
    top_edge = np.stack([xs, np.full_like(xs, top_y)], axis=1)
    bottom_edge = np.stack([xs[::-1], np.full_like(xs, bottom_y)], axis=1)
    return np.concatenate([top_edge, bottom_edge])


def word_polygon(
    ink_box: tuple[int, int, int, int], warp: TextWarp, *, pad: float = POLYGON_PAD
) -> np.ndarray:
    """(P, 2) output-space polygon around the word's ink box grown by ``pad`` text-space pixels.

    With the default ``pad`` it encloses every pixel the warped coverage touches. 4 points for
    straight text, 2 x (segments + 1) for bent text; clockwise on screen. For bent text, ``pad``
    must stay below the distance from the arc's centre to the inner edge of the ink.
    """
    return warp.forward(_text_space_outline(ink_box, warp.arc, pad))


def warp_layers(
    layers: np.ndarray,
    warp: TextWarp,
    width: int,
    height: int,
    *,
    source_offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Bilinearly sample text-space layers at the pre-images of an output raster's pixels.

    Args:
        layers: (K, H, W) uint8 text-space layers, zero on a border at least
            :data:`LAYER_BORDER` wide (as :func:`render_text` draws them).
        warp: text space -> output coordinates.
        width, height: the output raster size; pixel (i, j) is the output point (j, i).
        source_offset: where the layers' origin lies in text space (to warp a second drawing,
            e.g. a neighbouring line, with the same warp).

    Returns:
        (K, height, width) float32 in [0, 1]; zero wherever the pre-image leaves the layers.
    """
    if min(layers.shape[1:]) <= 2 * LAYER_BORDER:
        raise ValueError(f"layers of shape {layers.shape} have no room for a zero border")
    count, rows, columns = layers.shape
    ys = np.arange(height, dtype=np.float64)[:, None]
    xs = np.arange(width, dtype=np.float64)[None, :]
    u, v = warp.inverse(np.broadcast_to(xs, (height, width)), np.broadcast_to(ys, (height, width)))
    u = np.clip(u - source_offset[0], 0.0, columns - 1.001).astype(np.float32)
    v = np.clip(v - source_offset[1], 0.0, rows - 1.001).astype(np.float32)
    left, top = u.astype(np.int32), v.astype(np.int32)
    fx, fy = u - left, v - top
    flat = layers.reshape(count, -1)
    index = top * columns + left
    out = np.empty((count, height, width), dtype=np.float32)
    for k in range(count):
        plane = flat[k]
        a, b = plane[index].astype(np.float32), plane[index + 1]
        c, d = plane[index + columns].astype(np.float32), plane[index + columns + 1]
        upper = a + (b - a) * fx
        lower = c + (d - c) * fx
        out[k] = upper + (lower - upper) * fy
    out *= 1.0 / 255.0
    return out
