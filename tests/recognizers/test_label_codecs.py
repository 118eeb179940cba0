"""Label codecs: class layout, batch encoding, decoding, round trips and unencodable characters."""

from __future__ import annotations

import random
import string

import pytest
import torch

from recognizers.codecs import (
    ASTER_ALPHABET,
    CRNN_ALPHABET,
    AttentionCodec,
    CTCCodec,
    Prediction,
)


def random_words(alphabet: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(count)]


def ctc_frames(ids: list[int]) -> list[int]:
    """A CTC frame sequence for a label: a blank between equal neighbours, some blank padding."""
    frames = [0]
    for i, c in enumerate(ids):
        if i and c == ids[i - 1]:
            frames.append(0)
        frames += [c, c] if i % 2 else [c]
    return [*frames, 0]


class TestCTCCodec:
    def test_class_layout_of_the_public_crnn(self):
        codec = CTCCodec(CRNN_ALPHABET, lowercase=True)
        assert CRNN_ALPHABET == "0123456789abcdefghijklmnopqrstuvwxyz"
        assert codec.num_classes == 37
        assert codec.tokens[0] == CTCCodec.BLANK
        assert codec.tokens[1] == "0" and codec.tokens[11] == "a" and codec.tokens[36] == "z"

    def test_encode_batch_concatenates_ids_lowercased(self):
        codec = CTCCodec(CRNN_ALPHABET, lowercase=True)
        targets, lengths = codec.encode(["Ab1", "z", ""])
        assert targets.tolist() == [11, 12, 2, 36]
        assert lengths.tolist() == [3, 1, 0]
        assert targets.dtype == lengths.dtype == torch.long

    def test_encode_refuses_characters_outside_the_alphabet(self):
        codec = CTCCodec(CRNN_ALPHABET, lowercase=True)
        with pytest.raises(ValueError, match="outside the alphabet: '-é'"):
            codec.encode(["ok", "Hé-llo"])

    def test_unencodable_reports_after_lowercasing(self):
        assert CTCCodec(CRNN_ALPHABET, lowercase=True).unencodable("Hé-llo") == {"é", "-"}
        assert CTCCodec(CRNN_ALPHABET).unencodable("Hello") == {"H"}
        assert CTCCodec(CRNN_ALPHABET).unencodable("hello") == set()

    def test_decode_merges_repeats_then_drops_blanks(self):
        codec = CTCCodec("ab")
        ids = torch.tensor([[1, 1, 0, 1, 2, 2, 0], [0, 0, 0, 0, 0, 0, 0]])
        probs = torch.tensor([[0.9, 0.8, 0.7, 0.95, 0.6, 0.99, 1.0], [0.5] * 7])
        assert codec.decode(ids, probs) == [
            Prediction("aab", pytest.approx(0.6)),
            Prediction("", pytest.approx(0.5)),
        ]

    def test_round_trip_through_frames(self):
        codec = CTCCodec(CRNN_ALPHABET)
        words = [*random_words(CRNN_ALPHABET, 50, seed=1), "aa", "abba", "zzz"]
        targets, lengths = codec.encode(words)
        for word, label in zip(words, targets.split(lengths.tolist()), strict=True):
            frames = torch.tensor([ctc_frames(label.tolist())])
            assert codec.decode(frames, torch.ones(frames.shape)) == [Prediction(word, 1.0)]

    @pytest.mark.parametrize("time_major", [True, False])
    def test_decode_logits_is_argmax_then_decode(self, time_major):
        codec = CTCCodec("abc")
        logits = torch.randn(9, 4, 4, generator=torch.Generator().manual_seed(0))  # (T, N, C)
        given = logits if time_major else logits.transpose(0, 1)
        predictions = codec.decode_logits(given, time_major=time_major)
        probs = logits.softmax(dim=2)
        for n, (text, confidence) in enumerate(predictions):
            best = [int(probs[t, n].argmax()) for t in range(9)]
            expected = "".join(
                "_abc"[c] for t, c in enumerate(best) if c and (t == 0 or c != best[t - 1])
            )
            assert text == expected
            assert confidence == pytest.approx(min(float(probs[t, n].max()) for t in range(9)))

    def test_alphabet_must_be_unique_and_non_empty(self):
        with pytest.raises(ValueError, match="repeats 'a'"):
            CTCCodec("abca")
        with pytest.raises(ValueError, match="empty"):
            CTCCodec("")


class TestAttentionCodec:
    def test_class_layout_of_the_public_aster(self):
        codec = AttentionCodec()
        assert string.printable[:-6] == ASTER_ALPHABET and len(ASTER_ALPHABET) == 94
        assert codec.num_classes == 97
        assert (codec.eos_index, codec.padding_index, codec.unknown_index) == (94, 95, 96)
        assert codec.start_index == 97
        assert codec.tokens[:11] == tuple("0123456789a")
        assert codec.tokens[36] == "A" and codec.tokens[62] == "!"
        assert codec.tokens[94:] == ("EOS", "PADDING", "UNKNOWN")

    def test_encode_pads_after_eos_and_maps_unknown(self):
        codec = AttentionCodec()
        targets, lengths = codec.encode(["ab", "é", "A!"])
        assert targets.tolist() == [[10, 11, 94], [96, 94, 95], [36, 62, 94]]
        assert lengths.tolist() == [3, 2, 3]
        wide, _ = codec.encode(["ab"], max_length=5)
        assert wide.tolist() == [[10, 11, 94, 95, 95]]

    def test_encode_refuses_labels_longer_than_max_length(self):
        with pytest.raises(ValueError, match="needs 4 steps"):
            AttentionCodec().encode(["abc"], max_length=3)

    def test_unencodable_and_lowercase(self):
        assert AttentionCodec().unencodable("día€") == {"í", "€"}
        lower = AttentionCodec(CRNN_ALPHABET, lowercase=True)
        assert lower.unencodable("ABC") == set()
        assert lower.encode(["AB"])[0].tolist() == [[10, 11, 36]]

    def test_decode_stops_at_eos_with_min_confidence_up_to_it(self):
        codec = AttentionCodec("ab")  # a=0 b=1 EOS=2 PADDING=3 UNKNOWN=4
        ids = torch.tensor([[0, 1, 2, 0, 0], [1, 4, 3, 0, 1], [2, 0, 0, 0, 0]])
        probs = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.1], [0.9] * 5, [0.6, 0.1, 0.1, 0.1, 0.1]])
        assert codec.decode(ids, probs) == [
            Prediction("ab", pytest.approx(0.7)),
            Prediction("bab", pytest.approx(0.9)),  # no EOS: every step, specials skipped
            Prediction("", pytest.approx(0.6)),
        ]

    def test_round_trip(self):
        codec = AttentionCodec()
        words = random_words(ASTER_ALPHABET, 50, seed=2)
        targets, _ = codec.encode(words)
        decoded = codec.decode(targets, torch.ones(targets.shape))
        assert [p.text for p in decoded] == words

    def test_equality_follows_alphabet_and_case(self):
        assert AttentionCodec("ab") == AttentionCodec("ab")
        assert AttentionCodec("ab") != AttentionCodec("ab", lowercase=True)
        assert AttentionCodec("ab") != CTCCodec("ab")
