"""add-masks: predicted masks cached in a copy of a word LMDB, resumable after a kill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.textmask_ocr.recognition_fixtures import WordLmdbs, assert_one_line_error, run_cli
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.data.lmdb_dataset import LmdbWordDataset
from textmask_ocr.data.lmdb_format import RawSample, WordLmdb, decode_image
from textmask_ocr.data.lmdb_writer import GrowingWriter
from textmask_ocr.data.mask_cache import (
    add_masks,
    has_predicted_masks,
    merge_mask_shards,
    partial_path,
    predict_mask_shard,
    shard_indices,
)
from textmask_ocr.errors import InputError
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.models import load_base_or_adapted

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def brightness_masks(crops: list[Image.Image]) -> list[Image.Image]:
    """A deterministic stand-in predictor: the crop's gray level as the mask."""
    return [crop.convert("L") for crop in crops]


class Interrupted(RuntimeError):
    pass


def failing_after(calls: int):
    """The stand-in predictor that dies on call ``calls + 1`` (a killed job)."""
    state = {"calls": 0}

    def predict(crops: list[Image.Image]) -> list[Image.Image]:
        state["calls"] += 1
        if state["calls"] > calls:
            raise Interrupted
        return brightness_masks(crops)

    return predict


def stored(path: Path) -> list[RawSample]:
    with WordLmdb(path) as db:
        return [db.read(i) for i in range(1, db.num_samples + 1)]


def test_copy_keeps_images_and_labels_and_stores_predicted_masks(
    tmp_path: Path, word_lmdbs: WordLmdbs
) -> None:
    out = tmp_path / "pm"
    assert add_masks(word_lmdbs.unmasked, out, brightness_masks, batch_size=5, quiet=True) == 16
    source, copy = stored(word_lmdbs.unmasked), stored(out)
    kept = [[(s.image, s.label, s.polygon) for s in samples] for samples in (source, copy)]
    assert kept[0] == kept[1] and all(s.polygon is not None for s in source)
    dataset = LmdbWordDataset(out)
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample["mask"].size == sample["image"].size
        assert np.array_equal(np.asarray(sample["mask"]), np.asarray(sample["image"].convert("L")))
    assert has_predicted_masks(out) and not has_predicted_masks(word_lmdbs.train)


