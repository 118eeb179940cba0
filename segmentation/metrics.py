"""Segmentation metrics: per-image precision, recall and F1 averaged over images (paper Table II),
the F1 top-1 rate across methods (eq. 6), and dataset-level foreground IoU and F-score.

Conventions:

- A prediction is foreground where ``probability >= threshold`` (boolean predictions are used as
  they are). The ground truth is foreground where it is non-zero and not ``ignore_label``; pixels
  equal to ``ignore_label`` (e.g. 255 in TextSeg's ``maskfg``) count nowhere. With the default
  ``ignore_label=None`` every non-zero value is text (the project's 0/255 masks).
- Per image, precision TP / (TP + FP), recall TP / (TP + FN) and F1 2TP / (2TP + FP + FN); a ratio
  whose denominator is 0 has nothing to get wrong and scores ``zero_division`` (default 1). Thus an
  image without text scores P = R = F1 = 1 when nothing is predicted, and P = 0, R = 1, F1 = 0
  otherwise; a text image with an empty prediction scores P = 1, R = 0, F1 = 0. F1 always equals
  2PR / (P + R) (0 when P + R = 0).
- Dataset-level figures pool TP, FP, FN over all pixels of all images: foreground IoU
  TP / (TP + FP + FN) (the metric of later text-segmentation work) and F-score
  2TP / (2TP + FP + FN).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor


def confusion_counts(
    pred: Tensor, target: Tensor, threshold: float = 0.5, ignore_label: int | None = None
) -> Tensor:
    """Per-image true positives, false positives and false negatives.

    Args:
        pred: (N, ...) probabilities in [0, 1] (foreground where ``>= threshold``) or booleans.
        target: (N, ...) ground truth with as many elements per image: foreground where non-zero
            and not ``ignore_label``.
        threshold: binarisation threshold of ``pred``.
        ignore_label: value of ``target`` whose pixels are ignored, or ``None``.

    Returns:
        (N, 3) int64 counts ``[TP, FP, FN]``.
    """
    pred = pred.flatten(1)
    foreground = pred if pred.dtype == torch.bool else pred >= threshold
    target = target.reshape(pred.shape)
    truth = target != 0
    if ignore_label is not None:
        valid = target != ignore_label
        truth &= valid
        foreground = foreground & valid
    tp = (foreground & truth).sum(1)
    fp = (foreground & ~truth).sum(1)
    fn = (~foreground & truth).sum(1)
    return torch.stack((tp, fp, fn), dim=1).long()


def _ratio(numerator: Tensor, denominator: Tensor, zero_division: float) -> Tensor:
    numerator, denominator = numerator.double(), denominator.double()
    return torch.where(
        denominator > 0,
        numerator / denominator.clamp(min=1),
        torch.full_like(numerator, zero_division),
    )


def precision_recall_f1(
    counts: Tensor, zero_division: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Precision, recall and F1 of each row of ``counts`` (..., 3) ``[TP, FP, FN]``, float64."""
    tp, fp, fn = counts.unbind(-1)
    return (
        _ratio(tp, tp + fp, zero_division),
        _ratio(tp, tp + fn, zero_division),
        _ratio(2 * tp, 2 * tp + fp + fn, zero_division),
    )


def f1_top1_rate(f1: Tensor) -> Tensor:
    """The F1 top-1 rate of eq. 6: the share of images on which each method has the best F1.

    Args:
        f1: (N, M) per-image F1 of M methods on the same N images.

    Returns:
        (M,) float64 rates summing to 1. An image where several methods tie for the best F1 gives
        each of them an equal share (eq. 6's arg max when there is no tie).
    """
    if f1.dim() != 2 or f1.shape[0] == 0:
        raise ValueError(f"expected per-image F1 of shape (N > 0, M), got {tuple(f1.shape)}")
    f1 = f1.double()
    winners = (f1 == f1.max(dim=1, keepdim=True).values).double()
    return (winners / winners.sum(dim=1, keepdim=True)).mean(dim=0)


@dataclass(frozen=True)
class SegmentationScores:
    """Scores of a set of images (fractions in [0, 1]).

    Attributes:
        precision, recall, f1: per-image values averaged over images (Table II).
        foreground_iou, fscore: dataset-level, from TP, FP, FN pooled over all pixels.
        images: number of images scored.
    """

    precision: float
    recall: float
    f1: float
    foreground_iou: float
    fscore: float
    images: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class SegmentationMeter:
    """Accumulates per-image confusion counts during validation or evaluation.

    >>> meter = SegmentationMeter(threshold=0.5, ignore_label=None)
    >>> for probs, masks in batches:  # doctest: +SKIP
    ...     meter.update(probs, masks)
    >>> meter.compute().f1  # doctest: +SKIP

    Distributed: gather each process's :attr:`counts` and :meth:`merge` them.
    """

    def __init__(
        self, threshold: float = 0.5, ignore_label: int | None = None, zero_division: float = 1.0
    ) -> None:
        self.threshold = threshold
        self.ignore_label = ignore_label
        self.zero_division = zero_division
        self._counts: list[Tensor] = []

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: ``pred`` (N, ...) probabilities or booleans, ``target`` (N, ...) masks (see
        :func:`confusion_counts`)."""
        counts = confusion_counts(pred, target, self.threshold, self.ignore_label)
        self._counts.append(counts.cpu())

    def merge(self, counts: Tensor) -> None:
        """Add per-image ``[TP, FP, FN]`` rows (N, 3) counted elsewhere (e.g. another process)."""
        self._counts.append(counts.reshape(-1, 3).long().cpu())

    @property
    def counts(self) -> Tensor:
        """(images, 3) int64 ``[TP, FP, FN]`` of every image so far, in update order."""
        if not self._counts:
            return torch.zeros(0, 3, dtype=torch.long)
        self._counts = [torch.cat(self._counts)]
        return self._counts[0]

    def per_image_f1(self) -> Tensor:
        """(images,) float64 F1 of every image (the input of :func:`f1_top1_rate`)."""
        return precision_recall_f1(self.counts, self.zero_division)[2]

    def reset(self) -> None:
        self._counts = []

    def compute(self) -> SegmentationScores:
        """The scores of all images so far (``ValueError`` if there are none)."""
        counts = self.counts
        if not len(counts):
            raise ValueError("no images to score")
        precision, recall, f1 = precision_recall_f1(counts, self.zero_division)
        _, _, pooled_f = precision_recall_f1(counts.sum(0), self.zero_division)
        tp, fp, fn = counts.sum(0).unbind()
        iou = _ratio(tp, tp + fp + fn, self.zero_division)
        return SegmentationScores(
            precision=precision.mean().item(),
            recall=recall.mean().item(),
            f1=f1.mean().item(),
            foreground_iou=iou.item(),
            fscore=pooled_f.item(),
            images=len(counts),
        )
