"""textmask_ocr: text masks that make scene-text recognizers read better.

The application layer: word-crop data, the training engine, fine-tuning and evaluation of
RGB+mask recognizers, and the ``textmask-ocr`` command. Models live in the sibling packages
``recognizers`` (CRNN, ASTER, the input adapter) and ``segmentation`` (the mutually guided network).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
