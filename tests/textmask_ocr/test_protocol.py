"""The benchmark evaluation protocol against brute-force references."""

from __future__ import annotations

import itertools
import random

import pytest

from textmask_ocr.recognition.protocol import (
    WordAccuracy,
    check_standard_size,
    normalize_text,
    normalized_edit_distance,
)


def brute_force_edit_distance(a: str, b: str) -> int:
    """Levenshtein distance by exhaustive recursion over prefixes (memoised)."""
    table: dict[tuple[int, int], int] = {}

    def distance(i: int, j: int) -> int:
        if (i, j) not in table:
            if i == 0 or j == 0:
                table[i, j] = i + j
            else:
                table[i, j] = min(
                    distance(i - 1, j) + 1,
                    distance(i, j - 1) + 1,
                    distance(i - 1, j - 1) + (a[i - 1] != b[j - 1]),
                )
        return table[i, j]

    return distance(len(a), len(b))


@pytest.mark.parametrize(
    ("protocol", "text", "expected"),
    [
        ("ignore-case-symbols", "Hello, World-42!", "helloworld42"),
        ("ignore-case-symbols", "ÉCOLE", "cole"),
        ("ignore-case", "Hello, World!", "hello, world!"),
        ("exact", "Hello, World!", "Hello, World!"),
    ],
)
def test_normalize_text(protocol: str, text: str, expected: str) -> None:
    assert normalize_text(text, protocol) == expected


def test_unknown_protocol_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'loose'"):
        normalize_text("a", "loose")


def test_normalized_edit_distance_matches_brute_force() -> None:
    rng = random.Random(0)
    words = ["", "a", "ab", "abc", "hello", "help", "yellow", "shell"]
    words += ["".join(rng.choice("abc") for _ in range(rng.randint(0, 6))) for _ in range(20)]
    for a, b in itertools.product(words, repeat=2):
        longest = max(len(a), len(b))
        expected = brute_force_edit_distance(a, b) / longest if longest else 0.0
        assert normalized_edit_distance(a, b) == pytest.approx(expected, abs=1e-12)


def test_word_accuracy_sums_and_merge() -> None:
    metric = WordAccuracy()
    hits = metric.update(["Hello!", "wor1d", ""], ["hello", "world", "x"])
    assert hits == [True, False, False]
    assert metric.accuracy == pytest.approx(100 / 3)
    assert metric.mean_edit_distance == pytest.approx((0 + 1 / 5 + 1) / 3)
    exact = WordAccuracy(protocol="exact")
    exact.update(["Hello!"], ["hello"])
    assert exact.correct == 0
    metric.merge(total=1, correct=1, edit_distance_sum=0.0)
    assert metric.as_dict()["count"] == 4 and metric.accuracy == 50.0


def test_known_benchmark_sizes_warn_only_when_off() -> None:
    assert check_standard_size("IC13", 857) is None
    assert check_standard_size("svt-p", 645) is None
    assert check_standard_size("my_private_set", 12) is None
    with pytest.warns(UserWarning, match="the standard IIIT5K test set has 3000"):
        check_standard_size("iiit5k", 2999)
