"""ASTER: the public layout, the STN/TPS wiring, the attention decoder against hand-written
references, teacher forcing, greedy decoding and beam search (against exhaustive search)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from recognizers import build_recognizer
from recognizers.aster import ASTER
from recognizers.aster.decoder import AttentionUnit, DecoderUnit
from tests.recognizers.helpers import layout_of, parse_layout, randomize_, tiny_config

LSTM_LAYOUT = [
    (f"encoder.rnn.{kind}_l{layer}{direction}", shape)
    for layer in (0, 1)
    for direction in ("", "_reverse")
    for kind, shape in (
        ("weight_ih", (1024, 512)),
        ("weight_hh", (1024, 256)),
        ("bias_ih", (1024,)),
        ("bias_hh", (1024,)),
    )
]


@pytest.fixture(scope="module")
def public_aster() -> ASTER:
    """The public-size model (with the encoder LSTM, as the released weights)."""
    torch.manual_seed(0)
    return ASTER().eval()


def tiny_aster(seed: int = 0, **kwargs: object) -> ASTER:
    torch.manual_seed(seed)
    return randomize_(build_recognizer(tiny_config("aster", **kwargs)), seed).eval()


def test_state_dict_matches_the_public_layout(shared_reference, public_aster):
    expected = parse_layout(shared_reference / "aster_state_dict_layout.txt")
    assert layout_of(ASTER(with_lstm=False)) == expected
    # The released weights were trained with the encoder's BiLSTM: 16 more entries after layer5.
    encoder_end = max(i for i, (k, _) in enumerate(expected) if k.startswith("encoder.")) + 1
    assert layout_of(public_aster) == expected[:encoder_end] + LSTM_LAYOUT + expected[encoder_end:]


def test_public_size_forward_at_batch_one(public_aster):
    image = torch.rand(1, 3, 64, 256) * 2 - 1
    with torch.no_grad():
        rectified, points = public_aster.rectify(image)
        features = public_aster.encoder(rectified)
    assert rectified.shape == (1, 3, 32, 100) and points.shape == (1, 20, 2)
    assert features.shape == (1, 25, 512)
    ids, probs = public_aster.predict(image, beam_width=5, max_length=6)
    assert ids.shape == probs.shape and ids.shape[0] == 1 and 1 <= ids.shape[1] <= 6
    assert torch.all((probs > 0) & (probs <= 1))


def test_the_stn_sees_an_align_corners_downsample_and_starts_at_the_identity():
    model = build_recognizer(tiny_config("aster")).eval()  # fresh: stn_fc2 has zero weights
    seen = []
    model.stn_head.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    image = torch.rand(2, 3, 64, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rectified, points = model.rectify(image)
    expected_input = F.interpolate(image, size=(32, 64), mode="bilinear", align_corners=True)
    assert torch.equal(seen[0], expected_input)
    identity = model.tps.target_control_points.expand(2, 20, 2)
    assert torch.allclose(points, identity, atol=1e-6)
    assert torch.allclose(rectified, model.tps(image, identity), atol=1e-6)


def test_attention_unit_formula():
    torch.manual_seed(0)
    unit = AttentionUnit(s_dim=5, x_dim=4, att_dim=3)
    features, state = torch.randn(2, 6, 4), torch.randn(2, 5)
    alpha = unit(unit.xEmbed(features), state)
    for n in range(2):
        energies = torch.stack(
            [
                unit.wEmbed.weight[0]
                @ torch.tanh(
                    unit.sEmbed.weight @ state[n]
                    + unit.sEmbed.bias
                    + unit.xEmbed.weight @ features[n, t]
                    + unit.xEmbed.bias
                )
                + unit.wEmbed.bias[0]
                for t in range(6)
            ]
        )
        assert torch.allclose(alpha[n], energies.softmax(dim=0), atol=1e-6)


def test_decoder_step_feeds_embedding_then_context_to_the_gru():
    torch.manual_seed(0)
    unit = DecoderUnit(s_dim=5, x_dim=4, num_classes=7, att_dim=3)
    features, state = torch.randn(2, 6, 4), torch.randn(2, 5)
    previous = torch.tensor([7, 2])  # the start symbol, then a class
    logits, new_state = unit(features, unit.attention_unit.xEmbed(features), state, previous)

    alpha = unit.attention_unit(unit.attention_unit.xEmbed(features), state)
    context = (alpha[:, :, None] * features).sum(dim=1)
    x = torch.cat([unit.tgt_embedding.weight[previous], context], dim=1)
    gru = unit.gru
    gates_x = x @ gru.weight_ih_l0.T + gru.bias_ih_l0
    gates_h = state @ gru.weight_hh_l0.T + gru.bias_hh_l0
    (rx, zx, nx), (rh, zh, nh) = gates_x.chunk(3, dim=1), gates_h.chunk(3, dim=1)
    reset, update = torch.sigmoid(rx + rh), torch.sigmoid(zx + zh)
    candidate = torch.tanh(nx + reset * nh)
    expected_state = (1 - update) * candidate + update * state
    assert torch.allclose(new_state, expected_state, atol=1e-6)
    assert torch.allclose(logits, expected_state @ unit.fc.weight.T + unit.fc.bias, atol=1e-6)


def test_teacher_forcing_starts_from_zero_state_and_the_start_symbol():
    model = tiny_aster()
    image = torch.rand(2, 3, 64, 256, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([[3, 5, 94, 95], [7, 94, 95, 95]])
    lengths = torch.tensor([3, 2])
    with torch.no_grad():
        logits = model(image, targets, lengths)
        features = model.encode(image)
        unit = model.decoder.decoder
        state = torch.zeros(2, 16)
        previous = torch.full((2,), 97)
        for step in range(3):
            expected, state = unit(features, unit.attention_unit.xEmbed(features), state, previous)
            assert torch.allclose(logits[:, step], expected, atol=1e-6)
            previous = targets[:, step]
    assert logits.shape == (2, 3, 97)


def test_forward_without_targets_is_refused():
    with pytest.raises(ValueError, match="teacher forcing"):
        tiny_aster()(torch.zeros(1, 3, 64, 256))


def eos_prone(model: ASTER, bias: float) -> ASTER:
    """Raise EOS's logit so that words end at various steps."""
    with torch.no_grad():
        model.decoder.decoder.fc.bias[model.decoder.eos_index] += bias
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_decoding_is_teacher_forcing_on_its_own_output(seed):
    model = eos_prone(tiny_aster(seed), bias=2.0)
    image = torch.rand(4, 3, 64, 256, generator=torch.Generator().manual_seed(seed))
    ids, probs = model.predict(image, beam_width=1)
    eos = model.decoder.eos_index
    lengths = torch.tensor([row.index(eos) + 1 if eos in row else len(row) for row in ids.tolist()])
    with torch.no_grad():
        softmax = model(image, ids, lengths).softmax(dim=2)
    for n in range(4):
        steps = int(lengths[n])
        assert softmax[n, :steps].argmax(dim=1).tolist() == ids[n, :steps].tolist()
        assert torch.allclose(softmax[n, :steps].max(dim=1).values, probs[n, :steps], atol=1e-6)
        assert ids[n, steps:].eq(model.decoder.padding_index).all()
        assert probs[n, steps:].eq(1).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_of_width_one_is_greedy(seed):
    model = eos_prone(tiny_aster(seed), bias=2.0)
    image = torch.rand(5, 3, 64, 256, generator=torch.Generator().manual_seed(seed))
    greedy_ids, greedy_probs = model.predict(image, beam_width=1)
    beam_ids, beam_probs = model.decoder.beam_search(model.encode(image), 1, model.max_length)
    assert torch.equal(beam_ids, greedy_ids)
    assert torch.allclose(beam_probs, greedy_probs, atol=1e-6)
    ended = (greedy_ids == model.decoder.eos_index).any(dim=1)
    assert ended.any()  # some words end within max_length ...


