"""User images into pixels: the one home of the rules, for recognition, segmentation and reports.

Accepted forms (:data:`ImageInput`):

- the path of an image file, or the bytes of one: decoded by Pillow, EXIF orientation applied;
  an image of more than :data:`MAX_PIXELS` pixels is refused before it is decoded (a
  decompression bomb), with a one-line :class:`~textmask_ocr.errors.InputError` naming the file;
- a Pillow image of any mode: 1, L, P, RGB, CMYK, YCbCr, LA, PA, RGBA, 16-bit (I;16*), 32-bit
  integer (I, read as 16-bit levels) and float (F); EXIF orientation applied;
- a numpy array ``(H, W)`` or ``(H, W, C)`` and a torch tensor ``(H, W)`` or ``(C, H, W)``, with
  C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).

Values of arrays and tensors, by dtype: ``uint8`` 0..255, ``uint16`` 0..65535, ``bool`` black /
white, floating point **in [0, 1]**: a float outside [0, 1] (or NaN) is refused, never guessed to
be 0..255 (divide such data by 255 first). Other dtypes are refused. Transparency is composited
over white, what an image viewer shows.

Every output is computed from one reference, :func:`image_to_array` (float32 in [0, 1], gray
kept gray): :func:`image_to_pil` rounds it to 8 bits (mode 'L' or 'RGB'), :func:`image_to_tensor`
gives the (3, H, W) tensor segmentation networks read (16-bit precision kept). 8-bit images
without alpha take a shortcut that gives the same pixels. Text masks have their own rule,
:func:`mask_to_pil`.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, TypeAlias

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from textmask_ocr.errors import InputError

ImageInput: TypeAlias = Image.Image | np.ndarray | torch.Tensor | bytes | str | os.PathLike[str]
"""An image in any accepted form (see the module's description)."""

#: Largest image, in pixels, that is decoded (Pillow's default warning threshold, ~9459 x 9459).
MAX_PIXELS = 89_478_485

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA")
_PREMULTIPLIED_MODES = {"RGBa": "RGBA", "La": "LA"}
_GRAY_MODES = ("1", "L", "LA", *_SIXTEEN_BIT_MODES, "F")
_EXIF_ORIENTATION = 0x0112
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


def _prefix(name: str | None) -> str:
    return f"{name}: " if name else ""


def _name(image: ImageInput, name: str | None) -> str | None:
    """What error messages call ``image``: ``name``, else its path, if any."""
    return name or (os.fspath(image) if isinstance(image, str | os.PathLike) else None)


# ----------------------------------------------------------------------------- files


def open_image(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> Image.Image:
    """Decode an image file (or its bytes) fully, in its stored mode.

    Args:
        source: a path, or the encoded bytes of an image file.
        name: what error messages call it (default: the path, or "image bytes").

    Raises:
        InputError: a missing or unreadable file, not an image, a truncated one, or one of more
            than :data:`MAX_PIXELS` pixels.
    """
    is_path = isinstance(source, str | os.PathLike)
    label = _name(source, name) or "image bytes"
    stream = source if is_path else io.BytesIO(bytes(source))  # type: ignore[arg-type]
    bomb = f"{label}: more than {MAX_PIXELS:,} pixels, refused as a possible decompression bomb"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise InputError(bomb)
                image.load()
                return image
    except InputError:
        raise
    except Image.DecompressionBombError:  # over twice Pillow's own limit: refused while opening
        raise InputError(bomb) from None
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a folder, not an image file") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{label}: cannot read image (not a known image format)") from None
    except _DECODE_ERRORS as error:
        raise InputError(f"{label}: cannot read image ({error})") from None


def _as_pil_or_array(image: ImageInput, name: str | None) -> Image.Image | np.ndarray:
    """Files and bytes decoded, EXIF orientation applied, tensors as (H, W[, C]) arrays."""
    if isinstance(image, str | os.PathLike | bytes | bytearray | memoryview):
        image = open_image(image, name=name)  # type: ignore[arg-type]
    if isinstance(image, Image.Image):
        if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        return image
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        if tensor.dim() == 3 and 1 <= tensor.shape[0] <= 4:
            tensor = tensor.permute(1, 2, 0)
        elif tensor.dim() != 2:
            raise InputError(
                f"{_prefix(name)}image tensors must be (H, W) or (C, H, W) with C in 1-4, got "
                f"shape {tuple(tensor.shape)}"
            )
        return tensor.numpy()
    if isinstance(image, np.ndarray):
        return image
    raise InputError(f"{_prefix(name)}cannot read an image from a {type(image).__name__}")


# ----------------------------------------------------------------------------- pixels


def _unit_floats(values: np.ndarray, name: str | None) -> np.ndarray:
    """``values`` as float32, checked to lie in [0, 1]."""
    values = values.astype(np.float32, copy=False)
    if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
        low, high = np.nanmin(values), np.nanmax(values)
        raise InputError(
            f"{_prefix(name)}float images must hold values in [0, 1], got {low:.4g}..{high:.4g}"
            + (" or NaN" if np.isnan(values).any() else "")
            + " (divide 0-255 data by 255)"
        )
    return values


def _over_white(values: np.ndarray) -> np.ndarray:
    """(H, W, C + 1) float colour + alpha -> (H, W, C) composited over white."""
    alpha = values[..., -1:]
    return values[..., :-1] * alpha + (1.0 - alpha)


def _pil_pixels(image: Image.Image, name: str | None) -> np.ndarray:
    if image.mode in _PREMULTIPLIED_MODES:
        image = image.convert(_PREMULTIPLIED_MODES[image.mode])
    gray = image.mode in _GRAY_MODES
    if image.mode in _SIXTEEN_BIT_MODES:
        levels = np.asarray(image, dtype=np.float32) / 65535.0
        return np.clip(levels, 0.0, 1.0)[..., None]
    if image.mode == "F":
        return _unit_floats(np.asarray(image), name)[..., None]
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        composited = _over_white(rgba)
        return composited[..., :1] if gray else composited
    if gray:
        return np.asarray(image.convert("L"))[..., None]
    return np.asarray(image.convert("RGB"))


def _array_pixels(array: np.ndarray, name: str | None) -> np.ndarray:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4 or 0 in array.shape:
        raise InputError(
            f"{_prefix(name)}image arrays must be (H, W) or (H, W, C) with C in 1-4, got shape "
            f"{array.shape}"
        )
    if array.dtype == np.uint8:
        values: np.ndarray = array
    elif array.dtype == np.bool_:
        values = array.astype(np.uint8) * np.uint8(255)
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        values = _unit_floats(array, name)
    else:
        raise InputError(
            f"{_prefix(name)}image arrays must be uint8, uint16, bool or float in [0, 1], got "
            f"{array.dtype}"
        )
    if values.shape[2] in (2, 4):
        scale = 255.0 if values.dtype == np.uint8 else 1.0
        values = _over_white(values.astype(np.float32) / scale)
    return values


def _pixels(image: ImageInput, name: str | None) -> np.ndarray:
    """(H, W, 1 | 3) pixels: uint8 0..255 when that is exact, else float32 in [0, 1]."""
    name = _name(image, name)
    decoded = _as_pil_or_array(image, name)
    if isinstance(decoded, Image.Image):
        return _pil_pixels(decoded, name)
    return _array_pixels(decoded, name)


def image_to_array(image: ImageInput, *, name: str | None = None) -> np.ndarray:
    """The reference decoding: float32 (H, W, 1) for gray images, (H, W, 3) for colour, in [0, 1].

    Args:
        image: see :data:`ImageInput`.
        name: what error messages call the image (default: its path, if any).

    Raises:
        InputError: an unreadable file, or an array / tensor of an unsupported shape, dtype or
            value range.
    """
    pixels = _pixels(image, name)
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255.0
    return np.require(pixels, dtype=np.float32, requirements=["C", "W"])


def _is_plain_8_bit(image: ImageInput) -> bool:
    """An 'L' or 'RGB' Pillow image without transparency or an EXIF rotation."""
    return (
        isinstance(image, Image.Image)
        and image.mode in ("L", "RGB")
        and "transparency" not in image.info
        and image.getexif().get(_EXIF_ORIENTATION, 1) == 1
    )


def image_to_pil(image: ImageInput, *, name: str | None = None) -> Image.Image:
    """An 8-bit Pillow image, mode 'L' (gray) or 'RGB': ``round(255 * image_to_array(image))``.

    An 'L' or 'RGB' image without an EXIF rotation comes back as is (not a copy).
    """
    if _is_plain_8_bit(image):
        return image  # type: ignore[return-value]
    pixels = _pixels(image, name)
    if pixels.dtype != np.uint8:
        pixels = np.rint(pixels * 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels))


