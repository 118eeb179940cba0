"""Synthetic scene images with exact pixel-level and polygon-level text masks.

A scene is a random background with non-text clutter and several words: straight, rotated,
perspective and curved (arc) text, each drawn with the word-crop renderer
(:mod:`~textmask_ocr.data.synth.render`), so the pixel mask is the exact thresholded glyph
coverage and each word's polygon encloses its mask pixels. Words never overlap: each claims its
polygon grown by its outline and shadow reach plus a gap.

Folder layout written by :func:`scene_files` (one scene) and the ``synth scenes`` command::

    images/{stem}.png          RGB
    pixel_masks/{stem}.png     'L', 255 = text pixel
    region_masks/{stem}.png    'L', 255 = pixel centre inside a word polygon
    polygons/{stem}.json       {"words": [{"text": str, "points": [[x, y], ...]}, ...]}
    meta.json                  generator settings, seed, n

Polygon points are rounded to :data:`POINT_DECIMALS` decimals, clockwise on screen, with pixel
centres at integer coordinates; the region mask is rasterised from the rounded points.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from segmentation.rasterize import rasterize_polygons
from textmask_ocr.data.synth.appearance import (
    Decoration,
    PaintStyle,
    paint_text,
    sample_colours,
    sample_decoration,
)
from textmask_ocr.data.synth.assets import SynthAssets, default_assets
from textmask_ocr.data.synth.backgrounds import draw_background, draw_clutter
from textmask_ocr.data.synth.colour import colour_with_luminance, luminance
from textmask_ocr.data.synth.effects import ImageEffects, degrade, encode_png
from textmask_ocr.data.synth.fonts import sample_face
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
from textmask_ocr.errors import InputError

IMAGES_DIR, PIXEL_MASKS_DIR, REGION_MASKS_DIR, POLYGONS_DIR = (
    "images",
    "pixel_masks",
    "region_masks",
    "polygons",
)
SCENE_DIRS = (IMAGES_DIR, PIXEL_MASKS_DIR, REGION_MASKS_DIR, POLYGONS_DIR)
META_FILE = "meta.json"
#: Decimals kept in polygon coordinates.
POINT_DECIMALS = 2
#: The smallest scene side accepted.
MIN_SCENE_SIZE = 64
#: Word layouts, in the order of :attr:`SceneConfig.layout_mix`.
LAYOUTS = ("straight", "rotated", "perspective", "curved")


@dataclass(frozen=True)
class SceneConfig:
    """The distribution scenes are drawn from. Lengths in pixels unless stated.

    Attributes:
        size: scene width and height.
        words: (min, max) number of words attempted; fewer when they do not fit.
        font_size: (min, max) font size as a fraction of ``size``.
        layout_mix: probabilities of straight, rotated, perspective and curved words.
        max_rotation: rotated words turn uniformly within +-this many degrees; the other
            layouts tilt by a normal deviation of a tenth of it.
        perspective: largest corner displacement of perspective words (fraction of the shorter
            side of the word box).
        bend: (min, max) angle in radians a curved word subtends on its arc.
        aspect: (min, max) horizontal stretch, drawn log-uniformly.
        labels: where labels come from.
        clutter: (min, max) number of non-text shapes on the background.
        hard_fraction: the share of faint words (low contrast).
        paint: colours, outline and shadow.
        effects: image-only degradations.
        gap: free space kept around every word, as a fraction of its font size.
        placement_attempts: tries per word before it is skipped.
        mask_threshold: a pixel is text when the glyphs cover at least this fraction of it.
    """

    size: int = 512
    words: tuple[int, int] = (3, 10)
    font_size: tuple[float, float] = (0.035, 0.14)
    layout_mix: tuple[float, float, float, float] = (0.4, 0.2, 0.2, 0.2)
    max_rotation: float = 60.0
    perspective: float = 0.2
    bend: tuple[float, float] = (0.6, 2.5)
    aspect: tuple[float, float] = (0.8, 1.25)
    labels: LabelMix = field(default_factory=LabelMix)
    clutter: tuple[int, int] = (2, 8)
    hard_fraction: float = 0.2
    paint: PaintStyle = field(
        default_factory=lambda: PaintStyle(outline_probability=0.15, shadow_probability=0.15)
    )
    effects: ImageEffects = field(
        default_factory=lambda: ImageEffects(blur_radius=(0.3, 1.0), downscale_probability=0.1)
    )
    gap: float = 0.3
    placement_attempts: int = 20
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.size < MIN_SCENE_SIZE:
            raise InputError(f"--size must be at least {MIN_SCENE_SIZE} pixels, got {self.size}")


@dataclass(frozen=True, eq=False)
class WordPolygon:
    """A word of a scene: its text and (P, 2) float64 polygon, clockwise, image coordinates."""

    text: str
    points: np.ndarray


@dataclass(frozen=True, eq=False)
class Scene:
    """One synthetic scene.

    Attributes:
        image: RGB, ``size x size``.
        pixel_mask: 'L', 255 = text pixel (thresholded glyph coverage), 0 elsewhere.
        region_mask: 'L', 255 = pixel centre inside a word polygon, 0 elsewhere.
        polygons: the words, in drawing order.
    """

    image: Image.Image
    pixel_mask: Image.Image
    region_mask: Image.Image
    polygons: tuple[WordPolygon, ...]

    def polygons_json(self) -> dict[str, list[dict[str, object]]]:
        """``{"words": [{"text": str, "points": [[x, y], ...]}, ...]}``."""
        return {
            "words": [{"text": word.text, "points": word.points.tolist()} for word in self.polygons]
        }


@dataclass(frozen=True, eq=False)
class _PlacedWord:
    """A word at its place in the scene; ``claim`` is the polygon kept free of other words."""

    label: str
    layers: TextLayers
    decoration: Decoration
    warp: TextWarp
    polygon: np.ndarray
    claim: np.ndarray


def generate_scene(
    seed: int | np.random.Generator,
    config: SceneConfig | None = None,
    assets: SynthAssets | None = None,
) -> Scene:
    """Draw one scene.

    Args:
        seed: an integer seed or a generator (consumed).
        config: the distribution (default :class:`SceneConfig`).
        assets: fonts and background pictures (default: the built-in and system fonts).
    """
    rng = as_rng(seed)
    config = config or SceneConfig()
    assets = assets or default_assets()
    size = config.size
    canvas = draw_background(rng, size, size, assets.backgrounds, busy=bool(rng.random() < 0.3))
    for _ in range(int(rng.integers(config.clutter[0], config.clutter[1] + 1))):
        colour = colour_with_luminance(rng, rng.uniform(0.0, 1.0))
        draw_clutter(rng, canvas, colour, count=1, max_width=max(1, size // 100))

    pixel_mask = np.zeros((size, size), dtype=bool)
    occupied = np.zeros((size, size), dtype=bool)
    polygons: list[WordPolygon] = []
    for _ in range(int(rng.integers(config.words[0], config.words[1] + 1))):
        word = _place_word(rng, config, assets, occupied)
        if word is None:
            continue
        claim_raster = rasterize_polygons([word.claim], size, size)
        occupied |= claim_raster
        (x0, y0), (x1, y1) = _window(word.claim, size)
        window = canvas[y0 : y1 + 1, x0 : x1 + 1]
        warped = warp_layers(
            word.layers.stack(), word.warp.shifted(-x0, -y0), x1 - x0 + 1, y1 - y0 + 1
        )
        coverage, outline = warped[0], (warped[1] if word.layers.outline is not None else None)
        background = float(luminance(window[claim_raster[y0 : y1 + 1, x0 : x1 + 1]]).mean())
        hard = bool(rng.random() < config.hard_fraction)
        colours = sample_colours(rng, config.paint, background, hard=hard)
        paint_text(window, coverage, outline, word.decoration, colours)
        pixel_mask[y0 : y1 + 1, x0 : x1 + 1] |= coverage >= config.mask_threshold
        polygons.append(WordPolygon(word.label, np.round(word.polygon, POINT_DECIMALS)))

    region_mask = rasterize_polygons([word.points for word in polygons], size, size)
    image = degrade(rng, canvas, config.effects).image
    return Scene(image, _mask_image(pixel_mask), _mask_image(region_mask), tuple(polygons))


def _sample_warp(
    rng: np.random.Generator, config: SceneConfig, ink_box: tuple[int, int, int, int]
) -> TextWarp:
    """A warp of one of :data:`LAYOUTS`, centred on the origin."""
    layout = LAYOUTS[int(rng.choice(len(LAYOUTS), p=config.layout_mix))]
    tilt = config.max_rotation / 10
    rotation = rng.normal(0.0, tilt / 3 if layout == "straight" else tilt)
    bend, jitter = 0.0, None
    if layout == "rotated":
        rotation = rng.uniform(-config.max_rotation, config.max_rotation)
    elif layout == "perspective":
        jitter = rng.uniform(-config.perspective, config.perspective, (4, 2))
    elif layout == "curved":
        bend = rng.uniform(*config.bend) * rng.choice([-1.0, 1.0])
    aspect = math.exp(rng.uniform(math.log(config.aspect[0]), math.log(config.aspect[1])))
    return make_warp(
        ink_box, rotation=float(rotation), bend=bend, aspect=aspect, corner_jitter=jitter
    )


def _place_word(
    rng: np.random.Generator, config: SceneConfig, assets: SynthAssets, occupied: np.ndarray
) -> _PlacedWord | None:
    """Draw words until one fits at a random free spot; ``None`` after too many attempts."""
    size = occupied.shape[0]
    for _ in range(config.placement_attempts):
        label = sample_label(rng, config.labels)
        face = sample_face(rng, assets.fonts)
        font_size = max(8, round(size * rng.uniform(*config.font_size)))
        decoration = sample_decoration(rng, config.paint, font_size)
        layers = render_text(
            label,
            face.load(font_size),
            stroke_width=decoration.stroke_width,
            embolden=decoration.embolden,
        )
        warp = _sample_warp(rng, config, layers.ink_box)
        claim_pad = 1.5 * decoration.reach + config.gap * font_size
        if warp.arc is not None:  # keep the grown polygon on this side of the arc's centre
            x0, y0, x1, y1 = layers.ink_box
            claim_pad = min(claim_pad, warp.arc.radius - (y1 - y0 + 1) / 2 - 1.0)
        claim = word_polygon(layers.ink_box, warp, pad=claim_pad)
        low, high = claim.min(axis=0), claim.max(axis=0)
        room = (size - 1) - (high - low)
        if np.any(room < 0):
            continue
        shift = rng.uniform(0, room) - low
        claim = claim + shift
        (x0, y0), (x1, y1) = _window(claim, size)
        claim_raster = rasterize_polygons([claim - (x0, y0)], y1 - y0 + 1, x1 - x0 + 1)
        if np.any(occupied[y0 : y1 + 1, x0 : x1 + 1] & claim_raster):
            continue
        moved = warp.shifted(*shift)
        polygon = word_polygon(layers.ink_box, moved)
        return _PlacedWord(label, layers, decoration, moved, polygon, claim)
    return None


def _window(polygon: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The integer pixel box ((x0, y0), (x1, y1)) around ``polygon``, clipped to the scene."""
    low = np.clip(np.floor(polygon.min(axis=0)).astype(int), 0, size - 1)
    high = np.clip(np.ceil(polygon.max(axis=0)).astype(int), 0, size - 1)
    return low, high


