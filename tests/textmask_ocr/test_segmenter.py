"""Segmenter: loading, any image mode and size, padding/resizing back, word-crop masks."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from recognizers import build_recognizer, default_cfgs
from segmentation.configs import normalize_image
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.engine import save_checkpoint
from textmask_ocr.errors import InputError
from textmask_ocr.imaging import image_to_tensor
from textmask_ocr.masking.predictor import Segmenter, crop_mask_predictor

pytestmark = pytest.mark.usefixtures("single_thread_torch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("seg") / "tiny.pt", tiny_model())


@pytest.fixture(scope="module")
def segmenter(checkpoint: Path) -> Segmenter:
    return Segmenter.from_pretrained(checkpoint, device="cpu")


def reference_text(model: torch.nn.Module, image: torch.Tensor, phases: int = 2) -> torch.Tensor:
    """Unfused network, by hand: (3, H, W) with sides multiple of 16 -> (H, W) O'_T."""
    with torch.no_grad():
        output = model(normalize_image(image[None], model.config), phases=phases)
    return output.final_text[0, 0]


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_from_pretrained_folds_batch_norm_and_matches_the_network(
    segmenter: Segmenter, checkpoint: Path
) -> None:
    model = tiny_model()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in segmenter.model.modules())
    image = image_to_tensor(random_rgb(48, 64))
    (prediction,) = segmenter.predict([image])
    assert prediction.text.shape == (48, 64) and prediction.text.dtype == np.float32
    np.testing.assert_allclose(prediction.text, reference_text(model, image).numpy(), atol=1e-5)
    with torch.no_grad():
        region = model(normalize_image(image[None], model.config)).final_region[0, 0]
    np.testing.assert_allclose(prediction.region, region.numpy(), atol=1e-5)
    assert np.array_equal(prediction.text_mask, prediction.text >= 0.5)


def test_odd_sizes_are_padded_with_edge_pixels_and_cropped_back(segmenter: Segmenter) -> None:
    rgb = random_rgb(37, 53, seed=1)
    (prediction,) = segmenter.predict([Image.fromarray(rgb)])
    assert prediction.text.shape == prediction.region.shape == (37, 53)
    padded = torch.from_numpy(np.pad(rgb, ((0, 11), (0, 11), (0, 0)), mode="edge"))
    expected = reference_text(tiny_model(), padded.permute(2, 0, 1).float() / 255)[:37, :53]
    np.testing.assert_allclose(prediction.text, expected.numpy(), atol=1e-5)


def test_fixed_size_resizes_and_maps_back(segmenter: Segmenter) -> None:
    image = image_to_tensor(random_rgb(40, 70, seed=2))
    (prediction,) = segmenter.predict([image], size=32)
    assert prediction.text.shape == (40, 70)
    small = F.interpolate(image[None], (32, 32), mode="bilinear", antialias=True)[0]
    expected = F.interpolate(
        reference_text(tiny_model(), small)[None, None], (40, 70), mode="bilinear"
    )[0, 0]
    np.testing.assert_allclose(prediction.text, expected.numpy(), atol=1e-5)
    square = image_to_tensor(random_rgb(32, 32, seed=3))
    np.testing.assert_array_equal(
        segmenter.predict([square], size=32)[0].text, segmenter.predict([square])[0].text
    )
    with pytest.raises(InputError, match="--size 20: must be a positive multiple of 16"):
        segmenter.predict([image], size=20)


def test_batches_mix_sizes_without_changing_results(segmenter: Segmenter) -> None:
    images = [image_to_tensor(random_rgb(h, w, seed=h)) for h, w in [(30, 40), (64, 32), (20, 20)]]
    together = segmenter.predict(images, batch_size=8)
    alone = [segmenter.predict([image])[0] for image in images]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.text, b.text, atol=1e-6)


