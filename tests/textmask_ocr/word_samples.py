"""Tiny word-crop records made with Pillow, for the LMDB, folder and sampling tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from textmask_ocr.data.records import WordRecord


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def noise_image(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    """A random image (distinct bytes per seed); 'L' values are 0/255 like a mask."""
    rng = np.random.default_rng(seed)
    if mode == "L":
        return Image.fromarray((rng.random((height, width)) < 0.5).astype(np.uint8) * 255, "L")
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def word_records(labels: list[str], *, masks: bool = True, seed: int = 0) -> list[WordRecord]:
    """One record per label: a PNG (JPEG for every third) of size (8 + i % 5) x 6, and a mask."""
    records = []
    for i, label in enumerate(labels):
        width, height = 8 + i % 5, 6
        image_format = "JPEG" if i % 3 == 2 else "PNG"
        image = encode(noise_image(width, height, seed + i), image_format)
        mask = encode(noise_image(width, height, seed + 1000 + i, "L")) if masks else None
        records.append(WordRecord(image, label, mask))
    return records


LABELS = ["hello", "World", "42", "tmp", "a-b", "text", "mask", "ocr"]
