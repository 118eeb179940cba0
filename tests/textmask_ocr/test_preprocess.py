"""The shared recognizer preprocessing and the mask sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from recognizers import RecognizerConfig
from textmask_ocr.imaging import image_to_pil
from textmask_ocr.recognition.mask_sources import SampleToInput, collate_inputs, random_mask
from textmask_ocr.recognition.preprocess import batch_inputs, model_input

GRAY = RecognizerConfig(arch="crnn", color_mode="L", input_size=(8, 20), alphabet="ab")
RGB_MASK = GRAY.replace(color_mode="RGB", mask_channel=True)


def crop(seed: int = 0, size: tuple[int, int] = (37, 13)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_gray_input_matches_pil_reference() -> None:
    image = crop()
    expected = np.asarray(image.convert("L").resize((20, 8), Image.Resampling.BILINEAR)) / 255.0
    tensor = model_input(image, GRAY)
    assert tensor.shape == (1, 8, 20)
    np.testing.assert_allclose(tensor[0].numpy(), (expected - 0.5) / 0.5, atol=1e-6)


def test_rgb_mask_input_stacks_normalised_mask() -> None:
    image = crop()
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (0, 0, 18, 13))
    tensor = model_input(image, RGB_MASK, mask)
    assert tensor.shape == (4, 8, 20)
    expected_mask = np.asarray(mask.resize((20, 8), Image.Resampling.BILINEAR)) / 255.0
    np.testing.assert_allclose(tensor[3].numpy(), expected_mask, atol=1e-6)
    expected_rgb = np.asarray(image.resize((20, 8), Image.Resampling.BILINEAR)) / 255.0
    np.testing.assert_allclose(tensor[:3].permute(1, 2, 0), (expected_rgb - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="pass a mask"):
        model_input(image, RGB_MASK)


@pytest.mark.parametrize("kind", ["uint8-hwc", "float-chw", "gray-hw", "bool-mask"])
def test_array_and_tensor_inputs_match_pil(kind: str) -> None:
    image = crop(1)
    array = np.array(image)
    if kind == "uint8-hwc":
        other = array
    elif kind == "float-chw":
        other = torch.from_numpy(array).permute(2, 0, 1).float() / 255.0
    elif kind == "gray-hw":
        image = image.convert("L")
        other = np.asarray(image)
    else:
        image = Image.fromarray((array[:, :, 0] > 128).astype(np.uint8) * 255)
        other = array[:, :, 0] > 128
    decoded = image_to_pil(other)
    assert np.array_equal(np.asarray(decoded), np.asarray(image.convert(decoded.mode)))
    assert torch.equal(model_input(other, GRAY), model_input(image, GRAY))


def test_random_mask_is_bernoulli_half_and_fresh() -> None:
    torch.manual_seed(0)
    config = RGB_MASK.replace(input_size=(64, 256))
    first, second = random_mask(config), random_mask(config)
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    assert abs(first.mean().item() - 0.5) < 0.01  # 16k pixels: 4 standard deviations
    assert not torch.equal(first, second)


def test_sample_to_input_sources_and_collate() -> None:
    image = crop()
    mask = Image.new("L", image.size, 255)
    real = SampleToInput(RGB_MASK, "real")({"image": image, "label": "ab", "mask": mask})
    assert torch.all(real["input"][3] == 1.0)
    predicted = SampleToInput(
        RGB_MASK, "predicted", predictor=lambda ims: [Image.new("L", im.size) for im in ims]
    )
    sample = predicted({"image": image, "label": "ab", "mask": None})
    assert torch.all(sample["input"][3] == 0.0)
    with pytest.raises(ValueError, match="sample 7 has no real mask"):
        SampleToInput(RGB_MASK, "real")({"image": image, "label": "a", "mask": None, "key": 7})
    with pytest.raises(ValueError, match="does not fit"):
        SampleToInput(GRAY, "random")
    batch = collate_inputs([real, sample])
    assert batch["input"].shape == (2, 4, 8, 20) and batch["labels"] == ["ab", "ab"]
    assert torch.equal(batch_inputs([image, image], RGB_MASK, [mask, mask])[0], real["input"])
