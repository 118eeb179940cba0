"""MutuallyGuidedNet: Table I shapes, the two phases' wiring, and the zero-guidance shortcut, for
the paper's network and its skip-connected variant (``skips=True``)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from segmentation.blocks import ConvBNReLU, UpBlock, VGGEncoder, fuse_batchnorm_
from segmentation.mgnet import MutuallyGuidedNet
from segmentation.outputs import SegmentationOutput

TINY = 1 / 16
SKIPS = pytest.mark.parametrize("skips", [False, True], ids=["mgnet", "mgnet-skip"])


def conv_channels(module: nn.Module) -> list[int]:
    return [m.out_channels for m in module.modules() if isinstance(m, nn.Conv2d)]


def tiny_net(seed: int = 0, skips: bool = False) -> MutuallyGuidedNet:
    torch.manual_seed(seed)
    net = MutuallyGuidedNet(width=TINY, skips=skips)
    # Non-trivial BatchNorm statistics and affine parameters, so that eval mode is not identity.
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return net


def reference_forward(net: MutuallyGuidedNet, image: torch.Tensor) -> list[torch.Tensor]:
    """Eqs. of section III-A composed from the submodules, zero guidance computed per image; with
    skips, every upsampling block also reads E's stage output of its resolution."""
    stages = net.encoder.forward_stages(image)
    features = stages[-1]
    skips = stages[-2::-1] if net.skips else [None] * 4

    def decode(decoder: nn.Module, guidance: torch.Tensor) -> torch.Tensor:
        x = torch.cat((features, guidance), dim=1)
        for block, skip in zip(decoder.blocks, skips, strict=True):
            x = block(x, skip)
        return decoder.head(x)

    zeros = image.new_zeros(image.shape[0], 1, *image.shape[-2:])
    o_t = decode(net.text_decoder, net.text_guidance(zeros))
    o_p = decode(net.region_decoder, net.region_guidance(zeros))
    o_t2 = decode(net.text_decoder, net.text_guidance(torch.sigmoid(o_p)))
    o_p2 = decode(net.region_decoder, net.region_guidance(torch.sigmoid(o_t)))
    return [o_t, o_p, o_t2, o_p2]


def test_encoder_follows_table_1a_and_gives_32x32x512_at_512():
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        encoder = VGGEncoder(3)
    assert conv_channels(encoder) == [64, 64, 128, 128, 256, 256, 512, 512, 512, 512]
    assert sum(isinstance(m, nn.MaxPool2d) for m in encoder.modules()) == 4
    assert all(m.kernel_size == (3, 3) for m in encoder.modules() if isinstance(m, nn.Conv2d))
    assert encoder(torch.empty(1, 3, 512, 512, device="meta")).shape == (1, 512, 32, 32)


def test_decoders_follow_table_1b_and_parameter_count_matches():
    with torch.device("meta"):
        net = MutuallyGuidedNet()
    for decoder in (net.text_decoder, net.region_decoder):
        assert sum(isinstance(m, UpBlock) for m in decoder.modules()) == 4
        assert conv_channels(decoder) == [256, 256, 128, 128, 64, 64, 64, 64, 1]
        assert decoder.blocks[0].convs[0].conv.in_channels == 512 + 512  # E_I ++ guidance features
    assert net.text_guidance.stage_channels == net.encoder.stage_channels
    assert net.text_guidance.stages[0][0].conv.in_channels == 1

    def convs(pairs):  # 3x3 conv without bias + BatchNorm (weight, bias)
        return sum(9 * cin * cout + 2 * cout for cin, cout in pairs)

    encoder = [(64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)]
    encoder += [(512, 512)] * 3
    decoder = [(1024, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 64)]
    decoder += [(64, 64)]
    expected = convs([(3, 64), *encoder]) + 2 * convs([(1, 64), *encoder])
    expected += 2 * (convs(decoder) + 64 + 1)  # + the 1x1 heads with bias
    assert sum(p.numel() for p in net.parameters()) == expected


def test_skip_variant_adds_only_the_encoder_stages_to_each_decoder_block():
    with torch.device("meta"):
        plain, skip = MutuallyGuidedNet(), MutuallyGuidedNet(skips=True)
    assert not plain.skips and skip.skips
    for decoder in (skip.text_decoder, skip.region_decoder):
        inputs = [block.convs[0].conv.in_channels for block in decoder.blocks]
        assert inputs == [1024 + 512, 256 + 256, 128 + 128, 64 + 64]  # E's stages 1/8 .. 1
        assert conv_channels(decoder) == conv_channels(plain.text_decoder)
    extra = 2 * 9 * (512 * 256 + 256 * 128 + 128 * 64 + 64 * 64)  # the wider first convs
    count = sum(p.numel() for p in skip.parameters()) - sum(p.numel() for p in plain.parameters())
    assert count == extra


@SKIPS
@pytest.mark.parametrize("size", [(16, 16), (48, 80), (32, 128)])
def test_any_multiple_of_16_and_both_phases_shapes(skips, size):
    net = tiny_net(skips=skips).eval()
    image = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = net(image)
        first = net(image, phases=1)
    assert isinstance(out, SegmentationOutput)
    for logits in out:
        assert logits.shape == (2, 1, *size)
    for probs in (out.text, out.region, out.text_guided, out.region_guided):
        assert probs.dtype == torch.float32
        assert probs.min() >= 0.0 and probs.max() <= 1.0
    assert first.text_guided_logits is None and first.region_guided_logits is None
    torch.testing.assert_close(first.text_logits, out.text_logits)
    torch.testing.assert_close(out.final_text, out.text_guided)
    torch.testing.assert_close(first.final_text, first.text)


