"""User images into pixels: one picture in every accepted form, through every path, same pixels.

Each picture comes with its expected 8-bit RGB pixels, computed here by brute force (alpha over
white in exact fractions); every form of it goes through recognition preprocessing, segmentation
prediction, the report's image embedding and, for encoded files, the word-crop LMDB readers
(training data and ``add-masks``).
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recognizers import RecognizerConfig
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.mask_cache import add_masks
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import (
    MAX_PIXELS,
    image_to_array,
    image_to_pil,
    image_to_tensor,
    mask_to_pil,
    open_image,
)
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.recognition.preprocess import image_tensor
from textmask_ocr.report.examples import image_data_uri

HEIGHT, WIDTH = 16, 32  # multiples of 16: the segmenter runs them unpadded
_rng = np.random.default_rng(0)
RGB = _rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
GRAY = _rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
ALPHA = _rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
ALPHA[0, :2] = (0, 255)
CMYK = _rng.integers(0, 256, (HEIGHT, WIDTH, 4), dtype=np.uint8)
BINARY = GRAY > 127
OPAQUE = np.full((HEIGHT, WIDTH, 1), 255, np.uint8)


def over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Brute force, pixel by pixel in exact fractions: round(255 * (c a + (1 - a)))."""
    out = np.empty(color.shape, dtype=np.uint8)
    for index in np.ndindex(color.shape):
        a = Fraction(int(alpha[index[:2]]), 255)
        value = Fraction(int(color[index]), 255) * a + (1 - a)
        out[index] = round(value * 255)
    return out


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def gray_as_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _exif_rotated_png() -> bytes:
    """The RGB picture stored rotated, with EXIF orientation 6 (rotate 90 degrees clockwise to
    show), so that a reader applying the orientation gets the picture back."""
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = Image.fromarray(RGB).transpose(Image.Transpose.ROTATE_90)
    return encoded(stored, "PNG", exif=exif)


_palette = Image.fromarray(RGB).quantize(64)
_palette_rgb = np.asarray(_palette.convert("RGB"))
_clear_index = int(np.asarray(_palette)[0, 0])
_transparent_palette = _palette.copy()
_transparent_palette.info["transparency"] = _clear_index
_palette_over_white = np.where(
    (np.asarray(_palette) == _clear_index)[..., None], np.uint8(255), _palette_rgb
)
_cmyk = Image.fromarray(CMYK, "CMYK")
_rotated_png = _exif_rotated_png()

