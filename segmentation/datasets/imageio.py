"""Reading scene images and label maps from disk, whatever their mode.

One decoding path for every reader (and for prediction): any Pillow-readable file becomes an RGB
float tensor in [0, 1]. Grayscale and palette images are expanded to three channels, 16-bit images
keep their precision, and images with transparency are composited over white (what a viewer shows).
EXIF orientation tags are *not* applied: scene-text annotations are given in the stored pixel grid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from segmentation.datasets.errors import DatasetFormatError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image file, or raise :class:`DatasetFormatError` naming it."""
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DatasetFormatError(f"{path}: cannot read image ({error})") from None


def pil_to_rgb_tensor(image: Image.Image) -> torch.Tensor:
    """Convert a Pillow image of any mode to a float32 tensor ``(3, H, W)`` in [0, 1]."""
    if image.mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        rgb = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    elif image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        rgb = rgba[..., :3] * alpha + (1.0 - alpha)
    else:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def read_rgb_image(path: Path) -> torch.Tensor:
    """Read an image file as a float32 RGB tensor ``(3, H, W)`` in [0, 1]."""
    return pil_to_rgb_tensor(open_image(path))


def read_label_levels(path: Path) -> np.ndarray:
    """Read a single-channel label map as its stored integer levels, ``(H, W)`` uint8.

    'L' and 'P' images give their stored values (palette indices for 'P'), '1' gives 0/255,
    16-bit maps are scaled to 8 bits and colour images are converted to luminance.
    """
    image = open_image(path)
    if image.mode in _SIXTEEN_BIT_MODES:
        levels = np.asarray(image, dtype=np.float64) / 65535.0 * 255.0
        return np.clip(np.rint(levels), 0, 255).astype(np.uint8)
    if image.mode not in ("L", "P"):
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8)


def read_binary_mask(path: Path) -> np.ndarray:
    """Read a mask image as a boolean array ``(H, W)``: True where the level is >= 128.

    Thresholding at the middle also reads masks stored lossily (Total-Text ships JPEG masks).
    """
    return read_label_levels(path) >= 128


def index_images(folder: Path) -> dict[str, Path]:
    """Map each image file's lower-case stem to its path (suffixes as in :data:`IMAGE_SUFFIXES`)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.setdefault(path.stem.lower(), path)
    return found


def index_files(folder: Path) -> dict[str, Path]:
    """Map each file's lower-case name to its path."""
    return {path.name.lower(): path for path in sorted(folder.iterdir()) if path.is_file()}


def list_images(folder: Path) -> list[Path]:
    """The image files of ``folder`` sorted by name; raises when there are none."""
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: image folder not found")
    images = sorted(index_images(folder).values(), key=lambda path: path.name)
    if not images:
        raise DatasetFormatError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


def check_same_size(mask: np.ndarray, image: torch.Tensor, path: Path) -> np.ndarray:
    """Return ``mask`` if its ``(H, W)`` equals the image's, else raise naming ``path``."""
    if tuple(mask.shape) != tuple(image.shape[-2:]):
        raise DatasetFormatError(
            f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
            f"{image.shape[-1]}x{image.shape[-2]}"
        )
    return mask


def annotation_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 annotation file (BOM allowed), blank lines skipped.

    Raises:
        DatasetFormatError: the file is not UTF-8 text.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({error.reason})") from None
    return ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
