"""Per-sample seeding and order-preserving parallel generation.

Sample ``i`` of a run with seed ``s`` draws all its randomness from :func:`sample_rng` ``(s, i)``,
so a dataset is the same byte for byte whatever the number of worker processes, and any sample
can be regenerated alone.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from textmask_ocr.errors import InputError

T = TypeVar("T")


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of sample ``index`` of a run seeded with ``seed`` (both >= 0)."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def as_rng(seed_or_rng: int | np.random.Generator) -> np.random.Generator:
    """A generator as is, or a new one seeded with an integer."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def check_run(count: int, seed: int, workers: int) -> None:
    """Validate the size, seed and worker count of a generation run (named as CLI flags).

    Raises:
        InputError: ``count`` or ``workers`` below 1, or a negative ``seed``.
    """
    if count < 1:
        raise InputError(f"--n must be at least 1, got {count}")
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")


def ordered_map(
    function: Callable[[int], T], count: int, workers: int = 1, start: int = 0
) -> Iterator[T]:
    """``function(start), ..., function(count - 1)`` in order, computed by ``workers`` processes.

    Workers are started with the ``spawn`` method (safe whatever threads the caller runs), so
    ``function`` must be picklable: a module-level function or a ``functools.partial`` of one.
    """
    indices = range(start, count)
    if workers <= 1 or len(indices) <= 1:
        yield from map(function, indices)
        return
    chunk_size = max(1, min(32, len(indices) // (8 * workers)))
    with multiprocessing.get_context("spawn").Pool(min(workers, len(indices))) as pool:
        yield from pool.imap(function, indices, chunksize=chunk_size)
