"""Predicted masks cached into a copy of a word-crop LMDB (``textmask-ocr add-masks``).

The copy keeps every image and label byte for byte and stores the segmenter's pixel-level output
as ``mask-%09d`` (8-bit PNG of the crop's size, probability x 255), plus the key ``mask-source`` =
``predicted`` so ``--mask predicted`` knows these masks are predictions. The copy is built in
``.<name>.partial`` beside the output under a lock (a second run writing the same output is
refused); every commit records how many crops are done, so a killed run continues where it
stopped, and the folder takes its final name only when complete.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import lmdb
from PIL import Image

from textmask_ocr.atomic import partial_folder
from textmask_ocr.data.lmdb_format import DATA_FILE, WordLmdb, decode_image
from textmask_ocr.data.lmdb_writer import INITIAL_MAP_SIZE, GrowingWriter
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.progress import track
from textmask_ocr.recognition.mask_sources import MaskPredictor

MASK_SOURCE_KEY = b"mask-source"
PREDICTED = b"predicted"
PROGRESS_KEY = b"add-masks-progress"


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
    with WordLmdb(source) as src, partial_folder(out, resumable=_is_lmdb) as partial:
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
                masks = predictor([decode_image(sample.image) for sample in samples])
                for index, sample, mask in zip(chunk, samples, masks, strict=True):
                    label = src.decode_label(index, sample.label)
                    writer.add(WordRecord(sample.image, label, _encode_png(mask)))
                writer.commit()
            count = writer.finish({MASK_SOURCE_KEY: PREDICTED})
        finally:
            env.close()
    return count


def _is_lmdb(partial: Path) -> bool:
    """Whether an unfinished output is an LMDB to continue."""
    return (partial / DATA_FILE).is_file()
