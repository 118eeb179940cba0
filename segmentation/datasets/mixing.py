"""Drawing training samples from several datasets in given ratios (paper IV-A-2).

Phase 1 of the paper trains on the large polygon-only sets (COCO-TS, MLT-S) and then on the
pixel-level sets (Total-Text, ICDAR-2013-WARP); phase 2 only on the latter. A schedule is a
:class:`MixingSampler` over ``torch.utils.data.ConcatDataset(datasets)`` per stage, e.g.::

    mixed = ConcatDataset([coco_ts, mlt_s, totaltext, warp])
    stage = MixingSampler.from_datasets(mixed.datasets, ratios=[1, 1, 0, 0], seed=0)
    loader = DataLoader(mixed, batch_size=8, sampler=stage)

An epoch holds ``num_samples`` indices split between the datasets in proportion to ``ratios``
(largest-remainder rounding, so the counts are exact). Each dataset is read in reshuffled passes
without replacement, so a small set is repeated evenly rather than at random. The datasets'
draws are interleaved by stratified jitter: the k-th of a dataset's ``n`` draws is placed at the
key ``(k + u) / n`` with ``u`` uniform in [0, 1), and the epoch is the sort by key; every window
of consecutive indices (every batch) then holds each dataset close to its ratio.

:func:`mixture_order` is the same epoch order as a plain function of a seeded generator, for a
training loop that shards and resumes epochs itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence, Sized

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def allocate_counts(total: int, ratios: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``ratios`` (largest remainder, exact sum)."""
    weight = float(sum(ratios))
    shares = [total * ratio / weight for ratio in ratios]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _check_mixture(sizes: Sequence[int], ratios: Sequence[float]) -> None:
    if len(sizes) != len(ratios) or not sizes:
        raise ValueError(f"need one ratio per dataset, got {len(ratios)} for {len(sizes)}")
    if any(ratio < 0 for ratio in ratios) or sum(ratios) <= 0:
        raise ValueError(f"ratios must be >= 0 with a positive sum, got {list(ratios)}")
    for position, (size, ratio) in enumerate(zip(sizes, ratios, strict=True)):
        if ratio > 0 and size <= 0:
            raise ValueError(f"dataset {position} is empty but has ratio {ratio}")


def epoch_size(sizes: Sequence[int], ratios: Sequence[float], num_samples: int | None) -> int:
    """``num_samples``, or by default the total size of the datasets with a positive ratio."""
    _check_mixture(sizes, ratios)
    if num_samples is not None:
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        return num_samples
    return sum(size for size, ratio in zip(sizes, ratios, strict=True) if ratio > 0)


def mixture_order(
    sizes: Sequence[int], ratios: Sequence[float], num_samples: int | None = None
) -> Callable[[torch.Generator], list[int]]:
    """An epoch-order function: indices into the concatenation of datasets of ``sizes``.

    ``num_samples`` defaults to the total size of the datasets with a positive ratio. The
    returned function draws the whole epoch from the generator it is given.
    """
    counts = allocate_counts(epoch_size(sizes, ratios, num_samples), ratios)
    offsets = [sum(sizes[:position]) for position in range(len(sizes))]

    def order(generator: torch.Generator) -> list[int]:
        indices, keys = [], []
        for size, count, offset in zip(sizes, counts, offsets, strict=True):
            if count == 0:
                continue
            passes = -(-count // size)
            draws = torch.cat([torch.randperm(size, generator=generator) for _ in range(passes)])
            indices.append(draws[:count] + offset)
            jitter = torch.rand(count, generator=generator, dtype=torch.float64)
            keys.append((torch.arange(count, dtype=torch.float64) + jitter) / count)
        permutation = torch.argsort(torch.cat(keys), stable=True)
        return torch.cat(indices)[permutation].tolist()

    return order


class MixingSampler(Sampler[int]):
    """Yields this rank's share of a ratio mixture over concatenated datasets.

    Args:
        sizes: the length of each dataset, in ``ConcatDataset`` order.
        ratios: relative share of each dataset in an epoch (0 leaves a dataset out).
        num_samples: indices per epoch over all ranks (default: the total size of the datasets
            with a positive ratio), truncated to a multiple of ``num_replicas``.
        seed: the epoch order depends only on ``(seed, epoch)``.
        num_replicas, rank: the process group's size and this process's rank (default: from
            ``torch.distributed`` when initialised, else 1 and 0). Rank ``r`` takes the ``r``-th
            of ``num_replicas`` equal consecutive blocks of the epoch: the shares are disjoint,
            and being consecutive runs of the interleaved order, each keeps the ratios batch by
            batch.

    Call :meth:`set_epoch` at each epoch for a new order.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        ratios: Sequence[float],
        *,
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if distributed else 1
        if rank is None:
            rank = dist.get_rank() if distributed else 0
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas})")
        self.order = mixture_order(sizes, ratios, num_samples)
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch = 0
        total = epoch_size(sizes, ratios, num_samples)
        self.num_samples = total - total % num_replicas

    @classmethod
    def from_datasets(
        cls, datasets: Sequence[Sized], ratios: Sequence[float], **options: int | None
    ) -> MixingSampler:
        """The sampler for ``ConcatDataset(datasets)``."""
        return cls([len(dataset) for dataset in datasets], ratios, **options)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples // self.num_replicas

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        share = len(self)
        return iter(self.order(generator)[self.rank * share : (self.rank + 1) * share])
