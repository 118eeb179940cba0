"""Checkpoints: reading public and our files (weights only), strict loading and its errors,
head swaps and alphabet remapping."""

from __future__ import annotations

import collections
import re

import pytest
import torch

from recognizers import (
    ASTER,
    CRNN,
    AttentionCodec,
    CheckpointError,
    CTCCodec,
    build_recognizer,
    checkpoint_payload,
    default_cfgs,
    load_recognizer,
    load_state_dict_strict,
    read_checkpoint,
    remap_alphabet,
)
from tests.recognizers.helpers import randomize_, tiny_config


def assert_same_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = model.state_dict()
    for key, value in state.items():
        assert torch.equal(own[key], value), key


@pytest.fixture(scope="module")
def public_crnn_state() -> dict[str, torch.Tensor]:
    """A public-layout CRNN's weights, random, with random batch-norm statistics."""
    torch.manual_seed(0)
    return randomize_(build_recognizer(default_cfgs["crnn"])).state_dict()


@pytest.mark.parametrize("with_tracked", [True, False])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_public_crnn_state_dict_loads_strictly(tmp_path, public_crnn_state, with_tracked, prefix):
    saved = collections.OrderedDict(
        (prefix + k, v)
        for k, v in public_crnn_state.items()
        if with_tracked or not k.endswith("num_batches_tracked")
    )
    path = tmp_path / "crnn.pth"
    torch.save(saved, path)
    checkpoint = read_checkpoint(path)
    assert checkpoint.config is None and checkpoint.path == path
    assert all(not k.startswith("module.") for k in checkpoint.state_dict)
    model = CRNN()
    report = load_state_dict_strict(model, checkpoint.state_dict, source=str(path))
    assert report == ([], [], [])
    assert_same_state(
        model, {k: v for k, v in public_crnn_state.items() if k in checkpoint.state_dict}
    )


def test_public_aster_checkpoint_loads_strictly(tmp_path):
    torch.manual_seed(0)
    state = randomize_(build_recognizer(default_cfgs["aster"])).state_dict()
    path = tmp_path / "demo.pth.tar"
    torch.save({"state_dict": state, "epoch": 6, "best_res": 0.93}, path)
    model = load_recognizer(path, arch="aster")
    assert model.config == default_cfgs["aster"]
    assert_same_state(model, state)


@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_our_checkpoint_restores_config_and_weights(tmp_path, arch):
    config = tiny_config(arch, color_mode="RGB", mask_channel=True)
    torch.manual_seed(1)
    model = randomize_(build_recognizer(config))
    path = tmp_path / "model.pt"
    torch.save({**checkpoint_payload(model), "step": 10}, path)
    loaded = load_recognizer(path)
    assert loaded.config == config
    assert_same_state(loaded, model.state_dict())
    with pytest.raises(CheckpointError, match=f"holds a {arch} model, not sar"):
        load_recognizer(path, arch="sar")


def test_mismatch_error_lists_missing_unexpected_and_misshaped_keys(public_crnn_state):
    state = dict(public_crnn_state)
    del state["cnn.conv3.bias"]
    state["cnn.conv9.weight"] = torch.zeros(1)
    state["rnn.1.embedding.weight"] = torch.zeros(40, 512)
    del state["cnn.batchnorm2.num_batches_tracked"]  # tolerated
    with pytest.raises(CheckpointError) as caught:
        load_state_dict_strict(CRNN(), state, source="crnn.pth")
    message = str(caught.value)
    assert message == (
        "crnn.pth does not fit CRNN: missing keys: cnn.conv3.bias; "
        "unexpected keys: cnn.conv9.weight; "
        "mis-shaped keys: rnn.1.embedding.weight (checkpoint (40, 512), model (37, 512))"
    )


def test_long_key_lists_are_cut(public_crnn_state):
    state = {k: v for k, v in public_crnn_state.items() if not k.startswith("rnn.")}
    with pytest.raises(CheckpointError, match=re.escape("rnn.0.embedding.bias (+10 more)")):
        load_state_dict_strict(CRNN(), state)


def test_non_strict_loading_reports_and_keeps_the_rest(public_crnn_state):
    state = dict(public_crnn_state)
    state["rnn.1.embedding.weight"] = torch.zeros(40, 512)
    del state["cnn.conv0.bias"]
    model = CRNN()
    fresh_bias = model.cnn.conv0.bias.detach().clone()
    report = load_state_dict_strict(model, state, strict=False)
    assert report.missing == ["cnn.conv0.bias"]
    assert report.mismatched == [("rnn.1.embedding.weight", (40, 512), (37, 512))]
    assert torch.equal(model.cnn.conv0.bias, fresh_bias)
    assert torch.equal(model.cnn.conv0.weight, public_crnn_state["cnn.conv0.weight"])