#: picture -> (expected RGB pixels, {form name: the picture in that form}); "path" forms are
#: written to files by the ``forms`` fixture.
PICTURES: dict[str, tuple[np.ndarray, dict[str, object]]] = {
    "rgb": (
        RGB,
        {
            "pil-rgb": Image.fromarray(RGB),
            "pil-rgba-opaque": Image.fromarray(np.concatenate([RGB, OPAQUE], axis=2)),
            "uint8-hwc": RGB,
            "uint16-hwc": RGB.astype(np.uint16) * 257,
            "float32-hwc": RGB.astype(np.float32) / 255,
            "float64-hwc": RGB / 255.0,
            "tensor-uint8-chw": chw(RGB),
            "tensor-float-chw": chw(RGB).float() / 255,
            "png-bytes": encoded(Image.fromarray(RGB), "PNG"),
            "bmp-bytes": encoded(Image.fromarray(RGB), "BMP"),
            "png-path": ("path", encoded(Image.fromarray(RGB), "PNG")),
            "png-path-str": ("str", encoded(Image.fromarray(RGB), "PNG")),
            "exif-rotated-png-bytes": _rotated_png,
            "exif-rotated-pil": Image.open(io.BytesIO(_rotated_png)),
        },
    ),
    "gray": (
        gray_as_rgb(GRAY),
        {
            "pil-l": Image.fromarray(GRAY),
            "pil-i16": Image.fromarray(GRAY.astype(np.uint16) * 257),
            "pil-i32": Image.fromarray(GRAY.astype(np.int32) * 257),
            "pil-f": Image.fromarray(GRAY.astype(np.float32) / 255),
            "pil-la-opaque": Image.fromarray(np.dstack([GRAY, OPAQUE[..., 0]]), "LA"),
            "uint8-hw": GRAY,
            "uint8-hw1": GRAY[..., None],
            "uint16-hw": GRAY.astype(np.uint16) * 257,
            "float-hw": GRAY.astype(np.float32) / 255,
            "tensor-uint8-hw": torch.from_numpy(GRAY),
            "tensor-float-1hw": torch.from_numpy(GRAY)[None].float() / 255,
            "png-l-bytes": encoded(Image.fromarray(GRAY), "PNG"),
            "png-16-bit-bytes": encoded(Image.fromarray(GRAY.astype(np.uint16) * 257), "PNG"),
            "png-16-bit-path": (
                "path",
                encoded(Image.fromarray(GRAY.astype(np.uint16) * 257), "PNG"),
            ),
        },
    ),
    "transparent": (
        over_white(RGB, ALPHA),
        {
            "pil-rgba": Image.fromarray(np.dstack([RGB, ALPHA])),
            "uint8-hwc4": np.dstack([RGB, ALPHA]),
            "float-hwc4": np.dstack([RGB, ALPHA]).astype(np.float32) / 255,
            "tensor-uint8-4hw": chw(np.dstack([RGB, ALPHA])),
            "png-rgba-bytes": encoded(Image.fromarray(np.dstack([RGB, ALPHA])), "PNG"),
            "png-rgba-path": ("path", encoded(Image.fromarray(np.dstack([RGB, ALPHA])), "PNG")),
        },
    ),
    "gray-transparent": (
        gray_as_rgb(over_white(GRAY, ALPHA)),
        {
            "pil-la": Image.fromarray(np.dstack([GRAY, ALPHA]), "LA"),
            "uint8-hw2": np.dstack([GRAY, ALPHA]),
            "float-hw2": np.dstack([GRAY, ALPHA]).astype(np.float32) / 255,
            "png-la-bytes": encoded(Image.fromarray(np.dstack([GRAY, ALPHA]), "LA"), "PNG"),
        },
    ),
    "palette": (
        _palette_rgb,
        {
            "pil-p": _palette,
            "png-p-bytes": encoded(_palette, "PNG"),
            "gif-bytes": encoded(_palette, "GIF"),
        },
    ),
    "palette-transparent": (
        _palette_over_white,
        {
            "pil-p-transparency": _transparent_palette,
            "png-p-transparency-bytes": encoded(_palette, "PNG", transparency=_clear_index),
        },
    ),
    "cmyk": (
        np.asarray(_cmyk.convert("RGB")),
        {"pil-cmyk": _cmyk, "tiff-cmyk-bytes": encoded(_cmyk, "TIFF")},
    ),
    "binary": (
        gray_as_rgb(BINARY.astype(np.uint8) * 255),
        {
            "pil-1": Image.fromarray(BINARY),
            "bool-hw": BINARY,
            "tensor-bool-hw": torch.from_numpy(BINARY),
            "png-1-bit-bytes": encoded(Image.fromarray(BINARY), "PNG"),
        },
    ),
}

