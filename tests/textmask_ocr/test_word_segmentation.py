"""The ``words`` segmentation kind: word-crop LMDBs read back exactly, aspect kept by padding."""

from __future__ import annotations

from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader

from segmentation.datasets import DATASETS, MixingSampler, fit_size, rasterize_polygons
from segmentation.datasets.aspect import PAD_VALUE
from tests.textmask_ocr.segmentation_fixtures import write_scenes
from textmask_ocr.data.lmdb_format import polygon_key
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.data.synth.crops import WordSample, generate_word
from textmask_ocr.data.word_segmentation import WordCropSegmentation
from textmask_ocr.errors import InputError
from textmask_ocr.masking.sources import DataSource

SIZE = (32, 128)


@pytest.fixture(scope="module")
def samples() -> list[WordSample]:
    return [generate_word(seed) for seed in range(6)]


@pytest.fixture(scope="module")
def lmdb_path(tmp_path_factory: pytest.TempPathFactory, samples: list[WordSample]) -> Path:
    """Crop 1 as generated, crop 2 without a polygon, crop 3 without a mask, crop 4 with neither,
    crops 5 and 6 as generated."""
    records = [sample.to_record() for sample in samples]
    records[1] = WordRecord(records[1].image, records[1].label, records[1].mask, None)
    records[2] = WordRecord(records[2].image, records[2].label, None, records[2].polygon)
    records[3] = WordRecord(records[3].image, records[3].label)
    path = tmp_path_factory.mktemp("words") / "crops.lmdb"
    write_word_lmdb(path, records, quiet=True)
    return path


HAS_PIXEL = [True, True, False, False, True, True]
HAS_REGION = [True, False, True, False, True, True]


def nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Brute-force nearest-neighbour resize (PyTorch's 'nearest': source index
    floor(i * in / out), the scale in float32)."""
    rows = np.floor(np.arange(height, dtype=np.float32) * np.float32(array.shape[0] / height))
    cols = np.floor(np.arange(width, dtype=np.float32) * np.float32(array.shape[1] / width))
    return array[rows.astype(int)][:, cols.astype(int)]


def rgb_tensor(sample: WordSample) -> torch.Tensor:
    """The generator's crop as (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(sample.image.convert("RGB"))).permute(2, 0, 1) / 255


def expected_masks(sample: WordSample) -> tuple[np.ndarray, np.ndarray]:
    """The generator's pixel mask and its polygon filled, (H, W) bool at the crop's size."""
    mask = np.asarray(sample.mask) >= 128
    region = rasterize_polygons([sample.polygon], *mask.shape)
    return mask, region


def test_the_words_kind_is_registered_for_the_command_line(lmdb_path: Path) -> None:
    assert DATASETS["words"] is WordCropSegmentation
    dataset = DataSource.parse(f"words:pixel={lmdb_path}").open(size=SIZE)
    assert isinstance(dataset, WordCropSegmentation) and dataset.ground_truth == "pixel"
    assert len(dataset) == 6 and dataset.size == SIZE


def test_masks_polygons_and_indicators_read_back_exactly_at_the_stored_size(
    lmdb_path: Path, samples: list[WordSample]
) -> None:
    dataset = WordCropSegmentation(lmdb_path)
    for index, sample in enumerate(samples):
        item = dataset[index]
        width, height = sample.image.size
        assert item["name"] == f"{index + 1:09d}"
        assert item["image"].shape == (3, height, width)
        rgb = rgb_tensor(sample)
        assert torch.equal(item["image"], rgb)
        mask, region = expected_masks(sample)
        assert bool(item["has_pixel"]) == HAS_PIXEL[index]
        assert bool(item["has_region"]) == HAS_REGION[index]
        assert np.array_equal(item["pixel_mask"][0].numpy(), mask if HAS_PIXEL[index] else 0 * mask)
        assert np.array_equal(
            item["region_mask"][0].numpy(), region if HAS_REGION[index] else 0 * region
        )
        assert not item["ignore"].any()
    # The polygon holds every text pixel of the generator's mask.
    mask, region = expected_masks(samples[0])
    assert mask.any() and not (mask & ~region).any()


