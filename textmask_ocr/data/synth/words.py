"""Labels for synthetic text: English words from the built-in list, random alphanumerics, numbers.

The built-in list (``words.txt`` beside this module) holds a few thousand common English words in
lower case. Labels only contain ``[A-Za-z0-9]`` (:data:`~textmask_ocr.data.synth.fonts.
REQUIRED_CHARACTERS`), so every usable font draws them and case-insensitive alphanumeric
recognizers can learn all of them.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from importlib import resources

import numpy as np

#: The built-in word list, one lower-case word per line, shipped as package data.
WORD_LIST_RESOURCE = "words.txt"
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(frozen=True)
class LabelMix:
    """Where labels come from and how they are cased (probabilities, each group summing to 1).

    Attributes:
        dictionary: a word of the built-in list.
        alphanumeric: a random string of letters and digits (codes, plates, product names).
        number: a random string of digits (prices, house numbers, phone fragments).
        lower, title, upper: the case of dictionary words.
        alphanumeric_length: (min, max) length of random alphanumerics.
        number_length: (min, max) length of numbers.
        max_length: labels are at most this long (longer words are cut).
    """

    dictionary: float = 0.7
    alphanumeric: float = 0.2
    number: float = 0.1
    lower: float = 0.45
    title: float = 0.3
    upper: float = 0.25
    alphanumeric_length: tuple[int, int] = (1, 10)
    number_length: tuple[int, int] = (1, 6)
    max_length: int = 24


@functools.lru_cache(maxsize=1)
def load_word_list() -> tuple[str, ...]:
    """The built-in English word list (lower case, letters only), in file order."""
    text = resources.files(__package__).joinpath(WORD_LIST_RESOURCE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def sample_label(rng: np.random.Generator, mix: LabelMix = LabelMix()) -> str:
    """Draw one label of 1..``mix.max_length`` characters from ``[A-Za-z0-9]``."""
    source = rng.choice(3, p=[mix.dictionary, mix.alphanumeric, mix.number])
    if source == 0:
        words = load_word_list()
        word = words[int(rng.integers(len(words)))][: mix.max_length]
        casing = rng.choice(3, p=[mix.lower, mix.title, mix.upper])
        return (word, word.capitalize(), word.upper())[casing]
    if source == 1:
        alphabet, (low, high) = _ALPHANUMERIC, mix.alphanumeric_length
    else:
        alphabet, (low, high) = string.digits, mix.number_length
    length = int(rng.integers(min(low, mix.max_length), min(high, mix.max_length) + 1))
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=length))
