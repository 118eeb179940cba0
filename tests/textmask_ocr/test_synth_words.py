"""Synthetic word crops: exact masks, labels, determinism, LMDB round trip, fonts, backgrounds."""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from segmentation.rasterize import rasterize_polygons
from textmask_ocr.data.lmdb_format import WordLmdb, decode_polygon
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.synth import (
    LabelMix,
    SynthAssets,
    WordStyle,
    generate_word,
    iter_word_records,
    load_word_list,
    sample_label,
    sample_rng,
)
from textmask_ocr.data.synth.backgrounds import draw_background
from textmask_ocr.data.synth.crops import WORD_STYLES
from textmask_ocr.data.synth.fonts import FontFace, find_fonts, sample_face
from textmask_ocr.data.synth.words import (
    LABEL_CHARACTERS,
    PUNCTUATION_KINDS,
    _sample_unpunctuated,
    punctuate,
    sample_pseudoword,
)
from textmask_ocr.data.synth.writers import write_synth_words
from textmask_ocr.errors import InputError

LABEL_PATTERN = re.compile(r"[A-Za-z0-9]{1,24}")
#: What each kind of :func:`punctuate` makes of the label "Word" (``[A-Z]...`` for the
#: hyphenated pair's second word, cased like the first).
PUNCTUATED_WORD = {
    "trailing": re.compile(r"Word[.,!?:]"),
    "quoted": re.compile(r"(\"Word\"|'Word')"),
    "possessive": re.compile(r"Word's"),
    "hyphenated": re.compile(r"Word-[A-Z][a-z]+"),
    "price": re.compile(r"\$[0-9]{1,3}\.[0-9]{2}"),
    "web": re.compile(r"www\.word\.com"),
}


@pytest.fixture(scope="module")
def font_dir(tmp_path_factory):
    """A folder holding one real TrueType file: Pillow's own built-in face, written out."""
    folder = tmp_path_factory.mktemp("fonts")
    (folder / "aileron.ttf").write_bytes(ImageFont.load_default(size=20).font_bytes)
    (folder / "notes.txt").write_text("not a font")
    (folder / "broken.ttf").write_bytes(b"\x00\x01\x00\x00 definitely not a font")
    return folder


@pytest.fixture(scope="module")
def assets(font_dir):
    """Fixed fonts, so that results do not depend on the machine's fonts."""
    return SynthAssets.find(font_dir)


def mask_array(sample) -> np.ndarray:
    return np.asarray(sample.mask)


def test_masks_are_exact_binary_inside_the_polygon_and_plausible(assets):
    fractions = []
    for index in range(40):
        sample = generate_word(sample_rng(7, index), WordStyle(), assets)
        mask = mask_array(sample)
        assert sample.mask.mode == "L" and sample.image.mode == "RGB"
        assert sample.mask.size == sample.image.size
        assert set(np.unique(mask).tolist()) <= {0, 255}
        width, height = sample.image.size
        inside = rasterize_polygons([sample.polygon], height, width)
        assert not np.any((mask > 0) & ~inside), f"sample {index}: mask pixel outside polygon"
        assert LABEL_PATTERN.fullmatch(sample.label)
        fractions.append((mask > 0).mean())
    fractions = np.array(fractions)
    assert np.all((fractions >= 0.05) & (fractions <= 0.7)), fractions.round(3)


def test_stored_image_is_what_the_sample_shows(assets):
    formats = set()
    for index in range(12):
        sample = generate_word(sample_rng(1, index), WordStyle(), assets)
        with Image.open(io.BytesIO(sample.encoded_image)) as stored:
            formats.add(stored.format)
            np.testing.assert_array_equal(np.asarray(stored.convert("RGB")), sample.image)
        record = sample.to_record()
        with Image.open(io.BytesIO(record.mask)) as mask:
            assert mask.format == "PNG" and mask.mode == "L"
            np.testing.assert_array_equal(np.asarray(mask), mask_array(sample))
    assert formats == {"PNG", "JPEG"}


def test_hard_samples_keep_the_mask_to_the_word_only(assets):
    """Hard crops carry clutter in the text colour; none of it enters the mask."""
    style = WordStyle(hard_fraction=1.0, curve_probability=0.5)
    clean = dataclasses.replace(
        style, effects=dataclasses.replace(style.effects, jpeg_probability=0.0)
    )
    for index in range(10):
        sample = generate_word(sample_rng(2, index), clean, assets)
        width, height = sample.image.size
        mask = mask_array(sample) > 0
        assert mask.mean() >= 0.03
        assert not np.any(mask & ~rasterize_polygons([sample.polygon], height, width))