@pytest.mark.parametrize("seed", [0, 1])
def test_fixed_length_greedy_decoding_is_greedy_padded_to_max_length(seed):
    model = eos_prone(tiny_aster(seed), bias=2.0)
    image = torch.rand(5, 3, 64, 256, generator=torch.Generator().manual_seed(seed))
    ids, probs = model.predict(image, beam_width=1)
    assert ids.shape[1] < model.max_length  # every word ended early
    fixed_ids, fixed_probs = model.decoder.greedy_decode(
        model.encode(image), model.max_length, fixed_length=True
    )
    assert fixed_ids.shape == fixed_probs.shape == (5, model.max_length)
    assert torch.equal(fixed_ids[:, : ids.shape[1]], ids)
    assert torch.equal(fixed_probs[:, : ids.shape[1]], probs)
    assert fixed_ids[:, ids.shape[1] :].eq(model.decoder.padding_index).all()
    assert fixed_probs[:, ids.shape[1] :].eq(1).all()


def test_beam_search_of_width_one_without_any_eos():
    model = eos_prone(tiny_aster(3), bias=-50.0)
    image = torch.rand(2, 3, 64, 256, generator=torch.Generator().manual_seed(3))
    greedy = model.predict(image, beam_width=1, max_length=5)
    beam = model.decoder.beam_search(model.encode(image), 1, 5)
    assert greedy[0].shape == (2, 5) and torch.equal(beam[0], greedy[0])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_wide_beam_search_finds_the_most_likely_sequence(seed):
    """Alphabet 'ab' (5 classes), 3 steps: score every possible output by teacher forcing."""
    config = tiny_config("aster", alphabet="ab")
    torch.manual_seed(seed)
    model = eos_prone(randomize_(build_recognizer(config), seed).eval(), bias=1.0)
    image = torch.rand(1, 3, 64, 256, generator=torch.Generator().manual_seed(seed))
    eos, classes, steps = 2, 5, 3
    others = [c for c in range(classes) if c != eos]
    candidates = [
        (*prefix, eos) for n in range(steps) for prefix in itertools.product(others, repeat=n)
    ]
    candidates += list(itertools.product(others, repeat=steps))  # never ended
    targets = torch.tensor([[*c, *[3] * (steps - len(c))] for c in candidates])
    lengths = torch.tensor([len(c) for c in candidates])
    with torch.no_grad():
        features = model.encode(image)
        log_probs = model.decoder(features.expand(len(candidates), -1, -1), targets, lengths)
        log_probs = log_probs.log_softmax(dim=2)
    scores = [
        float(sum(log_probs[i, t, c] for t, c in enumerate(candidate)))
        for i, candidate in enumerate(candidates)
    ]
    best = candidates[max(range(len(candidates)), key=scores.__getitem__)]
    ids, probs = model.decoder.beam_search(features, beam_width=classes**2, max_length=steps)
    assert ids[0, : len(best)].tolist() == list(best)
    assert float(probs[0, : len(best)].log().sum()) == pytest.approx(max(scores), abs=1e-4)


