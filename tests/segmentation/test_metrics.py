"""Segmentation metrics against brute-force references (pixel loops)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segmentation.metrics import (
    SegmentationMeter,
    confusion_counts,
    f1_top1_rate,
    precision_recall_f1,
)


def brute_counts(pred, target, threshold, ignore_label):
    tp = fp = fn = 0
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist(), strict=True):
        if ignore_label is not None and t == ignore_label:
            continue
        predicted, truth = p >= threshold, t != 0
        tp += predicted and truth
        fp += predicted and not truth
        fn += truth and not predicted
    return tp, fp, fn


def brute_scores(tp, fp, fn, empty=1.0):
    precision = tp / (tp + fp) if tp + fp else empty
    recall = tp / (tp + fn) if tp + fn else empty
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else empty
    return precision, recall, f1


@pytest.fixture
def images():
    torch.manual_seed(0)
    pred = torch.rand(6, 1, 7, 9)
    target = (torch.rand(6, 1, 7, 9) > 0.6).to(torch.uint8) * 100
    target[torch.rand(6, 1, 7, 9) > 0.85] = 255  # TextSeg-style ignore
    target[3] = 0  # an image without text
    pred[4] = 0.0  # an empty prediction
    target[5] = 0
    pred[5] = 0.1  # no text, nothing predicted
    return pred, target


@pytest.mark.parametrize(("threshold", "ignore_label"), [(0.5, 255), (0.3, None)])
def test_counts_and_per_image_scores_match_brute_force(images, threshold, ignore_label):
    pred, target = images
    counts = confusion_counts(pred, target, threshold, ignore_label)
    want = [
        brute_counts(pred[n].numpy(), target[n].numpy(), threshold, ignore_label) for n in range(6)
    ]
    assert counts.tolist() == [list(row) for row in want]
    precision, recall, f1 = precision_recall_f1(counts)
    np.testing.assert_allclose(
        torch.stack((precision, recall, f1), dim=1).numpy(),
        [brute_scores(*row) for row in want],
        rtol=1e-12,
    )


def test_empty_image_conventions():
    # [TP, FP, FN]: no text and nothing predicted / no text, something predicted /
    # text, nothing predicted.
    counts = torch.tensor([[0, 0, 0], [0, 5, 0], [0, 0, 4]])
    precision, recall, f1 = precision_recall_f1(counts)
    assert precision.tolist() == [1.0, 0.0, 1.0]
    assert recall.tolist() == [1.0, 1.0, 0.0]
    assert f1.tolist() == [1.0, 0.0, 0.0]
    _, _, f1_strict = precision_recall_f1(counts, zero_division=0.0)
    assert f1_strict.tolist() == [0.0, 0.0, 0.0]


def test_boolean_predictions_are_used_as_they_are():
    target = torch.tensor([[[0, 1], [1, 0]]])
    pred = torch.tensor([[[True, True], [False, False]]])
    assert confusion_counts(pred, target, threshold=2.0).tolist() == [[1, 1, 1]]


def test_f1_top1_rate_matches_eq_6_with_shared_ties():
    torch.manual_seed(1)
    f1 = torch.rand(50, 4).round(decimals=1)  # rounding creates ties
    got = f1_top1_rate(f1)
    want = np.zeros(4)
    for row in f1.tolist():
        best = [j for j, value in enumerate(row) if value == max(row)]
        for j in best:
            want[j] += 1 / len(best) / 50
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    assert got.sum().item() == pytest.approx(1.0)
    no_ties = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert f1_top1_rate(no_ties).tolist() == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="per-image F1"):
        f1_top1_rate(torch.zeros(0, 3))


def test_meter_accumulates_batches_like_one_pass(images):
    pred, target = images
    meter = SegmentationMeter(threshold=0.5, ignore_label=255)
    meter.update(pred[:2], target[:2])
    meter.update(pred[2:5, 0], target[2:5, 0])  # (N, H, W) works too
    other = SegmentationMeter(threshold=0.5, ignore_label=255)
    other.update(pred[5:], target[5:])
    meter.merge(other.counts)  # e.g. gathered from another process
    scores = meter.compute()

    rows = [brute_counts(pred[n].numpy(), target[n].numpy(), 0.5, 255) for n in range(6)]
    per_image = np.array([brute_scores(*row) for row in rows])
    tp, fp, fn = np.sum(rows, axis=0)
    assert scores.images == 6
    assert scores.precision == pytest.approx(per_image[:, 0].mean(), rel=1e-12)
    assert scores.recall == pytest.approx(per_image[:, 1].mean(), rel=1e-12)
    assert scores.f1 == pytest.approx(per_image[:, 2].mean(), rel=1e-12)
    assert scores.foreground_iou == pytest.approx(tp / (tp + fp + fn), rel=1e-12)
    assert scores.fscore == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-12)
    np.testing.assert_allclose(meter.per_image_f1().numpy(), per_image[:, 2], rtol=1e-12)
    assert scores.as_dict()["images"] == 6

    meter.reset()
    with pytest.raises(ValueError, match="no images"):
        meter.compute()
