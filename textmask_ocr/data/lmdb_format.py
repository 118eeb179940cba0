"""The word-crop LMDB format: key names, record checks, and a validated read-only handle.

Layout, as written by every recognition toolkit (indices from 1)::

    num-samples      ASCII integer N
    image-%09d       encoded image bytes (PNG, JPEG, ...), any mode
    label-%09d       UTF-8 transcription
    mask-%09d        optional: 8-bit single-channel PNG of the crop's size, 255 = text
    polygon-%09d     optional: the word's polygon in the crop, UTF-8 JSON [[x, y], ...] (at least
                     3 points, crop pixel coordinates, pixel centres at integers)

:class:`WordLmdb` opens such an LMDB read-only and turns every way it can be wrong (a missing path,
a folder that is not an LMDB, a file LMDB cannot read, no ``num-samples``, missing keys, images
that do not decode) into an :class:`~textmask_ocr.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import lmdb
import numpy as np
from PIL import Image

from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError

NUM_SAMPLES_KEY = b"num-samples"
IMAGE_PREFIX = b"image-"
LABEL_PREFIX = b"label-"
MASK_PREFIX = b"mask-"
POLYGON_PREFIX = b"polygon-"
DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"

#: Mask image modes accepted as "single-channel": 8-bit grey and 1-bit (read back as 0/255 'L').
MASK_MODES = ("L", "1")
#: How many leading samples :class:`WordLmdb` decodes before calling an LMDB corrupt.
PROBE_SAMPLES = 16


def image_key(index: int) -> bytes:
    """``image-%09d`` for a 1-based sample index."""
    return b"image-%09d" % index


def label_key(index: int) -> bytes:
    """``label-%09d`` for a 1-based sample index."""
    return b"label-%09d" % index


def mask_key(index: int) -> bytes:
    """``mask-%09d`` for a 1-based sample index."""
    return b"mask-%09d" % index


def polygon_key(index: int) -> bytes:
    """``polygon-%09d`` for a 1-based sample index."""
    return b"polygon-%09d" % index


class UndecodableError(ValueError):
    """Encoded bytes that do not decode into the image the format requires."""


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def _decode(data: bytes, what: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.UnidentifiedImageError:
        raise UndecodableError(f"{what} does not decode (not a known image format)") from None
    except _DECODE_ERRORS as error:
        raise UndecodableError(f"{what} does not decode ({error})") from None
    return image


def decode_image(data: bytes) -> Image.Image:
    """Fully decode encoded image bytes (a truncated file fails here, not later).

    Returns the image in its stored mode; raises :class:`UndecodableError` with Pillow's reason.
    """
    return _decode(data, "image")


def decode_mask(data: bytes, size: tuple[int, int]) -> Image.Image:
    """Decode a mask and check it is single-channel and ``size`` (width, height).

    Returns:
        an 'L' image, values 0..255 (a 1-bit mask becomes 0/255).
    """
    mask = _decode(data, "mask")
    _check_mask(mask, size)
    return mask if mask.mode == "L" else mask.convert("L")


def encode_polygon(points: np.ndarray | Sequence[Sequence[float]]) -> bytes:
    """A polygon as stored under ``polygon-%09d``: compact UTF-8 JSON ``[[x, y], ...]``.

    Args:
        points: (P, 2) ``(x, y)`` vertices in crop pixel coordinates, P >= 3, finite. Floats are
            written with Python's shortest round-tripping repr, so :func:`decode_polygon` gives
            back the same float64 values.

    Raises:
        ValueError: a shape other than (P >= 3, 2), or a non-finite coordinate.
    """
    array = np.asarray(points, dtype=np.float64)
    _check_polygon(array)
    return json.dumps(array.tolist(), separators=(",", ":")).encode("utf-8")


def decode_polygon(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_polygon`: (P, 2) float64 ``(x, y)`` vertices.

    Raises :class:`UndecodableError` naming the problem (not JSON, wrong shape, non-finite).
    """
    try:
        array = np.asarray(json.loads(data.decode("utf-8")), dtype=np.float64)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as error:
        raise UndecodableError(f"polygon is not a JSON list of [x, y] points ({error})") from None
    _check_polygon(array, error=UndecodableError)
    return array


