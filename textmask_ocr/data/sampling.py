"""Several word-crop sources as one dataset, and opening a source by what its path is.

Recognizers are usually trained on a mix such as Synth90k + SynthText drawn 50/50 whatever
their sizes. :class:`ConcatWordDataset` puts the sources end to end; the epoch order that draws
each source's share comes from :func:`segmentation.datasets.mixing.mixture_order` (exact counts
per source, no repeat within a source before it is exhausted), read through the training
engine's resumable, DDP-sharded sampler (``finetune --train A --train B --train-ratio 1 1``). A
plain ``torch.utils.data.Sampler`` of the same mixture is
:class:`segmentation.datasets.MixingSampler`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from torch.utils.data import ConcatDataset

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