def test_predict_uses_the_configured_beam_and_length():
    model = eos_prone(tiny_aster(4), bias=-50.0)
    image = torch.rand(1, 3, 64, 256, generator=torch.Generator().manual_seed(4))
    ids, _ = model.predict(image)
    assert (model.beam_width, model.max_length) == (5, 12)
    assert ids.shape == (1, 12)
    assert torch.equal(ids, model.decoder.beam_search(model.encode(image), 5, 12)[0])


def test_stn_head_reads_a_tenth_of_its_hidden_features_and_ends_without_activation():
    model = tiny_aster(5)
    head = model.stn_head
    stn_input = torch.rand(2, 3, 32, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        feature_map = head.stn_convnet(stn_input)
        hidden = head.stn_fc1(feature_map.flatten(1))
        points = head(stn_input)
    assert feature_map.shape[2:] == (1, 2)  # five 2x2 pools: 32 x 64 -> 1 x 2
    expected = (0.1 * hidden) @ head.stn_fc2.weight.T + head.stn_fc2.bias
    assert torch.allclose(points, expected.view(2, 20, 2), atol=1e-6)
    pools = [i for i, m in enumerate(head.stn_convnet) if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [1, 3, 5, 7, 9]


def reference_beam_search(model: ASTER, features: torch.Tensor, width: int, steps: int) -> list:
    """Plain-Python beam search for one image, scoring each prefix by teacher forcing: at every
    step the ``width`` best extensions of the open hypotheses survive; those ending in EOS leave
    the beam. The result is the best ended hypothesis, or the best open one after ``steps``."""
    eos = model.decoder.eos_index
    open_beams: list[tuple[float, list[int]]] = [(0.0, [])]
    ended: list[tuple[float, list[int]]] = []
    for _ in range(steps):
        candidates = []
        for score, prefix in open_beams:
            targets = torch.tensor([[*prefix, 0]])
            with torch.no_grad():
                logits = model.decoder(features, targets, torch.tensor([len(prefix) + 1]))
            log_probs = logits[0, -1].log_softmax(dim=0)
            candidates += [(score + float(lp), [*prefix, c]) for c, lp in enumerate(log_probs)]
        candidates.sort(key=lambda item: -item[0])
        survivors = candidates[:width]
        ended += [c for c in survivors if c[1][-1] == eos]
        open_beams = [c for c in survivors if c[1][-1] != eos]
        if not open_beams or (ended and max(ended)[0] >= open_beams[0][0]):
            break
    return max(ended + open_beams, key=lambda item: item[0])[1]


@pytest.mark.parametrize("seed", range(6))
def test_narrow_beam_search_matches_a_plain_reference(seed):
    torch.manual_seed(seed)
    model = eos_prone(randomize_(build_recognizer(tiny_config("aster", alphabet="abc")), seed), 1.5)
    image = torch.rand(1, 3, 64, 256, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        features = model.encode(image)
    expected = reference_beam_search(model, features, width=2, steps=6)
    ids, _ = model.decoder.beam_search(features, beam_width=2, max_length=6)
    assert ids[0, : len(expected)].tolist() == expected
