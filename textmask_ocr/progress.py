"""Progress bars for long work: on for interactive terminals, off with ``quiet`` or when piped."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import click

T = TypeVar("T")


def progress_enabled(quiet: bool = False) -> bool:
    """Whether a progress bar should be drawn: not quiet and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def track(
    items: Iterable[T], *, total: int | None = None, label: str = "", quiet: bool = False
) -> Iterator[T]:
    """Iterate over ``items``, drawing a progress bar on stderr when :func:`progress_enabled`."""
    if not progress_enabled(quiet):
        yield from items
        return
    with click.progressbar(
        items, length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True
    ) as bar:
        yield from bar