def test_every_image_form_gives_the_same_prediction(segmenter: Segmenter, tmp_path: Path) -> None:
    gray = np.random.default_rng(4).integers(0, 256, (33, 47), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    sixteen = Image.fromarray(gray.astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    rgba = np.concatenate([rgb, np.full((33, 47, 1), 255, np.uint8)], axis=2)
    forms = [
        Image.fromarray(gray),
        Image.fromarray(rgb),
        sixteen,
        Image.fromarray(rgba),
        gray,
        rgb,
        rgba,
        gray.astype(np.uint16) * 257,
        gray.astype(np.float32) / 255,
        torch.from_numpy(gray).float()[None] / 255,
        tmp_path / "gray.png",
        str(tmp_path / "gray.png"),
    ]
    predictions = segmenter.predict(forms)
    for prediction in predictions[1:]:
        np.testing.assert_array_equal(prediction.text, predictions[0].text)


def test_phase_one_checkpoints_run_open_loop(tmp_path: Path) -> None:
    model = tiny_model(phases=1)
    segmenter = Segmenter.from_pretrained(save_tiny_checkpoint(tmp_path / "a.pt", model))
    image = image_to_tensor(random_rgb(32, 48, seed=5))
    (prediction,) = segmenter.predict([image])
    open_loop = reference_text(model, image, phases=1).numpy()
    closed_loop = reference_text(model, image, phases=2).numpy()
    np.testing.assert_allclose(prediction.text, open_loop, atol=1e-5)
    assert np.abs(prediction.text - closed_loop).max() > 1e-3


def test_skip_connected_mgnet_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    model = tiny_model("mgnet-skip")
    segmenter = Segmenter.from_pretrained(save_tiny_checkpoint(tmp_path / "skip.pt", model))
    assert segmenter.config == model.config and segmenter.model.skips
    image = image_to_tensor(random_rgb(32, 48, seed=3))
    (prediction,) = segmenter.predict([image])
    np.testing.assert_allclose(prediction.text, reference_text(model, image).numpy(), atol=1e-5)
    save_checkpoint(
        tmp_path / "mislabelled.pt",
        model_state=model.state_dict(),
        model_config=model.config.replace(arch="mgnet").to_dict(),
    )
    with pytest.raises(InputError, match=r"mislabelled\.pt: weights do not fit mgnet"):
        Segmenter.from_pretrained(tmp_path / "mislabelled.pt")


def test_unet_has_no_region_output(tmp_path: Path) -> None:
    segmenter = Segmenter.from_pretrained(
        save_tiny_checkpoint(tmp_path / "unet.pt", tiny_model("unet"))
    )
    (prediction,) = segmenter.predict([random_rgb(20, 30)])
    assert prediction.region is None and prediction.region_mask is None
    assert prediction.polygons() == [] and prediction.text.shape == (20, 30)


def test_checkpoint_errors(tmp_path: Path, checkpoint: Path) -> None:
    with pytest.raises(InputError, match=r"no model\.pt"):
        Segmenter.from_pretrained(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(checkpoint.read_bytes())
    assert Segmenter.from_pretrained(run).config.arch == "mgnet"
    recognizer = build_recognizer(default_cfgs["crnn"])
    save_checkpoint(tmp_path / "crnn.pt", model_state={}, model_config=recognizer.config.to_dict())
    with pytest.raises(InputError, match=r"crnn\.pt: not a segmentation checkpoint"):
        Segmenter.from_pretrained(tmp_path / "crnn.pt")
    unet = tiny_model("unet")
    save_checkpoint(
        tmp_path / "mixed.pt",
        model_state=unet.state_dict(),
        model_config=tiny_model().config.to_dict(),
    )
    with pytest.raises(InputError, match=r"mixed\.pt: weights do not fit mgnet"):
        Segmenter.from_pretrained(tmp_path / "mixed.pt")
    with pytest.raises(InputError, match="threshold must lie in"):
        Segmenter(tiny_model(), threshold=1.0)


CROP_SIZES = [(20, 60), (40, 120), (30, 300), (64, 64), (10, 5)]  # -> widths 192, 192, 256, 64, 32


def test_crop_masks_batch_by_width_and_map_back(segmenter: Segmenter) -> None:
    rng = np.random.default_rng(6)
    crops = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in CROP_SIZES
    ]
    shapes: list[tuple[int, ...]] = []
    hook = segmenter.model.register_forward_hook(
        lambda _module, inputs, _output: shapes.append(tuple(inputs[0].shape))
    )
    try:
        masks = segmenter.crop_masks(crops, batch_size=8)
        assert sorted(shapes) == [(1, 3, 64, 32), (1, 3, 64, 64), (1, 3, 64, 256), (2, 3, 64, 192)]
        shapes.clear()
        segmenter.crop_masks(crops, batch_size=1)
        assert len(shapes) == len(crops)
    finally:
        hook.remove()
    model = tiny_model()
    for crop, mask, width in zip(crops, masks, [192, 192, 256, 64, 32], strict=True):
        assert mask.mode == "L" and mask.size == crop.size
        tensor = image_to_tensor(crop)[None]
        resized = F.interpolate(tensor, (64, width), mode="bilinear", antialias=True)[0]
        text = reference_text(model, resized)[None, None]
        back = F.interpolate(text, (crop.height, crop.width), mode="bilinear", antialias=True)
        expected = (back[0, 0].clamp(0, 1) * 255).round().numpy()
        assert np.abs(np.asarray(mask, dtype=np.float64) - expected).max() <= 1


def input_shapes(segmenter: Segmenter, crops: list[Image.Image], **options) -> set[tuple]:
    """The network input shapes of ``segmenter.crop_masks(crops, **options)``."""
    shapes: set[tuple] = set()
    hook = segmenter.model.register_forward_hook(
        lambda _module, inputs, _output: shapes.add(tuple(inputs[0].shape))
    )
    try:
        segmenter.crop_masks(crops, **options)
    finally:
        hook.remove()
    return shapes


def test_crops_are_segmented_at_the_checkpoints_crop_height(tmp_path: Path) -> None:
    crops = [Image.fromarray(random_rgb(20, 60, seed=4))]  # width 3 x height
    trained = save_tiny_checkpoint(tmp_path / "crops.pt", tiny_model(crop_height=32))
    segmenter = Segmenter.from_pretrained(trained)
    assert segmenter.config.crop_height == 32
    assert input_shapes(segmenter, crops) == {(1, 3, 32, 96)}
    assert input_shapes(segmenter, crops, height=48) == {(1, 3, 48, 144)}
    assert crop_mask_predictor(trained).options["height"] is None  # the checkpoint decides
    # A checkpoint saved before the field existed segments at 64, as every one did then.
    model = tiny_model()
    config = model.config.to_dict()
    del config["crop_height"]
    save_checkpoint(tmp_path / "old.pt", model_state=model.state_dict(), model_config=config)
    assert input_shapes(Segmenter.from_pretrained(tmp_path / "old.pt"), crops) == {(1, 3, 64, 192)}


def test_crop_mask_predictor_pickles_without_its_network(checkpoint: Path, tmp_path: Path) -> None:
    predictor = crop_mask_predictor(checkpoint)
    crops = [Image.fromarray(random_rgb(16, 40, seed=8))]
    copy = pickle.loads(pickle.dumps(predictor))
    assert copy._segmenter is None
    assert np.array_equal(np.asarray(copy(crops)[0]), np.asarray(predictor(crops)[0]))
    with pytest.raises(InputError, match="no such checkpoint"):
        crop_mask_predictor(tmp_path / "absent.pt")
    with pytest.raises(InputError, match="crop height 60: must be a positive multiple of 16"):
        predictor.segmenter.crop_masks(crops, height=60)


def test_autocast_runs_in_half_precision_and_returns_float32(checkpoint: Path) -> None:
    fp32 = Segmenter.from_pretrained(checkpoint, device="cpu")
    assert fp32.amp_dtype is None and fp32.memory_format == torch.contiguous_format  # CPU default
    amp = Segmenter.from_pretrained(checkpoint, device="cpu", amp=True)
    assert amp.amp_dtype == torch.bfloat16
    conv_dtypes = []
    hook = amp.model.encoder.register_forward_hook(
        lambda _module, _inputs, output: conv_dtypes.append(output.dtype)
    )
    try:
        image = image_to_tensor(random_rgb(32, 48, seed=9))
        (half,) = amp.predict([image])
    finally:
        hook.remove()
    assert conv_dtypes == [torch.bfloat16]
    (full,) = fp32.predict([image])
    assert half.text.dtype == np.float32
    assert 0 < np.abs(half.text - full.text).max() < 0.05  # bfloat16 keeps ~3 digits
