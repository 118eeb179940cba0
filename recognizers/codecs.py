"""Label codecs: the one owner of an alphabet, its special tokens and the text <-> index mapping.

Two kinds, one per decoding scheme (MMOCR's ``Dictionary`` plays the same role):

* :class:`CTCCodec` for CTC heads (CRNN): class 0 is the blank, character ``alphabet[i]`` is class
  ``i + 1``; ``num_classes = len(alphabet) + 1``.
* :class:`AttentionCodec` for attention decoders (ASTER): character ``alphabet[i]`` is class ``i``,
  followed by ``EOS``, ``PADDING`` and ``UNKNOWN``; ``num_classes = len(alphabet) + 3``. The
  decoder's start symbol is the extra index ``num_classes`` (its embedding has one more row).

Both encode a batch of strings to tensors, decode a batch of per-step ``(ids, probs)`` back to
:class:`Prediction` tuples, and report the characters they cannot encode. The confidence of a
prediction is the smallest per-step probability of the decision path (the weakest link, as in
docTR): every CTC frame, or every attention step up to and including ``EOS``.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ASTER_ALPHABET",
    "CRNN_ALPHABET",
    "AttentionCodec",
    "CTCCodec",
    "LabelCodec",
    "Prediction",
]

#: The public CRNN's alphabet (case-insensitive: labels are lower-cased before encoding).
CRNN_ALPHABET = string.digits + string.ascii_lowercase
#: The public ASTER's 94 printable characters: digits, lower case, upper case, punctuation.
ASTER_ALPHABET = string.printable[:-6]


class Prediction(NamedTuple):
    """One decoded word and its confidence in [0, 1]."""

    text: str
    confidence: float


class LabelCodec(ABC):
    """Shared behaviour: the alphabet, optional lower-casing and the row tokens of the classifier.

    Args:
        alphabet: the characters, each once, in class order.
        lowercase: lower-case every label before encoding (for case-insensitive alphabets).
    """

    #: Names of the special tokens, in the order they follow (attention) or precede (CTC) the
    #: characters. Multi-character names, so they can never collide with a character.
    special_tokens: tuple[str, ...] = ()

    def __init__(self, alphabet: str, *, lowercase: bool = False) -> None:
        if not alphabet:
            raise ValueError("the alphabet is empty")
        duplicates = sorted({c for c in alphabet if alphabet.count(c) > 1})
        if duplicates:
            raise ValueError(f"the alphabet repeats {''.join(duplicates)!r}")
        self.alphabet = alphabet
        self.lowercase = lowercase

    @property
    @abstractmethod
    def tokens(self) -> tuple[str, ...]:
        """The token of every output class, index = class id."""

    @abstractmethod
    def decode(self, ids: Tensor, probs: Tensor) -> list[Prediction]:
        """Per-step choices (N, L) and their probabilities (N, L) -> one prediction per row."""

    @property
    def num_classes(self) -> int:
        """Width of the classifier's output layer."""
        return len(self.tokens)

    def normalize(self, text: str) -> str:
        """The label as it will be encoded (lower-cased when the codec is case-insensitive)."""
        return text.lower() if self.lowercase else text

    def unencodable(self, text: str) -> set[str]:
        """Characters of ``text`` (after :meth:`normalize`) that are not in the alphabet."""
        return set(self.normalize(text)) - set(self.alphabet)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.alphabet!r}, lowercase={self.lowercase})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.alphabet == self.alphabet
            and other.lowercase == self.lowercase
        )

    def __hash__(self) -> int:
        return hash((type(self), self.alphabet, self.lowercase))