def test_same_seed_same_bytes_other_seed_other_bytes(assets):
    first = generate_word(123, WordStyle(), assets)
    again = generate_word(123, WordStyle(), assets)
    other = generate_word(124, WordStyle(), assets)
    assert first.encoded_image == again.encoded_image
    assert first.to_record() == again.to_record()
    assert first.encoded_image != other.encoded_image


def test_workers_do_not_change_the_records(assets):
    serial = list(iter_word_records(10, seed=5, assets=assets, workers=1))
    parallel = list(iter_word_records(10, seed=5, assets=assets, workers=2))
    assert serial == parallel
    assert len({record.image for record in serial}) == 10


def test_lmdb_round_trip_of_labels_and_masks(tmp_path, assets):
    expected = list(iter_word_records(8, seed=11, assets=assets))
    assert write_synth_words(tmp_path / "words", 8, seed=11, assets=assets, quiet=True) == 8
    with WordLmdb(tmp_path / "words") as db:
        assert db.num_samples == 8
        for index, record in enumerate(expected, start=1):
            stored = db.read(index)
            assert stored.label.decode("utf-8") == record.label
            assert stored.image == record.image and stored.mask == record.mask
            assert stored.polygon == record.polygon


def test_stored_polygon_is_the_generators_exactly(tmp_path, assets):
    samples = [generate_word(seed, assets=assets) for seed in range(6)]
    write_word_lmdb(tmp_path / "words", [sample.to_record() for sample in samples], quiet=True)
    with WordLmdb(tmp_path / "words") as db:
        for index, sample in enumerate(samples, start=1):
            polygon = decode_polygon(db.read(index).polygon)
            assert polygon.dtype == np.float64
            assert np.array_equal(polygon, sample.polygon)  # bit for bit, not approximately


def test_bad_run_arguments_are_input_errors(assets):
    with pytest.raises(InputError, match="--n must be at least 1"):
        iter_word_records(0, assets=assets)
    with pytest.raises(InputError, match="--workers must be at least 1"):
        iter_word_records(3, workers=0, assets=assets)
    with pytest.raises(InputError, match="--seed must be a non-negative"):
        iter_word_records(3, seed=-2, assets=assets)


def test_word_list_and_labels():
    words = load_word_list()
    assert len(words) >= 3000
    assert len(set(words)) == len(words)
    assert all(re.fullmatch(r"[a-z]{2,16}", word) for word in words)
    rng = np.random.default_rng(0)
    known = set(words)
    dictionary_only = LabelMix(dictionary=1.0, alphanumeric=0.0, number=0.0, pseudoword=0.0)
    cased = [sample_label(rng, dictionary_only) for _ in range(300)]
    assert all(label.lower() in known for label in cased)
    assert {"lower", "title", "upper"} == {
        "lower" if label.islower() else "upper" if label.isupper() else "title"
        for label in cased
        if len(label) > 1
    }
    numbers = [
        sample_label(rng, LabelMix(0.0, 0.0, 1.0, 0.0, number_length=(2, 4))) for _ in range(50)
    ]
    assert all(label.isdigit() and 2 <= len(label) <= 4 for label in numbers)
    short = LabelMix(0.0, 1.0, 0.0, 0.0, alphanumeric_length=(30, 40), max_length=24)
    assert all(len(sample_label(rng, short)) == 24 for _ in range(20))


def test_punctuate_makes_each_kind_at_its_rate():
    rng = np.random.default_rng(0)
    dressed = [punctuate(rng, "Word") for _ in range(4000)]
    kinds = [
        next(kind for kind, pattern in PUNCTUATED_WORD.items() if pattern.fullmatch(label))
        for label in dressed
    ]
    shares = {kind: kinds.count(kind) / len(kinds) for kind in PUNCTUATION_KINDS}
    expected = dict(zip(PUNCTUATION_KINDS, (0.4, 0.1, 0.1, 0.15, 0.15, 0.1), strict=True))
    for kind, share in shares.items():
        assert abs(share - expected[kind]) < 0.03, (kind, share)
    upper = [punctuate(rng, "WORD") for _ in range(200)]
    assert all(label.upper() == label for label in upper if "-" in label or "'" in label)
    long_label = "x" * 24
    assert {punctuate(rng, long_label)[0] for _ in range(200)} == {"x", "$"}


