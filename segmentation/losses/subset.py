"""Subset loss (paper eq. 3): pixel-level text lies inside the polygon-level text region."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def subset_loss(text_logits: Tensor, region: Tensor) -> Tensor:
    """Per-sample ``mean_i Z_i * CE(Z_i, Y_i)`` with ``CE(Z, Y) = -[Y log Z + (1 - Y) log(1 - Z)]``.

    Z = sigmoid(text_logits) is a pixel-level output (O_T or O'_T), Y a polygon-level output (O_P or
    O'_P). Eq. 3 prints CE without its minus sign; with it the penalty is positive: large where Z
    is high and Y low (Z -> 1, Y = 0 gives -log(1 - Z) -> infinity), near zero where Z is low (the
    weight Z) or where both are high (Z = Y = 1 gives 0). For a fixed Y the penalty is smallest for
    Z below Y, so it pushes the text mask inside the region mask; its gradient also reaches Y.

    ``Z * CE`` is computed from the logits (``CE = softplus(a) - Y a``, the binary cross-entropy
    with logits), which stays finite and keeps its gradient where the sigmoid saturates. Pass
    ``torch.logit(p, eps)`` to score probabilities.

    Args:
        text_logits: logits of Z, (N, 1, H, W).
        region: Y in [0, 1], same shape.

    Returns:
        (N,) float32, the mean over pixels (so the value does not grow with the image size).
    """
    logits = text_logits.float()
    cross_entropy = F.binary_cross_entropy_with_logits(
        logits, region.float().reshape(logits.shape), reduction="none"
    )
    return (torch.sigmoid(logits) * cross_entropy).flatten(1).mean(1)
