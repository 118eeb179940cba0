"""Deployment: ONNX graphs of the recognizers and segmenters (``textmask-ocr export``).

Needs the ``export`` extra: ``onnx`` to write the graphs, ``onnxruntime`` to run them.
"""

from textmask_ocr.export.onnx_export import (
    DEFAULT_OPSET,
    MIN_OPSET,
    ExportedGraph,
    export_onnx,
    load_exportable,
)

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ExportedGraph", "export_onnx", "load_exportable"]
