"""CRNN: the public state-dict layout, output geometry, the width/all-BN options, prediction."""

from __future__ import annotations

import pytest
import torch

from recognizers.crnn import CRNN, CRNNOutputs
from tests.recognizers.helpers import layout_of, parse_layout


def test_state_dict_matches_the_public_layout_exactly(shared_reference):
    expected = parse_layout(shared_reference / "crnn_state_dict_layout.txt")
    assert layout_of(CRNN(in_channels=1, num_classes=37, hidden_size=256)) == expected


def test_public_size_output_is_26_frames_of_37_classes_for_width_100():
    model = CRNN().eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 1, 32, 100))
    assert logits.shape == (26, 2, 37)


@pytest.mark.parametrize("width", [16, 37, 64, 100, 131])
def test_output_length_matches_the_forward(width):
    model = CRNN(num_classes=5, hidden_size=8, width_mult=0.125).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 1, 32, width))
    assert logits.shape[0] == CRNN.output_length(width)
    assert CRNN.output_length(100) == 26


def test_width_multiplier_and_batchnorm_everywhere():
    model = CRNN(num_classes=37, hidden_size=64, width_mult=0.25, batchnorm_everywhere=True)
    state = model.state_dict()
    channels = [state[f"cnn.conv{i}.weight"].shape[0] for i in range(7)]
    assert channels == [16, 32, 64, 64, 128, 128, 128]
    assert all(f"cnn.batchnorm{i}.running_var" in state for i in range(7))
    assert state["rnn.0.rnn.weight_ih_l0"].shape == (256, 128)
    assert state["rnn.1.embedding.weight"].shape == (37, 128)
    public = CRNN().state_dict()
    assert [k for k in public if "batchnorm" in k and k.endswith(".weight")] == [
        "cnn.batchnorm2.weight",
        "cnn.batchnorm4.weight",
        "cnn.batchnorm6.weight",
    ]


def test_other_heights_are_refused():
    with pytest.raises(ValueError, match="height 32"):
        CRNN(hidden_size=8, width_mult=0.125)(torch.randn(1, 1, 48, 100))


def test_predict_is_the_per_frame_argmax_in_batch_major_order():
    torch.manual_seed(0)
    model = CRNN(num_classes=7, hidden_size=8, width_mult=0.125).eval()
    images = torch.randn(3, 1, 32, 40)
    ids, probs = model.predict(images)
    with torch.no_grad():
        softmax = model(images).softmax(dim=2)  # (T, N, C)
    assert ids.shape == probs.shape == (3, CRNN.output_length(40))
    for n in range(3):
        for t in range(ids.shape[1]):
            assert ids[n, t] == softmax[t, n].argmax()
            assert probs[n, t] == pytest.approx(float(softmax[t, n].max()))


def test_targets_are_ignored_by_the_training_call():
    torch.manual_seed(0)
    model = CRNN(num_classes=7, hidden_size=8, width_mult=0.125).eval()
    images = torch.randn(2, 1, 32, 40)
    with torch.no_grad():
        assert torch.equal(model(images), model(images, torch.tensor([1, 2]), torch.tensor([1, 1])))


def _aux_crnn() -> CRNN:
    torch.manual_seed(0)
    return CRNN(num_classes=7, hidden_size=8, width_mult=0.125, aux_ctc=True)


def test_aux_ctc_adds_a_per_frame_head_and_its_classifier_keys():
    model = _aux_crnn()
    state = model.state_dict()
    assert state["aux_head.weight"].shape == (7, 64) and state["aux_head.bias"].shape == (7,)
    assert model.classifier_keys == (*CRNN.classifier_keys, "aux_head.weight", "aux_head.bias")
    assert "aux_head.weight" not in CRNN(num_classes=7, hidden_size=8).state_dict()


def test_aux_ctc_changes_nothing_at_inference():
    plain = CRNN(num_classes=7, hidden_size=8, width_mult=0.125).eval()
    model = _aux_crnn().eval()
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["aux_head.weight", "aux_head.bias"] and unexpected == []
    images = torch.randn(2, 1, 32, 40)
    with torch.no_grad():
        assert torch.equal(model(images), plain(images))
    for got, expected in zip(model.predict(images), plain.predict(images), strict=True):
        assert torch.equal(got, expected)
    model.train()  # predict reads the main head in training mode too (batch statistics)
    with torch.no_grad():
        expected_ids = model(images).logits.argmax(dim=2).transpose(0, 1)
    assert torch.equal(model.predict(images)[0], expected_ids)


def test_aux_ctc_training_output_and_loss_match_a_brute_force_sum():
    model = _aux_crnn().train()
    images = torch.randn(3, 1, 32, 40)
    targets, lengths = torch.tensor([1, 2, 3, 4, 4, 5]), torch.tensor([2, 3, 1])
    outputs = model(images)
    assert isinstance(outputs, CRNNOutputs)
    features = model.cnn(images).squeeze(2).permute(2, 0, 1)  # (T, N, C)
    assert torch.allclose(outputs.aux_logits, model.aux_head(features))
    assert torch.allclose(outputs.logits, model.rnn(features))

    def nll(logits: torch.Tensor) -> torch.Tensor:  # nn.functional's CTC, mean over samples
        frames = torch.full((3,), logits.shape[0], dtype=torch.long)
        per_sample = torch.nn.functional.ctc_loss(
            logits.log_softmax(2), targets, frames, lengths, reduction="none"
        )
        return per_sample.mean()

    expected = nll(outputs.logits) + nll(outputs.aux_logits)
    total = CRNN.loss(outputs, targets, lengths)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    main_only = CRNN.loss(outputs.logits, targets, lengths)
    assert main_only.item() == pytest.approx(nll(outputs.logits).item(), rel=1e-6)
    total.backward()
    assert model.aux_head.weight.grad.abs().sum() > 0
