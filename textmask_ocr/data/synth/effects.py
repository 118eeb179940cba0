"""Image-only degradations (washed-out colour, blur, low resolution, sensor noise, JPEG
compression), and encoding.

Degradations act on the finished picture and never on the text mask: a blurred or compressed word
still has the same text pixels. Order: desaturation, blur, down-and-up sampling, noise, JPEG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from textmask_ocr.data.synth.colour import luminance


@dataclass(frozen=True)
class ImageEffects:
    """The distribution of degradations (each applied independently with its probability).

    Attributes:
        desaturate_probability, saturation: pull every pixel towards the grey of its own
            luminance, keeping this fraction (range) of its colour, as photographs of signs and
            walls look washed out beside freshly drawn colours; luminance is unchanged.
        blur_probability, blur_radius: Gaussian blur, radius range in pixels.
        downscale_probability, downscale: shrink by a factor in this range and enlarge back
            (bilinear), as low-resolution crops look.
        noise_probability, noise_std: additive Gaussian noise, standard deviation range (on [0, 1]).
        jpeg_probability, jpeg_quality: JPEG compression, quality range (inclusive).
    """

    desaturate_probability: float = 0.0
    saturation: tuple[float, float] = (0.1, 0.7)
    blur_probability: float = 0.3
    blur_radius: tuple[float, float] = (0.3, 1.2)
    downscale_probability: float = 0.15
    downscale: tuple[float, float] = (1.3, 2.5)
    noise_probability: float = 0.5
    noise_std: tuple[float, float] = (0.005, 0.04)
    jpeg_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)


@dataclass(frozen=True, eq=False)
class DegradedImage:
    """A degraded picture and, when JPEG compression was applied, the exact JPEG bytes of it.

    ``image`` is the decoded ``jpeg`` when there is one, so storing ``jpeg`` loses nothing.
    """

    image: Image.Image
    jpeg: bytes | None


def degrade(rng: np.random.Generator, canvas: np.ndarray, effects: ImageEffects) -> DegradedImage:
    """Apply random degradations to ``canvas``, (H, W, 3) float32 RGB in [0, 1].

    The desaturation's draws are made only where its probability is positive, so styles without
    it draw the same samples as before it existed.
    """
    if effects.desaturate_probability > 0 and rng.random() < effects.desaturate_probability:
        canvas = desaturate(canvas, rng.uniform(*effects.saturation))
    image = _to_image(canvas)
    width, height = image.size
    if rng.random() < effects.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*effects.blur_radius)))
    if rng.random() < effects.downscale_probability:
        factor = rng.uniform(*effects.downscale)
        small = (max(1, round(width / factor)), max(1, round(height / factor)))
        image = image.resize(small, Image.Resampling.BILINEAR).resize(
            (width, height), Image.Resampling.BILINEAR
        )
    if rng.random() < effects.noise_probability:
        noise = rng.standard_normal((height, width, 3), dtype=np.float32)
        noise *= rng.uniform(*effects.noise_std)
        image = _to_image(np.asarray(image, dtype=np.float32) * (1.0 / 255.0) + noise)
    if rng.random() >= effects.jpeg_probability:
        return DegradedImage(image, None)
    low, high = effects.jpeg_quality
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(low, high + 1)))
    jpeg = buffer.getvalue()
    with Image.open(io.BytesIO(jpeg)) as decoded:
        return DegradedImage(decoded.convert("RGB"), jpeg)


def desaturate(canvas: np.ndarray, saturation: float) -> np.ndarray:
    """(H, W, 3) float RGB moved towards each pixel's grey: ``grey + saturation * (rgb - grey)``.

    The grey has the pixel's luminance and the luminance is linear in RGB, so luminance is kept
    exactly; values stay in [0, 1] for ``saturation`` in [0, 1] (a convex combination).
    """
    grey = luminance(canvas)[..., None]
    return grey + (canvas - grey) * np.float32(saturation)


def _to_image(canvas: np.ndarray) -> Image.Image:
    """(H, W, 3) float RGB in [0, 1] (clipped) -> 8-bit RGB image."""
    return Image.fromarray(np.round(np.clip(canvas, 0.0, 1.0) * 255).astype(np.uint8))


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG bytes of ``image``, at the fastest zlib level (generation speed first)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
