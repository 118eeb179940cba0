"""Soft IoU loss (paper eq. 1)."""

from __future__ import annotations

from torch import Tensor


def soft_iou_loss(
    probs: Tensor, target: Tensor, valid: Tensor | None = None, smooth: float = 1.0
) -> Tensor:
    """Per-sample soft IoU loss ``1 - (sum_i X_i M_i + s) / (sum_i (X_i + M_i - X_i M_i) + s)``.

    Eq. 1 writes the term as ``-IoU``; ``1 - IoU`` has the same gradient and reads as a loss
    (0 = perfect, at most 1). The smoothing ``s`` (in pixels) keeps the ratio defined for an empty
    mask and an empty prediction, which then score a perfect 0.

    Args:
        probs: predicted probabilities X in [0, 1], (N, 1, H, W) (or any (N, ...) shape).
        target: ground-truth mask M in [0, 1], same number of elements per sample.
        valid: optional boolean mask, ``False`` where the ground truth is to be ignored (e.g.
            TextSeg's label 255); ignored pixels count in neither sum.
        smooth: the constant ``s`` added to numerator and denominator.

    Returns:
        (N,) float32 losses in [0, 1].
    """
    probs = probs.float().flatten(1)
    target = target.float().reshape(probs.shape)
    if valid is not None:
        weight = valid.reshape(probs.shape).float()
        probs, target = probs * weight, target * weight
    intersection = (probs * target).sum(1)
    union = (probs + target).sum(1) - intersection
    return 1.0 - (intersection + smooth) / (union + smooth)