def test_labels_are_punctuated_at_their_rate_and_only_when_asked():
    punctuated_mix = LabelMix(punctuation=0.15)
    rng = np.random.default_rng(2)
    labels = [sample_label(rng, punctuated_mix) for _ in range(4000)]
    assert all(set(label) <= set(LABEL_CHARACTERS) and 1 <= len(label) <= 24 for label in labels)
    punctuated = sum(not label.isalnum() for label in labels) / len(labels)
    assert abs(punctuated - 0.15) < 0.02
    for style in WORD_STYLES.values():
        assert style.labels.punctuation == 0.0
    plain = LabelMix()
    labels = [sample_label(np.random.default_rng(seed), plain) for seed in range(500)]
    assert all(label.isalnum() for label in labels)
    # no draw is spent on punctuation that is off: the stream after a label is the one after
    # the unpunctuated draw alone, so mixes without punctuation keep their samples
    with_guard, alone = np.random.default_rng(3), np.random.default_rng(3)
    assert sample_label(with_guard, plain) == _sample_unpunctuated(alone, plain)
    assert with_guard.random() == alone.random()


def test_pseudowords_follow_the_trigrams_of_the_word_list():
    words = load_word_list()
    seen = {
        padded[i - 2 : i + 1]
        for padded in ("^^" + word + "$" for word in words)
        for i in range(2, len(padded))
    }
    rng = np.random.default_rng(1)
    pseudowords = [sample_pseudoword(rng, 3, 9) for _ in range(200)]
    for word in pseudowords:
        padded = "^^" + word + "$"
        assert all(padded[i - 2 : i + 1] in seen for i in range(2, len(padded))), word
        assert 3 <= len(word) <= 9 and word.isalpha() and word.islower()
    assert not set(pseudowords) & set(words)
    assert len(set(pseudowords)) > 150  # varied, not a handful of strings
    only = LabelMix(0.0, 0.0, 0.0, 1.0, lower=1.0, title=0.0, upper=0.0)
    assert all(sample_label(rng, only) not in set(words) for _ in range(50))


def test_faces_are_drawn_family_first():
    """A family with many files is drawn as often as one with a single file."""
    faces = find_fonts()
    families = {face.family for face in faces}
    rng = np.random.default_rng(0)
    draws = [sample_face(rng, faces).family for _ in range(400 * len(families))]
    counts = [draws.count(family) for family in families]
    assert min(counts) > 300 and max(counts) < 500  # 400 expected per family


def test_fonts_from_a_folder(font_dir):
    faces = find_fonts(font_dir)
    # the built-in face first, then the one usable file (the text file and broken file skipped)
    assert faces == (FontFace(None), FontFace(str((font_dir / "aileron.ttf").resolve())))
    with pytest.raises(InputError, match=r"--fonts .*no such folder"):
        find_fonts(font_dir / "missing")


def test_fonts_sort_by_file_name_wherever_they_are_installed(tmp_path):
    """The same files in other folders keep their order, so a seed draws the same fonts."""
    font_bytes = ImageFont.load_default(size=20).font_bytes
    for folder, name in (("z_site", "Alpha.ttf"), ("a_site", "Beta.ttf"), ("m_site", "Gamma.ttf")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(font_bytes)
    names = [Path(face.path).name for face in find_fonts(tmp_path)[1:]]
    assert names == ["Alpha.ttf", "Beta.ttf", "Gamma.ttf"]


def test_fonts_folder_without_usable_font_is_an_input_error(tmp_path):
    (tmp_path / "garbage.otf").write_bytes(b"nope")
    with pytest.raises(InputError, match="no usable font"):
        find_fonts(tmp_path)


def test_background_pictures_are_cropped_into_backgrounds(tmp_path):
    Image.new("RGB", (300, 200), (250, 10, 10)).save(tmp_path / "red.png")
    assets = SynthAssets.find(background_dir=tmp_path)
    assert assets.backgrounds == (str((tmp_path / "red.png").resolve()),)
    kinds = []
    for seed in range(16):
        background = draw_background(np.random.default_rng(seed), 40, 20, assets.backgrounds)
        assert background.shape == (20, 40, 3) and background.dtype == np.float32
        kinds.append(
            bool(
                np.allclose(
                    background.mean(axis=(0, 1)), [250 / 255, 10 / 255, 10 / 255], atol=0.02
                )
            )
        )
    assert 3 <= sum(kinds) <= 13  # about half are crops of the picture
    (tmp_path / "bad.jpg").write_bytes(b"not a picture")
    with pytest.raises(InputError, match=r"bad\.jpg: not a readable picture"):
        SynthAssets.find(background_dir=tmp_path)
    with pytest.raises(InputError, match=r"--backgrounds .*no such folder"):
        SynthAssets.find(background_dir=tmp_path / "missing")


def test_generators_import_without_torch():
    """Worker processes import only the generators; they must start light (no torch)."""
    code = "import sys, textmask_ocr.data.synth; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
