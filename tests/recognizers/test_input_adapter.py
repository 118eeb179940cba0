"""The RGB + mask adapter: the rebuilt input conv, and the invariant that an adapted model computes
exactly what the original computed (to 1e-5), for both architectures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recognizers import (
    adapt_input_conv,
    add_mask_channel,
    build_recognizer,
    default_cfgs,
    input_conv_names,
    input_layers,
    mask_is_ignored,
)
from tests.recognizers.helpers import randomize_, tiny_config

LUMA = torch.tensor([0.299, 0.587, 0.114])


def gray_from_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, 1, H, W): PIL's 'L' conversion, in floating point."""
    return (rgb * LUMA.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - 0.5) / 0.5


def make_mask(kind: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    if kind == "zeros":
        return torch.zeros(shape)
    if kind == "ones":
        return torch.ones(shape)
    return torch.bernoulli(torch.full(shape, 0.5), generator=generator)


class TestAdaptInputConv:
    @pytest.fixture
    def gray_conv(self) -> nn.Conv2d:
        torch.manual_seed(0)
        return nn.Conv2d(1, 8, 3, stride=(2, 1), padding=1)

    def test_gray_weights_are_split_by_luma_and_the_mask_starts_at_zero(self, gray_conv):
        adapted = adapt_input_conv(gray_conv, source="gray")
        weight = gray_conv.weight.detach()
        assert adapted.weight.shape == (8, 4, 3, 3)
        for c in range(3):
            assert torch.equal(adapted.weight[:, c], weight[:, 0] * LUMA[c])
        assert torch.equal(adapted.weight[:, 3], torch.zeros(8, 3, 3))
        assert torch.equal(adapted.bias, gray_conv.bias)
        assert (adapted.stride, adapted.padding, adapted.kernel_size) == ((2, 1), (1, 1), (3, 3))

    def test_rgb_weights_are_copied(self):
        torch.manual_seed(1)
        conv = nn.Conv2d(3, 5, 3, padding=1, bias=False)
        adapted = adapt_input_conv(conv, source="rgb", mask_init="mean")
        assert torch.equal(adapted.weight[:, :3], conv.weight)
        assert torch.allclose(adapted.weight[:, 3], conv.weight.mean(dim=1))
        assert adapted.bias is None

    def test_random_mask_weights_are_small_and_reproducible(self, gray_conv):
        first = adapt_input_conv(
            gray_conv, source="gray", mask_init="random", generator=torch.Generator().manual_seed(3)
        )
        second = adapt_input_conv(
            gray_conv, source="gray", mask_init="random", generator=torch.Generator().manual_seed(3)
        )
        assert torch.equal(first.weight, second.weight)
        mask, image = first.weight.detach()[:, 3], first.weight.detach()[:, :3]
        assert 0 < float(mask.abs().max()) < 0.1 * float(image.abs().max())

    def test_the_original_conv_is_untouched(self, gray_conv):
        before = gray_conv.weight.detach().clone()
        adapt_input_conv(gray_conv, source="gray", mask_init="mean")
        assert torch.equal(gray_conv.weight, before) and gray_conv.in_channels == 1

    @pytest.mark.parametrize(
        ("conv", "source", "message"),
        [
            (nn.Conv2d(3, 4, 3), "gray", "gray input conv has 1 input channels"),
            (nn.Conv2d(1, 4, 3), "rgb", "rgb input conv has 3 input channels"),
            (nn.Conv2d(1, 4, 3), "cmyk", "unknown source 'cmyk'"),
        ],
    )
    def test_wrong_inputs_are_refused(self, conv, source, message):
        with pytest.raises(ValueError, match=message):
            adapt_input_conv(conv, source=source)

    def test_unknown_mask_init_is_refused(self, gray_conv):
        with pytest.raises(ValueError, match="unknown mask_init 'ones'"):
            adapt_input_conv(gray_conv, source="gray", mask_init="ones")


def test_input_layers_name_the_input_convolutions_parameters():
    assert input_conv_names("crnn") == ["cnn.conv0"]
    assert input_conv_names("aster") == ["stn_head.stn_convnet.0.0", "encoder.layer0.0"]
    for arch in ("crnn", "aster"):
        model = build_recognizer(tiny_config(arch))
        expected = [
            f"{name}.{param}"
            for name in input_conv_names(arch)
            for param, _ in model.get_submodule(name).named_parameters()
        ]
        assert input_layers(arch) == expected
        assert set(input_layers(arch)) <= dict(model.named_parameters()).keys()
    with pytest.raises(ValueError, match="unknown architecture"):
        input_layers("sar")


@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_add_mask_channel_returns_an_adapted_copy(arch):
    model = build_recognizer(tiny_config(arch))
    adapted = add_mask_channel(model)
    assert adapted.config == model.config.replace(color_mode="RGB", mask_channel=True)
    assert adapted.config.in_channels == 4
    for name in input_conv_names(arch):
        assert adapted.get_submodule(name).in_channels == 4
        assert model.get_submodule(name).in_channels == model.config.image_channels
    with pytest.raises(ValueError, match="already has a mask channel"):
        add_mask_channel(adapted)


def invariant_inputs(arch: str, seed: int, mask_kind: str, batch: int = 3):
    """Normalised (original input, adapted input) for the same RGB image in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    height, width = default_cfgs[arch].input_size
    rgb = torch.rand(batch, 3, height, width, generator=generator)
    mask = make_mask(mask_kind, (batch, 1, height, width), generator)
    original = normalize(gray_from_rgb(rgb)) if arch == "crnn" else normalize(rgb)
    return original, torch.cat([normalize(rgb), mask], dim=1)


@pytest.mark.parametrize(("seed", "mask_kind"), [(0, "zeros"), (1, "ones"), (2, "random")])
def test_adapted_crnn_computes_what_the_gray_crnn_computed(seed, mask_kind):
    torch.manual_seed(seed)
    config = tiny_config("crnn").replace(  # the demo's base CRNN, narrower
        arch_kwargs={
            "hidden_size": 16,
            "width_mult": 0.125,
            "batchnorm_everywhere": True,
            "aux_ctc": True,
        }
    )
    model = randomize_(build_recognizer(config), seed).eval()
    adapted = add_mask_channel(model).eval()
    original_input, adapted_input = invariant_inputs("crnn", seed, mask_kind)
    with torch.no_grad():
        expected, got = model(original_input), adapted(adapted_input)
        # The model notices a luma coefficient off by 0.001: the tolerance below is meaningful.
        rgb = adapted_input[:, :3] * 0.5 + 0.5
        off_luma = torch.tensor([0.3, 0.587, 0.113]).view(1, 3, 1, 1)
        shifted = model(normalize((rgb * off_luma).sum(dim=1, keepdim=True)))
    assert float((shifted - expected).abs().max()) > 1e-4
    assert got.shape == expected.shape == (26, 3, 37)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert torch.equal(adapted.predict(adapted_input)[0], model.predict(original_input)[0])


@pytest.mark.parametrize(("seed", "mask_kind"), [(0, "zeros"), (1, "ones"), (2, "random")])
def test_adapted_aster_computes_what_the_rgb_aster_computed(seed, mask_kind):
    torch.manual_seed(seed)
    model = randomize_(build_recognizer(tiny_config("aster")), seed).eval()
    adapted = add_mask_channel(model).eval()
    original_input, adapted_input = invariant_inputs("aster", seed, mask_kind)
    targets = torch.tensor([[1, 2, 3, 94], [4, 94, 95, 95], [5, 6, 94, 95]])
    lengths = torch.tensor([4, 2, 3])
    with torch.no_grad():
        points, adapted_points = model.rectify(original_input)[1], adapted.rectify(adapted_input)[1]
        expected = model(original_input, targets, lengths)
        got = adapted(adapted_input, targets, lengths)
        swapped = model(original_input[:, [2, 1, 0]], targets, lengths)
    # The model tells R from B, and its STN reacts to the image; the adapted one exactly alike.
    assert float((swapped - expected).abs().max()) > 1e-3
    assert float((points - model.tps.target_control_points).abs().max()) > 0.01
    assert torch.allclose(adapted_points, points, atol=1e-5, rtol=0)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    for beam_width in (1, 5):
        expected_ids, expected_probs = model.predict(original_input, beam_width=beam_width)
        got_ids, got_probs = adapted.predict(adapted_input, beam_width=beam_width)
        assert torch.equal(got_ids, expected_ids)
        assert torch.allclose(got_probs, expected_probs, atol=1e-5, rtol=0)


def test_aster_rectifies_the_mask_with_the_image():
    torch.manual_seed(2)
    model = randomize_(build_recognizer(tiny_config("aster")), 2).eval()
    adapted = add_mask_channel(model).eval()
    original_input, adapted_input = invariant_inputs("aster", 2, "random")
    with torch.no_grad():
        rectified, points = adapted.rectify(adapted_input)
        original_rectified, _ = model.rectify(original_input)
    assert rectified.shape == (3, 4, 32, 100)
    assert torch.allclose(rectified[:, :3], original_rectified, atol=1e-5, rtol=0)
    assert torch.equal(rectified[:, 3:], adapted.tps(adapted_input[:, 3:], points))


@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_invariant_at_public_size(arch):
    """Once at the public widths, batch 1 (random weights, random batch-norm statistics)."""
    torch.manual_seed(5)
    model = randomize_(build_recognizer(default_cfgs[arch]), 5).eval()
    adapted = add_mask_channel(model).eval()
    original_input, adapted_input = invariant_inputs(arch, 5, "random", batch=1)
    with torch.no_grad():
        if arch == "crnn":
            expected, got = model(original_input), adapted(adapted_input)
        else:
            targets, lengths = torch.tensor([[10, 11, 94]]), torch.tensor([3])
            expected = model(original_input, targets, lengths)
            got = adapted(adapted_input, targets, lengths)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["crnn", "aster"])
def test_mask_is_ignored_exactly_while_every_mask_weight_is_zero(arch: str) -> None:
    model = build_recognizer(tiny_config(arch))
    with pytest.raises(ValueError, match="no mask channel"):
        mask_is_ignored(model)
    assert mask_is_ignored(add_mask_channel(model, mask_init="zero"))
    assert not mask_is_ignored(add_mask_channel(model, mask_init="mean"))
    for name in input_conv_names(arch):  # one weight of one input conv is enough
        adapted = add_mask_channel(model, mask_init="zero")
        with torch.no_grad():
            adapted.get_submodule(name).weight[0, -1, 0, 0] = 1e-6
        assert not mask_is_ignored(adapted)