def _check_polygon(array: np.ndarray, error: type[ValueError] = ValueError) -> None:
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < 3:
        raise error(f"polygon must be at least 3 [x, y] points, got shape {array.shape}")
    if not all(math.isfinite(value) for value in array.flat):
        raise error("polygon has a non-finite coordinate")


def _check_mask(mask: Image.Image, size: tuple[int, int]) -> None:
    if mask.mode not in MASK_MODES:
        raise UndecodableError(f"mask is mode {mask.mode!r}, not single-channel ('L' or '1')")
    if mask.size != size:
        width, height = mask.size
        raise UndecodableError(f"mask is {width}x{height}, image is {size[0]}x{size[1]}")


class RecordFormats(NamedTuple):
    """The file formats of a record's image and mask, as Pillow names them (``"PNG"``, ...)."""

    image: str
    mask: str | None


def check_record(record: WordRecord, name: str) -> RecordFormats:
    """Check that a record can be written: the image decodes, the mask (if any) fits it.

    Args:
        record: the record to check.
        name: how error messages name it (``"record 5"``, ``"gt.txt:12"``).

    Raises:
        InputError: ``"<name>: <reason>"``.
    """
    if not isinstance(record.label, str):
        raise InputError(f"{name}: label must be a str, got {type(record.label).__name__}")
    try:
        image = decode_image(record.image)
        mask = _decode(record.mask, "mask") if record.mask is not None else None
        if mask is not None:
            _check_mask(mask, image.size)
        if record.polygon is not None:
            decode_polygon(record.polygon)
    except UndecodableError as error:
        raise InputError(f"{name}: {error}") from None
    return RecordFormats(
        image.format or "unknown", (mask.format or "unknown") if mask is not None else None
    )


def is_lmdb_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding an LMDB ``data.mdb`` (contents not checked)."""
    return (Path(path) / DATA_FILE).is_file()


class _SharedEnvironments:
    """This process's read-only environments, one per LMDB data file, counted by handle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._entries: dict[tuple[int, int], tuple[lmdb.Environment, int]] = {}

    def acquire(self, path: Path) -> tuple[tuple[int, int], lmdb.Environment]:
        """The environment of the LMDB folder ``path`` (opened on first use) and its file id."""
        stat = (path / DATA_FILE).stat()
        env_id = (stat.st_dev, stat.st_ino)
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: the inherited maps belong to the parent's handles. Closing
                # them here unmaps the child's copies only (no lock file with lock=False).
                for env, _ in self._entries.values():
                    env.close()
                self._entries.clear()
                self._pid = os.getpid()
            env, handles = self._entries.get(env_id, (None, 0))
            if env is None:
                try:
                    env = lmdb.open(
                        str(path), readonly=True, lock=False, readahead=False, meminit=False
                    )
                except lmdb.Error as error:
                    reason = _lmdb_reason(error, path)
                    raise InputError(f"{path}: unreadable LMDB ({reason})") from None
            self._entries[env_id] = (env, handles + 1)
        return env_id, env

    def release(self, env_id: tuple[int, int], env: lmdb.Environment) -> None:
        """Drop one handle on ``env``; close it with the last one (a stale handle is ignored)."""
        with self._lock:
            shared, handles = self._entries.get(env_id, (None, 0))
            if shared is not env:
                return
            if handles > 1:
                self._entries[env_id] = (env, handles - 1)
            else:
                del self._entries[env_id]
                env.close()


_SHARED_ENVIRONMENTS = _SharedEnvironments()


class RawSample(NamedTuple):
    """One sample's stored bytes; ``mask`` and ``polygon`` are None where their key is absent."""

    image: bytes
    label: bytes
    mask: bytes | None
    polygon: bytes | None = None


