"""ONNX export of recognizers and segmenters (``textmask-ocr export``).

:func:`export_onnx` traces a :mod:`~textmask_ocr.export.graphs` graph with the TorchScript-based
exporter of ``torch.onnx``, which needs the ``onnx`` package (the ``export`` extra), and writes it
atomically. Opset 16 or later: ASTER's TPS samples through ``GridSample``. Dynamic axes:

========== ============================== =================================================
model      input ``input``                outputs
========== ============================== =================================================
CRNN       (batch, C, 32, width)          ``ids``, ``probs``: (batch, frames)
ASTER      (batch, C, height, width)      ``ids``, ``probs``: (batch, max_length)
segmenter  (batch, C, height, width)      ``text`` [, ``region``]: (batch, 1, height, width)
========== ============================== =================================================

Segmenters are exported as :meth:`Segmenter.from_pretrained` runs them: batch norm folded into
the convolutions; heights and widths must be multiples of 16.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from recognizers import ASTER, load_recognizer
from segmentation.configs import ARCHS as SEGMENTER_ARCHS
from segmentation.configs import SegmenterConfig
from textmask_ocr.atomic import atomic_path
from textmask_ocr.engine.checkpoint import is_project_checkpoint, read_torch_file
from textmask_ocr.errors import InputError
from textmask_ocr.export.graphs import RecognizerGraph, SegmenterGraph

#: GridSample (ASTER's TPS) exists from opset 16 on.
MIN_OPSET = 16
DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ExportedGraph:
    """What :func:`export_onnx` wrote: the file, its input and output names, dynamic axes."""

    path: Path
    input_name: str
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]


def load_exportable(path: str | os.PathLike[str], *, arch: str | None = None) -> nn.Module:
    """The model of a checkpoint: a segmenter (BN folded) or a recognizer (ours, or a public
    one with ``arch``), in eval mode on the CPU.

    Raises:
        InputError / CheckpointError: the file is missing or holds no model of this project.
    """
    path = Path(path)
    if path.is_dir() or _is_segmenter_checkpoint(path):
        from textmask_ocr.masking.predictor import Segmenter

        return Segmenter.from_pretrained(path, device="cpu", amp=False).model
    return load_recognizer(path, arch=arch).eval()


def _is_segmenter_checkpoint(path: Path) -> bool:
    payload = read_torch_file(path)
    config = payload.get("config") if is_project_checkpoint(payload) else None
    return isinstance(config, dict) and config.get("arch") in SEGMENTER_ARCHS


def export_onnx(
    model: nn.Module,
    out: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    max_length: int | None = None,
) -> ExportedGraph:
    """Write ``model``'s inference graph (see :mod:`~textmask_ocr.export.graphs`) to ``out``.

    Args:
        model: a recognizer of :func:`recognizers.build_recognizer` or a segmenter of
            :func:`segmentation.configs.build_segmenter` (it must carry ``model.config``).
        out: the ``.onnx`` file (replaced when complete).
        opset: ONNX opset, at least :data:`MIN_OPSET`.
        max_length: ASTER's decoding steps (default: the model's ``max_length``).

    Returns:
        the names and dynamic axes of the written graph.

    Raises:
        InputError: no ``onnx`` package, or a bad ``opset`` or ``max_length``.
    """
    if importlib.util.find_spec("onnx") is None:
        raise InputError("export needs the onnx package: pip install 'textmask-ocr[export]'")
    if opset < MIN_OPSET:
        raise InputError(f"--opset {opset}: GridSample needs opset {MIN_OPSET} or later")
    if max_length is not None and max_length < 1:
        raise InputError(f"--max-length {max_length}: must be positive")
    model = model.cpu().eval()
    config = model.config
    if isinstance(config, SegmenterConfig):
        graph: nn.Module = SegmenterGraph(model)
        example = torch.randn(2, config.in_channels, 64, 96)
        image_axes = {0: "batch", 2: "height", 3: "width"}
        outputs = ("text",) if config.arch == "unet" else ("text", "region")
        output_axes = dict(image_axes)
    else:
        graph = RecognizerGraph(model, max_length)
        example = torch.randn(2, config.in_channels, *config.input_size)
        is_aster = isinstance(model, ASTER)
        image_axes = {0: "batch", 2: "height", 3: "width"} if is_aster else {0: "batch", 3: "width"}
        outputs = ("ids", "probs")
        output_axes = {0: "batch"} if is_aster else {0: "batch", 1: "frames"}
    dynamic_axes = {"input": image_axes} | {name: output_axes for name in outputs}
    graph.eval()  # the exporter restores the graph's mode afterwards, recursively
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation notices, not the user's concern
        torch.onnx.export(
            graph,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=list(outputs),
            dynamic_axes=dynamic_axes,
        )
    return ExportedGraph(Path(out), "input", outputs, dynamic_axes)
