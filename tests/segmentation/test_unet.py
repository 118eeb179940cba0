"""UNet baseline: MGNet's encoder, D_T's channels with skip connections, pixel branch only."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segmentation.blocks import VGGEncoder
from segmentation.losses import crf_loss, semi_supervised_loss, soft_iou_loss
from segmentation.unet import UNet


def test_layout_and_parameter_count():
    with torch.device("meta"):
        net = UNet()
        assert str(net.encoder) == str(VGGEncoder(3))
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]  # the encoder E of Table I(a)
    decoder_in = [block.convs[0].conv.in_channels for block in net.decoder]
    assert decoder_in == [512 + 512, 256 + 256, 128 + 128, 64 + 64]  # upsampled ++ skip
    assert [block.out_channels for block in net.decoder] == [256, 128, 64, 64]
    assert convs[-1].out_channels == 1
    pairs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)]
    pairs += [(512, 512)] * 3
    pairs += [(1024, 256), (256, 256), (512, 128), (128, 128), (256, 64), (64, 64), (128, 64)]
    pairs += [(64, 64)]
    expected = sum(9 * cin * cout + 2 * cout for cin, cout in pairs) + 64 + 1
    assert sum(p.numel() for p in net.parameters()) == expected


def test_forward_matches_manual_composition_and_output_is_pixel_only():
    torch.manual_seed(0)
    net = UNet(width=1 / 16).eval()
    image = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        out = net(image)
        stages = net.encoder.forward_stages(image)
        x = stages[-1]
        for block, skip in zip(net.decoder, stages[-2::-1], strict=True):
            up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block.convs(torch.cat((up, skip), dim=1))
        expected = net.head(x)
    torch.testing.assert_close(out.text_logits, expected)
    assert out.text_logits.shape == (2, 1, 32, 48)
    assert out.region_logits is None and out.text_guided_logits is None
    assert out.final_region is None
    torch.testing.assert_close(out.final_text, torch.sigmoid(expected))


def test_fused_channels_last_matches_and_bad_sizes_rejected():
    torch.manual_seed(0)
    net = UNet(width=1 / 16)
    net(torch.rand(4, 3, 32, 32))  # one train step's statistics update
    net.eval()
    image = torch.rand(1, 3, 48, 32)
    with torch.no_grad():
        expected = net(image).text_logits
        fused = copy.deepcopy(net).fuse_bn_for_inference().to(memory_format=torch.channels_last)
        got = fused(image.contiguous(memory_format=torch.channels_last)).text_logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.rand(1, 3, 40, 32))
    with pytest.raises(ValueError, match="needs 4 entries"):
        UNet(decoder_channels=(64, 64))


def test_training_loss_uses_only_the_pixel_branch():
    torch.manual_seed(0)
    net = UNet(width=1 / 16)
    image = torch.rand(2, 3, 32, 32)
    masks = (torch.rand(2, 1, 32, 32) > 0.5).float()
    batch = {
        "image": image,
        "pixel_mask": masks,
        "region_mask": masks,
        "has_pixel": torch.tensor([True, False]),
        "has_region": torch.tensor([False, True]),
    }
    out = net(image)
    total, parts = semi_supervised_loss(out, batch)
    assert parts["subset"] == 0  # no polygon-level output to pair with
    # IoU on sample 0 (pixel mask), CRF on sample 1 (no pixel mask); mean over the batch of 2.
    torch.testing.assert_close(parts["iou"], soft_iou_loss(out.text[:1], masks[:1])[0] / 2)
    torch.testing.assert_close(parts["crf"], crf_loss(out.text[1:], image[1:])[0, 0] / 2)
    torch.testing.assert_close(total, parts["iou"] + 0.1 * parts["crf"])
    total.backward()
    assert all(p.grad is not None for p in net.parameters())