def test_ignore_keys_swaps_the_head(public_crnn_state):
    state = dict(public_crnn_state)
    state["rnn.1.embedding.weight"] = torch.zeros(40, 512)
    state["rnn.1.embedding.bias"] = torch.zeros(40)
    model = CRNN()
    head = model.rnn[1].embedding.weight.detach().clone()
    load_state_dict_strict(model, state, ignore_keys=CRNN.classifier_keys)
    assert torch.equal(model.rnn[1].embedding.weight, head)
    assert torch.equal(model.cnn.conv6.weight, public_crnn_state["cnn.conv6.weight"])


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=re.escape("missing.pth: no such checkpoint file")):
        read_checkpoint(tmp_path / "missing.pth")
    for content in ("not a checkpoint", "hello\n"):  # foreign files fail in different ways
        text = tmp_path / "notes.txt"
        text.write_text(content)
        with pytest.raises(CheckpointError, match=re.escape("notes.txt: not a PyTorch checkpoint")):
            read_checkpoint(text)
    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with pytest.raises(CheckpointError, match=re.escape("empty.pth: holds no state dict")):
        read_checkpoint(empty)
    mixed = tmp_path / "mixed.pth"
    torch.save({"weight": torch.zeros(1), "epoch": 3}, mixed)
    with pytest.raises(
        CheckpointError,
        match=re.escape("mixed.pth: holds no state dict (non-tensor entries: epoch)"),
    ):
        read_checkpoint(mixed)


class Payload:
    """An object that plain pickle would rebuild by running code."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoints_that_would_run_code_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, path)
    refusal = re.escape("evil.pth: refused by weights-only loading, it would run code (")
    with pytest.raises(CheckpointError, match=refusal + "Unsupported global") as caught:
        read_checkpoint(path)
    assert "\n" not in str(caught.value)
    assert "code ran" not in capsys.readouterr().out


def test_bad_stored_config_and_missing_arch(tmp_path, public_crnn_state):
    bad = tmp_path / "bad.pt"
    torch.save({"config": {"arch": "crnn"}, "state_dict": public_crnn_state}, bad)
    with pytest.raises(CheckpointError, match=re.escape("bad.pt: bad stored config: incomplete")):
        read_checkpoint(bad)
    public = tmp_path / "crnn.pth"
    torch.save(public_crnn_state, public)
    with pytest.raises(
        CheckpointError, match=re.escape("crnn.pth: stores no config; name its architecture")
    ):
        load_recognizer(public)


def test_remap_alphabet_copies_shared_ctc_rows():
    torch.manual_seed(0)
    old, new = (
        CRNN(num_classes=4, hidden_size=8, width_mult=0.125),
        CRNN(num_classes=5, hidden_size=8, width_mult=0.125),
    )
    old_codec, new_codec = CTCCodec("abc"), CTCCodec("bcde")
    state = remap_alphabet(
        old.state_dict(), CRNN.classifier_keys, old_codec, new_codec, new.state_dict()
    )
    for key in CRNN.classifier_keys:
        before, fresh, after = old.state_dict()[key], new.state_dict()[key], state[key]
        assert torch.equal(after[0], before[0])  # blank
        assert torch.equal(after[1], before[2]) and torch.equal(after[2], before[3])  # b, c
        assert torch.equal(after[3:], fresh[3:])  # d, e: fresh
    assert torch.equal(state["cnn.conv0.weight"], old.state_dict()["cnn.conv0.weight"])
    load_state_dict_strict(new, state)


def test_remap_alphabet_keeps_attention_specials_and_the_start_row():
    torch.manual_seed(0)
    old_model = build_recognizer(tiny_config("aster", alphabet="ab"))
    new_model = build_recognizer(tiny_config("aster", alphabet="bz"))
    state = remap_alphabet(
        old_model.state_dict(),
        ASTER.classifier_keys,
        AttentionCodec("ab"),
        AttentionCodec("bz"),
        new_model.state_dict(),
    )
    old, fresh = old_model.state_dict(), new_model.state_dict()
    embedding = "decoder.decoder.tgt_embedding.weight"  # rows a b EOS PADDING UNKNOWN start
    assert torch.equal(state[embedding][0], old[embedding][1])  # b
    assert torch.equal(state[embedding][1], fresh[embedding][1])  # z: fresh
    assert torch.equal(state[embedding][2:], old[embedding][2:])  # specials and start
    fc = "decoder.decoder.fc.weight"
    assert torch.equal(state[fc][2:], old[fc][2:]) and torch.equal(state[fc][1], fresh[fc][1])
    load_state_dict_strict(new_model, state)
