"""Losses against brute-force references: CTC over every alignment, attention CE by loops."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from recognizers.losses import ctc_loss, sequence_cross_entropy


def brute_force_ctc(log_probs: torch.Tensor, label: list[int]) -> float:
    """-log sum over every frame path whose collapse (merge repeats, drop blanks) is the label."""
    frames, classes = log_probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        collapsed = [c for t, c in enumerate(path) if c and (t == 0 or c != path[t - 1])]
        if collapsed == label:
            total += math.exp(sum(float(log_probs[t, c]) for t, c in enumerate(path)))
    return -math.log(total) if total > 0 else math.inf


@pytest.fixture
def ctc_batch():
    logits = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = [[1], [1, 2], [1, 1], [2, 1, 2]]
    targets = torch.tensor([c for label in labels for c in label])
    lengths = torch.tensor([len(label) for label in labels])
    return logits, labels, targets, lengths


def test_ctc_loss_equals_the_sum_over_all_alignments(ctc_batch):
    logits, labels, targets, lengths = ctc_batch
    expected = [
        brute_force_ctc(logits[:, n].log_softmax(dim=1), label) for n, label in enumerate(labels)
    ]
    per_sample = ctc_loss(logits, targets, lengths, reduction="none")
    assert per_sample.tolist() == pytest.approx(expected, rel=1e-5)
    assert float(ctc_loss(logits, targets, lengths)) == pytest.approx(sum(expected) / 4, rel=1e-5)
    assert float(ctc_loss(logits, targets, lengths, "sum")) == pytest.approx(
        sum(expected), rel=1e-5
    )


def test_ctc_loss_accepts_padded_targets(ctc_batch):
    logits, labels, targets, lengths = ctc_batch
    padded = torch.zeros(4, 3, dtype=torch.long)
    for n, label in enumerate(labels):
        padded[n, : len(label)] = torch.tensor(label)
    assert torch.allclose(
        ctc_loss(logits, padded, lengths, "none"), ctc_loss(logits, targets, lengths, "none")
    )


def test_ctc_infeasible_label_gives_zero_not_infinity():
    logits = torch.randn(3, 2, 3, generator=torch.Generator().manual_seed(1))
    # "aaa" needs 5 frames (blanks between repeats); only 3 exist.
    per_sample = ctc_loss(logits, torch.tensor([1, 1, 1, 2]), torch.tensor([3, 1]), "none")
    assert per_sample[0] == 0
    assert per_sample[1] == pytest.approx(
        brute_force_ctc(logits[:, 1].double().log_softmax(dim=1), [2]), rel=1e-5
    )


def test_ctc_loss_runs_in_float32_for_half_inputs():
    logits = torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    loss = ctc_loss(logits, torch.tensor([1, 2, 3]), torch.tensor([2, 1]))
    assert loss.dtype == torch.float32
    assert float(loss) == pytest.approx(
        float(ctc_loss(logits.float(), torch.tensor([1, 2, 3]), torch.tensor([2, 1]))), rel=1e-6
    )


def test_sequence_cross_entropy_sums_valid_steps_and_averages_samples():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 4, 6, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 6, (3, 7), generator=generator)  # wider than the 4 steps
    lengths = torch.tensor([4, 1, 2])
    expected = []
    for n in range(3):
        nll = 0.0
        for t in range(int(lengths[n])):
            row = logits[n, t]
            nll -= float(row[targets[n, t]] - torch.logsumexp(row, dim=0))
        expected.append(nll)
    result = sequence_cross_entropy(logits, targets, lengths, reduction="none")
    assert result.tolist() == pytest.approx(expected, rel=1e-6)
    assert float(sequence_cross_entropy(logits, targets, lengths)) == pytest.approx(
        sum(expected) / 3
    )


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        sequence_cross_entropy(
            torch.zeros(1, 1, 2), torch.zeros(1, 1, dtype=torch.long), torch.tensor([1]), "avg"
        )
