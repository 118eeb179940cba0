"""Word crops as a folder of image files with a ``gt.txt`` label file: read and write.

``gt.txt`` (UTF-8, an optional BOM, LF or CRLF line ends) holds one sample a line::

    relative/path/to/image.png<TAB>label
    relative/path/to/image.png<TAB>label<TAB>relative/path/to/mask.png

Paths are relative to the folder holding ``gt.txt`` (absolute paths are used as they are).
The optional third column names the sample's mask: an 8-bit (or 1-bit) single-channel image of
the crop's size, 255 = text. Blank lines are ignored; a label cannot hold a tab or a line break.
:func:`write_word_folder` writes this layout (``images/%09d.<ext>``, ``masks/%09d.<ext>``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textmask_ocr.atomic import atomic_path
from textmask_ocr.data.filtering import FilteredWordDataset, WordSample
from textmask_ocr.data.lmdb_format import check_record
from textmask_ocr.data.records import WordRecord
from textmask_ocr.errors import InputError
from textmask_ocr.progress import track

GT_FILE = "gt.txt"
IMAGES_DIR = "images"
MASKS_DIR = "masks"

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif"}


@dataclass(frozen=True)
class GtEntry:
    """One line of a ``gt.txt``: where it is (``"path/gt.txt:LINE"``, for messages), the
    resolved file paths and the label."""

    where: str
    image: Path
    label: str
    mask: Path | None


def resolve_gt_file(path: str | os.PathLike[str]) -> Path:
    """A label file: ``path`` itself, or ``path/gt.txt`` for a folder; InputError if absent."""
    path = Path(path)
    if path.is_dir():
        path = path / GT_FILE
    if not path.is_file():
        raise InputError(f"{path}: no such label file")
    return path


def is_word_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding a ``gt.txt``."""
    return (Path(path) / GT_FILE).is_file()


def read_gt_file(path: str | os.PathLike[str]) -> list[GtEntry]:
    """Parse a ``gt.txt`` (or a folder holding one) and check that every named file exists.

    Raises:
        InputError: naming the file and line, for text that is not UTF-8, a line without exactly
            one or two tabs, an empty path or label, or an image or mask file that does not
            exist; naming the file when it lists no sample.
    """
    gt_file = resolve_gt_file(path)
    root = gt_file.parent
    try:
        text = gt_file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise InputError(f"{gt_file}:{line}: not UTF-8 text (byte {error.start})") from None
    entries = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{gt_file}:{number}"
        fields = line.split("\t")
        if len(fields) not in (2, 3) or not fields[0] or (len(fields) == 3 and not fields[2]):
            raise InputError(
                f"{where}: expected 'image<TAB>label' or 'image<TAB>label<TAB>mask', got {line!r}"
            )
        if not fields[1]:
            raise InputError(f"{where}: empty label for {fields[0]!r}")
        image = root / fields[0]
        mask = root / fields[2] if len(fields) == 3 else None
        for kind, file in (("image", image), ("mask", mask)):
            if file is not None and not file.is_file():
                raise InputError(f"{where}: {kind} file {str(file)!r} not found")
        entries.append(GtEntry(where, image, fields[1], mask))
    if not entries:
        raise InputError(f"{gt_file}: lists no sample (expected 'image<TAB>label' lines)")
    return entries


def _load_record(entry: GtEntry) -> WordRecord:
    """The entry's files' bytes, unchanged; InputError naming the line if one cannot be read."""
    try:
        mask = entry.mask.read_bytes() if entry.mask is not None else None
        return WordRecord(entry.image.read_bytes(), entry.label, mask)
    except OSError as error:
        raise InputError(f"{entry.where}: {error.strerror}: {error.filename}") from None


def iter_folder_records(entries: Iterable[GtEntry]) -> Iterator[tuple[str, WordRecord]]:
    """Yield ``("path/gt.txt:LINE", record)`` with the files' bytes, unchanged."""
    for entry in entries:
        yield entry.where, _load_record(entry)


