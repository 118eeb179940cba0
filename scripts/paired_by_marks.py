"""Two recognizers on the same crops, split by whether a label carries marks (punctuation, spaces).

Reads the per-word predictions ``textmask-ocr evaluate --save-predictions`` writes for two models
on one benchmark, and prints how often each mark occurs in the labels, then for each part (labels
with a character other than a letter or a digit, and the rest) the words each model read and the
paired comparison: the exact McNemar p-value and the 95% bootstrap interval of the difference, as
``evaluate`` reports them.

    textmask-ocr evaluate --model base=a.pt --model punct=b.pt --bench IIIT5K-train=... \\
        --save-predictions --out runs/compare
    python scripts/paired_by_marks.py runs/compare/predictions/base/IIIT5K-train.jsonl \\
        runs/compare/predictions/punct/IIIT5K-train.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from textmask_ocr.recognition.significance import (
    PairedComparison,
    format_p_value,
    paired_correctness,
)


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``predictions/<bench>.jsonl`` file (``key``, ``label``, ``correct``, ...)."""
    with path.open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def has_marks(label: str) -> bool:
    """Whether ``label`` has a character other than a letter or a digit."""
    return not all(character.isalnum() for character in label)


def count_marks(rows: list[dict[str, Any]]) -> Counter[str]:
    """How often each character other than a letter or a digit occurs in the rows' labels."""
    return Counter(
        character for row in rows for character in row["label"] if not character.isalnum()
    )


def compare_by_marks(
    reference: list[dict[str, Any]], method: list[dict[str, Any]]
) -> dict[str, tuple[int, int, PairedComparison]]:
    """``part -> (reference's right words, method's right words, comparison)`` for the labels
    ``with marks`` and ``without``, split by the reference's labels."""
    parts = {}
    for part, wanted in (("with marks", True), ("without", False)):
        keys = {row["key"] for row in reference if has_marks(row["label"]) == wanted}
        first, second = paired_correctness(
            [row for row in reference if row["key"] in keys],
            [row for row in method if row["key"] in keys],
            where=part,
        )
        parts[part] = (sum(first), sum(second), PairedComparison.from_outcomes(first, second))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="predictions of the reference model")
    parser.add_argument("method", type=Path, help="predictions of the model compared with it")
    args = parser.parse_args()
    reference = read_predictions(args.reference)
    marks = ", ".join(f"{mark!r} {count}" for mark, count in count_marks(reference).most_common())
    print(f"marks in the labels: {marks or 'none'}")
    parts = compare_by_marks(reference, read_predictions(args.method))
    for part, (reference_right, method_right, comparison) in parts.items():
        low, high = comparison.interval
        print(
            f"{part}: {comparison.count} words; reference {reference_right}, method "
            f"{method_right}; {comparison.difference:+.2f} points [{low:+.2f}, {high:+.2f}], "
            f"{format_p_value(comparison.p_value)}"
        )


if __name__ == "__main__":
    main()
