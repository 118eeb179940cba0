"""Paired significance of an accuracy difference: two methods read the same crops.

Per crop, each method is right or wrong. The exact McNemar test looks only at the discordant crops
(``b``: the reference right and the method wrong, ``c``: the reverse): under the null hypothesis
that both methods are equally accurate, ``c ~ Bin(b + c, 1/2)``, and the two-sided p-value is
``min(1, 2 * P[X <= min(b, c)])``. The paired bootstrap resamples crops with replacement (the same
crops for both methods) and gives a percentile interval of the accuracy difference.

Only numpy and the standard library: the binomial tail is an exact sum of integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from textmask_ocr.errors import InputError

#: Significance level of the report's wording ("beats" only below it).
ALPHA = 0.05
#: Bootstrap resamples and seed: fixed, so the interval of a result never changes between runs.
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
_CHUNK_ELEMENTS = 1 << 22  # resampled indices held at once (32 MiB of int64)


def binomial_half_cdf(k: int, n: int) -> float:
    """``P[X <= k]`` for ``X ~ Bin(n, 1/2)``, exactly: ``sum(C(n, i) for i <= k) / 2**n``.

    The binomial coefficients are Python integers and the last division is correctly rounded, so
    there is neither overflow nor cancellation for any ``n`` (cost: ``k`` big-integer steps).
    """
    if n < 0:
        raise InputError(f"binomial trials must be >= 0, got {n}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    term, total = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        total += term
    return total / (1 << n)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of ``b`` and ``c`` discordant pairs (1.0 when none)."""
    if b < 0 or c < 0:
        raise InputError(f"discordant counts must be >= 0, got b={b}, c={c}")
    return min(1.0, 2.0 * binomial_half_cdf(min(b, c), b + c))