def _mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))


def scene_stem(index: int) -> str:
    """The file stem of scene ``index``: ``f"{index:06d}"``."""
    return f"{index:06d}"


def encode_scene(scene: Scene, stem: str) -> dict[str, bytes]:
    """The files of one scene, ``{relative path: bytes}``, in the folder layout above."""
    polygons = json.dumps(scene.polygons_json(), separators=(",", ":")) + "\n"
    return {
        f"{IMAGES_DIR}/{stem}.png": encode_png(scene.image),
        f"{PIXEL_MASKS_DIR}/{stem}.png": encode_png(scene.pixel_mask),
        f"{REGION_MASKS_DIR}/{stem}.png": encode_png(scene.region_mask),
        f"{POLYGONS_DIR}/{stem}.json": polygons.encode("utf-8"),
    }


def scene_files(
    index: int, *, seed: int, config: SceneConfig, assets: SynthAssets
) -> dict[str, bytes]:
    """Scene ``index`` of the run seeded with ``seed``, encoded as its files."""
    return encode_scene(generate_scene(sample_rng(seed, index), config, assets), scene_stem(index))


def iter_scenes(
    n: int,
    seed: int = 0,
    config: SceneConfig | None = None,
    assets: SynthAssets | None = None,
) -> Iterator[Scene]:
    """``n`` scenes, scene ``i`` drawn from ``sample_rng(seed, i)``, in this process.

    Raises:
        InputError: ``n`` below 1 or a negative ``seed``.
    """
    check_run(n, seed, 1)
    config = config or SceneConfig()
    assets = assets or default_assets()
    return (generate_scene(sample_rng(seed, index), config, assets) for index in range(n))


def iter_scene_files(
    n: int,
    seed: int = 0,
    config: SceneConfig | None = None,
    assets: SynthAssets | None = None,
    workers: int = 1,
) -> Iterator[dict[str, bytes]]:
    """The encoded files of ``n`` scenes (see :func:`scene_files`), identical for any ``workers``.

    Raises:
        InputError: ``n`` or ``workers`` below 1, or a negative ``seed``.
    """
    check_run(n, seed, workers)
    task = functools.partial(
        scene_files, seed=seed, config=config or SceneConfig(), assets=assets or default_assets()
    )
    return ordered_map(task, n, workers)
