"""CRNN: the public state-dict layout, output geometry, the width/all-BN options, prediction."""

from __future__ import annotations

import pytest
import torch

from recognizers.crnn import CRNN
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