def _outcomes(reference: Sequence[bool], method: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    first = np.asarray(reference, dtype=bool)
    second = np.asarray(method, dtype=bool)
    if first.ndim != 1 or second.ndim != 1:
        raise InputError("paired outcomes must be flat sequences of right/wrong per crop")
    if len(first) != len(second):
        raise InputError(
            f"paired outcomes need the same crops: {len(first)} reference vs {len(second)} method"
        )
    if len(first) == 0:
        raise InputError("paired outcomes need at least one crop")
    return first, second


def bootstrap_difference_interval(
    reference: Sequence[bool],
    method: Sequence[bool],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile interval of ``accuracy(method) - accuracy(reference)`` in percentage points.

    Resample ``r`` draws ``n`` crop indices with ``numpy.random.default_rng(seed).integers(0, n,
    n)`` (the resamples one after another from one generator, drawn here in chunks of rows, which
    gives the same numbers) and takes the mean of the per-crop differences over them; the bounds
    are the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (``numpy.quantile``,
    linear interpolation) of the ``resamples`` means.

    Args:
        reference, method: whether each method read crop ``i`` right; the same crops in the same
            order.
    """
    first, second = _outcomes(reference, method)
    if resamples < 1:
        raise InputError(f"bootstrap resamples must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    differences = second.astype(np.int64) - first.astype(np.int64)  # -1, 0 or +1 per crop
    n = len(differences)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        indices = rng.integers(0, n, size=(count, n))
        means[start : start + count] = differences[indices].sum(axis=1) / n
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(100.0 * means, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedComparison:
    """A method against the reference on the same ``count`` crops.

    Attributes:
        count: crops compared.
        reference_only: crops the reference read right and the method wrong (McNemar's ``b``).
        method_only: crops the method read right and the reference wrong (``c``).
        difference: method accuracy minus reference accuracy, in percentage points
            (``100 * (c - b) / count``).
        p_value: two-sided exact McNemar p-value, in ``[0, 1]``.
        interval: the bootstrap interval of ``difference`` (percentage points).
        confidence: the interval's coverage (0.95).
        resamples: bootstrap resamples behind the interval.
    """

    count: int
    reference_only: int
    method_only: int
    p_value: float
    interval: tuple[float, float]
    confidence: float = CONFIDENCE
    resamples: int = BOOTSTRAP_RESAMPLES

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise InputError(f"a paired comparison needs crops, got count={self.count}")
        if min(self.reference_only, self.method_only) < 0 or (
            self.reference_only + self.method_only > self.count
        ):
            raise InputError(
                f"discordant counts {self.reference_only} + {self.method_only} do not fit "
                f"in {self.count} crops"
            )
        if not 0.0 <= self.p_value <= 1.0:
            raise InputError(f"p-value {self.p_value} is outside [0, 1]")
        low, high = (float(bound) for bound in self.interval)
        if not low <= high:
            raise InputError(f"interval [{low}, {high}] is not ordered")
        object.__setattr__(self, "interval", (low, high))

    @property
    def difference(self) -> float:
        return 100.0 * (self.method_only - self.reference_only) / self.count

    @property
    def significant(self) -> bool:
        """Whether ``p_value < ALPHA`` (0.05)."""
        return self.p_value < ALPHA

    @classmethod
    def from_outcomes(
        cls,
        reference: Sequence[bool],
        method: Sequence[bool],
        *,
        resamples: int = BOOTSTRAP_RESAMPLES,
        seed: int = BOOTSTRAP_SEED,
    ) -> PairedComparison:
        """McNemar and the bootstrap on per-crop right/wrong of two methods (same crops, same
        order)."""
        first, second = _outcomes(reference, method)
        b = int(np.count_nonzero(first & ~second))
        c = int(np.count_nonzero(second & ~first))
        interval = bootstrap_difference_interval(first, second, resamples=resamples, seed=seed)
        return cls(len(first), b, c, mcnemar_exact_p(b, c), interval, CONFIDENCE, resamples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "reference_only": self.reference_only,
            "method_only": self.method_only,
            "difference": self.difference,
            "p_value": self.p_value,
            "interval": list(self.interval),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "test": "exact McNemar; paired bootstrap percentile interval",
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "comparison") -> PairedComparison:
        """Rebuild from :meth:`to_dict` (``difference`` is recomputed and must agree)."""
        try:
            comparison = cls(
                int(values["count"]),
                int(values["reference_only"]),
                int(values["method_only"]),
                float(values["p_value"]),
                (float(values["interval"][0]), float(values["interval"][1])),
                float(values["confidence"]),
                int(values["resamples"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise InputError(f"{where}: malformed paired comparison ({error!r})") from None
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
        stated = values.get("difference")
        if stated is not None and not math.isclose(
            float(stated), comparison.difference, rel_tol=0.0, abs_tol=1e-9
        ):
            raise InputError(f"{where}: difference {stated} disagrees with the discordant counts")
        return comparison


def paired_correctness(
    reference_rows: Sequence[Mapping[str, Any]],
    method_rows: Sequence[Mapping[str, Any]],
    *,
    where: str = "benchmark",
) -> tuple[list[bool], list[bool]]:
    """Right/wrong of two methods per crop, matched by sample key (the evaluator's ``key``).

    Raises:
        InputError: the two methods did not read the same crops (different or repeated keys).
    """
    first = {row["key"]: bool(row["correct"]) for row in reference_rows}
    second = {row["key"]: bool(row["correct"]) for row in method_rows}
    if len(first) != len(reference_rows) or len(second) != len(method_rows):
        raise InputError(f"{where}: a sample key repeats in the predictions")
    if first.keys() != second.keys():
        missing = len(first.keys() - second.keys()) + len(second.keys() - first.keys())
        raise InputError(
            f"{where}: the methods did not read the same crops ({missing} keys read by only one)"
        )
    keys = sorted(first)
    return [first[key] for key in keys], [second[key] for key in keys]


def compare_methods(
    predictions: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    reference: str,
    *,
    pooled: str | None = None,
) -> dict[str, dict[str, PairedComparison]]:
    """Every method against ``reference`` on every benchmark both read.

    Args:
        predictions: method -> benchmark -> the evaluator's per-sample rows (``key``,
            ``correct``), e.g. ``BenchmarkResult.predictions``.
        reference: the method the others are compared with.
        pooled: also compare all crops of every benchmark as one, under this column name (the
            table's ``Total``), for methods that read every benchmark the reference read.

    Returns:
        method -> column -> :class:`PairedComparison` (the reference itself is left out).
    """
    if reference not in predictions:
        raise InputError(f"reference method {reference!r} has no predictions")
    comparisons: dict[str, dict[str, PairedComparison]] = {}
    for method, row in predictions.items():
        if method == reference:
            continue
        pairs = {
            bench: paired_correctness(
                predictions[reference][bench], rows, where=f"{method} vs {reference} on {bench}"
            )
            for bench, rows in row.items()
            if bench in predictions[reference]
        }
        comparisons[method] = {
            bench: PairedComparison.from_outcomes(*pair) for bench, pair in pairs.items()
        }
        if pooled is not None and pairs and pairs.keys() == predictions[reference].keys():
            comparisons[method][pooled] = PairedComparison.from_outcomes(
                [hit for first, _ in pairs.values() for hit in first],
                [hit for _, second in pairs.values() for hit in second],
            )
    return comparisons


def format_p_value(p_value: float) -> str:
    """``p = 0.0312`` (three significant digits), ``p < 0.001`` below that."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3g}"
