"""Progress of long work that a person can follow, on a terminal or in a log file.

Library code reports progress through :class:`Progress` (or :func:`track` around a loop) and never
prints: each report is an INFO record of the ``textmask_ocr.progress`` logger, which the
``textmask-ocr`` command shows on stderr (``--quiet`` turns progress off). Two forms:

- stderr is a terminal: a progress bar, redrawn in place at most every :data:`BAR_INTERVAL_S`
  (records marked ``transient``, which the command's handler draws over each other);
- otherwise (``textmask-ocr ... 2> log``): a line at least every :data:`LOG_INTERVAL_S` while
  the work lasts, ``training: 120/1400 steps (8.6%), 3.2 steps/s, ETA 6 min 40 s, loss 0.1234``.

Both end with a line giving the count and the time taken.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Without a terminal, a progress line at least this often (seconds).
LOG_INTERVAL_S = 30.0
#: On a terminal, the bar is redrawn at most this often (seconds).
BAR_INTERVAL_S = 0.2
_BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """``42 s``, ``6 min 40 s``, ``2 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_rate(per_second: float, unit: str) -> str:
    """``3.21 steps/s``: three significant digits."""
    return f"{per_second:.3g} {unit}/s"


class Progress:
    """Counts work done and reports it (see the module's description).

    Args:
        total: how much work there is, or None when unknown (no percentage or ETA).
        label: what is being done (``"training"``, ``"writing LMDB"``).
        unit: what is counted, plural (``"steps"``, ``"words"``).
        done: work already done before this run (a resumed job); the rate counts only new work.
        quiet: report nothing.
        clock: seconds, monotonic (tests pass a fake clock).
        terminal: draw a bar (default: whether stderr is a terminal).
    """

    def __init__(
        self,
        total: int | None,
        *,
        label: str,
        unit: str = "items",
        done: int = 0,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
        terminal: bool | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.done = done
        self.quiet = quiet
        self.clock = clock
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.interval = BAR_INTERVAL_S if self.terminal else LOG_INTERVAL_S
        self.status = ""
        self._start_done = done
        self._started = self._last_report = clock()
        self._closed = False

    def update(self, count: int = 1, status: str | None = None) -> None:
        """Add ``count`` units of work; ``status`` (e.g. the loss) is shown beside the count."""
        self.done += count
        if status is not None:
            self.status = status
        if self.quiet:
            return
        now = self.clock()
        if now - self._last_report >= self.interval:
            self._last_report = now
            self._emit(self.line(now), transient=self.terminal)

    def close(self) -> None:
        """Report the count and the time taken (once)."""
        if self._closed:
            return
        self._closed = True
        if not self.quiet:
            now = self.clock()
            elapsed = now - self._started
            count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
            self._emit(
                f"{self.label}: {count} {self.unit} in {format_duration(elapsed)} "
                f"({format_rate(self.rate(now), self.unit)})",
                transient=False,
            )

    def rate(self, now: float) -> float:
        """Units per second since the start (work done before a resume not counted)."""
        elapsed = now - self._started
        return (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0

    def line(self, now: float) -> str:
        """The progress report at time ``now``."""
        rate = self.rate(now)
        parts = []
        if self.total:
            percent = 100.0 * self.done / self.total
            parts.append(f"{self.done}/{self.total} {self.unit} ({percent:.1f}%)")
        else:
            parts.append(f"{self.done} {self.unit}")
        parts.append(format_rate(rate, self.unit))
        if self.total and rate > 0:
            parts.append(f"ETA {format_duration(max(self.total - self.done, 0) / rate)}")
        if self.status:
            parts.append(self.status)
        text = ", ".join(parts)
        if self.terminal and self.total:
            filled = min(_BAR_WIDTH, math.floor(_BAR_WIDTH * self.done / self.total))
            return f"{self.label} [{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {text}"
        return f"{self.label}: {text}"

    @staticmethod
    def _emit(message: str, *, transient: bool) -> None:
        logger.info(message, extra={"transient": transient})

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()


def track(
    items: Iterable[T],
    *,
    total: int | None = None,
    label: str = "",
    unit: str = "items",
    quiet: bool = False,
) -> Iterator[T]:
    """Iterate over ``items``, reporting one unit of :class:`Progress` per item."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, label=label, unit=unit, quiet=quiet) as progress:
        for item in items:
            yield item
            progress.update()
