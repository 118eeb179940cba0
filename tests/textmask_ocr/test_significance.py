"""Paired significance: the exact binomial tail and McNemar against enumeration of every outcome,
the vectorised bootstrap against a straightforward loop with the same seed, key matching."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from textmask_ocr.errors import InputError
from textmask_ocr.recognition.significance import (
    BOOTSTRAP_RESAMPLES,
    PairedComparison,
    binomial_half_cdf,
    bootstrap_difference_interval,
    compare_methods,
    format_p_value,
    mcnemar_exact_p,
    paired_correctness,
)


def enumerated_cdf(k: int, n: int) -> Fraction:
    """P[X <= k] for X ~ Bin(n, 1/2), by listing all 2**n fair-coin sequences."""
    hits = sum(sum(flips) <= k for flips in itertools.product((0, 1), repeat=n))
    return Fraction(hits, 2**n)


def enumerated_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar: the probability, over all 2**(b+c) equally likely sign patterns
    of the discordant pairs, of a split at least as uneven as the observed one."""
    n = b + c
    observed = abs(b - c)
    extreme = sum(
        abs(n - 2 * sum(signs)) >= observed for signs in itertools.product((0, 1), repeat=n)
    )
    return float(Fraction(extreme, 2**n)) if n else 1.0


@pytest.mark.parametrize("n", range(0, 13))
def test_binomial_tail_equals_enumeration(n: int) -> None:
    for k in range(-1, n + 2):
        expected = enumerated_cdf(k, n) if 0 <= k <= n else Fraction(int(k >= n))
        assert binomial_half_cdf(k, n) == float(expected), (k, n)  # exact, correctly rounded


@pytest.mark.parametrize(("b", "c"), [(b, c) for b in range(9) for c in range(9)])
def test_mcnemar_equals_enumeration_of_sign_patterns(b: int, c: int) -> None:
    # the symmetric distribution makes "at least as uneven" equal to doubling the smaller tail
    # (capped at 1 when b == c)
    assert mcnemar_exact_p(b, c) == pytest.approx(enumerated_mcnemar(b, c), rel=1e-15, abs=0)
    assert mcnemar_exact_p(b, c) == mcnemar_exact_p(c, b)


def test_mcnemar_is_stable_for_large_counts() -> None:
    # 5,000 discordant pairs split 2,400 / 2,600: a tail of C(n, i) / 2**n terms far below the
    # smallest double; the exact integer sum keeps every digit. Reference: the same sum in
    # log space with math.lgamma, added with the log-sum-exp trick.
    b, c = 2400, 2600
    n = b + c
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(b + 1)]
    top = max(logs)
    tail = math.exp(top + math.log(sum(math.exp(v - top) for v in logs)) - n * math.log(2))
    assert mcnemar_exact_p(b, c) == pytest.approx(2 * tail, rel=1e-9)
    assert 0.0 < mcnemar_exact_p(b, c) < 0.01
    assert mcnemar_exact_p(0, 3000) == 0.0  # 2 / 2**3000 underflows to zero, without error
    assert mcnemar_exact_p(5000, 5000) == 1.0


def loop_bootstrap(
    reference: list[bool], method: list[bool], resamples: int, seed: int
) -> tuple[float, float]:
    """The textbook paired bootstrap, one resample at a time."""
    rng = np.random.default_rng(seed)
    n = len(reference)
    differences = []
    for _ in range(resamples):
        indices = rng.integers(0, n, size=n)
        first = sum(reference[i] for i in indices) / n
        second = sum(method[i] for i in indices) / n
        differences.append(100 * (second - first))
    low, high = np.quantile(differences, [0.025, 0.975])
    return float(low), float(high)


@pytest.mark.parametrize(("n", "resamples"), [(37, 500), (1001, 300), (5000, 1200)])
def test_vectorised_bootstrap_equals_the_loop(n: int, resamples: int) -> None:
    # n = 5000 with 1200 resamples spans two chunks of rows: chunking must not change the draws
    rng = np.random.default_rng(n)
    reference = (rng.random(n) < 0.6).tolist()
    method = (rng.random(n) < 0.7).tolist()
    expected = loop_bootstrap(reference, method, resamples, seed=7)
    interval = bootstrap_difference_interval(reference, method, resamples=resamples, seed=7)
    assert interval == pytest.approx(expected, abs=1e-9)
    observed = 100 * (sum(method) - sum(reference)) / n
    assert interval[0] < observed < interval[1]


