"""scripts/paired_by_marks.py: the split by marks and its paired comparisons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.textmask_ocr.script_loader import load_script
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.significance import mcnemar_exact_p


def rows(labels: list[str], correct: list[bool]) -> list[dict]:
    return [
        {"key": key, "label": label, "prediction": "", "correct": hit}
        for key, (label, hit) in enumerate(zip(labels, correct, strict=True), start=1)
    ]


LABELS = ["$4.50", "don't", "Hi!", "word", "SHOP", "42", "a b", "x"]


def test_the_split_counts_each_part_and_tests_it_like_evaluate() -> None:
    script = load_script("paired_by_marks")
    reference = rows(LABELS, [False, False, True, True, True, False, False, True])
    method = rows(LABELS, [True, True, True, True, False, False, True, True])
    parts = script.compare_by_marks(reference, method)
    marked_ref, marked_method, marked = parts["with marks"]  # $4.50, don't, Hi!, a b
    assert (marked.count, marked_ref, marked_method) == (4, 1, 4)
    assert (marked.reference_only, marked.method_only) == (0, 3)
    assert marked.difference == 75.0
    assert marked.p_value == mcnemar_exact_p(0, 3) == 0.25
    plain_ref, plain_method, plain = parts["without"]  # word, SHOP, 42, x
    assert (plain.count, plain_ref, plain_method) == (4, 3, 2)
    assert (plain.reference_only, plain.method_only, plain.difference) == (1, 0, -25.0)


def test_other_crops_are_refused() -> None:
    script = load_script("paired_by_marks")
    reference = rows(LABELS, [True] * len(LABELS))
    with pytest.raises(InputError, match=r"^with marks: the methods did not read the same crops"):
        script.compare_by_marks(reference, reference[1:])


def test_main_prints_both_parts(tmp_path: Path, monkeypatch, capsys) -> None:
    script = load_script("paired_by_marks")
    paths = []
    for name, correct in (("a", [False] * 8), ("b", [True] * 8)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows(LABELS, correct)))
        paths.append(str(path))
    monkeypatch.setattr(sys, "argv", ["paired_by_marks.py", *paths])
    script.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "marks in the labels: '$' 1, '.' 1, \"'\" 1, '!' 1, ' ' 1"
    assert lines[1].startswith("with marks: 4 words; reference 0, method 4; +100.00 points [")
    assert lines[1].endswith("], p = 0.125")
    assert lines[2].startswith("without: 4 words; reference 0, method 4; +100.00 points [")


def test_marks_are_counted_per_occurrence() -> None:
    counts = load_script("paired_by_marks").count_marks(rows(["a.b.c", "$1.00", "ok"], [True] * 3))
    assert counts == {".": 3, "$": 1}