class CTCCodec(LabelCodec):
    """Codec for CTC heads: blank = 0, ``alphabet[i]`` -> ``i + 1``."""

    BLANK = "<blank>"
    special_tokens = (BLANK,)
    blank_index = 0

    def __init__(self, alphabet: str = CRNN_ALPHABET, *, lowercase: bool = False) -> None:
        super().__init__(alphabet, lowercase=lowercase)
        self._index = {c: i + 1 for i, c in enumerate(alphabet)}

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.BLANK, *self.alphabet)

    def encode(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Encode a batch for ``nn.CTCLoss``.

        Returns:
            ``targets``: int64 (sum(lengths),), the class ids of all labels concatenated;
            ``lengths``: int64 (N,), the length of each label.

        Raises:
            ValueError: a label holds characters outside the alphabet (check with
                :meth:`unencodable` first); CTC has no unknown class to map them to.
        """
        ids: list[int] = []
        lengths: list[int] = []
        for text in texts:
            missing = self.unencodable(text)
            if missing:
                outside = "".join(sorted(missing))
                raise ValueError(f"label {text!r} has characters outside the alphabet: {outside!r}")
            normalized = self.normalize(text)
            ids.extend(self._index[c] for c in normalized)
            lengths.append(len(normalized))
        return torch.tensor(ids, dtype=torch.long), torch.tensor(lengths, dtype=torch.long)

    def decode(self, ids: Tensor, probs: Tensor) -> list[Prediction]:
        """Best-path decoding of per-frame choices: merge repeats, then drop blanks.

        Args:
            ids: int (N, T), the chosen class of every frame.
            probs: float (N, T), the probability of that choice.
        """
        predictions = []
        for row_ids, row_probs in zip(ids.tolist(), probs.tolist(), strict=True):
            chars = [
                self.alphabet[i - 1]
                for t, i in enumerate(row_ids)
                if i != self.blank_index and (t == 0 or i != row_ids[t - 1])
            ]
            confidence = min(row_probs) if row_probs else 1.0
            predictions.append(Prediction("".join(chars), float(confidence)))
        return predictions

    def decode_logits(self, logits: Tensor, *, time_major: bool = True) -> list[Prediction]:
        """Greedy decoding of raw scores (logits or log-probabilities).

        Args:
            logits: float (T, N, C) when ``time_major`` (the CRNN's output), else (N, T, C).
        """
        if not time_major:
            logits = logits.transpose(0, 1)
        probs, ids = logits.detach().float().softmax(dim=2).max(dim=2)
        return self.decode(ids.transpose(0, 1), probs.transpose(0, 1))


class AttentionCodec(LabelCodec):
    """Codec for attention decoders: ``alphabet[i]`` -> ``i``, then EOS, PADDING, UNKNOWN.

    Characters outside the alphabet encode to ``UNKNOWN`` (as ASTER's datasets do); use
    :meth:`unencodable` to count or skip them instead.
    """

    EOS = "EOS"
    PADDING = "PADDING"
    UNKNOWN = "UNKNOWN"
    special_tokens = (EOS, PADDING, UNKNOWN)

    def __init__(self, alphabet: str = ASTER_ALPHABET, *, lowercase: bool = False) -> None:
        super().__init__(alphabet, lowercase=lowercase)
        self._index = {c: i for i, c in enumerate(alphabet)}
        self.eos_index = len(alphabet)
        self.padding_index = len(alphabet) + 1
        self.unknown_index = len(alphabet) + 2

    @property
    def tokens(self) -> tuple[str, ...]:
        return (*self.alphabet, *self.special_tokens)

    @property
    def start_index(self) -> int:
        """The decoder's first previous-symbol index (one past the classes)."""
        return self.num_classes

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> tuple[Tensor, Tensor]:
        """Encode a batch for teacher forcing.

        Returns:
            ``targets``: int64 (N, L), each label's ids then ``EOS``, right-padded with
            ``PADDING``; L = ``max_length`` or the longest label + 1.
            ``lengths``: int64 (N,), label length + 1 (the ``EOS`` step counts).

        Raises:
            ValueError: a label + EOS is longer than ``max_length``.
        """
        rows = [
            [self._index.get(c, self.unknown_index) for c in self.normalize(t)] + [self.eos_index]
            for t in texts
        ]
        width = max((len(r) for r in rows), default=1) if max_length is None else max_length
        targets = torch.full((len(rows), width), self.padding_index, dtype=torch.long)
        for n, row in enumerate(rows):
            if len(row) > width:
                raise ValueError(
                    f"label {texts[n]!r} needs {len(row)} steps with EOS, more than {width}"
                )
            targets[n, : len(row)] = torch.tensor(row, dtype=torch.long)
        return targets, torch.tensor([len(r) for r in rows], dtype=torch.long)

    def decode(self, ids: Tensor, probs: Tensor) -> list[Prediction]:
        """Read each row up to its first ``EOS``; ``PADDING``/``UNKNOWN`` emit nothing.

        Args:
            ids: int (N, L), the chosen class of every step.
            probs: float (N, L), the probability of that choice; the confidence is the minimum
                over the steps up to and including ``EOS``.
        """
        predictions = []
        for row_ids, row_probs in zip(ids.tolist(), probs.tolist(), strict=True):
            end = row_ids.index(self.eos_index) if self.eos_index in row_ids else len(row_ids)
            chars = [self.alphabet[i] for i in row_ids[:end] if i < len(self.alphabet)]
            steps = row_probs[: end + 1]
            confidence = min(steps) if steps else 1.0
            predictions.append(Prediction("".join(chars), float(confidence)))
        return predictions