def test_fit_size_keeps_the_aspect_and_fits_wide_crops_to_the_width() -> None:
    assert fit_size(20, 60, (32, 128)) == (32, 96)
    assert fit_size(16, 64, (32, 128)) == (32, 128)
    assert fit_size(10, 100, (32, 128)) == (13, 128)  # 320 wide at height 32: fit the width
    assert fit_size(100, 3, (32, 128)) == (32, 1)


@pytest.mark.parametrize("size", [SIZE, (32, 48)], ids=["pad-width", "fit-width"])
def test_resized_crops_keep_the_aspect_and_padding_is_ignored(
    lmdb_path: Path, samples: list[WordSample], size: tuple[int, int]
) -> None:
    dataset = WordCropSegmentation(lmdb_path, size=size)
    for index, sample in enumerate(samples):
        item = dataset[index]
        width, height = sample.image.size
        fitted_height, fitted_width = fit_size(height, width, size)
        assert fitted_height == size[0] or fitted_width == size[1]
        for key in ("image", "pixel_mask", "region_mask", "ignore"):
            assert item[key].shape[-2:] == size
        inside = (slice(None), slice(0, fitted_height), slice(0, fitted_width))
        ignore = torch.ones(size, dtype=torch.bool)
        ignore[:fitted_height, :fitted_width] = False
        assert torch.equal(item["ignore"][0], ignore)
        mask, region = expected_masks(sample)
        for key, full, present in (
            ("pixel_mask", mask, HAS_PIXEL[index]),
            ("region_mask", region, HAS_REGION[index]),
        ):
            expected = np.zeros(size, dtype=np.float32)
            if present:
                expected[:fitted_height, :fitted_width] = nearest(full, fitted_height, fitted_width)
            assert np.array_equal(item[key][0].numpy(), expected), (index, key)
        rgb = rgb_tensor(sample)
        resized = F.interpolate(
            rgb[None], (fitted_height, fitted_width), mode="bilinear", antialias=True
        )[0]
        torch.testing.assert_close(item["image"][inside], resized, rtol=0, atol=1e-6)
        padding = item["image"].masked_select(ignore.expand(3, -1, -1))
        assert torch.all(padding == PAD_VALUE)
    assert any(fit_size(*s.image.size[::-1], size)[0] < size[0] for s in samples) == (size[1] == 48)


def test_mixes_with_scenes_by_ratio(lmdb_path: Path, tmp_path: Path) -> None:
    words = WordCropSegmentation(lmdb_path, size=SIZE)
    scenes = DataSource("synth", write_scenes(tmp_path / "scenes", 3, seed=0)).open(size=SIZE)
    mixed = ConcatDataset([words, scenes])
    sampler = MixingSampler.from_datasets(mixed.datasets, [3.0, 1.0], num_samples=12, seed=0)
    (batch,) = DataLoader(mixed, batch_size=12, sampler=sampler)
    assert batch["image"].shape == (12, 3, *SIZE)
    from_words = [name.isdigit() and len(name) == 9 for name in batch["name"]]
    assert sum(from_words) == 9  # 3 : 1 of 12, exactly
    # Padding is ignored in crops only; scenes are stretched to the size.
    for ignore, is_word, name in zip(batch["ignore"], from_words, batch["name"], strict=True):
        padded = words[int(name) - 1]["ignore"] if is_word else torch.zeros_like(ignore)
        assert torch.equal(ignore, padded)


def test_bad_samples_are_input_errors_naming_the_sample(
    tmp_path: Path, samples: list[WordSample]
) -> None:
    with pytest.raises(InputError, match="not an LMDB"):
        WordCropSegmentation(tmp_path)
    path = tmp_path / "broken.lmdb"
    write_word_lmdb(path, [sample.to_record() for sample in samples[:2]], quiet=True)
    env = lmdb.open(str(path), lock=False)
    with env.begin(write=True) as txn:
        txn.put(polygon_key(2), b"[[0,0],[1,0]]")
    env.close()
    dataset = WordCropSegmentation(path)
    assert dataset[0]["has_region"]
    with pytest.raises(InputError, match=r"broken\.lmdb: sample 2: polygon must be at least 3"):
        dataset[1]
