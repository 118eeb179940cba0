"""Write word-crop LMDBs (layout in :mod:`textmask_ocr.data.lmdb_format`).

The LMDB is built in a partial sibling folder (:func:`textmask_ocr.atomic.partial_folder`) and
renamed to its final name only when complete: an exception midway (a bad sample, an interrupted
iterator, Ctrl-C) leaves nothing under the final name. A job that names itself (``job``: what it
writes, e.g. the label file and its contents) continues a killed run of the same job from the
last committed sample; any other partial folder is removed. The memory map starts small and
doubles whenever it fills, so the file never reserves more than about twice the data (no fixed
1 TB map).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Sized
from pathlib import Path

import lmdb

from textmask_ocr.atomic import partial_folder
from textmask_ocr.data.folder_dataset import iter_folder_records, read_gt_file
from textmask_ocr.data.lmdb_format import (
    DATA_FILE,
    LOCK_FILE,
    NUM_SAMPLES_KEY,
    check_record,
    image_key,
    label_key,
    mask_key,
    polygon_key,
)
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.progress import track

logger = logging.getLogger(__name__)

#: The first memory-map size; it doubles on every MDB_MAP_FULL.
INITIAL_MAP_SIZE = 64 * 2**20
#: A write transaction holds at most this many samples or bytes before it commits.
BATCH_SAMPLES = 1000
BATCH_BYTES = 32 * 2**20
#: Keys of an unfinished LMDB: the samples committed so far, and the job that writes them.
PROGRESS_KEY = b"partial-progress"
JOB_KEY = b"partial-job"


def write_word_lmdb(
    out: str | os.PathLike[str],
    records: Iterable[WordRecord] | Callable[[int], Iterable[WordRecord]],
    *,
    total: int | None = None,
    quiet: bool = False,
    overwrite: bool = False,
    job: str | None = None,
    initial_map_size: int = INITIAL_MAP_SIZE,
) -> int:
    """Write ``records`` as samples 1..N of a word-crop LMDB at ``out``.

    Each image is checked to decode, and each mask to be single-channel and of its image's size,
    before it is written (InputError naming ``record <i>`` otherwise, 1-based). An existing
    ``out`` is refused, or with ``overwrite`` replaced if it is an LMDB folder.

    Args:
        out: the LMDB folder to create.
        records: the samples, in order (bytes are stored unchanged); or, for a resumable
            ``job``, a function of ``done`` giving the samples after the first ``done``.
        total: the number of records, for the progress bar (default: ``len(records)`` if sized).
        quiet: no progress bar.
        overwrite: replace an existing LMDB at ``out``.
        job: names what ``records`` are (the same ``job`` gives the same records): a killed run
            of the same job is continued, skipping the records it had committed.
        initial_map_size: the first memory-map size in bytes (doubled whenever full).

    Returns:
        the number of samples written.
    """
    if total is None and isinstance(records, Sized):
        total = len(records)

    def records_from(done: int) -> Iterable[tuple[str, WordRecord]]:
        if callable(records):
            return ((f"record {i}", r) for i, r in enumerate(records(done), start=done + 1))
        named = ((f"record {i}", record) for i, record in enumerate(records, start=1))
        return itertools.islice(named, done, None)

    return _write(
        out,
        records_from,
        total=total,
        quiet=quiet,
        overwrite=overwrite,
        job=job,
        initial_map_size=initial_map_size,
    )


def write_word_lmdb_from_gt(
    gt_txt: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> int:
    """Write the samples listed in a ``gt.txt`` (or a folder holding one) as a word-crop LMDB.

    The label file format (``image<TAB>label[<TAB>mask]``, paths relative to its folder) is
    described in :mod:`textmask_ocr.data.folder_dataset`. Every line is parsed and every file
    checked to exist before anything is written; errors name the file and line. A killed run
    on the same label file continues where it stopped.

    Returns:
        the number of samples written.
    """
    entries = read_gt_file(gt_txt)
    digest = hashlib.sha256(repr(entries).encode("utf-8")).hexdigest()
    return _write(
        out,
        lambda done: iter_folder_records(entries[done:]),
        total=len(entries),
        quiet=quiet,
        overwrite=overwrite,
        job=f"lmdb create {digest}",
    )


def _check_lmdb_output(out: Path, overwrite: bool) -> None:
    """Refuse an existing ``out`` unless ``overwrite`` (an empty folder aside), and anything but
    an LMDB folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    names = {child.name for child in out.iterdir()}
    if not names:
        return
    if not (DATA_FILE in names and names <= {DATA_FILE, LOCK_FILE}):
        raise InputError(f"{out}: exists and is not an LMDB folder; choose another output")
    if not overwrite:
        raise InputError(f"{out}: already exists; pass --overwrite to replace it")