@pytest.mark.parametrize("bad", [(1, 3, 40, 48), (1, 1, 32, 32), (3, 32, 32)])
def test_rejects_bad_input(bad):
    with pytest.raises(ValueError, match=r"multiples of 16|shape \(N, 3, H, W\)"):
        tiny_net()(torch.rand(*bad))
    with pytest.raises(ValueError, match="phases must be 1 or 2"):
        tiny_net()(torch.rand(1, 3, 32, 32), phases=3)


@SKIPS
def test_eval_forward_equals_reference_and_zero_guidance_is_cached(skips):
    net = tiny_net(skips=skips).eval()
    image = torch.rand(3, 3, 32, 48)
    calls = {"count": 0}

    def count(module, args):
        if not args[0].any():
            calls["count"] += 1

    net.text_guidance.register_forward_pre_hook(count)
    with torch.no_grad():
        expected = reference_forward(net, image)
        calls["count"] = 0
        first = net(image)
        second = net(image[:1])
    for got, want in zip(first, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    for got, want in zip(second, expected, strict=True):
        torch.testing.assert_close(got, want[:1], rtol=1e-5, atol=1e-5)
    assert calls["count"] == 1  # once for both calls (and one map, not one per image)
    assert not copy.deepcopy(net).text_guidance._zero_cache  # copies start with an empty cache

    # An update of the weights invalidates the cache: still equal to the reference.
    with torch.no_grad():
        net.text_guidance.stages[1][1].bn.bias.add_(0.3)
        expected = reference_forward(net, image)
        updated = net(image)
    assert calls["count"] == 3  # the reference's pass and one recomputation
    for got, want in zip(updated, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def batchnorms(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


@SKIPS
def test_train_mode_zero_guidance_matches_per_image_outputs_and_gradients(skips):
    # float64: the single broadcast zero map and N zero maps are mathematically equal; in float32
    # only the summation order of BatchNorm's statistics differs (~1e-6).
    net = tiny_net(skips=skips).double().train()
    reference = copy.deepcopy(net)
    image = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    out = net(image)
    expected = reference_forward(reference, image)
    for got, want in zip(out, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8)
    weights = torch.rand(4, 4, 1, 32, 32, dtype=torch.float64)
    sum((w * o).sum() for w, o in zip(weights, out, strict=True)).backward()
    sum((w * o).sum() for w, o in zip(weights, expected, strict=True)).backward()
    for (name, got), want in zip(net.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-7, atol=1e-8, msg=name)
    for got, want in zip(batchnorms(net), batchnorms(reference), strict=True):
        torch.testing.assert_close(got.running_mean, want.running_mean, rtol=1e-10, atol=1e-12)


def test_train_mode_running_variance_differs_only_by_bessel_factor():
    net = tiny_net().double().train()
    reference = copy.deepcopy(net)
    initial = [m.running_var.clone() for m in batchnorms(net.text_guidance)]
    sizes: list[int] = []
    for module in batchnorms(net.text_guidance):
        module.register_forward_pre_hook(lambda m, args: sizes.append(args[0][0, 0].numel()))
    image = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    net(image, phases=1)
    reference.text_guidance(torch.zeros(4, 1, 32, 32, dtype=torch.float64))  # per image
    pairs = zip(batchnorms(net.text_guidance), batchnorms(reference.text_guidance), strict=True)
    for (got, want), before, n in zip(pairs, initial, sizes, strict=True):
        momentum = got.momentum
        # Both stored (1 - m) var_0 + m * biased_var * count / (count - 1), count = N h w or h w.
        got_biased = (got.running_var - (1 - momentum) * before) * (n - 1) / n
        want_biased = (want.running_var - (1 - momentum) * before) * (4 * n - 1) / (4 * n)
        torch.testing.assert_close(got_biased, want_biased, rtol=1e-9, atol=1e-12)


@SKIPS
def test_eval_with_autograd_recomputes_so_gradients_reach_guidance_encoders(skips):
    net = tiny_net(skips=skips).eval()
    net(torch.rand(1, 3, 32, 32), phases=1).text_logits.sum().backward()
    grad = net.text_guidance.stages[-1][-1].bn.bias.grad
    assert grad is not None and grad.abs().sum() > 0


@SKIPS
def test_fused_channels_last_inference_matches(skips):
    net = tiny_net(skips=skips).eval()
    image = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        expected = net(image)
        fused = copy.deepcopy(net).fuse_bn_for_inference().to(memory_format=torch.channels_last)
        got = fused(image.contiguous(memory_format=torch.channels_last))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, ConvBNReLU) for m in fused.modules()) == 10 * 3 + 8 * 2
    for got_logits, want in zip(got, expected, strict=True):
        torch.testing.assert_close(got_logits, want, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="eval mode"):
        fuse_batchnorm_(tiny_net().train())


def test_width_multiplier_scales_channels():
    assert conv_channels(VGGEncoder(3, width=TINY)) == [4, 4, 8, 8, 16, 16, 32, 32, 32, 32]
    with pytest.raises(ValueError, match="width must be positive"):
        VGGEncoder(3, width=0)
