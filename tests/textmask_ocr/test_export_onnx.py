"""ONNX export: the graphs onnxruntime runs read the same words and masks as PyTorch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from recognizers import build_codec, load_recognizer
from segmentation.configs import normalize_image
from tests.textmask_ocr.recognition_fixtures import assert_one_line_error, run_cli
from tests.textmask_ocr.segmentation_fixtures import (
    TEST_SCENES,
    save_tiny_checkpoint,
    tiny_model,
)
from textmask_ocr import MaskedASTER, MaskedCRNN
from textmask_ocr.data.lmdb_format import decode_image, decode_mask
from textmask_ocr.data.synth import iter_scenes, iter_word_records
from textmask_ocr.masking.predictor import Segmenter, image_to_tensor
from textmask_ocr.recognition.preprocess import batch_inputs

pytestmark = pytest.mark.usefixtures("single_thread_torch")
needs_export_extra = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxruntime")),
    reason="the export extra (onnx, onnxruntime) is not installed",
)

TOLERANCE = 1e-4
MASKED = {"crnn": MaskedCRNN, "aster": MaskedASTER}
# A second input size per architecture, beside the model's own: the graphs are dynamic.
OTHER_SIZE = {"crnn": (32, 160), "aster": (48, 200)}
MAX_LENGTH = 12


def onnx_session(path: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_graph(path: Path) -> set[str]:
    """The operator types of a checked ONNX file (opset 17, the default)."""
    onnx = pytest.importorskip(
        "onnx", reason="the export extra (onnx, onnxruntime) is not installed"
    )
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")] == [
        17
    ]
    return {node.op_type for node in model.graph.node}


def synthetic_words(n: int, seed: int):
    """Rendered word crops and their exact masks."""
    images, masks = [], []
    for record in iter_word_records(n, seed=seed):
        image = decode_image(record.image)
        images.append(image)
        masks.append(decode_mask(record.mask, image.size))
    return images, masks


@needs_export_extra
@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_exported_recognizer_reads_the_words_pytorch_reads(
    arch: str, tmp_path: Path, crnn_weights: Path, aster_weights: Path
) -> None:
    weights = {"crnn": crnn_weights, "aster": aster_weights}[arch]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the mask channel's random weights
        recognizer = MASKED[arch].from_pretrained(weights, mask_init="random", device="cpu")
    checkpoint = recognizer.save(tmp_path / f"{arch}.pt")
    # Random weights leave near ties between symbols: a short decoding keeps a difference in the
    # last float bit from changing the argmax of a later step.
    result = run_cli("export", checkpoint, tmp_path / f"{arch}.onnx", "--max-length", MAX_LENGTH)
    assert result.exit_code == 0, result.output
    session = onnx_session(tmp_path / f"{arch}.onnx")
    graph = onnx_graph(tmp_path / f"{arch}.onnx")
    assert ("GridSample" in graph) == (arch == "aster")  # the TPS, in the graph
    model = load_recognizer(checkpoint).eval()
    codec = build_codec(model.config)
    images, masks = synthetic_words(5, seed=11)
    for size in (model.config.input_size, OTHER_SIZE[arch]):
        inputs = batch_inputs(images, model.config.replace(input_size=size), masks)
        ids, probs = session.run(None, {"input": inputs.numpy()})
        if arch == "aster":
            expected_ids, expected_probs = model.predict(
                inputs, beam_width=1, max_length=MAX_LENGTH
            )
        else:
            expected_ids, expected_probs = model.predict(inputs)
        length = expected_ids.shape[1]
        assert ids.shape == (len(images), MAX_LENGTH if arch == "aster" else length)
        assert np.array_equal(ids[:, :length], expected_ids.numpy())
        np.testing.assert_allclose(probs[:, :length], expected_probs.numpy(), atol=TOLERANCE)
        words = codec.decode(torch.from_numpy(ids), torch.from_numpy(probs))
        assert [w.text for w in words] == [
            w.text for w in codec.decode(expected_ids, expected_probs)
        ]


@needs_export_extra
@pytest.mark.parametrize(("arch", "outputs"), [("mgnet", 2), ("unet", 1)])
def test_exported_segmenter_runs_both_phases_at_any_size(
    arch: str, outputs: int, tmp_path: Path
) -> None:
    checkpoint = save_tiny_checkpoint(tmp_path / f"{arch}.pt", tiny_model(arch))
    result = run_cli("export", checkpoint, tmp_path / "seg.onnx")
    assert result.exit_code == 0, result.output
    assert "dynamic batch (axis 0), height (axis 2), width (axis 3)" in result.output
    session = onnx_session(tmp_path / "seg.onnx")
    assert "BatchNormalization" not in onnx_graph(tmp_path / "seg.onnx")  # folded
    model = tiny_model(arch)  # batch norm not folded: the reference of the folded graph
    scenes = [image_to_tensor(scene.image) for scene in iter_scenes(3, seed=5, config=TEST_SCENES)]
    for images in (torch.stack(scenes), torch.stack(scenes)[:2, :, 8:56, :48]):
        normalized = normalize_image(images, model.config)
        got = session.run(None, {"input": normalized.numpy()})
        with torch.no_grad():
            expected = model(normalized, phases=model.config.phases)
        assert len(got) == outputs
        np.testing.assert_allclose(got[0], expected.final_text.numpy(), atol=TOLERANCE)
        if outputs == 2:
            np.testing.assert_allclose(got[1], expected.final_region.numpy(), atol=TOLERANCE)
    assert Segmenter(model, device="cpu").forward(images)[0].shape == got[0][:, 0].shape


def test_export_errors_are_one_line(tmp_path: Path, crnn_weights: Path) -> None:
    assert_one_line_error(
        run_cli("export", crnn_weights, tmp_path / "a.onnx"), "name its architecture"
    )
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert_one_line_error(run_cli("export", tmp_path / "junk.pt", tmp_path / "b.onnx"), "junk.pt")
    assert_one_line_error(
        run_cli("export", crnn_weights, tmp_path / "c.onnx", "--arch", "crnn", "--opset", "15"),
        "--opset",
        exit_code=2,
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["junk.pt"]


def test_export_without_onnx_says_what_to_install(
    tmp_path: Path, crnn_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnx" else find_spec(name, *a),
    )
    result = run_cli("export", crnn_weights, tmp_path / "a.onnx", "--arch", "crnn")
    assert_one_line_error(result, "pip install 'textmask-ocr[export]'")
    assert not (tmp_path / "a.onnx").exists()
