"""``MaskedCRNN`` / ``MaskedASTER``: adapting public checkpoints, our checkpoints, recognize(),
and the README's Python example."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recognizers import (
    CheckpointError,
    build_codec,
    load_recognizer,
    mask_is_ignored,
    read_checkpoint,
)
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.data.synth import iter_word_records
from textmask_ocr.errors import InputError
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.recognition.models import MaskedASTER, MaskedCRNN, MaskIgnoredWarning
from textmask_ocr.recognition.preprocess import batch_inputs

pytestmark = pytest.mark.usefixtures("single_thread_torch")

MASKED = {"crnn": MaskedCRNN, "aster": MaskedASTER}
NUM_CROPS = 5  # odd, so batch_size=2 leaves a partial last batch


@pytest.fixture
def weights(request: pytest.FixtureRequest, crnn_weights: Path, aster_weights: Path) -> Path:
    return {"crnn": crnn_weights, "aster": aster_weights}[request.param]


def synthetic_crops(gray: bool = False) -> tuple[list[Image.Image], list[Image.Image]]:
    """Word crops of different sizes and their text masks ('L', 0/255)."""
    records = list(iter_word_records(NUM_CROPS, seed=7))
    crops = [Image.open(io.BytesIO(record.image)).convert("RGB") for record in records]
    if gray:  # R = G = B: PIL's 'L' conversion of the crop is then exact, no rounding
        crops = [crop.convert("L").convert("RGB") for crop in crops]
    masks = [Image.open(io.BytesIO(record.mask)).convert("L") for record in records]
    assert len({crop.size for crop in crops}) > 1
    return crops, masks


def mask_set(kind: str, crops: list[Image.Image], real: list[Image.Image]) -> list[Image.Image]:
    if kind == "real":
        return real
    if kind == "random":
        rng = np.random.default_rng(0)
        return [
            Image.fromarray((rng.random(crop.size[::-1]) < 0.5).astype(np.uint8) * 255)
            for crop in crops
        ]
    return [Image.new("L", crop.size, 255 if kind == "ones" else 0) for crop in crops]


@pytest.mark.parametrize("weights", ["crnn", "aster"], indirect=True)
@pytest.mark.parametrize("mask_kind", ["zeros", "ones", "random", "real"])
def test_adapted_public_checkpoint_reads_like_the_base_model(weights: Path, mask_kind: str) -> None:
    arch = read_arch(weights)
    base = load_recognizer(weights, arch=arch).eval()
    # The CRNN reads gray crops: PIL rounds 'L' to integers, the adapted conv sums exact luma.
    crops, real_masks = synthetic_crops(gray=arch == "crnn")
    expected = build_codec(base.config).decode(*base.predict(batch_inputs(crops, base.config)))
    assert len({prediction.confidence for prediction in expected}) > 1  # it reads its input

    masked = MASKED[arch].from_pretrained(weights, device="cpu")
    assert masked.config == base.config.replace(color_mode="RGB", mask_channel=True)
    predictions = masked.recognize(crops, mask_set(mask_kind, crops, real_masks))

    assert [p.text for p in predictions] == [p.text for p in expected]
    np.testing.assert_allclose(
        [p.confidence for p in predictions], [p.confidence for p in expected], rtol=0, atol=1e-5
    )


def read_arch(weights: Path) -> str:
    return "crnn" if weights.name.startswith("crnn") else "aster"


def test_mask_weights_other_than_zero_make_the_mask_count(crnn_weights: Path) -> None:
    """The control of the invariant above: with 'mean' mask weights the mask changes the output."""
    crops, _ = synthetic_crops(gray=True)
    masked = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
    zeros = masked.recognize(crops, mask_set("zeros", crops, []))
    ones = masked.recognize(crops, mask_set("ones", crops, []))
    confidences = [[p.confidence for p in predictions] for predictions in (zeros, ones)]
    assert not np.allclose(*confidences, rtol=0, atol=1e-5)  # the invariant's check would fail


@pytest.mark.parametrize("weights", ["crnn", "aster"], indirect=True)
def test_saved_checkpoint_loads_as_is_with_no_flags(weights: Path, tmp_path: Path) -> None:
    arch = read_arch(weights)
    crops, masks = synthetic_crops()
    adapted = MASKED[arch].from_pretrained(weights, mask_init="mean", device="cpu")
    path = adapted.save(tmp_path / "ours.pt")

    assert read_checkpoint(path).config == adapted.config  # the config travels with the weights
    reloaded = MASKED[arch].from_pretrained(path, device="cpu")
    assert reloaded.config == adapted.config
    assert reloaded.config.mask_channel and reloaded.config.in_channels == 4  # not adapted again
    original_state, reloaded_state = adapted.model.state_dict(), reloaded.model.state_dict()
    assert list(reloaded_state) == list(original_state)
    for key, value in original_state.items():
        assert torch.equal(reloaded_state[key], value), key
    assert reloaded.recognize(crops, masks) == adapted.recognize(crops, masks)
    assert load_recognizer(path).config == adapted.config  # no arch needed for ours


def as_uint8_arrays(crops: list[Image.Image]) -> list[np.ndarray]:
    return [np.asarray(crop) for crop in crops]


def as_float_tensors(crops: list[Image.Image]) -> list[torch.Tensor]:
    """CHW float tensors in [0, 1]."""
    return [
        torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)
        for crop in crops
    ]


def test_recognize_reads_pil_arrays_and_tensors_alike(crnn_weights: Path) -> None:
    crops, masks = synthetic_crops()
    # 'mean' mask weights: the mask conversions matter too
    masked = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
    expected = masked.recognize(crops, masks)

    binary = [np.asarray(mask) > 127 for mask in masks]
    mask_forms = {
        "bool arrays": binary,
        "0/1 uint8 arrays": [array.astype(np.uint8) for array in binary],
        "0/255 uint8 arrays": [np.asarray(mask) for mask in masks],
        "1xHxW float tensors": [torch.from_numpy(array).float()[None] for array in binary],
    }
    assert masked.recognize(as_uint8_arrays(crops), masks) == expected
    assert masked.recognize(as_float_tensors(crops), masks) == expected
    for name, forms in mask_forms.items():
        assert masked.recognize(crops, forms) == expected, name
    mixed_crops = [crops[0], *as_uint8_arrays(crops[1:3]), *as_float_tensors(crops[3:])]
    mixed_masks = [
        masks[0],
        *mask_forms["bool arrays"][1:3],
        *mask_forms["1xHxW float tensors"][3:],
    ]
    assert masked.recognize(mixed_crops, mixed_masks) == expected


@pytest.mark.parametrize("weights", ["crnn", "aster"], indirect=True)
def test_recognize_does_not_depend_on_the_batch_size(weights: Path) -> None:
    crops, masks = synthetic_crops()
    masked = MASKED[read_arch(weights)].from_pretrained(weights, mask_init="mean", device="cpu")
    if hasattr(masked.model, "stn_head"):
        # Batched matmuls round differently per batch size; the TPS turns that noise in the
        # predicted control points into pixel shifts at text edges, which a random model's
        # near-tied decisions amplify. The STN's public initialisation (zero weights, fixed
        # control points) keeps the rectification exact, and batching must then change nothing.
        with torch.no_grad():
            masked.model.stn_head.stn_fc2.weight.zero_()
    small, large = masked.recognize(crops, masks, batch_size=2), masked.recognize(crops, masks)
    assert len(small) == NUM_CROPS
    assert [p.text for p in small] == [p.text for p in large]
    np.testing.assert_allclose(
        [p.confidence for p in small], [p.confidence for p in large], rtol=0, atol=1e-6
    )


def test_recognize_without_masks_asks_the_segmenter(crnn_weights: Path) -> None:
    crops, masks = synthetic_crops()
    by_size = {crop.size: mask for crop, mask in zip(crops, masks, strict=True)}
    calls: list[list[tuple[int, int]]] = []

    def segmenter(chunk: list[Image.Image]) -> list[Image.Image]:
        calls.append([crop.size for crop in chunk])
        return [by_size[crop.size] for crop in chunk]

    with_masks = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
    expected = with_masks.recognize(crops, masks, batch_size=2)
    masked = MaskedCRNN.from_pretrained(
        crnn_weights, mask_init="mean", segmenter=segmenter, device="cpu"
    )
    assert masked.recognize(crops, batch_size=2) == expected
    sizes = [crop.size for crop in crops]
    assert calls == [sizes[0:2], sizes[2:4], sizes[4:5]]  # once per batch, the crops as given
    assert len(calls) == math.ceil(NUM_CROPS / 2)


def test_recognize_without_masks_or_segmenter_raises(crnn_weights: Path) -> None:
    crops, masks = synthetic_crops()
    masked = MaskedCRNN.from_pretrained(crnn_weights, device="cpu")
    with pytest.raises(ValueError, match="pass masks, or give the recognizer a segmenter"):
        masked.recognize(crops)
    with pytest.raises(ValueError, match="5 images but 4 masks"):
        masked.recognize(crops, masks[:4])


def test_wrong_architecture_is_refused(
    crnn_weights: Path, aster_weights: Path, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError, match=r"crnn\.pth: holds no ASTER weights"):
        MaskedASTER.from_pretrained(crnn_weights, device="cpu")
    ours = MaskedCRNN.from_pretrained(crnn_weights, device="cpu").save(tmp_path / "ours.pt")
    with pytest.raises(CheckpointError, match="holds a crnn model, not aster"):
        MaskedASTER.from_pretrained(ours, device="cpu")
    aster = load_recognizer(aster_weights, arch="aster")
    with pytest.raises(InputError, match="MaskedCRNN needs a crnn model, not aster"):
        MaskedCRNN(aster, device="cpu")


def test_recognize_takes_one_crop_or_a_sequence(crnn_weights: Path, tmp_path: Path) -> None:
    crops, masks = synthetic_crops()
    masked = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
    expected = masked.recognize(crops, masks)
    assert isinstance(expected, list) and len(expected) == NUM_CROPS
    path = tmp_path / "word.png"
    crops[0].save(path)
    # a path is one crop, not a sequence of characters; alone, a crop is read as in a batch
    # (the confidence to float rounding: the batch shapes differ)
    for one in (crops[0], path, str(path), path.read_bytes(), as_float_tensors(crops)[0]):
        text, confidence = masked.recognize(one, masks[0])
        assert text == expected[0].text
        assert confidence == pytest.approx(expected[0].confidence, rel=1e-5)
    assert masked.recognize(tuple(crops), tuple(masks)) == expected
    same_size = [crop.resize((40, 16)) for crop in crops]
    stacked = torch.stack(as_float_tensors(same_size))  # (N, C, H, W): a batch
    mask_stack = torch.stack(
        [torch.from_numpy(np.asarray(m.resize((40, 16))) > 127) for m in masks]
    )
    assert masked.recognize(stacked, mask_stack) == masked.recognize(same_size, list(mask_stack))
    with pytest.raises(ValueError, match="1 images but 2 masks"):
        masked.recognize([crops[0]], masks[:2])


def test_a_segmenter_given_to_an_unfinetuned_adapted_model_warns(crnn_weights: Path) -> None:
    def segmenter(chunk: list[Image.Image]) -> list[Image.Image]:
        return [Image.new("L", crop.size) for crop in chunk]

    with pytest.warns(MaskIgnoredWarning, match="the mask has no effect"):
        MaskedCRNN.from_pretrained(crnn_weights, segmenter=segmenter, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskIgnoredWarning)
        MaskedCRNN.from_pretrained(crnn_weights, device="cpu")  # no segmenter: nothing to say
        tuned = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
        MaskedCRNN(tuned.model, segmenter=segmenter, device="cpu")


def python_example(readme: Path) -> str:
    """The README's Python example (the first python block after '## Python')."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("## Python") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