def test_killed_run_resumes_to_the_same_lmdb(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    straight = tmp_path / "straight"
    add_masks(word_lmdbs.train, straight, brightness_masks, batch_size=8, quiet=True)
    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        add_masks(word_lmdbs.train, resumed, failing_after(3), batch_size=8, quiet=True)
    assert not resumed.exists() and partial_path(resumed).is_dir()
    calls = []

    def counting(crops: list[Image.Image]) -> list[Image.Image]:
        calls.append(len(crops))
        return brightness_masks(crops)

    add_masks(word_lmdbs.train, resumed, counting, batch_size=8, quiet=True)
    assert sum(calls) == 64 - 3 * 8  # only the crops the killed run had not committed
    assert stored(resumed) == stored(straight)
    assert not partial_path(resumed).exists()


def test_existing_output_is_refused(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    with pytest.raises(InputError, match="already exists"):
        add_masks(word_lmdbs.train, word_lmdbs.val, brightness_masks, quiet=True)


def test_mask_sources_respect_where_masks_came_from(
    tmp_path: Path, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> None:
    predicted = tmp_path / "pm"
    add_masks(word_lmdbs.train, predicted, brightness_masks, quiet=True)
    config = load_base_or_adapted(crnn_weights, arch="crnn", with_mask=True).config
    sample = recognizer_dataset(predicted, config, "predicted")[0]
    assert sample["input"].shape[0] == 4
    with pytest.raises(InputError, match="use --mask predicted"):
        recognizer_dataset(predicted, config, "real")
    with pytest.raises(InputError, match="needs masks cached"):
        recognizer_dataset(word_lmdbs.train, config, "predicted")  # ground truth is no prediction


def test_cli_add_masks_with_a_segmenter(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    checkpoint = save_tiny_checkpoint(tmp_path / "seg.pt", tiny_model())
    result = run_cli(
        "add-masks", word_lmdbs.unmasked, tmp_path / "pm", "--segmenter", checkpoint, "-q"
    )
    assert result.exit_code == 0, result.output
    with WordLmdb(tmp_path / "pm") as db:
        assert db.count_masks() == db.num_samples == 16
    again = run_cli("add-masks", word_lmdbs.unmasked, tmp_path / "pm", "--segmenter", checkpoint)
    assert_one_line_error(again, "already exists")


def test_cli_add_masks_segments_at_the_checkpoints_crop_height(
    tmp_path: Path, word_lmdbs: WordLmdbs
) -> None:
    checkpoint = save_tiny_checkpoint(tmp_path / "seg.pt", tiny_model(crop_height=32))
    segmenter = Segmenter.from_pretrained(checkpoint)
    with WordLmdb(word_lmdbs.unmasked) as db:
        crops = [decode_image(db.read(index).image) for index in range(1, db.num_samples + 1)]
    for flags, height in (([], 32), (["--crop-height", "48"], 48)):
        out = tmp_path / f"pm{height}"
        result = run_cli(
            "add-masks", word_lmdbs.unmasked, out, "--segmenter", checkpoint, "-q", *flags
        )
        assert result.exit_code == 0, result.output
        expected = segmenter.crop_masks(crops, height=height)
        masks = [decode_image(sample.mask) for sample in stored(out)]
        assert all(
            np.array_equal(np.asarray(got), np.asarray(want))
            for got, want in zip(masks, expected, strict=True)
        )
    # The two heights give different masks: the test above would notice the wrong one.
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(
            segmenter.crop_masks(crops, height=32),
            segmenter.crop_masks(crops, height=64),
            strict=True,
        )
    )
    bad = run_cli(
        "add-masks",
        word_lmdbs.unmasked,
        tmp_path / "x",
        "--segmenter",
        checkpoint,
        "--crop-height",
        "40",
    )
    assert bad.exit_code == 2 and "40 is not a multiple of 16" in bad.output
    assert not (tmp_path / "x").exists() and not partial_path(tmp_path / "x").exists()


@pytest.mark.parametrize("world_size", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("num_samples", [0, 1, 7, 8, 64, 65])
def test_shards_split_the_batches_of_one_process(num_samples: int, world_size: int) -> None:
    batch_size = 8
    shards = [shard_indices(num_samples, batch_size, r, world_size) for r in range(world_size)]
    assert [i for shard in shards for i in shard] == list(range(1, num_samples + 1))
    for shard in shards:  # whole batches of a single-process run
        assert (shard.start - 1) % batch_size == 0
        assert (shard.stop - 1) % batch_size == 0 or shard.stop == num_samples + 1
    counts = [-(-len(shard) // batch_size) for shard in shards]
    assert max(counts) - min(counts) <= 1


def predict_shards(source: Path, out: Path, ranks: list[int], world_size: int, predictor) -> None:
    for rank in ranks:
        predict_mask_shard(
            source, out, predictor, rank=rank, world_size=world_size, batch_size=8, quiet=True
        )


@pytest.mark.parametrize("killed_rank", [0, 1, 2])
def test_shards_of_three_ranks_merge_to_the_single_process_lmdb(
    tmp_path: Path, word_lmdbs: WordLmdbs, killed_rank: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = tmp_path / "straight"
    add_masks(word_lmdbs.train, straight, brightness_masks, batch_size=8, quiet=True)
    out = tmp_path / "sharded"
    others = [rank for rank in range(3) if rank != killed_rank]
    predict_shards(word_lmdbs.train, out, others, 3, brightness_masks)
    with pytest.raises(Interrupted):
        predict_shards(word_lmdbs.train, out, [killed_rank], 3, failing_after(1))
    with pytest.raises(InputError, match=f"rank {killed_rank} has not finished"):
        merge_mask_shards(out, world_size=3, quiet=True)
    predict_shards(word_lmdbs.train, out, list(range(3)), 3, brightness_masks)

    # the merge is killed after appending 5 samples, and resumed
    add = GrowingWriter.add
    appended = []

    def dying_add(self, record):
        if len(appended) == 5:
            raise Interrupted
        appended.append(record)
        add(self, record)

    monkeypatch.setattr(GrowingWriter, "add", dying_add)
    with pytest.raises(Interrupted):
        merge_mask_shards(out, world_size=3, quiet=True)
    monkeypatch.undo()
    assert merge_mask_shards(out, world_size=3, quiet=True) == 64
    assert stored(out) == stored(straight)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sharded", "straight"]
    with WordLmdb(out) as copy, WordLmdb(straight) as reference:
        for key in (b"mask-source", b"add-masks-shard", b"add-masks-progress"):
            assert copy.metadata(key) == reference.metadata(key)


def test_partial_of_other_arguments_is_refused(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    out = tmp_path / "pm"
    with pytest.raises(Interrupted):
        add_masks(word_lmdbs.train, out, failing_after(1), batch_size=8, quiet=True)
    with pytest.raises(InputError, match="'1 64 8', not '1 64 16'"):
        add_masks(word_lmdbs.train, out, brightness_masks, batch_size=16, quiet=True)
    with pytest.raises(InputError, match="'1 64 8', not '1 32 8'"):
        predict_mask_shard(word_lmdbs.train, out, brightness_masks, world_size=2, batch_size=8)


def test_merge_names_a_missing_shard(tmp_path: Path, word_lmdbs: WordLmdbs) -> None:
    out = tmp_path / "pm"
    predict_mask_shard(word_lmdbs.train, out, brightness_masks, world_size=2, quiet=True)
    with pytest.raises(InputError, match="rank 1's masks are missing"):
        merge_mask_shards(out, world_size=2, quiet=True)
    with pytest.raises(InputError, match="no partial add-masks output"):
        merge_mask_shards(tmp_path / "other", quiet=True)


@pytest.mark.parametrize(
    ("device", "fragment"),
    [
        ("xla", "not supported (cpu or cuda)"),
        ("gpu", "not a device"),
        ("cuda:7", "--device cuda:7: "),
    ],
)
def test_cli_refuses_devices_this_machine_lacks(
    tmp_path: Path, word_lmdbs: WordLmdbs, device: str, fragment: str
) -> None:
    checkpoint = save_tiny_checkpoint(tmp_path / "seg.pt", tiny_model())
    result = run_cli(
        "add-masks", word_lmdbs.unmasked, tmp_path / "pm", "--segmenter", checkpoint,
        "--device", device,
    )  # fmt: skip
    assert_one_line_error(result, fragment, exit_code=2)
    assert "--device" in result.output
    assert list(tmp_path.iterdir()) == [checkpoint]
