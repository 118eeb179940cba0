"""Backgrounds for synthetic text: procedural fills, crops of user images, and non-text clutter.

Everything returns or edits float32 RGB arrays ``(H, W, 3)`` in [0, 1]. The kinds of fill:
``solid`` (one colour with grain), ``gradient`` (linear, any direction), ``clouds`` (smooth
noise), ``texture`` (crossed sine gratings: fabric, wood, tiles) and ``image`` (a random crop of
one of the user's pictures, rescaled). ``busy`` backgrounds vary more in luminance and carry more
grain: they make the text harder to tell apart from its surroundings.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from textmask_ocr.data.synth.colour import colour_with_luminance, luminance
from textmask_ocr.errors import InputError

#: File suffixes taken as background pictures (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Background pictures are shrunk to at most this side when loaded (crops stay sharp enough).
MAX_IMAGE_SIDE = 1024
#: The procedural kinds, drawn uniformly (``image`` takes half the draws when pictures exist).
PROCEDURAL_KINDS = ("solid", "gradient", "clouds", "texture")


def find_background_images(folder: str | os.PathLike[str]) -> tuple[str, ...]:
    """The readable pictures under ``folder`` (recursively), sorted by path.

    Raises:
        InputError: ``folder`` is not a folder, holds no picture, or holds one Pillow cannot read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--backgrounds {folder}: no such folder")
    paths = sorted(
        path.resolve()
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )
    if not paths:
        raise InputError(
            f"--backgrounds {folder}: no picture ({', '.join(IMAGE_SUFFIXES)}) in this folder"
        )
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, UnidentifiedImageError, SyntaxError) as error:
            raise InputError(f"--backgrounds: {path}: not a readable picture ({error})") from None
    return tuple(str(path) for path in paths)


@functools.lru_cache(maxsize=32)
def load_background_image(path: str) -> Image.Image:
    """A background picture as RGB, shrunk to at most :data:`MAX_IMAGE_SIDE` (cached)."""
    try:
        with Image.open(path) as image:
            picture = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"--backgrounds: {path}: not a readable picture ({error})") from None
    picture.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.BILINEAR)
    return picture


def draw_background(
    rng: np.random.Generator,
    width: int,
    height: int,
    images: tuple[str, ...] = (),
    *,
    busy: bool = False,
) -> np.ndarray:
    """A random background, ``(height, width, 3)`` float32 RGB in [0, 1].

    Args:
        rng: the sample's random generator.
        width, height: the size in pixels.
        images: paths of user pictures (:func:`find_background_images`); half of the backgrounds
            are crops of them when given.
        busy: stronger luminance variation and grain.
    """
    if images and rng.random() < 0.5:
        background = _image_crop(rng, width, height, images[int(rng.integers(len(images)))])
    else:
        kind = PROCEDURAL_KINDS[int(rng.integers(len(PROCEDURAL_KINDS)))]
        first = colour_with_luminance(rng, rng.uniform(0.05, 0.95))
        spread = rng.uniform(0.15, 0.45) if busy else rng.uniform(0.0, 0.2)
        second = colour_with_luminance(
            rng, float(luminance(first)) + spread * rng.choice([-1.0, 1.0])
        )
        if kind == "solid":
            background = np.broadcast_to(first, (height, width, 3)).copy()
        else:
            mix = _MIXES[kind](rng, width, height)[..., None]
            background = first + (second - first) * mix
    grain = rng.uniform(0.02, 0.06) if busy else rng.uniform(0.0, 0.02)
    if grain > 0:
        background += rng.standard_normal((height, width, 1), dtype=np.float32) * grain
    return np.clip(background, 0.0, 1.0, out=background).astype(np.float32, copy=False)


def _coordinates(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.arange(width, dtype=np.float32)[None, :],
        np.arange(height, dtype=np.float32)[:, None],
    )


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A linear ramp from 0 to 1 across the image in a random direction."""
    x, y = _coordinates(width, height)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x + np.sin(angle) * y
    low, high = ramp.min(), ramp.max()
    return (ramp - low) / max(high - low, 1e-6)


def _clouds(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid, bilinearly enlarged."""
    grid = rng.random((int(rng.integers(2, 7)), int(rng.integers(2, 9))), dtype=np.float32)
    return np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR))


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Crossed sine gratings in [0, 1], periods between 3 and 40 pixels."""
    x, y = _coordinates(width, height)
    pattern = np.ones((height, width), dtype=np.float32)
    for _ in range(int(rng.integers(1, 3))):
        angle = rng.uniform(0, np.pi)
        frequency = 2 * np.pi / rng.uniform(3.0, 40.0)
        phase = rng.uniform(0, 2 * np.pi)
        pattern = pattern * (
            0.5 + 0.5 * np.sin(frequency * (np.cos(angle) * x + np.sin(angle) * y) + phase)
        )
    return pattern


_MIXES = {"gradient": _gradient, "clouds": _clouds, "texture": _texture}


def _image_crop(rng: np.random.Generator, width: int, height: int, path: str) -> np.ndarray:
    """A random crop of a picture with the output's aspect ratio, resized to the output size."""
    picture = load_background_image(path)
    zoom = rng.uniform(0.3, 1.0)
    crop_width = min(picture.width, max(1.0, picture.width * zoom))
    crop_height = crop_width * height / width
    if crop_height > picture.height:
        crop_height = picture.height
        crop_width = crop_height * width / height
    left = rng.uniform(0, picture.width - crop_width)
    top = rng.uniform(0, picture.height - crop_height)
    box = (left, top, left + crop_width, top + crop_height)
    crop = picture.resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(crop, dtype=np.float32) * (1.0 / 255.0)


def draw_clutter(
    rng: np.random.Generator,
    canvas: np.ndarray,
    colour: np.ndarray,
    *,
    count: int,
    max_width: int,
) -> None:
    """Draw ``count`` random lines, arcs and rectangle outlines onto ``canvas`` in place.

    Clutter is part of the background (never text): drawn before the text, it can share the
    text's colour, which is what makes a text mask useful to a recognizer.

    Args:
        canvas: (H, W, 3) float32 RGB in [0, 1], edited in place.
        colour: (3,) RGB of the clutter.
        count: how many shapes.
        max_width: the largest line width in pixels.
    """
    height, width = canvas.shape[:2]
    alpha = Image.new("L", (width, height))
    pen = ImageDraw.Draw(alpha)
    for _ in range(count):
        kind = int(rng.integers(3))
        line_width = int(rng.integers(1, max(1, max_width) + 1))
        (xa, xb), (ya, yb) = np.sort(rng.uniform(-0.2, 1.2, (2, 2)) * [[width], [height]], axis=1)
        if kind == 0:
            pen.line(
                [(xa, ya), (xb, yb)] if rng.random() < 0.5 else [(xa, yb), (xb, ya)],
                fill=255,
                width=line_width,
            )
        elif kind == 1:
            start = rng.uniform(0, 360)
            pen.arc(
                [xa, ya, xb + 1, yb + 1],
                start,
                start + rng.uniform(60, 300),
                fill=255,
                width=line_width,
            )
        else:
            pen.rectangle([xa, ya, xb + 1, yb + 1], outline=255, width=line_width)
    box = alpha.getbbox()
    if box is None:
        return
    left, top, right, bottom = box
    blend = np.asarray(alpha.crop(box), dtype=np.float32)[..., None] * (1.0 / 255.0)
    region = canvas[top:bottom, left:right]
    region += (np.asarray(colour, dtype=np.float32) - region) * blend
