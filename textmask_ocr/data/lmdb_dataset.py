"""A torch Dataset over a word-crop LMDB (layout in :mod:`textmask_ocr.data.lmdb_format`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from textmask_ocr.data.filtering import FilteredWordDataset, WordSample
from textmask_ocr.data.lmdb_format import ProcessLocalLmdb, WordLmdb
from textmask_ocr.data.records import WordRecord


class LmdbWordDataset(FilteredWordDataset):
    """Word crops from an LMDB: ``{"image", "label", "mask", "key"}`` items.

    Construction opens the LMDB once, validates it (:class:`WordLmdb`), scans every label to
    apply the label checks (see :mod:`textmask_ocr.data.filtering`; a few seconds per million
    samples) and counts the ``mask-%09d`` keys, then closes it. Reads open the LMDB lazily, once
    per process (read-only, lock=False, readahead=False, meminit=False): the dataset pickles
    without an open environment and a forked DataLoader worker never reuses its parent's, so
    fork and spawn workers both work.

    Args:
        path: the LMDB folder.
        alphabet: characters a label may use; samples with others are skipped (None: any).
        max_label_length: samples with longer labels are skipped (None: no limit).
        lowercase: lower-case labels before checking and returning them.
        strip_symbols: remove characters outside ``alphabet`` from labels instead of skipping.
        strict: raise InputError naming the sample and reason instead of skipping.
        transform: applied to each item dict (must pickle for spawn workers).

    Attributes:
        path: the LMDB folder.
        num_samples: ``num-samples`` of the LMDB (before filtering; ``len()`` is after).
        has_masks: whether every sample of the LMDB has a ``mask-%09d`` key.
        filter_report: reason -> skipped count (see :class:`FilteredWordDataset`).

    Item ``image``: PIL RGB of the stored size; ``mask``: PIL 'L' of the same size, 0..255
    (255 = text), or None where the sample has no mask; ``label``: str; ``key``: 1-based index.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        alphabet: str | None = None,
        max_label_length: int | None = None,
        lowercase: bool = False,
        strip_symbols: bool = False,
        strict: bool = False,
        transform: Callable[[WordSample], Any] | None = None,
    ) -> None:
        super().__init__(
            alphabet=alphabet,
            max_label_length=max_label_length,
            lowercase=lowercase,
            strip_symbols=strip_symbols,
            strict=strict,
            transform=transform,
        )
        self.path = Path(path)
        self._lmdb = ProcessLocalLmdb(self.path)
        with WordLmdb(self.path) as db:
            self.num_samples = db.num_samples
            self.has_masks = db.count_masks() == db.num_samples
            self._filter_labels(self._normalized_labels(db))

    def _normalized_labels(self, db: WordLmdb) -> Iterator[tuple[int, str | None]]:
        for key, raw in db.iter_labels():
            try:
                yield key, self.label_filter.normalize(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield key, None

    @property
    def source(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.source!r}, samples={len(self)}/{self.num_samples}, "
            f"has_masks={self.has_masks})"
        )

    def _read(self, key: int) -> WordRecord:
        db = self._lmdb.get()
        raw = db.read(key)
        label = self.label_filter.normalize(db.decode_label(key, raw.label))
        return WordRecord(raw.image, label, raw.mask, raw.polygon)