class WordLmdb:
    """A word-crop LMDB opened read-only (lock=False, readahead=False, meminit=False).

    With ``validate=True`` the constructor checks the layout: ``num-samples`` is a non-negative
    integer, the first and last image and label keys exist, and at least one of the first
    :data:`PROBE_SAMPLES` images decodes (an LMDB where none does, like a truncated copy, is
    corrupt). Every problem is an :class:`InputError` naming the path.

    LMDB forbids opening the same files twice in one process, so handles on the same LMDB share
    one environment (closed with the last handle), and a forked child never uses its parent's:
    its first handle closes the inherited copies and opens its own. A handle does not pickle;
    datasets open one per process (see :class:`~textmask_ocr.data.lmdb_dataset.LmdbWordDataset`).

    Attributes:
        path: the LMDB folder.
        num_samples: the value of ``num-samples``; sample indices run from 1 to it.
    """

    def __init__(self, path: str | os.PathLike[str], *, validate: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or directory")
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not an LMDB (an LMDB is a folder holding {DATA_FILE})")
        if not is_lmdb_dir(self.path):
            raise InputError(f"{self.path}: not an LMDB (no {DATA_FILE} in this folder)")
        if (self.path / DATA_FILE).stat().st_size == 0:
            raise InputError(f"{self.path}: unreadable LMDB ({DATA_FILE} is empty)")
        self._env: lmdb.Environment | None = None
        self._env_id, self._env = _SHARED_ENVIRONMENTS.acquire(self.path)
        try:
            self.num_samples = self._read_num_samples()
            if validate:
                self._validate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"WordLmdb({str(self.path)!r}, num_samples={self.num_samples})"

    def __enter__(self) -> WordLmdb:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the environment (idempotent); the last handle on it closes it."""
        if self._env is not None:
            _SHARED_ENVIRONMENTS.release(self._env_id, self._env)
            self._env = None

    def __del__(self) -> None:
        if getattr(self, "_env", None) is not None:
            self.close()

    def _begin(self) -> lmdb.Transaction:
        if self._env is None:
            raise ValueError(f"{self.path}: the LMDB handle is closed")
        return self._env.begin()

    def _corrupt(self, error: lmdb.Error) -> InputError:
        return InputError(f"{self.path}: corrupt LMDB ({_lmdb_reason(error, self.path)})")

    def _get(self, key: bytes) -> bytes | None:
        try:
            with self._begin() as txn:
                return txn.get(key)
        except lmdb.Error as error:
            raise self._corrupt(error) from None

    def metadata(self, key: bytes) -> bytes | None:
        """The value of a non-sample key (e.g. ``mask-source``), or None."""
        return self._get(key)

    def _read_num_samples(self) -> int:
        raw = self._get(NUM_SAMPLES_KEY)
        if raw is None:
            raise InputError(f"{self.path}: not a word-crop LMDB (no 'num-samples' key)")
        try:
            count = int(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise InputError(
                f"{self.path}: 'num-samples' is not an integer: {raw[:32]!r}"
            ) from None
        if count < 0:
            raise InputError(f"{self.path}: 'num-samples' is negative ({count})")
        return count

    def _validate(self) -> None:
        if self.num_samples == 0:
            return
        for index in sorted({1, self.num_samples}):
            for key in (image_key(index), label_key(index)):
                if self._get(key) is None:
                    raise InputError(
                        f"{self.path}: {key.decode()} missing (num-samples = {self.num_samples})"
                    )
        first_error = ""
        probed = min(self.num_samples, PROBE_SAMPLES)
        for index in range(1, probed + 1):
            data = self._get(image_key(index))
            if data is None:
                raise InputError(f"{self.path}: {image_key(index).decode()} missing")
            try:
                decode_image(data)
                return
            except UndecodableError as error:
                first_error = first_error or f"{image_key(index).decode()}: {error}"
        others = f"; nor do images 2-{probed}" if probed > 1 else ""
        raise InputError(f"{self.path}: corrupt word LMDB: {first_error}{others}")

    def read(self, index: int) -> RawSample:
        """The stored bytes of sample ``index`` (1-based); a missing image or label is corrupt."""
        try:
            with self._begin() as txn:
                image = txn.get(image_key(index))
                label = txn.get(label_key(index))
                mask = txn.get(mask_key(index))
                polygon = txn.get(polygon_key(index))
        except lmdb.Error as error:
            raise self._corrupt(error) from None
        if image is None or label is None:
            missing = image_key(index) if image is None else label_key(index)
            raise InputError(
                f"{self.path}: {missing.decode()} missing (num-samples = {self.num_samples})"
            )
        return RawSample(image, label, mask, polygon)

    def iter_indexed(self, prefix: bytes, *, values: bool = True) -> Iterator[tuple[int, bytes]]:
        """Yield ``(index, value)`` for keys ``<prefix>%09d`` with 1 <= index <= num_samples.

        One sequential cursor pass over the key range (cheap: no image is read for labels).
        With ``values=False`` the values are ``b""``.
        """
        try:
            with self._begin() as txn:
                cursor = txn.cursor()
                if not cursor.set_range(prefix):
                    return
                entries = cursor.iternext(keys=True, values=values)
                for entry in entries:
                    key, value = entry if values else (entry, b"")
                    if not key.startswith(prefix):
                        break
                    suffix = key[len(prefix) :]
                    if len(suffix) != 9 or not suffix.isdigit():
                        continue
                    index = int(suffix)
                    if index > self.num_samples:
                        break
                    if index >= 1:
                        yield index, bytes(value)
        except lmdb.Error as error:
            raise self._corrupt(error) from None

    def iter_labels(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(index, label bytes)`` for indices 1..num_samples, in order.

        Raises InputError naming the first index without a ``label-%09d`` key.
        """
        expected = 1
        for index, label in self.iter_indexed(LABEL_PREFIX):
            if index != expected:
                break
            yield index, label
            expected += 1
        if expected <= self.num_samples:
            raise InputError(
                f"{self.path}: {label_key(expected).decode()} missing "
                f"(num-samples = {self.num_samples})"
            )

    def count_masks(self) -> int:
        """How many of the samples 1..num_samples have a ``mask-%09d`` key."""
        return sum(1 for _ in self.iter_indexed(MASK_PREFIX, values=False))

    def records(self, indices: Iterable[int] | None = None) -> Iterator[tuple[int, WordRecord]]:
        """Yield ``(index, WordRecord)`` for ``indices`` (default: all, in order).

        Labels must be UTF-8 (InputError otherwise); image and mask bytes are passed through.
        """
        for index in indices if indices is not None else range(1, self.num_samples + 1):
            raw = self.read(index)
            label = self.decode_label(index, raw.label)
            yield index, WordRecord(raw.image, label, raw.mask, raw.polygon)

    def decode_label(self, index: int, label: bytes) -> str:
        """A stored label as text; InputError naming the sample if it is not UTF-8."""
        try:
            return label.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{self.path}: {label_key(index).decode()} is not UTF-8: {label[:32]!r}"
            ) from None


class ProcessLocalLmdb:
    """A picklable reference to a word-crop LMDB, opened on first use in each process.

    :meth:`get` returns this process's :class:`WordLmdb` (opened without validation; validate
    once when the dataset is built), and opens a new one after a fork. Pickling drops the open
    handle, so DataLoader workers (fork or spawn) each open their own.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db: WordLmdb | None = None
        self._pid: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open handle."""
        return self._db is not None and self._pid == os.getpid()

    def get(self) -> WordLmdb:
        """This process's read handle."""
        if not self.is_open:
            self._db = WordLmdb(self.path, validate=False)
            self._pid = os.getpid()
        return self._db  # type: ignore[return-value]

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path, "_db": None, "_pid": None}


def _lmdb_reason(error: lmdb.Error, path: Path) -> str:
    """py-lmdb prefixes its messages with the path; keep the reason only."""
    return str(error).removeprefix(f"{path}: ")