def test_comparison_counts_discordant_crops() -> None:
    reference = [True, True, False, False, True, False, True, True]
    method = [True, False, True, True, True, True, False, True]
    comparison = PairedComparison.from_outcomes(reference, method, resamples=200)
    assert (comparison.count, comparison.reference_only, comparison.method_only) == (8, 2, 3)
    assert comparison.difference == pytest.approx(100 * (6 - 5) / 8)
    assert comparison.p_value == enumerated_mcnemar(2, 3) == 1.0
    assert not comparison.significant
    assert comparison.resamples == 200
    assert comparison.interval == pytest.approx(
        bootstrap_difference_interval(reference, method, resamples=200)
    )
    assert PairedComparison.from_dict(comparison.to_dict()) == comparison
    assert PairedComparison.from_outcomes([True], [False]).resamples == BOOTSTRAP_RESAMPLES


def test_identical_methods_have_p_one_and_a_zero_interval() -> None:
    outcomes = [True, False, True] * 10
    comparison = PairedComparison.from_outcomes(outcomes, outcomes, resamples=100)
    assert comparison.p_value == 1.0 and comparison.interval == (0.0, 0.0)


def test_pairs_are_matched_by_sample_key() -> None:
    reference = [{"key": k, "correct": k % 2 == 0} for k in (1, 2, 3, 4)]
    method = [{"key": k, "correct": k > 2} for k in (4, 2, 3, 1)]  # another order
    assert paired_correctness(reference, method) == (
        [False, True, False, True],
        [False, False, True, True],
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: PairedComparison.from_outcomes([True, False], [True]), "same crops: 2 .* 1"),
        (lambda: PairedComparison.from_outcomes([], []), "at least one crop"),
        (lambda: bootstrap_difference_interval([True], [True], resamples=0), "resamples"),
        (lambda: bootstrap_difference_interval([True], [True], confidence=1.0), "confidence"),
        (lambda: mcnemar_exact_p(-1, 2), "discordant counts"),
        (lambda: binomial_half_cdf(1, -1), "trials"),
        (
            lambda: paired_correctness(
                [{"key": 1, "correct": True}, {"key": 2, "correct": True}],
                [{"key": 1, "correct": True}, {"key": 3, "correct": True}],
                where="IIIT5K",
            ),
            "IIIT5K: the methods did not read the same crops \\(2 keys",
        ),
        (
            lambda: paired_correctness(
                [{"key": 1, "correct": True}, {"key": 1, "correct": False}],
                [{"key": 1, "correct": True}],
            ),
            "key repeats",
        ),
        (lambda: PairedComparison(10, 6, 5, 0.5, (0.0, 1.0)), "do not fit"),
        (lambda: PairedComparison(10, 1, 2, 1.5, (0.0, 1.0)), "outside \\[0, 1\\]"),
        (lambda: PairedComparison(10, 1, 2, 0.5, (1.0, 0.0)), "not ordered"),
        (lambda: PairedComparison.from_dict({"count": 3}), "malformed"),
        (
            lambda: PairedComparison.from_dict(
                {**PairedComparison(10, 1, 2, 1.0, (-5.0, 20.0)).to_dict(), "difference": 3.0}
            ),
            "difference 3.0 disagrees",
        ),
        (lambda: compare_methods({"PM": {}}, "RM"), "'RM' has no predictions"),
    ],
)
def test_bad_input_gets_the_documented_error(call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_compare_methods_pools_only_methods_with_every_benchmark() -> None:
    def rows(hits: list[bool]) -> list[dict]:
        return [{"key": i + 1, "correct": hit} for i, hit in enumerate(hits)]

    a = [True, False, True, False, True]
    b = [True, True, True, False, False, True]
    predictions = {
        "RM": {"A": rows(a), "B": rows(b)},
        "PM": {"A": rows([True] * 5), "B": rows([True] * 6)},
        "real mask": {"A": rows([False] * 5)},
    }
    comparisons = compare_methods(predictions, "RM", pooled="Total")
    assert set(comparisons) == {"PM", "real mask"}
    assert set(comparisons["PM"]) == {"A", "B", "Total"}
    assert set(comparisons["real mask"]) == {"A"}
    pooled = comparisons["PM"]["Total"]
    assert (pooled.count, pooled.reference_only, pooled.method_only) == (11, 0, 4)
    assert pooled.p_value == enumerated_mcnemar(0, 4) == 0.125
    assert pooled.interval == PairedComparison.from_outcomes(a + b, [True] * 11).interval


@pytest.mark.parametrize(
    ("p_value", "text"),
    [(0.0004, "p < 0.001"), (0.001, "p = 0.001"), (0.0499, "p = 0.0499"), (0.5, "p = 0.5")],
)
def test_format_p_value(p_value: float, text: str) -> None:
    assert format_p_value(p_value) == text
