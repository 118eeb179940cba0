"""add-masks under two gloo processes: the same LMDB, byte for byte, as one process."""

from __future__ import annotations

import os
from pathlib import Path

import lmdb
import pytest
import torch
import torch.multiprocessing as mp

from tests.textmask_ocr.recognition_fixtures import TRAIN_SIZE, WordLmdbs, run_cli
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from tests.textmask_ocr.test_finetune_ddp import free_port
from textmask_ocr.data.mask_cache import partial_path, predict_mask_shard, shard_indices
from textmask_ocr.masking.predictor import Segmenter

pytestmark = pytest.mark.usefixtures("single_thread_torch")

WORLD_SIZE = 2
BATCH_SIZE = 8
KILLED_AFTER_CALLS = 2


def lmdb_items(path: Path) -> dict[bytes, bytes]:
    """Every key and value of an LMDB."""
    env = lmdb.open(str(path), readonly=True, lock=False)
    try:
        with env.begin() as txn:
            return dict(txn.cursor())
    finally:
        env.close()


def count_crops_into(record: Path) -> None:
    """Make every ``Segmenter.crop_masks`` call of this process append its crop count to
    ``record``."""
    crop_masks = Segmenter.crop_masks

    def counting(self, crops, **options):
        with record.open("a") as file:
            file.write(f"{len(crops)}\n")
        return crop_masks(self, crops, **options)

    Segmenter.crop_masks = counting


def crops_predicted(record: Path) -> int:
    return sum(int(line) for line in record.read_text().split()) if record.exists() else 0


def _worker(rank: int, root: str, source: str, checkpoint: str, port: int) -> None:
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": str(WORLD_SIZE), "LOCAL_RANK": str(rank)}
        | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    torch.set_num_threads(1)
    count_crops_into(Path(root) / f"crops-rank-{rank}")
    result = run_cli(
        "add-masks", source, Path(root) / "ddp", "--segmenter", checkpoint,
        "--batch-size", BATCH_SIZE, "--device", "cpu", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ("wrote" in result.output) == (rank == 0)


class Killed(RuntimeError):
    pass


def test_two_gloo_processes_write_the_lmdb_of_one_process(
    tmp_path: Path, word_lmdbs: WordLmdbs
) -> None:
    checkpoint = save_tiny_checkpoint(tmp_path / "seg.pt", tiny_model())
    segmenter = Segmenter.from_pretrained(checkpoint, device="cpu")
    # Rank 1 of an earlier job was killed after two batches of its shard.
    calls = []

    def dying(crops):
        if len(calls) == KILLED_AFTER_CALLS:
            raise Killed
        calls.append(len(crops))
        return segmenter.crop_masks(crops)

    out = tmp_path / "ddp"
    with pytest.raises(Killed):
        predict_mask_shard(
            word_lmdbs.train, out, dying, rank=1, world_size=WORLD_SIZE, batch_size=BATCH_SIZE
        )
    assert partial_path(out, 1, WORLD_SIZE).is_dir()

    mp.spawn(
        _worker,
        args=(str(tmp_path), str(word_lmdbs.train), str(checkpoint), free_port()),
        nprocs=WORLD_SIZE,
        join=True,
    )
    shards = [shard_indices(TRAIN_SIZE, BATCH_SIZE, rank, WORLD_SIZE) for rank in (0, 1)]
    assert shards == [range(1, 33), range(33, 65)]
    assert crops_predicted(tmp_path / "crops-rank-0") == len(shards[0])
    assert crops_predicted(tmp_path / "crops-rank-1") == (
        len(shards[1]) - KILLED_AFTER_CALLS * BATCH_SIZE
    )  # rank 1 continued where it was killed
    assert sorted(path.name for path in tmp_path.iterdir() if "partial" in path.name) == []

    single = tmp_path / "single"
    result = run_cli(
        "add-masks", word_lmdbs.train, single, "--segmenter", checkpoint,
        "--batch-size", BATCH_SIZE, "--device", "cpu", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    reference = lmdb_items(single)
    assert (
        len(reference) == 4 * TRAIN_SIZE + 2
    )  # image, label, mask, polygon; num-samples, mask-source
    assert lmdb_items(out) == reference
