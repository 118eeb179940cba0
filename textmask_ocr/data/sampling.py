"""Several word-crop sources as one dataset, sampled with per-source ratios.

Recognizers are usually trained on a mix such as Synth90k + SynthText drawn 50/50 whatever
their sizes. :class:`ConcatWordDataset` puts the sources end to end and :class:`RatioSampler`
draws from each its share of every epoch::

    train = ConcatWordDataset([open_word_dataset(p, alphabet=alphabet) for p in paths])
    sampler = RatioSampler(train, ratios=[0.5, 0.5], num_samples=100_000, seed=0)
    loader = DataLoader(train, batch_size=64, sampler=sampler, num_workers=4, collate_fn=...)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        ...

Under DistributedDataParallel, give every rank the same ``seed`` and its ``rank`` (or leave
``num_replicas``/``rank`` as None to read them from the initialised process group): all ranks
draw the same epoch and each takes a disjoint 1/num_replicas share of it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import ConcatDataset, Sampler

from textmask_ocr.data.filtering import FILTER_REASONS, FilteredWordDataset
from textmask_ocr.data.folder_dataset import FolderWordDataset, is_word_folder
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_format import is_lmdb_dir
from textmask_ocr.errors import InputError


def open_word_dataset(
    path: str | os.PathLike[str], **kwargs: Any
) -> LmdbWordDataset | FolderWordDataset:
    """Open a word-crop source by what ``path`` is.

    A folder holding ``data.mdb`` is an LMDB (:class:`LmdbWordDataset`); a folder holding
    ``gt.txt``, or a label file itself, is a folder dataset (:class:`FolderWordDataset`).
    ``kwargs`` go to the dataset (``alphabet``, ``max_label_length``, ``strict``, ...).
    """
    if is_lmdb_dir(path):
        return LmdbWordDataset(path, **kwargs)
    if is_word_folder(path) or os.path.isfile(path):
        return FolderWordDataset(path, **kwargs)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    raise InputError(f"{path}: neither a word-crop LMDB (data.mdb) nor a word folder (gt.txt)")


class ConcatWordDataset(ConcatDataset):
    """Word datasets end to end; item ``i`` of source ``s`` is item ``offsets[s] + i``.

    Attributes:
        sizes: the length of each source.
        has_masks: whether every source has masks for every sample.
        filter_report: reason -> count, summed over the sources (this process's reads).
    """

    datasets: list[FilteredWordDataset]

    def __init__(self, datasets: Sequence[FilteredWordDataset]) -> None:
        super().__init__(datasets)

    @property
    def sizes(self) -> list[int]:
        return [len(dataset) for dataset in self.datasets]

    @property
    def has_masks(self) -> bool:
        return all(dataset.has_masks for dataset in self.datasets)

    @property
    def filter_report(self) -> dict[str, int]:
        return {
            reason: sum(dataset.filter_report[reason] for dataset in self.datasets)
            for reason in FILTER_REASONS
        }


def _source_sizes(sources: ConcatDataset | Sequence[int] | Sequence[Sized]) -> list[int]:
    if isinstance(sources, ConcatDataset):
        return [len(dataset) for dataset in sources.datasets]
    return [source if isinstance(source, int) else len(source) for source in sources]


def split_by_ratios(total: int, ratios: Sequence[float]) -> list[int]:
    """Integer counts proportional to ``ratios`` that sum to exactly ``total``.

    Largest-remainder rounding: each share is floored, and the leftover units go to the largest
    fractional parts (ties to the earlier source).
    """
    weight = sum(ratios)
    quotas = [total * ratio / weight for ratio in ratios]
    counts = [math.floor(quota) for quota in quotas]
    by_remainder = sorted(range(len(ratios)), key=lambda s: (counts[s] - quotas[s], s))
    for source in by_remainder[: total - sum(counts)]:
        counts[source] += 1
    return counts


class RatioSampler(Sampler[int]):
    """Draw ``num_samples`` indices of a concatenation per epoch, ``ratios`` of them per source.

    Source ``s`` gets exactly ``split_by_ratios(num_samples, ratios)[s]`` draws. Within a source
    the draws walk random permutations, so no sample repeats before every sample of that source
    has been drawn (a small source is cycled, a large one subsampled, fresh each epoch). The
    epoch is then shuffled. The order depends only on ``seed`` and the epoch (:meth:`set_epoch`).

    Distributed: the epoch is padded by repeating its start to a multiple of ``num_replicas``,
    and rank ``r`` takes positions ``r, r + num_replicas, ...`` (as ``DistributedSampler``).

    Args:
        sources: a :class:`ConcatDataset`, or the source datasets, or their sizes, in the
            concatenation's order.
        ratios: a non-negative weight per source (normalised; ``[1, 1]`` = 50/50).
        num_samples: draws per epoch over all replicas (default: the total size).
        seed: the base seed; epoch ``e`` uses ``seed + e``.
        num_replicas: the number of DDP processes (None: the process group's, or 1).
        rank: this process's rank (None: the process group's, or 0).
    """

    def __init__(
        self,
        sources: ConcatDataset | Sequence[int] | Sequence[Sized],
        ratios: Sequence[float],
        num_samples: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        sizes = _source_sizes(sources)
        if len(ratios) != len(sizes):
            raise InputError(f"ratios: {len(ratios)} given for {len(sizes)} sources")
        if any(ratio < 0 for ratio in ratios) or sum(ratios) <= 0:
            raise InputError(f"ratios: must be >= 0 with a positive sum, got {list(ratios)}")
        for source, (size, ratio) in enumerate(zip(sizes, ratios, strict=True)):
            if ratio > 0 and size == 0:
                raise InputError(f"ratios: source {source} is empty but has ratio {ratio}")
        if num_samples is None:
            num_samples = sum(sizes)
        if num_samples < 1:
            raise InputError(f"num_samples: must be >= 1, got {num_samples}")
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if distributed else 1
        if rank is None:
            rank = dist.get_rank() if distributed else 0
        if not 0 <= rank < num_replicas:
            raise InputError(f"rank: must be in [0, {num_replicas}), got {rank}")
        self.sizes = sizes
        self.ratios = list(ratios)
        self.num_samples = num_samples
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.counts = split_by_ratios(num_samples, ratios)
        self.offsets = [sum(sizes[:source]) for source in range(len(sizes))]

    def set_epoch(self, epoch: int) -> None:
        """Draw a different epoch (call before each epoch, on every rank)."""
        self.epoch = epoch

    def epoch_indices(self) -> list[int]:
        """The whole epoch over all replicas (before padding and sharding)."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        draws = []
        for size, count, offset in zip(self.sizes, self.counts, self.offsets, strict=True):
            if count == 0:
                continue
            cycles = [torch.randperm(size, generator=generator) for _ in range(-(-count // size))]
            draws.append(torch.cat(cycles)[:count] + offset)
        epoch = torch.cat(draws)
        return epoch[torch.randperm(len(epoch), generator=generator)].tolist()

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices()
        padded = len(self) * self.num_replicas
        padding = padded - len(indices)
        indices += (indices * -(-padding // len(indices)))[:padding]
        return iter(indices[self.rank : padded : self.num_replicas])

    def __len__(self) -> int:
        return -(-self.num_samples // self.num_replicas)
