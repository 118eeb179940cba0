"""The output record of the segmentation networks, consumed by the losses and the predictors."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


def _probabilities(logits: Tensor | None) -> Tensor | None:
    return None if logits is None else torch.sigmoid(logits.float())


class SegmentationOutput(NamedTuple):
    """Logits (N, 1, H, W) of the pixel-level (text, T) and polygon-level (region, P) branches.

    Fields (paper notation, section III-A):
        text_logits: O_T, phase 1 (zero guidance). Always present.
        region_logits: O_P, phase 1; ``None`` for single-branch baselines (U-Net).
        text_guided_logits: O'_T, phase 2 (guided by O_P); ``None`` when only phase 1 ran.
        region_guided_logits: O'_P, phase 2 (guided by O_T); ``None`` when only phase 1 ran.

    The properties without ``_logits`` give the probabilities in [0, 1], always float32 (also under
    autocast), e.g. ``output.text`` is O_T. Losses that take logits use them for numerical
    stability where the sigmoid saturates.
    """

    text_logits: Tensor
    region_logits: Tensor | None = None
    text_guided_logits: Tensor | None = None
    region_guided_logits: Tensor | None = None

    @property
    def text(self) -> Tensor:
        """O_T in [0, 1], (N, 1, H, W) float32."""
        return torch.sigmoid(self.text_logits.float())

    @property
    def region(self) -> Tensor | None:
        """O_P in [0, 1], or ``None``."""
        return _probabilities(self.region_logits)

    @property
    def text_guided(self) -> Tensor | None:
        """O'_T in [0, 1], or ``None``."""
        return _probabilities(self.text_guided_logits)

    @property
    def region_guided(self) -> Tensor | None:
        """O'_P in [0, 1], or ``None``."""
        return _probabilities(self.region_guided_logits)

    @property
    def final_text(self) -> Tensor:
        """The network's answer for the pixel-level mask: O'_T if phase 2 ran, else O_T."""
        return self.text if self.text_guided_logits is None else self.text_guided

    @property
    def final_region(self) -> Tensor | None:
        """The polygon-level answer: O'_P if phase 2 ran, else O_P (``None`` for U-Net)."""
        return self.region if self.region_guided_logits is None else self.region_guided
