"""Labels for synthetic text: English words, pseudowords, random alphanumerics, numbers,
and the punctuation photographed words carry.

The built-in list (``words.txt`` beside this module) holds a few thousand common English words in
lower case. *Pseudowords* are drawn letter by letter from a character trigram model of that list:
pronounceable strings that are not in it ("storend", "bareling"), standing in for the names,
brands and rare words of real scenes, so that the recognizer learns spelling patterns rather than
a closed vocabulary. *Punctuation* (:func:`punctuate`) dresses a share of the labels as words on
signs and posters are dressed: a trailing full stop or question mark, quotes, a possessive, a
hyphenated pair, a price, a web address. Labels only contain :data:`LABEL_CHARACTERS`, which every
usable font draws (:data:`~textmask_ocr.data.synth.fonts.REQUIRED_CHARACTERS`); a case-insensitive
alphanumeric recognizer learns to read past the marks when its training labels drop them (the
evaluation protocol's ``ignore-case-symbols``, ``finetune --strip-symbols``).
"""

from __future__ import annotations

import functools
import string
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib import resources

import numpy as np

#: The built-in word list, one lower-case word per line, shipped as package data.
WORD_LIST_RESOURCE = "words.txt"
_ALPHANUMERIC = string.ascii_letters + string.digits
#: Marks :func:`punctuate` adds: ``.,!?:`` after a word, quotes, apostrophe, hyphen, ``$``.
LABEL_PUNCTUATION = ".,!?:\"'-$"
#: Every character a synthetic label can contain.
LABEL_CHARACTERS = _ALPHANUMERIC + LABEL_PUNCTUATION
#: Marks that end a word, and how often each does (full stops most often, as in real crops).
_TRAILING_MARKS, _TRAILING_WEIGHTS = ".,!?:", (0.45, 0.2, 0.15, 0.12, 0.08)
#: How a label is punctuated (see :func:`punctuate`), and how often.
PUNCTUATION_KINDS = ("trailing", "quoted", "possessive", "hyphenated", "price", "web")
_PUNCTUATION_WEIGHTS = (0.4, 0.1, 0.1, 0.15, 0.15, 0.1)


@dataclass(frozen=True)
class LabelMix:
    """Where labels come from and how they are cased (probabilities, each group summing to 1).

    Attributes:
        dictionary: a word of the built-in list.
        alphanumeric: a random string of letters and digits (codes, plates, product names).
        number: a random string of digits (prices, house numbers, phone fragments).
        pseudoword: a pronounceable non-word from the trigram model of the built-in list.
        lower, title, upper: the case of dictionary words and pseudowords.
        punctuation: the chance that a label is punctuated (:func:`punctuate`).
        alphanumeric_length: (min, max) length of random alphanumerics.
        number_length: (min, max) length of numbers.
        pseudoword_length: (min, max) length of pseudowords.
        max_length: labels are at most this long (longer words are cut).
    """

    dictionary: float = 0.7
    alphanumeric: float = 0.2
    number: float = 0.1
    pseudoword: float = 0.0
    lower: float = 0.45
    title: float = 0.3
    upper: float = 0.25
    punctuation: float = 0.0
    alphanumeric_length: tuple[int, int] = (1, 10)
    number_length: tuple[int, int] = (1, 6)
    pseudoword_length: tuple[int, int] = (2, 12)
    max_length: int = 24


