"""The unit of word-crop data exchanged between generators, writers and readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WordRecord:
    """One encoded word crop, as stored in a word-crop LMDB.

    Attributes:
        image: encoded image bytes (PNG, JPEG, ...), any mode; decoded with Pillow.
        label: the transcription (UTF-8).
        mask: optional 8-bit single-channel PNG of the crop's size, 255 = text, 0 = background.
        polygon: optional word polygon in the crop, encoded as
            :func:`~textmask_ocr.data.lmdb_format.encode_polygon` writes it (UTF-8 JSON
            ``[[x, y], ...]``, crop pixel coordinates with pixel centres at integers).
    """

    image: bytes
    label: str
    mask: bytes | None = None
    polygon: bytes | None = None
