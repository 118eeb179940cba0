"""Concatenated word sources, ratio sampling (with DDP sharding), opening a source by path."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from torch.utils.data import ConcatDataset

from tests.textmask_ocr.word_samples import LABELS, word_records
from textmask_ocr.data.filtering import EMPTY_LABEL, OUTSIDE_ALPHABET
from textmask_ocr.data.folder_dataset import FolderWordDataset, write_word_folder
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.sampling import (
    ConcatWordDataset,
    RatioSampler,
    open_word_dataset,
    split_by_ratios,
)
from textmask_ocr.errors import InputError


def _source_of(index: int, sizes: list[int]) -> int:
    return next(s for s in range(len(sizes)) if index < sum(sizes[: s + 1]))


@pytest.mark.parametrize(
    ("total", "ratios"),
    [(10, [1, 1]), (7, [0.5, 0.3, 0.2]), (23, [1, 2, 3, 4]), (5, [1, 0, 1]), (1, [3, 1])],
)
def test_split_by_ratios_matches_brute_force(total, ratios) -> None:
    # brute force: of all splits summing to total, the closest to the exact quotas (squared
    # error), ties to the earlier sources
    quotas = [total * r / sum(ratios) for r in ratios]
    splits = (c for c in itertools.product(range(total + 1), repeat=len(ratios)) if sum(c) == total)
    best = min(
        splits,
        key=lambda c: (
            round(sum((a - q) ** 2 for a, q in zip(c, quotas, strict=True)), 9),
            [-x for x in c],
        ),
    )
    assert split_by_ratios(total, ratios) == list(best)


def test_sampler_draws_exact_counts_per_source() -> None:
    sizes = [3, 50, 7]
    sampler = RatioSampler(sizes, ratios=[0.5, 0.25, 0.25], num_samples=40, seed=3)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 40
    per_source = Counter(_source_of(i, sizes) for i in indices)
    assert per_source == {0: 20, 1: 10, 2: 10}
    assert all(0 <= i < sum(sizes) for i in indices)


def test_sampler_walks_permutations_within_each_source() -> None:
    sizes = [3, 50]
    indices = list(RatioSampler(sizes, ratios=[1, 1], num_samples=20, seed=0))
    small = Counter(i for i in indices if i < 3)
    assert sorted(small.values()) == [3, 3, 4]  # 10 draws of 3 samples: cycled evenly
    large = [i for i in indices if i >= 3]
    assert len(large) == len(set(large)) == 10  # subsampled without repeats


def test_sampler_is_deterministic_per_seed_and_epoch() -> None:
    def draw(seed, epoch):
        sampler = RatioSampler([10, 10], ratios=[1, 1], num_samples=20, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert draw(0, 0) == draw(0, 0)
    assert draw(0, 0) != draw(0, 1)
    assert draw(0, 0) != draw(1, 0)
    assert sorted(draw(0, 0)) == list(range(20))  # full epoch of both sources: a permutation


@pytest.mark.parametrize(("num_samples", "replicas"), [(10, 3), (12, 4), (2, 4)])
def test_ddp_shards_are_disjoint_and_cover_the_epoch(num_samples, replicas) -> None:
    samplers = [
        RatioSampler([6, 9], [1, 2], num_samples, seed=5, num_replicas=replicas, rank=rank)
        for rank in range(replicas)
    ]
    shards = [list(sampler) for sampler in samplers]
    per_rank = -(-num_samples // replicas)
    assert [len(shard) for shard in shards] == [per_rank] * replicas
    assert [len(sampler) for sampler in samplers] == [per_rank] * replicas
    epoch = samplers[0].epoch_indices()
    interleaved = [shards[p % replicas][p // replicas] for p in range(per_rank * replicas)]
    assert interleaved[:num_samples] == epoch
    assert all(i in epoch for i in interleaved[num_samples:])  # padding repeats the epoch


def test_sampler_accepts_datasets_and_concat() -> None:
    concat = ConcatDataset([range(4), range(6)])  # any concatenation of sized datasets
    assert RatioSampler(concat, [1, 1], 10).sizes == [4, 6]
    assert RatioSampler([range(4), range(6)], [1, 1]).num_samples == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ratios": [1]}, "1 given for 2 sources"),
        ({"ratios": [1, -1]}, "must be >= 0"),
        ({"ratios": [0, 0]}, "positive sum"),
        ({"sources": [0, 5], "ratios": [1, 1]}, "source 0 is empty but has ratio 1"),
        ({"ratios": [1, 1], "num_samples": 0}, "num_samples: must be >= 1"),
        ({"ratios": [1, 1], "num_replicas": 2, "rank": 2}, r"rank: must be in \[0, 2\)"),
    ],
)
def test_sampler_rejects_bad_settings(kwargs, match) -> None:
    kwargs = {"sources": [5, 5], **kwargs}
    with pytest.raises(InputError, match=match):
        RatioSampler(**kwargs)


def test_zero_ratio_source_is_never_drawn() -> None:
    assert all(i >= 4 for i in RatioSampler([4, 0, 6], [0, 0, 1], 30))


@pytest.fixture
def two_sources(tmp_path):
    write_word_lmdb(tmp_path / "a.lmdb", word_records(["", *LABELS[:3]]))
    folder_records = word_records(["x-y", "zz"], masks=False, seed=50)
    write_word_folder(tmp_path / "b", enumerate(folder_records, start=1))
    return tmp_path / "a.lmdb", tmp_path / "b"


def test_concat_word_dataset(two_sources) -> None:
    a = LmdbWordDataset(two_sources[0])
    b = FolderWordDataset(two_sources[1], alphabet="xyz")
    concat = ConcatWordDataset([a, b])
    assert concat.sizes == [3, 1]
    assert len(concat) == 4
    assert [concat[i]["label"] for i in range(4)] == [*LABELS[:3], "zz"]
    assert concat[3]["key"] == 2
    assert not concat.has_masks
    assert concat.filter_report[EMPTY_LABEL] == 1
    assert concat.filter_report[OUTSIDE_ALPHABET] == 1
    assert ConcatWordDataset([a]).has_masks


def test_open_word_dataset_by_path(two_sources, tmp_path) -> None:
    assert isinstance(open_word_dataset(two_sources[0]), LmdbWordDataset)
    assert isinstance(open_word_dataset(two_sources[1]), FolderWordDataset)
    folder = open_word_dataset(two_sources[1] / "gt.txt", alphabet="xyz")
    assert isinstance(folder, FolderWordDataset) and len(folder) == 1
    with pytest.raises(InputError, match="no such file or directory"):
        open_word_dataset(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"neither a word-crop LMDB \(data\.mdb\) nor"):
        open_word_dataset(tmp_path / "empty")