def image_to_tensor(image: ImageInput, *, name: str | None = None) -> torch.Tensor:
    """float32 RGB (3, H, W) in [0, 1] (gray repeated over the channels): what segmentation
    networks read."""
    values = torch.from_numpy(image_to_array(image, name=name)).permute(2, 0, 1)
    return values.expand(3, -1, -1).contiguous()


# ----------------------------------------------------------------------------- masks


def mask_to_pil(mask: ImageInput, *, name: str | None = None) -> Image.Image:
    """A text mask as an 8-bit 'L' image, 255 = text.

    Files, bytes and Pillow images are read as gray levels (colour by luma, alpha ignored, 16-bit
    scaled to 8). Arrays and tensors (H, W), (H, W, 1) or (1, H, W): ``bool`` masks, floats in
    [0, 1] (probabilities, scaled by 255), or integers: 0/1 masks (every value <= 1) are scaled
    by 255, others must lie in 0..255.

    Raises:
        InputError: as :func:`image_to_array`, or integers outside 0..255.
    """
    name = _name(mask, name)
    decoded = _as_pil_or_array(mask, name)
    if isinstance(decoded, Image.Image):
        if decoded.mode in _SIXTEEN_BIT_MODES or decoded.mode == "F":
            levels = _pil_pixels(decoded, name)[..., 0]
            return Image.fromarray(np.rint(levels * 255.0).astype(np.uint8))
        return decoded.convert("L")
    array = decoded[..., 0] if decoded.ndim == 3 and decoded.shape[2] == 1 else decoded
    if array.ndim != 2 or 0 in array.shape:
        raise InputError(
            f"{_prefix(name)}masks must be (H, W), (H, W, 1) or (1, H, W), got shape "
            f"{decoded.shape}"
        )
    levels: Any
    if array.dtype == np.bool_:
        levels = array.astype(np.uint8) * np.uint8(255)
    elif np.issubdtype(array.dtype, np.floating):
        levels = np.rint(_unit_floats(array, name) * 255.0)
    elif np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise InputError(f"{_prefix(name)}integer masks must lie in 0..255, got {low}..{high}")
        levels = array * 255 if high <= 1 else array
    else:
        raise InputError(f"{_prefix(name)}masks must be bool, integer or float, got {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(levels, dtype=np.uint8))