@functools.lru_cache(maxsize=1)
def load_word_list() -> tuple[str, ...]:
    """The built-in English word list (lower case, letters only), in file order."""
    text = resources.files(__package__).joinpath(WORD_LIST_RESOURCE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def sample_label(rng: np.random.Generator, mix: LabelMix = LabelMix()) -> str:
    """Draw one label of 1..``mix.max_length`` characters from :data:`LABEL_CHARACTERS`.

    The punctuation draw is made only where ``mix.punctuation`` is positive, so mixes without
    punctuation draw the same labels as before it existed.
    """
    label = _sample_unpunctuated(rng, mix)
    if mix.punctuation > 0 and rng.random() < mix.punctuation:
        return punctuate(rng, label, mix.max_length)
    return label


def punctuate(rng: np.random.Generator, label: str, max_length: int = 24) -> str:
    """``label`` dressed with punctuation of a kind drawn from :data:`PUNCTUATION_KINDS`.

    ``trailing``: ``word.`` (or ``, ! ? :``); ``quoted``: ``"word"`` or ``'word'``;
    ``possessive``: ``word's``; ``hyphenated``: ``word-other`` with a listed word cased like
    ``label``; ``price``: ``$12.50`` (replaces the label); ``web``: ``www.word.com``. A result
    longer than ``max_length`` gives ``label`` unchanged.
    """
    kind = PUNCTUATION_KINDS[int(rng.choice(len(PUNCTUATION_KINDS), p=_PUNCTUATION_WEIGHTS))]
    if kind == "trailing":
        mark = _TRAILING_MARKS[int(rng.choice(len(_TRAILING_MARKS), p=_TRAILING_WEIGHTS))]
        dressed = label + mark
    elif kind == "quoted":
        quote = '"' if rng.random() < 0.5 else "'"
        dressed = quote + label + quote
    elif kind == "possessive":
        dressed = label + ("'S" if label.isupper() else "'s")
    elif kind == "hyphenated":
        words = load_word_list()
        dressed = label + "-" + _cased_like(label, words[int(rng.integers(len(words)))])
    elif kind == "price":
        units = int(rng.integers(0, 1000))
        dressed = f"${units}.{int(rng.integers(0, 100)):02d}"
    else:
        dressed = f"www.{label.lower()}.com"
    return dressed if len(dressed) <= max_length else label


def _cased_like(label: str, word: str) -> str:
    """``word`` in the case of ``label``: upper, title, or lower."""
    if label.isupper():
        return word.upper()
    return word.capitalize() if label[:1].isupper() else word


def _sample_unpunctuated(rng: np.random.Generator, mix: LabelMix) -> str:
    """A label of ``[A-Za-z0-9]``: a listed word, a pseudoword, an alphanumeric or a number."""
    source = rng.choice(4, p=[mix.dictionary, mix.alphanumeric, mix.number, mix.pseudoword])
    if source in (0, 3):
        if source == 0:
            words = load_word_list()
            word = words[int(rng.integers(len(words)))][: mix.max_length]
        else:
            low, high = mix.pseudoword_length
            word = sample_pseudoword(rng, min(low, mix.max_length), min(high, mix.max_length))
        casing = rng.choice(3, p=[mix.lower, mix.title, mix.upper])
        return (word, word.capitalize(), word.upper())[casing]
    if source == 1:
        alphabet, (low, high) = _ALPHANUMERIC, mix.alphanumeric_length
    else:
        alphabet, (low, high) = string.digits, mix.number_length
    length = int(rng.integers(min(low, mix.max_length), min(high, mix.max_length) + 1))
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=length))


#: Marks the start and the end of a word in the trigram model.
_BOUNDARY = "^"
_END = "$"


@functools.lru_cache(maxsize=1)
def _trigram_model() -> dict[str, tuple[str, np.ndarray]]:
    """Next-character distributions of the built-in list, keyed by the two previous characters.

    Returns:
        context -> (the characters that follow it, their probabilities), where a context is two
        characters with ``^`` padding at the start, and ``$`` ends a word.
    """
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for word in load_word_list():
        padded = _BOUNDARY * 2 + word + _END
        for i in range(2, len(padded)):
            counts[padded[i - 2 : i]][padded[i]] += 1
    model = {}
    for context, following in sorted(counts.items()):
        characters = sorted(following)
        weights = np.array([following[c] for c in characters], dtype=np.float64)
        model[context] = ("".join(characters), weights / weights.sum())
    return model


def sample_pseudoword(rng: np.random.Generator, min_length: int = 2, max_length: int = 12) -> str:
    """A lower-case word drawn from the character trigram model of the built-in list, resampled
    until it has ``min_length``..``max_length`` letters and is not a listed word."""
    model, listed = _trigram_model(), set(load_word_list())
    while True:
        word = ""
        context = _BOUNDARY * 2
        while len(word) <= max_length:
            characters, probabilities = model[context]
            character = characters[int(rng.choice(len(characters), p=probabilities))]
            if character == _END:
                break
            word += character
            context = context[1] + character
        if min_length <= len(word) <= max_length and word not in listed:
            return word
