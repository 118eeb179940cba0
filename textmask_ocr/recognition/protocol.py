"""The benchmark evaluation protocol: text normalisation, word accuracy, edit distance.

Papers report word accuracy under "ignore case and symbols": prediction and label are lower-cased
and reduced to ``[0-9a-z]`` before comparison. The normalised edit distance of one word is
``edit_distance(pred, gt) / max(len(pred), len(gt))`` (0 when both are empty), averaged over words;
lower is better.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import editdistance

PROTOCOLS = ("ignore-case-symbols", "ignore-case", "exact")

# Standard test-set sizes of the benchmarks (several where the literature uses several subsets).
STANDARD_SIZES: dict[str, tuple[int, ...]] = {
    "IIIT5K": (3000,),
    "SVT": (647,),
    "IC03": (860, 867),
    "IC13": (857, 1015),
    "IC15": (1811, 2077),
    "SVTP": (645,),
    "CUTE80": (288,),
}

_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]")


def normalize_text(text: str, protocol: str = "ignore-case-symbols") -> str:
    """Reduce ``text`` to the form compared under ``protocol`` (one of :data:`PROTOCOLS`)."""
    if protocol == "ignore-case-symbols":
        return _NOT_ALPHANUMERIC.sub("", text.lower())
    if protocol == "ignore-case":
        return text.lower()
    if protocol == "exact":
        return text
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def normalized_edit_distance(prediction: str, label: str) -> float:
    """``edit_distance / max(len)`` in [0, 1]; 0 for two empty strings."""
    longest = max(len(prediction), len(label))
    return editdistance.eval(prediction, label) / longest if longest else 0.0


@dataclass
class WordAccuracy:
    """Accumulates word accuracy and normalised edit distance over a benchmark.

    The sums are plain numbers so several processes can add theirs (see :meth:`merge`).
    """

    protocol: str = "ignore-case-symbols"
    total: int = 0
    correct: int = 0
    edit_distance_sum: float = 0.0

    def update(self, predictions: list[str], labels: list[str]) -> list[bool]:
        """Score a batch; returns whether each prediction counts as correct."""
        hits = []
        for prediction, label in zip(predictions, labels, strict=True):
            prediction = normalize_text(prediction, self.protocol)
            label = normalize_text(label, self.protocol)
            hits.append(prediction == label)
            self.edit_distance_sum += normalized_edit_distance(prediction, label)
        self.total += len(hits)
        self.correct += sum(hits)
        return hits

    def merge(self, total: int, correct: int, edit_distance_sum: float) -> None:
        """Add another shard's sums."""
        self.total += total
        self.correct += correct
        self.edit_distance_sum += edit_distance_sum

    @property
    def accuracy(self) -> float:
        """Word accuracy in percent."""
        return 100.0 * self.correct / self.total if self.total else 0.0

    @property
    def mean_edit_distance(self) -> float:
        """Mean normalised edit distance in [0, 1]."""
        return self.edit_distance_sum / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.total,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "norm_edit_distance": self.mean_edit_distance,
        }


def standard_size_key(name: str) -> str | None:
    """The :data:`STANDARD_SIZES` key a benchmark name refers to (``svt-p`` -> ``SVTP``), if any."""
    key = re.sub(r"[^0-9A-Z]", "", name.upper())
    aliases = {
        "IIIT5K3000": "IIIT5K",
        "SVTPERSPECTIVE": "SVTP",
        "CUTE": "CUTE80",
        "CUTE80": "CUTE80",
    }
    key = aliases.get(key, key)
    return key if key in STANDARD_SIZES else None


def check_standard_size(name: str, count: int) -> str | None:
    """Warn (and return the message) when a known benchmark has a non-standard sample count."""
    key = standard_size_key(name)
    if key is None or count in STANDARD_SIZES[key]:
        return None
    sizes = " or ".join(str(size) for size in STANDARD_SIZES[key])
    message = f"benchmark {name}: {count} samples, the standard {key} test set has {sizes}"
    warnings.warn(message, stacklevel=2)
    return message