def _committed(partial: Path, job: str) -> bool:
    """Whether ``partial`` is an unfinished LMDB of ``job``."""
    try:
        env = lmdb.open(str(partial), readonly=True, lock=False)
    except lmdb.Error:
        return False
    try:
        with env.begin() as txn:
            return txn.get(JOB_KEY) == job.encode("utf-8")
    finally:
        env.close()


def _write(
    out: str | os.PathLike[str],
    records_from: Callable[[int], Iterable[tuple[str, WordRecord]]],
    *,
    total: int | None,
    quiet: bool,
    overwrite: bool,
    job: str | None,
    initial_map_size: int = INITIAL_MAP_SIZE,
) -> int:
    """Write the ``(name, record)`` pairs of ``records_from(done)``, which skips the first
    ``done`` (committed by a killed run of ``job``); ``name`` is how errors refer to a record."""
    out = Path(out)
    _check_lmdb_output(out, overwrite)
    resumable = None if job is None else lambda partial: _committed(partial, job)
    with partial_folder(out, resumable=resumable) as tmp:
        env = lmdb.open(
            str(tmp), map_size=initial_map_size, lock=False, readahead=False, meminit=True
        )
        try:
            with env.begin(write=True) as txn:
                done = int(txn.get(PROGRESS_KEY, b"0"))
                if job is not None:
                    txn.put(JOB_KEY, job.encode("utf-8"))
            writer = GrowingWriter(
                env, out, start=done, progress_key=PROGRESS_KEY if job is not None else None
            )
            remaining = None if total is None else total - done
            progress = track(records_from(done), total=remaining, label="writing LMDB", quiet=quiet)
            for name, record in progress:
                check_record(record, name)
                writer.add(record)
            count = writer.finish()
            with env.begin(write=True) as txn:
                txn.delete(JOB_KEY)
        finally:
            env.close()
    return count


class GrowingWriter:
    """Batches samples into write transactions, doubling the map size when a batch does not fit.

    Args:
        env: an LMDB environment opened for writing.
        out: how errors and logs name the output.
        start: samples already in ``env``; the next one written is ``start + 1``.
        progress_key: if given, every commit also stores the committed sample count under this
            key, so an interrupted job knows where to continue (removed by :meth:`finish`).
    """

    def __init__(
        self,
        env: lmdb.Environment,
        out: Path,
        *,
        start: int = 0,
        progress_key: bytes | None = None,
    ) -> None:
        self.env = env
        self.out = out
        self.count = start
        self.progress_key = progress_key
        self._batch: list[tuple[bytes, bytes]] = []
        self._batch_bytes = 0

    def add(self, record: WordRecord) -> None:
        self.count += 1
        items = [
            (image_key(self.count), record.image),
            (label_key(self.count), record.label.encode("utf-8")),
        ]
        if record.mask is not None:
            items.append((mask_key(self.count), record.mask))
        if record.polygon is not None:
            items.append((polygon_key(self.count), record.polygon))
        self._batch.extend(items)
        self._batch_bytes += sum(len(value) for _, value in items)
        if self.count % BATCH_SAMPLES == 0 or self._batch_bytes >= BATCH_BYTES:
            self.commit()

    def finish(self, metadata: dict[bytes, bytes] | None = None) -> int:
        """Write ``num-samples`` (and ``metadata`` keys) with the last batch; returns the count."""
        self._batch.append((NUM_SAMPLES_KEY, str(self.count).encode("ascii")))
        self._batch.extend((metadata or {}).items())
        self.commit(final=True)
        return self.count

    def commit(self, *, final: bool = False) -> None:
        """Commit the pending samples now (with the progress key, or removing it when final)."""
        if self.progress_key is not None and not final:
            self._batch.append((self.progress_key, str(self.count).encode("ascii")))
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in self._batch:
                        txn.put(key, value)
                    if final and self.progress_key is not None:
                        txn.delete(self.progress_key)
                break
            except lmdb.MapFullError:
                map_size = self.env.info()["map_size"] * 2
                logger.debug("%s: LMDB map full, growing it to %d bytes", self.out, map_size)
                self.env.set_mapsize(map_size)
        self._batch.clear()
        self._batch_bytes = 0
