"""Ratio mixing of several datasets: exact counts, even interleaving, seeds, DDP shares."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader, TensorDataset

from segmentation.datasets import MixingSampler, mixture_order
from segmentation.datasets.mixing import allocate_counts

SIZES = [50, 7, 20]
OFFSETS = [0, 50, 57]


def _source(index: int) -> int:
    return sum(index >= offset for offset in OFFSETS) - 1


@pytest.mark.parametrize(
    ("total", "ratios"),
    [(100, [2, 1, 1]), (7, [1, 1, 1]), (1000, [0.7, 0.2, 0.1]), (13, [0, 3, 1]), (5, [1])],
)
def test_allocation_is_exact_and_within_one_of_the_share(total, ratios):
    counts = allocate_counts(total, ratios)
    assert sum(counts) == total
    for count, ratio in zip(counts, ratios, strict=True):
        assert abs(count - total * ratio / sum(ratios)) < 1
        assert ratio > 0 or count == 0


def test_epoch_has_the_allocated_counts_and_reshuffled_passes():
    order = mixture_order(SIZES, [2, 1, 1], num_samples=200)(torch.Generator().manual_seed(0))
    assert len(order) == 200 and all(0 <= index < sum(SIZES) for index in order)
    per_source = Counter(_source(index) for index in order)
    assert [per_source[d] for d in range(3)] == allocate_counts(200, [2, 1, 1]) == [100, 50, 50]
    small = Counter(index for index in order if _source(index) == 1)
    assert set(small) == set(range(50, 57))
    assert max(small.values()) - min(small.values()) <= 1  # 50 draws of 7 items: 7 or 8 each
    large = [index for index in order if _source(index) == 0]
    assert sorted(large) == sorted(list(range(50)) * 2)  # two full passes


def test_every_batch_holds_each_dataset_close_to_its_ratio():
    ratios = [5, 2, 1]
    order = mixture_order(SIZES, ratios, num_samples=800)(torch.Generator().manual_seed(1))
    batch = 16
    for start in range(0, 800 - batch + 1):
        counts = Counter(_source(index) for index in order[start : start + batch])
        for source, ratio in enumerate(ratios):
            assert abs(counts[source] - batch * ratio / 8) <= 2, (start, counts)


def test_default_epoch_size_and_zero_ratio_leave_out_a_dataset():
    order = mixture_order(SIZES, [1, 0, 1])(torch.Generator().manual_seed(2))
    assert len(order) == 50 + 20
    assert not any(_source(index) == 1 for index in order)


@pytest.mark.parametrize(
    ("sizes", "ratios", "message"),
    [
        ([5, 5], [1], "need one ratio per dataset, got 1 for 2"),
        ([5, 5], [1, -1], "ratios must be >= 0 with a positive sum"),
        ([5, 5], [0, 0], "ratios must be >= 0 with a positive sum"),
        ([5, 0], [1, 1], "dataset 1 is empty but has ratio 1"),
    ],
)
def test_invalid_mixtures_are_rejected(sizes, ratios, message):
    with pytest.raises(ValueError, match=message):
        MixingSampler(sizes, ratios)


def test_sampler_is_seeded_and_changes_with_the_epoch():
    sampler = MixingSampler(SIZES, [1, 1, 1], seed=4)
    first = list(sampler)
    assert first == list(sampler) == list(MixingSampler(SIZES, [1, 1, 1], seed=4))
    assert first != list(MixingSampler(SIZES, [1, 1, 1], seed=5))
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and len(second) == len(first) == len(sampler) == sum(SIZES)
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_ranks_get_disjoint_shares_that_rebuild_the_epoch():
    whole = list(MixingSampler(SIZES, [3, 1, 1], num_samples=103, seed=9, num_replicas=1, rank=0))
    shares = [
        list(MixingSampler(SIZES, [3, 1, 1], num_samples=103, seed=9, num_replicas=4, rank=r))
        for r in range(4)
    ]
    assert [len(share) for share in shares] == [25, 25, 25, 25]
    assert [index for share in shares for index in share] == whole[:100]
    for share in shares:  # each share keeps the ratio, batch by batch
        for start in range(0, 25, 5):
            counts = Counter(_source(index) for index in share[start : start + 5])
            assert abs(counts[0] - 5 * 3 / 5) <= 2
    with pytest.raises(ValueError, match=r"rank 4 outside \[0, 4\)"):
        MixingSampler(SIZES, [1, 1, 1], num_replicas=4, rank=4)


def test_drives_a_dataloader_over_concatenated_datasets():
    datasets = [TensorDataset(torch.full((size,), float(d))) for d, size in enumerate(SIZES)]
    sampler = MixingSampler.from_datasets(datasets, [1, 1, 2], num_samples=40, seed=0)
    loader = DataLoader(ConcatDataset(datasets), batch_size=8, sampler=sampler)
    sources = torch.cat([batch for (batch,) in loader]).tolist()
    assert Counter(sources) == {0.0: 10, 1.0: 10, 2.0: 20}
