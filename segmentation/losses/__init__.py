"""The semi-supervised losses of the paper (section III-B): soft IoU (eq. 1), subset (eq. 3),
relaxed dense CRF (eq. 4), and their weighted sum (eq. 5)."""

from __future__ import annotations

from segmentation.losses.crf import (
    CRFSettings,
    crf_loss,
    dense_gaussian_filter,
    window_gaussian_filter,
)
from segmentation.losses.iou import soft_iou_loss
from segmentation.losses.semi_supervised import semi_supervised_loss
from segmentation.losses.subset import subset_loss

__all__ = [
    "CRFSettings",
    "crf_loss",
    "dense_gaussian_filter",
    "semi_supervised_loss",
    "soft_iou_loss",
    "subset_loss",
    "window_gaussian_filter",
]
