"""Predicted masks cached into a copy of a word-crop LMDB (``textmask-ocr add-masks``).

The copy keeps every image and label byte for byte and stores the segmenter's pixel-level output
as ``mask-%09d`` (8-bit PNG of the crop's size, probability x 255), plus the key ``mask-source`` =
``predicted`` so ``--mask predicted`` knows these masks are predictions. The copy is built in
``.<name>.partial`` beside the output; every commit records how many crops are done, so a killed
run continues where it stopped, and the folder takes its final name only when complete.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import lmdb
from PIL import Image

from textmask_ocr.data.lmdb_format import WordLmdb
from textmask_ocr.data.lmdb_writer import INITIAL_MAP_SIZE, GrowingWriter
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import image_to_pil
from textmask_ocr.progress import track
from textmask_ocr.recognition.mask_sources import MaskPredictor

MASK_SOURCE_KEY = b"mask-source"
PREDICTED = b"predicted"
PROGRESS_KEY = b"add-masks-progress"


def partial_path(out: Path) -> Path:
    """Where an unfinished :func:`add_masks` output lives."""
    return out.parent / f".{out.name}.partial"


def has_predicted_masks(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an LMDB whose masks were written by :func:`add_masks`."""
    try:
        with WordLmdb(path, validate=False) as db:
            return db.metadata(MASK_SOURCE_KEY) == PREDICTED
    except InputError:
        return False


def _encode_png(mask: Image.Image) -> bytes:
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


def _chunks(indices: Iterator[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for index in indices:
        chunk.append(index)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_masks(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    predictor: MaskPredictor,
    *,
    batch_size: int = 256,
    quiet: bool = False,
) -> int:
    """Copy the LMDB ``source`` to ``out`` with ``predictor``'s mask for every crop.

    Args:
        source: a word-crop LMDB.
        out: the new LMDB (must not exist; an unfinished run's ``.partial`` is continued).
        predictor: crops -> masks ('L', each its crop's size), e.g. a segmenter's ``crop_masks``.
        batch_size: crops handed to the predictor at once.
        quiet: no progress bar.

    Returns:
        the number of samples in ``out``.
    """
    out = Path(out)
    if out.exists():
        raise InputError(f"{out}: already exists; choose another output")
    partial = partial_path(out)
    with WordLmdb(source) as src:
        env = lmdb.open(
            str(partial), map_size=INITIAL_MAP_SIZE, lock=False, readahead=False, meminit=True
        )
        try:
            with env.begin() as txn:
                done = int(txn.get(PROGRESS_KEY, b"0"))
            writer = GrowingWriter(env, out, start=done, progress_key=PROGRESS_KEY)
            remaining = track(
                range(done + 1, src.num_samples + 1),
                total=src.num_samples - done,
                label="predicting masks",
                quiet=quiet,
            )
            for chunk in _chunks(iter(remaining), batch_size):
                samples = [src.read(index) for index in chunk]
                crops = [
                    image_to_pil(sample.image, name=f"{source}: image-{index:09d}")
                    for index, sample in zip(chunk, samples, strict=True)
                ]
                masks = predictor(crops)
                for index, sample, mask in zip(chunk, samples, masks, strict=True):
                    label = src.decode_label(index, sample.label)
                    writer.add(WordRecord(sample.image, label, _encode_png(mask), sample.polygon))
                writer.commit()
            count = writer.finish({MASK_SOURCE_KEY: PREDICTED})
        finally:
            env.close()
    os.replace(partial, out)
    return count
