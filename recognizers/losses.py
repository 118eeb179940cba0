"""Training losses of the recognizers, computed in float32 (safe under autocast).

Both return the negative log-likelihood of each label, summed over its steps; ``reduction="mean"``
averages it over the batch (ASTER's ``sample_normalize``), ``"sum"`` adds it up, ``"none"`` gives
one value per sample (N,).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Reduction", "ctc_loss", "sequence_cross_entropy"]

Reduction = Literal["mean", "sum", "none"]


def _reduce(per_sample: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    raise ValueError(f"unknown reduction {reduction!r}")


def ctc_loss(
    logits: Tensor,
    targets: Tensor,
    target_lengths: Tensor,
    reduction: Reduction = "mean",
) -> Tensor:
    """CTC negative log-likelihood with blank = 0, over every frame of every sample.

    Args:
        logits: float (T, N, C), raw scores of a CTC head (the CRNN's output).
        targets: int (sum(target_lengths),) concatenated, or (N, S) padded class ids (no blanks).
        target_lengths: int (N,).
        reduction: see the module docstring.

    Infeasible alignments (a label too long for T frames) give 0 instead of infinity
    (``zero_infinity=True``), so one bad label cannot poison a batch.
    """
    log_probs = logits.float().log_softmax(dim=2)
    frames, batch = log_probs.shape[:2]
    input_lengths = torch.full((batch,), frames, dtype=torch.long, device=log_probs.device)
    per_sample = F.ctc_loss(
        log_probs,
        targets.to(log_probs.device),
        input_lengths,
        target_lengths.to(log_probs.device),
        blank=0,
        reduction="none",
        zero_infinity=True,
    )
    return _reduce(per_sample, reduction)


def sequence_cross_entropy(
    logits: Tensor,
    targets: Tensor,
    lengths: Tensor,
    reduction: Reduction = "mean",
) -> Tensor:
    """Cross-entropy of a teacher-forced attention decoder, summed over each label's steps.

    Args:
        logits: float (N, L, C), one row per decoding step (L = max(lengths)).
        targets: int (N, L') with L' >= L, the label ids including ``EOS`` (extra columns and
            the padding beyond each length are ignored).
        lengths: int (N,), the number of steps that count for each sample (label + EOS).
        reduction: see the module docstring.
    """
    steps = logits.shape[1]
    log_probs = logits.float().log_softmax(dim=2)
    targets = targets[:, :steps].to(log_probs.device)
    picked = log_probs.gather(2, targets.unsqueeze(2)).squeeze(2)
    step_index = torch.arange(steps, device=log_probs.device)
    valid = step_index[None, :] < lengths.to(log_probs.device)[:, None]
    per_sample = -torch.where(valid, picked, torch.zeros_like(picked)).sum(dim=1)
    return _reduce(per_sample, reduction)