CASES = [(picture, form) for picture, (_, forms) in PICTURES.items() for form in forms]
ENCODED_CASES = [
    (picture, form) for picture, form in CASES if isinstance(PICTURES[picture][1][form], bytes)
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pictures")


def form_of(picture: str, form: str, folder: Path) -> object:
    """The picture in that form (files written on first use)."""
    value = PICTURES[picture][1][form]
    if isinstance(value, tuple):
        kind, data = value
        path = folder / f"{picture}-{form}.png"
        path.write_bytes(data)
        return path if kind == "path" else str(path)
    return value


# ----------------------------------------------------------------------------- the paths


def through_recognition(image: object) -> np.ndarray:
    config = RecognizerConfig(
        arch="crnn", color_mode="RGB", input_size=(HEIGHT, WIDTH), alphabet="ab"
    )
    values = image_tensor(image, config).permute(1, 2, 0).numpy()
    return np.rint(values * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Segmenter:
    checkpoint = tmp_path_factory.mktemp("seg") / "tiny.pt"
    return Segmenter.from_pretrained(save_tiny_checkpoint(checkpoint, tiny_model()), device="cpu")


def through_segmentation(segmenter: Segmenter, image: object) -> np.ndarray:
    """The colours :meth:`Segmenter.predict` hands its network, in 8 bits."""
    seen: list[torch.Tensor] = []

    def forward(batch: torch.Tensor) -> tuple[torch.Tensor, None]:
        seen.append(batch)
        return torch.zeros(batch.shape[0], *batch.shape[-2:]), None

    original = segmenter.forward
    segmenter.forward = forward  # type: ignore[method-assign]
    try:
        segmenter.predict([image])
    finally:
        segmenter.forward = original  # type: ignore[method-assign]
    (batch,) = seen
    return np.rint(batch[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def through_report(image: object) -> np.ndarray:
    uri = image_data_uri(image)
    png = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize(("picture", "form"), CASES)
@pytest.mark.parametrize("path", ["recognition", "segmentation", "report"])
def test_every_form_gives_the_same_pixels_on_every_path(
    picture: str, form: str, path: str, segmenter: Segmenter, files: Path
) -> None:
    image = form_of(picture, form, files)
    paths: dict[str, Callable[[object], np.ndarray]] = {
        "recognition": through_recognition,
        "segmentation": lambda image: through_segmentation(segmenter, image),
        "report": through_report,
    }
    np.testing.assert_array_equal(paths[path](image), PICTURES[picture][0])


@pytest.mark.parametrize(("picture", "form"), ENCODED_CASES)
def test_encoded_forms_read_from_an_lmdb_give_the_same_pixels(
    picture: str, form: str, tmp_path: Path
) -> None:
    """The word-crop readers: training data and ``add-masks``'s crops."""
    source = tmp_path / "words"
    write_word_lmdb(source, [WordRecord(PICTURES[picture][1][form], "ab")], quiet=True)  # type: ignore[arg-type]
    expected = PICTURES[picture][0]
    training = LmdbWordDataset(source)[0]["image"]
    np.testing.assert_array_equal(np.asarray(training.convert("RGB")), expected)
    crops: list[Image.Image] = []

    def predictor(batch: list[Image.Image]) -> list[Image.Image]:
        crops.extend(batch)
        return [Image.new("L", crop.size) for crop in batch]

    add_masks(source, tmp_path / "with_masks", predictor, quiet=True)
    (crop,) = crops
    np.testing.assert_array_equal(np.asarray(crop.convert("RGB")), expected)


# ----------------------------------------------------------------------------- the reference


def test_gray_stays_gray_and_colour_stays_colour() -> None:
    assert image_to_pil(GRAY).mode == "L" and image_to_array(GRAY).shape == (HEIGHT, WIDTH, 1)
    assert image_to_pil(Image.fromarray(GRAY).convert("I;16")).mode == "L"
    assert image_to_pil(RGB).mode == "RGB" and image_to_array(RGB).shape == (HEIGHT, WIDTH, 3)
    assert image_to_tensor(GRAY).shape == (3, HEIGHT, WIDTH)


def test_plain_8_bit_pillow_images_come_back_as_they_are() -> None:
    image = Image.fromarray(RGB)
    assert image_to_pil(image) is image


def test_sixteen_bit_precision_is_kept_for_segmentation_and_rounded_for_8_bit_paths() -> None:
    levels = np.array([[0, 1, 128, 65535]], dtype=np.uint16)
    assert image_to_tensor(levels)[0, 0].tolist() == pytest.approx(
        [0, 1 / 65535, 128 / 65535, 1], abs=1e-9
    )
    assert np.asarray(image_to_pil(levels)).tolist() == [[0, 0, 0, 255]]


def test_exif_orientation_is_applied_once() -> None:
    rotated = image_to_pil(_rotated_png)
    np.testing.assert_array_equal(np.asarray(rotated), RGB)
    np.testing.assert_array_equal(np.asarray(image_to_pil(rotated)), RGB)


# ----------------------------------------------------------------------------- bad input


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A small gray PNG whose header declares ``width x height`` pixels (one compressed row)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" * (width + 1))
    signature = b"\x89PNG\r\n\x1a\n"
    return (
        signature + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", row) + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10_000, 30_000])  # over our limit, over twice Pillow's
def test_a_decompression_bomb_is_a_one_line_error_naming_the_file(
    side: int, tmp_path: Path
) -> None:
    assert side * side > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(side, side))
    message = (
        rf"^{path}: more than {MAX_PIXELS:,} pixels, refused as a possible decompression bomb$"
    )
    for read in (image_to_pil, image_to_tensor, mask_to_pil, open_image):
        with pytest.raises(InputError, match=message.replace(".", r"\.")):
            read(path)
    with pytest.raises(InputError, match=r"^crop 3: more than"):
        image_to_pil(path.read_bytes(), name="crop 3")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"", "cannot read image"),
        (b"not an image at all", r"cannot read image \(not a known image format\)"),
        (encoded(Image.fromarray(RGB), "PNG")[:60], "cannot read image"),
    ],
    ids=["missing", "zero-bytes", "text", "truncated"],
)
def test_unreadable_files_name_the_file(
    content: bytes | None, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "word.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=f"^{path}: {message}"):
        image_to_pil(path)
    with pytest.raises(InputError, match=f"^{tmp_path}: is a folder"):
        image_to_pil(tmp_path)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (RGB.astype(np.float32), r"float images must hold values in \[0, 1\], got 0\.\.255 "),
        (np.array([[0.5, np.nan]]), r"got 0\.5\.\.0\.5 or NaN"),
        (np.array([[-0.25, 1.0]]), r"got -0\.25\.\.1 \(divide 0-255 data by 255\)"),
        (torch.full((1, 2, 2), 2.0), r"float images must hold values in \[0, 1\], got 2\.\.2"),
        (
            np.zeros((2, 2), dtype=np.int32),
            "must be uint8, uint16, bool or float in .0, 1., got int32",
        ),
        (np.zeros((2, 2, 5), dtype=np.uint8), r"\(H, W\) or \(H, W, C\) with C in 1-4, got shape"),
        (np.zeros((0, 2), dtype=np.uint8), r"got shape \(0, 2, 1\)"),
        (np.zeros(4, dtype=np.uint8), r"got shape \(4,\)"),
        (torch.zeros(2, 3, 4, 4), r"image tensors must be \(H, W\) or \(C, H, W\)"),
        ([[0, 1]], "cannot read an image from a list"),
    ],
    ids=[
        "0-255-floats",
        "nan",
        "negative",
        "tensor-over-1",
        "int32",
        "5-channels",
        "empty",
        "1-d",
        "4-d-tensor",
        "list",
    ],
)
def test_bad_arrays_and_tensors_are_refused_with_the_rule(image: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        image_to_array(image)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (np.array([[True, False]]), [[255, 0]]),
        (np.array([[1, 0]], dtype=np.uint8), [[255, 0]]),
        (np.array([[1, 0]], dtype=np.int64), [[255, 0]]),
        (np.array([[200, 0]], dtype=np.uint8), [[200, 0]]),
        (np.array([[0.5, 1.0]], dtype=np.float32), [[128, 255]]),
        (torch.tensor([[[0.0, 1.0]]]), [[0, 255]]),
        (np.array([[[7], [0]]], dtype=np.uint8).reshape(1, 2, 1), [[7, 0]]),
        (Image.fromarray(np.array([[True, False]])), [[255, 0]]),
        (Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)), [[0, 255]]),
        (Image.fromarray(np.array([[[255, 255, 255, 0]]], dtype=np.uint8)), [[255]]),
    ],
    ids=[
        "bool",
        "uint8-0-1",
        "int64-0-1",
        "uint8-levels",
        "float",
        "tensor-1hw",
        "hw1",
        "pil-1",
        "pil-16-bit",
        "pil-rgba-ignores-alpha",
    ],
)
def test_mask_rules(mask: object, expected: list[list[int]]) -> None:
    result = mask_to_pil(mask)  # type: ignore[arg-type]
    assert result.mode == "L" and np.asarray(result).tolist() == expected


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.array([[0, 300]], dtype=np.int32), r"integer masks must lie in 0\.\.255, got 0\.\.300"),
        (np.array([[0.0, 1.5]]), r"float images must hold values in \[0, 1\]"),
        (
            np.zeros((2, 2, 3), dtype=np.uint8),
            r"masks must be \(H, W\), \(H, W, 1\) or \(1, H, W\)",
        ),
    ],
)
def test_bad_masks_are_refused(mask: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        mask_to_pil(mask)
