"""Predicted masks cached into a copy of a word-crop LMDB (``textmask-ocr add-masks``).

The copy keeps every image and label byte for byte and stores the segmenter's pixel-level output
as ``mask-%09d`` (8-bit PNG of the crop's size, probability x 255), plus the key ``mask-source`` =
``predicted`` so ``--mask predicted`` knows these masks are predictions. The copy is built in
``.<name>.partial`` beside the output under a lock (a second run writing the same output is
refused); every commit records how many crops are done, so a killed run continues where it
stopped, and the folder takes its final name only when complete.

Several processes (``torchrun``): the samples are cut into the batches of a single-process run
(``batch_size`` consecutive samples each), and rank ``r`` of ``W`` predicts the ``r``-th of ``W``
contiguous runs of those batches (:func:`shard_indices`) into its own partial LMDB, under its
own lock (:func:`predict_mask_shard`). Rank 0's partial is the output's partial: once every rank
is done, rank 0 appends the other ranks' samples in rank order (:func:`merge_mask_shards`). Every
predictor call thus sees exactly the crops of the same call in a single-process run, and the
output holds the same keys and bytes. Each partial records its progress, so any rank (or the
merge) that is killed continues where it stopped when the job is started again with the same
arguments and number of processes. Across machines, the output's folder must be on a file
system that every rank writes and rank 0 reads.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import lmdb
from PIL import Image

from textmask_ocr.atomic import output_lock
from textmask_ocr.atomic import partial_path as output_partial_path
from textmask_ocr.data.lmdb_format import WordLmdb, image_key, label_key, mask_key, polygon_key
from textmask_ocr.data.lmdb_writer import INITIAL_MAP_SIZE, GrowingWriter
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import image_to_pil
from textmask_ocr.progress import track
from textmask_ocr.recognition.mask_sources import MaskPredictor

MASK_SOURCE_KEY = b"mask-source"
PREDICTED = b"predicted"
#: Last sample index committed to a partial LMDB (removed when the output is complete).
PROGRESS_KEY = b"add-masks-progress"
#: ``"<first> <last> <batch size>"``: the samples a partial LMDB is for (removed likewise).
SHARD_KEY = b"add-masks-shard"


def partial_path(out: Path, rank: int = 0, world_size: int = 1) -> Path:
    """Where rank ``rank`` of ``world_size`` builds its part of an :func:`add_masks` output
    (rank 0: the output's own partial, ``.<name>.partial``)."""
    if rank == 0:
        return output_partial_path(out)
    return out.parent / f".{out.name}.rank{rank}-of-{world_size}.partial"


def _shard_lock(out: Path, rank: int, world_size: int) -> contextlib.AbstractContextManager[None]:
    """The lock of rank ``rank``'s partial output (rank 0: the output's own lock)."""
    return output_lock(out if rank == 0 else partial_path(out, rank, world_size))


def shard_indices(num_samples: int, batch_size: int, rank: int, world_size: int) -> range:
    """The 1-based sample indices rank ``rank`` of ``world_size`` predicts.

    The ``ceil(num_samples / batch_size)`` batches of a single-process run are split into
    ``world_size`` contiguous runs whose lengths differ by at most one batch; the shards are
    disjoint, in rank order, and cover ``1..num_samples`` (a rank may get none).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside a world of {world_size}")
    batches = -(-num_samples // batch_size)
    first = batches * rank // world_size * batch_size
    last = min(batches * (rank + 1) // world_size * batch_size, num_samples)
    return range(first + 1, last + 1)


def has_predicted_masks(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an LMDB whose masks were written by :func:`add_masks`."""
    try:
        with WordLmdb(path, validate=False) as db:
            return db.metadata(MASK_SOURCE_KEY) == PREDICTED
    except InputError:
        return False


def add_masks(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    predictor: MaskPredictor,
    *,
    batch_size: int = 256,
    quiet: bool = False,
) -> int:
    """Copy the LMDB ``source`` to ``out`` with ``predictor``'s mask for every crop (one process).

    Args:
        source: a word-crop LMDB.
        out: the new LMDB (must not exist; an unfinished run's ``.partial`` is continued).
        predictor: crops -> masks ('L', each its crop's size), e.g. a segmenter's ``crop_masks``.
        batch_size: crops handed to the predictor at once.
        quiet: no progress bar.

    Returns:
        the number of samples in ``out``.
    """
    predict_mask_shard(source, out, predictor, batch_size=batch_size, quiet=quiet)
    return merge_mask_shards(out, world_size=1, quiet=quiet)


def predict_mask_shard(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    predictor: MaskPredictor,
    *,
    rank: int = 0,
    world_size: int = 1,
    batch_size: int = 256,
    quiet: bool = False,
) -> range:
    """Predict the masks of rank ``rank``'s shard into its partial LMDB (resumed if present).

    Samples keep their indices in ``source``; each predictor call gets one batch of
    :func:`shard_indices`, and every call is committed with the progress. A resumed run starts
    again at the first batch not fully committed.

    Returns:
        the shard's sample indices.

    Raises:
        InputError: ``out`` exists, another process is writing this shard, or the partial LMDB
            was started for other samples or another batch size.
    """
    out = Path(out)
    if out.exists():
        raise InputError(f"{out}: already exists; choose another output")
    with _shard_lock(out, rank, world_size), WordLmdb(source) as src:
        shard = shard_indices(src.num_samples, batch_size, rank, world_size)
        plan = f"{shard.start} {shard.stop - 1} {batch_size}".encode("ascii")
        partial = partial_path(out, rank, world_size)
        env = _open_partial(partial)
        try:
            with env.begin(write=True) as txn:
                started = txn.get(SHARD_KEY)
                if started not in (None, plan):
                    raise InputError(
                        f"{partial}: an unfinished add-masks run for samples, batch size "
                        f"{started.decode('ascii', 'replace')!r}, not {plan.decode('ascii')!r}; "
                        "continue it with its arguments and number of processes, or delete it"
                    )
                txn.put(SHARD_KEY, plan)
                done = int(txn.get(PROGRESS_KEY, str(shard.start - 1).encode("ascii")))
            if done < shard.stop - 1:  # continue at a batch boundary, as a straight run calls
                done -= (done - shard.start + 1) % batch_size
            writer = GrowingWriter(env, out, start=done, progress_key=PROGRESS_KEY)
            remaining = track(
                range(done + 1, shard.stop),
                total=shard.stop - 1 - done,
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
            writer.commit()  # records the progress of an empty shard too
        finally:
            env.close()
    return shard


def merge_mask_shards(
    out: str | os.PathLike[str], *, world_size: int = 1, quiet: bool = False
) -> int:
    """Rank 0: append the other ranks' finished shards to its partial, then name it ``out``.

    Resumable like the prediction (the progress counts the samples already appended); the other
    ranks' partial LMDBs are deleted once ``out`` is complete.

    Returns:
        the number of samples in ``out``.

    Raises:
        InputError: a rank's partial LMDB is missing or unfinished, or another process is
            writing ``out``.
    """
    out = Path(out)
    with output_lock(out):
        return _merge_mask_shards(out, world_size, quiet=quiet)


def _merge_mask_shards(out: Path, world_size: int, *, quiet: bool) -> int:
    partial = partial_path(out)
    shards = [partial_path(out, rank, world_size) for rank in range(1, world_size)]
    env = _open_partial(partial, create=False)
    try:
        with env.begin() as txn:
            _, own_last, done = _shard_state(txn)
        if done < own_last:
            raise InputError(f"{partial}: rank 0 has not finished its samples 1-{own_last}")
        writer = GrowingWriter(env, out, start=done, progress_key=PROGRESS_KEY)
        for rank, shard_path in enumerate(shards, start=1):
            _append_shard(writer, shard_path, rank, quiet=quiet)
        count = writer.finish({MASK_SOURCE_KEY: PREDICTED})
        with env.begin(write=True) as txn:
            txn.delete(SHARD_KEY)
    finally:
        env.close()
    os.replace(partial, out)
    for shard_path in shards:
        shutil.rmtree(shard_path)
    return count


def _append_shard(writer: GrowingWriter, path: Path, rank: int, *, quiet: bool) -> None:
    """Copy the samples of rank ``rank``'s finished shard that ``writer`` does not hold yet."""
    if not path.is_dir():
        raise InputError(
            f"{path}: rank {rank}'s masks are missing (across machines, the output's folder "
            "must be on a file system that every rank shares)"
        )
    env = _open_partial(path, create=False)
    try:
        with env.begin() as txn:
            first, last, progress = _shard_state(txn)
            if progress < last or writer.count < first - 1:
                raise InputError(
                    f"{path}: rank {rank} has not finished its samples {first}-{last}; "
                    "start the job again with the same arguments"
                )
            todo = range(max(writer.count + 1, first), last + 1)
            for index in track(todo, label=f"merging rank {rank}", quiet=quiet):
                image, label, mask, polygon = (
                    txn.get(key(index)) for key in (image_key, label_key, mask_key, polygon_key)
                )
                writer.add(WordRecord(image, label.decode("utf-8"), mask, polygon))
        writer.commit()
    finally:
        env.close()


def _shard_state(txn: lmdb.Transaction) -> tuple[int, int, int]:
    """``(first, last, progress)`` of a partial LMDB (``(1, 0, -1)`` if it records none)."""
    first, last, _ = (int(value) for value in txn.get(SHARD_KEY, b"1 0 0").split())
    return first, last, int(txn.get(PROGRESS_KEY, b"-1"))


def _open_partial(path: Path, *, create: bool = True) -> lmdb.Environment:
    if not create and not path.is_dir():
        raise InputError(f"{path}: no partial add-masks output to finish")
    return lmdb.open(
        str(path), map_size=INITIAL_MAP_SIZE, lock=False, readahead=False, meminit=True
    )


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