class FolderWordDataset(FilteredWordDataset):
    """Word crops from a folder + ``gt.txt``, with the items and options of
    :class:`~textmask_ocr.data.lmdb_dataset.LmdbWordDataset`.

    ``gt.txt`` is parsed and every named file checked at construction (InputError naming the line
    otherwise); images are read lazily. ``key`` is the sample's 1-based position in ``gt.txt``
    (blank lines not counted), the index :func:`write_word_folder` and the LMDB writer give it.

    Args:
        root: the folder holding ``gt.txt``, or the label file itself.
        alphabet, max_label_length, lowercase, strip_symbols, strict, transform: as for
            ``LmdbWordDataset``.

    Attributes:
        path: the folder of the label file; ``gt_file``: the label file.
        num_samples: entries in the label file (before filtering).
        has_masks: whether every entry names a mask.
        filter_report: reason -> skipped count.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
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
        self.gt_file = resolve_gt_file(root)
        self.path = self.gt_file.parent
        self._entries = read_gt_file(self.gt_file)
        self.num_samples = len(self._entries)
        self.has_masks = all(entry.mask is not None for entry in self._entries)
        self._filter_labels(
            (key, self.label_filter.normalize(entry.label))
            for key, entry in enumerate(self._entries, start=1)
        )

    @property
    def source(self) -> str:
        return str(self.gt_file)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.source!r}, samples={len(self)}/{self.num_samples}, "
            f"has_masks={self.has_masks})"
        )

    def _read(self, key: int) -> WordRecord:
        record = _load_record(self._entries[key - 1])
        return WordRecord(record.image, self.label_filter.normalize(record.label), record.mask)


def _check_folder_output(out: Path) -> None:
    """Refuse to replace anything but an empty folder or a word folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    names = {child.name for child in out.iterdir()}
    if names and not (GT_FILE in names and names <= {GT_FILE, IMAGES_DIR, MASKS_DIR}):
        raise InputError(f"{out}: exists and is not a word folder (gt.txt, images/, masks/)")


def write_word_folder(
    out: str | os.PathLike[str],
    records: Iterable[tuple[int, WordRecord]],
    *,
    total: int | None = None,
    quiet: bool = False,
) -> int:
    """Write records as ``out/images/%09d.<ext>`` (+ ``out/masks/%09d.png``) and ``out/gt.txt``.

    Image and mask bytes are written unchanged; each image is checked to decode and each mask to
    fit its image. The folder is built under a temporary name and renamed when complete; an
    existing ``out`` is replaced only if it is empty or a word folder.

    Args:
        out: the folder to create.
        records: ``(index, record)`` pairs; ``index`` names the files (e.g. the LMDB index).
        total: the number of records, for the progress bar.
        quiet: no progress bar.

    Returns:
        the number of samples written.
    """
    out = Path(out)
    _check_folder_output(out)
    lines = []
    with atomic_path(out, directory=True) as tmp:
        for index, record in track(records, total=total, label="writing folder", quiet=quiet):
            name = f"sample {index}"
            if any(char in record.label for char in "\t\r\n"):
                raise InputError(f"{name}: label {record.label!r} has a tab or line break")
            formats = check_record(record, name)
            image_path = f"{IMAGES_DIR}/{index:09d}{_extension(formats.image)}"
            _write_bytes(tmp / image_path, record.image)
            line = f"{image_path}\t{record.label}"
            if record.mask is not None and formats.mask is not None:
                mask_path = f"{MASKS_DIR}/{index:09d}{_extension(formats.mask)}"
                _write_bytes(tmp / mask_path, record.mask)
                line += f"\t{mask_path}"
            lines.append(line + "\n")
        (tmp / GT_FILE).write_text("".join(lines), encoding="utf-8")
    return len(lines)


def _extension(image_format: str) -> str:
    """A file extension for a Pillow format name."""
    return _EXTENSIONS.get(image_format, f".{image_format.lower()}")


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
