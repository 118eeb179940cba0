"""What the command shows on stderr: the library's log records, progress bars and warnings.

Library code logs (``logging``) and warns (``warnings``); :func:`console_logging` shows both on
stderr while a command runs: INFO records as they are (progress lines, stage lines), warnings as
one line ``warning: ...``, and progress-bar records (``transient``) redrawn over each other on one
terminal line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any, TextIO

LIBRARY_LOGGER = "textmask_ocr"
_CLEAR_LINE = "\r\x1b[K"


class StderrHandler(logging.Handler):
    """Writes records to the current ``sys.stderr`` (looked up per record, so a redirected
    stderr is honoured); a ``transient`` record replaces the previous one on its line."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._line_open = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.WARNING:
                message = f"warning: {message}"
            stream: TextIO = sys.stderr
            prefix = _CLEAR_LINE if self._line_open else ""
            if getattr(record, "transient", False):
                stream.write(_CLEAR_LINE + message)
                self._line_open = True
            else:
                stream.write(prefix + message + "\n")
                self._line_open = False
            stream.flush()
        except Exception:  # logging must never break the command
            self.handleError(record)


def _one_line_warning(message: Warning | str, *_: Any, **__: Any) -> str:
    """``warnings.formatwarning`` for the command: ``warning: <message>``, without the source
    line (the warning is still shown by ``warnings``, so filters and recorders keep working)."""
    return f"warning: {message}\n"


@contextlib.contextmanager
def console_logging() -> Iterator[None]:
    """Show the library's INFO records and every warning on stderr, for the duration."""
    library = logging.getLogger(LIBRARY_LOGGER)
    handler = StderrHandler()
    previous_level, previous_format = library.level, warnings.formatwarning
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    warnings.formatwarning = _one_line_warning
    try:
        yield
    finally:
        warnings.formatwarning = previous_format
        library.setLevel(previous_level)
        library.removeHandler(handler)
