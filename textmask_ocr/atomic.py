"""Atomic outputs: write under a temporary name, rename when complete.

An interrupted job never leaves a half-written file or folder under its final name, and an
existing output is replaced only once its successor is whole. A folder is built in
``.<name>.partial`` beside its final name while the process holds ``.<name>.lock``: a second
process writing the same output is refused at once, and a partial folder left by a killed run is
continued (a resumable job that recognises it) or removed, never left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from textmask_ocr.errors import InputError


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it to ``final``, on error delete it.

    Args:
        final: where the output must end up.
        directory: build a folder (LMDBs, image folders) with :func:`partial_folder`.
    """
    final = Path(final)
    if directory:
        with partial_folder(final) as partial:
            yield partial
        return
    make_parent(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _apply_umask(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def partial_path(final: str | os.PathLike[str]) -> Path:
    """Where the unfinished folder of ``final`` is built."""
    final = Path(final)
    return final.parent / f".{final.name}.partial"


def check_output_folder(folder: str | os.PathLike[str], flag: str = "--out") -> None:
    """Refuse, before any work, an output folder that is a file or cannot be written.

    Raises:
        InputError: naming ``flag``: ``folder`` is an existing file, or the folder it would be
            created in (its nearest existing ancestor) is no folder or is not writable.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{flag} {folder}: exists and is not a folder")
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{flag} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {folder}: cannot write in {existing} (permission denied)")


def make_parent(final: Path) -> None:
    """Create the folder ``final`` goes in; InputError when that is not possible."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{final}: cannot create its folder ({error.strerror})") from None
    if not os.access(final.parent, os.W_OK | os.X_OK):
        raise InputError(f"{final}: cannot write in {final.parent} (permission denied)")


@contextlib.contextmanager
def output_lock(final: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of the output ``final`` (``.<name>.lock`` beside it) for this process.

    Raises:
        InputError: another process holds it (it is writing the same output).
    """
    final = Path(final)
    make_parent(final)
    lock = final.parent / f".{final.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(
            f"{final}: another process is writing it (it holds {lock.name}); wait for it to "
            "finish or choose another output"
        ) from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


@contextlib.contextmanager
def partial_folder(
    final: str | os.PathLike[str], *, resumable: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Build the folder ``final`` in :func:`partial_path`, under :func:`output_lock`.

    Args:
        final: the folder to create (an existing one is replaced once the new one is whole).
        resumable: for jobs that can continue a killed run: whether a partial folder found at
            the start is theirs to continue (kept, and left after an interruption for the next
            run). Any other partial folder is removed first, and removed on any error; after bad
            input (:class:`InputError`) it is removed in every case.

    Yields:
        the partial folder (existing when resumed, else new and empty).
    """
    final = Path(final)
    partial = partial_path(final)
    with output_lock(final):
        if partial.exists() and not (resumable is not None and resumable(partial)):
            _remove(partial)
        partial.mkdir(exist_ok=True)
        try:
            yield partial
            _apply_umask(partial)
            if final.is_dir():
                shutil.rmtree(final)
            os.replace(partial, final)
        except BaseException as error:
            if resumable is None or isinstance(error, InputError):
                _remove(partial)
            raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _apply_umask(path: Path) -> None:
    """Give a temporary output the permissions a plain create would (mkstemp uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)
