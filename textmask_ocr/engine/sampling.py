"""Samplers that make data order exactly resumable and shard it over processes.

Training reads ``(index, seed)`` pairs from :class:`ResumableSampler`: the epoch's order is a
function of ``(seed, epoch)`` alone, a resumed run starts mid-epoch at the exact sample, and each
sample carries its own RNG seed so random augmentation does not depend on worker count or on
where a run was interrupted. :class:`SeededDataset` seeds the RNGs from that pair before reading.
Evaluation uses :class:`ShardSampler`, which counts every sample exactly once over all ranks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

EpochOrder = Callable[[torch.Generator], Sequence[int]]


def shuffled_order(size: int) -> EpochOrder:
    """An epoch order that is a uniform random permutation of ``range(size)``."""

    def order(generator: torch.Generator) -> Sequence[int]:
        return torch.randperm(size, generator=generator).tolist()

    return order


class ResumableSampler(Sampler[tuple[int, int]]):
    """Yields ``(dataset_index, sample_seed)`` for this rank, resumable at any position.

    Args:
        order: builds one epoch's global index order from a seeded generator (e.g.
            :func:`shuffled_order`, or a ratio mixture over concatenated datasets).
        seed: base seed; the epoch order depends only on ``(seed, epoch)``.
        num_replicas: number of processes sharing the epoch (``world_size``).
        rank: this process's share: positions ``rank, rank + num_replicas, ...``.

    The epoch is truncated to a multiple of ``num_replicas`` so all ranks run the same number of
    steps. Call :meth:`set_epoch` and :meth:`set_start` before iterating.
    """

    def __init__(
        self, order: EpochOrder, *, seed: int = 0, num_replicas: int = 1, rank: int = 0
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas})")
        self.order = order
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start = 0
        self._cached: tuple[int, list[int]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` samples of this rank's share of the current epoch."""
        self.start = start

    def _rank_share(self) -> list[int]:
        if self._cached is None or self._cached[0] != self.epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = list(self.order(generator))
            usable = len(order) - len(order) % self.num_replicas
            self._cached = (self.epoch, order[self.rank : usable : self.num_replicas])
        return self._cached[1]

    def __len__(self) -> int:
        return len(self._rank_share()) - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        share = self._rank_share()
        epoch_key = (self.seed * 1_000_003 + self.epoch) * 2_147_483_647
        for position in range(self.start, len(share)):
            global_position = position * self.num_replicas + self.rank
            yield share[position], (epoch_key + global_position) % (2**63 - 1)


class SeededDataset(Dataset):
    """Reads ``dataset[index]`` for the key ``(index, seed)`` with every RNG seeded by ``seed``.

    Random transforms inside the wrapped dataset (torch on the CPU, numpy or ``random``) then
    produce the same sample whichever worker reads it and whenever. Only torch's CPU generator is
    seeded: ``torch.manual_seed`` would also queue a CUDA seeding that records the call stack,
    once per sample.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        torch.random.default_generator.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % (2**32))
        return self.dataset[index]


class ShardSampler(Sampler[int]):
    """Evaluation order: rank ``r`` of ``n`` reads ``r, r + n, ...``; no padding, no repeats."""

    def __init__(self, size: int, *, num_replicas: int = 1, rank: int = 0) -> None:
        self.size = size
        self.num_replicas = num_replicas
        self.rank = rank

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.num_replicas))
