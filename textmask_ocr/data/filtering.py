"""Sample filtering with counted reasons, shared by the LMDB and folder word datasets.

Two kinds of checks, with one policy: a sample that fails is skipped and counted (default) or,
with ``strict=True``, raises :class:`~textmask_ocr.errors.InputError` naming the sample and the
reason. A sample is never dropped without being counted in ``filter_report``.

- Label checks run once, at construction, over every label (cheap: no image is read): an
  undecodable (non-UTF-8) label, an empty label, characters outside the alphabet, a label longer
  than ``max_label_length``. ``len(dataset)`` counts the samples that pass; the skipped ones are
  reported in one logged line.
- Image checks run at read time, because decoding every image up front would cost as much as an
  epoch: an image that does not decode, or a mask that does not decode or does not fit the image.
  Such a sample is counted, remembered (never tried again in this process), logged, and the next
  valid sample (wrapping around) is returned in its place, so ``len(dataset)`` stays exact for the
  sampler. Each process (DataLoader worker) counts its own read-time skips.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from textmask_ocr.data.lmdb_format import UndecodableError, decode_image, decode_mask
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import image_to_pil

logger = logging.getLogger(__name__)

UNDECODABLE_LABEL = "undecodable label"
EMPTY_LABEL = "empty label"
OUTSIDE_ALPHABET = "label with characters outside the alphabet"
TOO_LONG = "label longer than max_label_length"
UNDECODABLE_IMAGE = "undecodable image"
BAD_MASK = "undecodable or misfit mask"

#: Every reason a sample can be skipped for, in report order.
FILTER_REASONS = (
    UNDECODABLE_LABEL,
    EMPTY_LABEL,
    OUTSIDE_ALPHABET,
    TOO_LONG,
    UNDECODABLE_IMAGE,
    BAD_MASK,
)

#: A word sample: ``{"image": PIL RGB, "label": str, "mask": PIL 'L' or None, "key": int}``.
WordSample = dict[str, Any]


class LabelFilter:
    """The label checks of a word dataset.

    Args:
        alphabet: the characters a label may use (after lower-casing when ``lowercase``);
            None accepts every character.
        max_label_length: the longest label accepted (characters); None for no limit.
        lowercase: lower-case every label before checking and returning it (for case-insensitive
            recognizers whose alphabet has no upper-case letters).
        strip_symbols: remove the characters outside ``alphabet`` from every label (after
            lower-casing) instead of skipping the sample: ``"$4.50"`` is read as ``"450"``, as
            the ``ignore-case-symbols`` protocol scores it; a label left empty is skipped.
    """

    def __init__(
        self,
        alphabet: str | None = None,
        max_label_length: int | None = None,
        lowercase: bool = False,
        strip_symbols: bool = False,
    ) -> None:
        if alphabet is not None and not alphabet:
            raise InputError("alphabet: empty; pass None to accept every character")
        if strip_symbols and alphabet is None:
            raise InputError("strip_symbols: needs an alphabet to tell the symbols by")
        if max_label_length is not None and max_label_length < 1:
            raise InputError(f"max_label_length: must be >= 1, got {max_label_length}")
        self.alphabet = alphabet
        self.max_label_length = max_label_length
        self.lowercase = lowercase
        self.strip_symbols = strip_symbols
        self._charset = frozenset(alphabet) if alphabet is not None else None

    def normalize(self, label: str) -> str:
        """The label as the dataset returns it."""
        if self.lowercase:
            label = label.lower()
        if self.strip_symbols:
            label = "".join(character for character in label if character in self._charset)
        return label

    def rejection(self, label: str | None) -> tuple[str, str] | None:
        """``(reason, detail)`` if the (normalized) label fails a check, else None.

        Args:
            label: the normalized label, or None when its bytes are not UTF-8.
        """
        if label is None:
            return UNDECODABLE_LABEL, "not UTF-8"
        if not label:
            return EMPTY_LABEL, "''"
        if self._charset is not None:
            outside = sorted(set(label) - self._charset)
            if outside:
                return OUTSIDE_ALPHABET, f"{label!r} has {''.join(outside)!r}"
        if self.max_label_length is not None and len(label) > self.max_label_length:
            return TOO_LONG, f"{label!r} has {len(label)} > {self.max_label_length} characters"
        return None


class FilteredWordDataset(Dataset[WordSample], ABC):
    """Base of the word datasets: label filtering, lazy decoding, read-time skips, transform.

    Subclasses call :meth:`_filter_labels` once from ``__init__`` and implement :meth:`_read`.
    Items are ``{"image": PIL.Image RGB, "label": str, "mask": PIL.Image 'L' (same size,
    0..255, 255 = text) or None, "key": int}`` (``key``: the sample's 1-based index in its
    source), passed through ``transform`` when given.

    Attributes:
        filter_report: reason -> number of samples skipped for it (every reason of
            :data:`FILTER_REASONS`, zeros included); read-time reasons count this process's reads.
        strict: raise InputError at the first failing sample instead of skipping it.
    """

    def __init__(
        self,
        *,
        alphabet: str | None = None,
        max_label_length: int | None = None,
        lowercase: bool = False,
        strip_symbols: bool = False,
        strict: bool = False,
        transform: Callable[[WordSample], Any] | None = None,
    ) -> None:
        self.label_filter = LabelFilter(alphabet, max_label_length, lowercase, strip_symbols)
        self.strict = strict
        self.transform = transform
        self.filter_report: dict[str, int] = dict.fromkeys(FILTER_REASONS, 0)
        self._keys = array("q")
        self._bad_keys: set[int] = set()

    @property
    @abstractmethod
    def source(self) -> str:
        """How messages name this dataset (its path)."""

    @abstractmethod
    def _read(self, key: int) -> WordRecord:
        """The stored record of sample ``key``; its label is already normalized."""

    def _filter_labels(self, labels: Iterable[tuple[int, str | None]]) -> None:
        """Keep the keys whose label passes; count (or, when strict, raise for) the others.

        Args:
            labels: ``(key, label)`` pairs, label normalized, or None for undecodable bytes.
        """
        total = 0
        for key, label in labels:
            total += 1
            rejection = self.label_filter.rejection(label)
            if rejection is None:
                self._keys.append(key)
            else:
                self._skip(key, *rejection, at_read=False)
        skipped = total - len(self._keys)
        if skipped:
            counts = ", ".join(f"{reason}: {n}" for reason, n in self.filter_report.items() if n)
            logger.warning("%s: skipped %d of %d samples (%s)", self.source, skipped, total, counts)

    def _skip(self, key: int, reason: str, detail: str, *, at_read: bool) -> None:
        if self.strict:
            raise InputError(f"{self.source}: sample {key}: {reason}: {detail}")
        self.filter_report[reason] += 1
        if at_read:
            self._bad_keys.add(key)
            logger.warning(
                "%s: sample %d skipped at read time (pid %d): %s: %s",
                self.source,
                key,
                os.getpid(),
                reason,
                detail,
            )

    @property
    def keys(self) -> list[int]:
        """The 1-based source indices of the samples that passed the label checks, in order."""
        return self._keys.tolist()

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, index: int) -> Any:
        size = len(self._keys)
        if not -size <= index < size:
            raise IndexError(f"index {index} out of range for {size} samples")
        for offset in range(size):
            key = self._keys[(index + offset) % size]
            if key in self._bad_keys:
                continue
            sample = self._load(key)
            if sample is not None:
                return self.transform(sample) if self.transform is not None else sample
        raise InputError(f"{self.source}: no sample has an image that decodes")

    def _load(self, key: int) -> WordSample | None:
        record = self._read(key)
        try:
            image = decode_image(record.image)
        except UndecodableError as error:
            self._skip(key, UNDECODABLE_IMAGE, str(error), at_read=True)
            return None
        mask: Image.Image | None = None
        if record.mask is not None:
            try:
                mask = decode_mask(record.mask, image.size)
            except UndecodableError as error:
                self._skip(key, BAD_MASK, str(error), at_read=True)
                return None
        return {"image": image_to_pil(image), "label": record.label, "mask": mask, "key": key}