def test_the_readme_python_example_reads_with_a_mask_that_counts(
    crnn_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Run the example on stand-ins of the files it names: a train-seg folder and a fine-tuned
    RGB+mask CRNN; it must not warn, and print what ``recognize`` reads with predicted masks."""
    (tmp_path / "runs" / "mgnet").mkdir(parents=True)
    segmenter_path = tmp_path / "runs" / "mgnet" / "model.pt"
    save_tiny_checkpoint(segmenter_path, tiny_model())
    finetuned = MaskedCRNN.from_pretrained(crnn_weights, mask_init="mean", device="cpu")
    (tmp_path / "runs" / "crnn_pm").mkdir()
    finetuned.save(tmp_path / "runs" / "crnn_pm" / "best.pt")
    crops, _ = synthetic_crops()
    for name, crop in zip(("word.png", "word1.png", "word2.jpg"), crops, strict=False):
        crop.save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(python_example(Path(__file__).resolve().parents[2] / "README.md"), {})
    reader = MaskedCRNN(finetuned.model, segmenter=Segmenter.from_pretrained(segmenter_path))
    one, *several = reader.recognize(["word.png", "word1.png", "word2.jpg"])
    assert capsys.readouterr().out.splitlines() == [
        one.text,
        *(f"{p.text} {p.confidence}" for p in several),
    ]
    assert not mask_is_ignored(reader.model)
