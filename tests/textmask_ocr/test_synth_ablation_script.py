"""scripts/synth_ablation.py: its generator variants (its training runs are benchmarks)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.textmask_ocr.script_loader import load_script
from textmask_ocr.data.synth.crops import WORD_STYLES
from textmask_ocr.data.synth.words import sample_label


def test_scene_labels_and_punctuation_change_only_the_labels_of_the_recognizer_style() -> None:
    script = load_script("synth_ablation")
    style, package_fonts = script.variant("scene-labels")
    recognizer = WORD_STYLES["recognizer"]
    assert not package_fonts
    assert style == dataclasses.replace(recognizer, labels=script.SCENE_LABELS)
    assert style.labels != recognizer.labels
    assert script.variant("system-fonts") == (recognizer, False)
    assert script.variant("all-fonts") == (recognizer, True)
    punctuated, package_fonts = script.variant("punctuation")
    assert package_fonts and recognizer.labels.punctuation == 0.0
    assert punctuated == dataclasses.replace(
        recognizer, labels=dataclasses.replace(recognizer.labels, punctuation=0.15)
    )


def test_photo_effects_and_muted_colour_change_only_the_degradations() -> None:
    script = load_script("synth_ablation")
    recognizer = WORD_STYLES["recognizer"]
    photo, package_fonts = script.variant("photo-effects")
    assert not package_fonts
    assert photo == dataclasses.replace(recognizer, effects=script.PHOTO_EFFECTS)
    assert photo.effects.blur_probability > recognizer.effects.blur_probability
    assert photo.effects.downscale_probability > recognizer.effects.downscale_probability
    wide, _ = script.variant("wide-labels")
    assert script.variant("wide-photo") == (
        dataclasses.replace(wide, effects=script.PHOTO_EFFECTS),
        True,
    )
    muted, package_fonts = script.variant("muted-colour")
    assert package_fonts
    assert muted.effects == dataclasses.replace(recognizer.effects, desaturate_probability=0.5)
    assert muted == dataclasses.replace(recognizer, effects=muted.effects)


def test_scene_labels_draw_upper_case_words_most_often() -> None:
    mix = load_script("synth_ablation").SCENE_LABELS
    rng = np.random.default_rng(0)
    labels = [sample_label(rng, mix) for _ in range(4000)]
    letters = [label for label in labels if label.isalpha()]
    upper = sum(label.isupper() and len(label) > 1 for label in letters) / len(labels)
    lower = sum(label.islower() for label in letters) / len(labels)
    # dictionary words are 85% of the labels, 45% of them upper case and 25% lower case
    assert upper == pytest.approx(0.85 * 0.45, abs=0.03)
    assert lower == pytest.approx(0.85 * 0.25, abs=0.03)


def test_an_unknown_variant_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown variant 'bold'"):
        load_script("synth_ablation").variant("bold")


@pytest.mark.parametrize(
    ("label", "case"),
    [
        ("ROAD.", "upper"),
        ("A/C", "upper"),
        ("I", "upper"),
        ("Baby's", "title"),
        ("now.", "lower"),
        ("162", "digits"),
        ("P. PINANG", "upper"),
        ("McDonald", "mixed"),
        ("B2B", "upper"),
        ("?!", "mixed"),
    ],
)
def test_label_case(label: str, case: str) -> None:
    assert load_script("synth_ablation").label_case(label) == case


def test_accuracy_by_case_counts_every_crop_once() -> None:
    rows = [
        {"label": "ROAD", "correct": True},
        {"label": "STOP", "correct": False},
        {"label": "EXIT", "correct": True},
        {"label": "Tree", "correct": True},
        {"label": "12", "correct": False},
    ]
    assert load_script("synth_ablation").accuracy_by_case(rows) == {
        "digits": {"share": 20.0, "accuracy": 0.0},
        "title": {"share": 20.0, "accuracy": 100.0},
        "upper": {"share": 60.0, "accuracy": 66.67},
    }
