"""Text masks from scene images: training, prediction and evaluation of segmentation networks.

- :mod:`.training`: ``train-seg``, the paper's two-phase recipe on the shared training engine
  (:class:`SegTrainSettings`, :func:`run_train_seg`).
- :mod:`.predictor`: :class:`Segmenter` (scenes -> text and region probabilities, word crops ->
  masks) and :func:`crop_mask_predictor` for the recognition pipeline.
- :mod:`.evaluation`: validation metrics and ``evaluate-seg`` (:func:`evaluate_methods`).
- :mod:`.scene_outputs`: the files ``segment`` writes per image.
- :mod:`.sources`: data sets named ``KIND[:GT][@SPLIT]=DIR`` (:class:`DataSource`).

The networks, losses, datasets and metrics themselves live in the ``segmentation`` package.
"""

from __future__ import annotations

from textmask_ocr.masking.evaluation import evaluate_methods, validation_metrics
from textmask_ocr.masking.predictor import (
    SegmentationPrediction,
    Segmenter,
    crop_mask_predictor,
)
from textmask_ocr.masking.sources import DataSource
from textmask_ocr.masking.training import SegTrainSettings, run_train_seg

__all__ = [
    "DataSource",
    "SegTrainSettings",
    "SegmentationPrediction",
    "Segmenter",
    "crop_mask_predictor",
    "evaluate_methods",
    "run_train_seg",
    "validation_metrics",
]
