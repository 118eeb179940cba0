"""Deployment: ONNX graphs of the recognizers and segmenters (``textmask-ocr export``).

Needs the ``export`` extra (``onnx``, ``onnxruntime``) only to check or run the written files.
"""

from textmask_ocr.export.onnx_export import (
    DEFAULT_OPSET,
    MIN_OPSET,
    ExportedGraph,
    export_onnx,
    load_exportable,
)

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ExportedGraph", "export_onnx", "load_exportable"]
