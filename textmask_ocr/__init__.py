"""textmask_ocr: text masks that make scene-text recognizers read better.

The application layer: word-crop data, the training engine, fine-tuning and evaluation of
RGB+mask recognizers, and the ``textmask-ocr`` command. Models live in the sibling packages
``recognizers`` (CRNN, ASTER, the input adapter) and ``segmentation`` (the mutually guided network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textmask_ocr._version import __version__

# Public names, imported on first use so that ``textmask-ocr --help`` does not load torch.
_EXPORTS = {
    "MaskedCRNN": "textmask_ocr.recognition.models",
    "MaskedASTER": "textmask_ocr.recognition.models",
    "MaskedRecognizer": "textmask_ocr.recognition.models",
    "Segmenter": "textmask_ocr.masking.predictor",
    "InputError": "textmask_ocr.errors",
}

__all__ = [
    "InputError",
    "MaskedASTER",
    "MaskedCRNN",
    "MaskedRecognizer",
    "Segmenter",
    "__version__",
]

if TYPE_CHECKING:
    from textmask_ocr.errors import InputError
    from textmask_ocr.masking.predictor import Segmenter
    from textmask_ocr.recognition.models import MaskedASTER, MaskedCRNN, MaskedRecognizer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'textmask_ocr' has no attribute {name!r}")
