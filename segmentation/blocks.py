"""Building blocks shared by the segmentation networks: conv-BN-ReLU, the VGG-16-BN encoder, the
upsampling decoder block, and BatchNorm folding for inference.

All blocks work in either memory format; a model converted with
``model.to(memory_format=torch.channels_last)`` keeps that format through every block.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# The VGG-16 encoder of the paper's Table I(a): five stages of 3x3 convolutions, a 2x2 max-pool
# between consecutive stages (4 pools, output stride 16).
VGG16_STAGES: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256),
    (512, 512),
    (512, 512),
)


def scale_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded to the nearest integer, at least 1 (the width multiplier)."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, round(channels * width))


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (stride 1, padding 1, no bias), BatchNorm, ReLU.

    (N, C_in, H, W) -> (N, C_out, H, W).

    Children are named ``conv``, ``bn``, ``relu``; :func:`fuse_batchnorm_` replaces ``bn`` by an
    identity after folding it into ``conv``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                bn=nn.BatchNorm2d(out_channels),
                relu=nn.ReLU(inplace=True),
            )
        )
        self.out_channels = out_channels


class VGGEncoder(nn.Module):
    """VGG-style encoder: stages of :class:`ConvBNReLU` with a 2x2 max-pool before every stage but
    the first.

    With the default :data:`VGG16_STAGES` and ``width=1`` this is the paper's encoder E
    (Table I(a)): a (N, 3, 512, 512) image gives a (N, 512, 32, 32) map. Input sides must be
    multiples of ``2 ** (len(stages) - 1)`` (16 for VGG-16).

    Args:
        in_channels: channels of the input (3 for RGB, 1 for a guidance map).
        width: multiplier applied to every stage's channels.
        stages: output channels of the convolutions of each stage (before the width multiplier).
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: float = 1.0,
        stages: Sequence[Sequence[int]] = VGG16_STAGES,
    ) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        channels = in_channels
        for index, stage_channels in enumerate(stages):
            layers: list[nn.Module] = [nn.MaxPool2d(2, 2)] if index > 0 else []
            for out_channels in stage_channels:
                layers.append(ConvBNReLU(channels, scale_channels(out_channels, width)))
                channels = layers[-1].out_channels
            self.stages.append(nn.Sequential(*layers))
        self.stage_channels: tuple[int, ...] = tuple(
            scale_channels(stage[-1], width) for stage in stages
        )
        self.out_channels = channels

    @property
    def stride(self) -> int:
        """Ratio of the input side to the output side (16 for VGG-16)."""
        return 2 ** (len(self.stages) - 1)

    def forward(self, image: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, out_channels, H / stride, W / stride)."""
        for stage in self.stages:
            image = stage(image)
        return image

    def forward_stages(self, image: Tensor) -> list[Tensor]:
        """Every stage's output, finest first: stage k has ``stage_channels[k]`` channels at
        resolution (H / 2**k, W / 2**k)."""
        outputs = []
        for stage in self.stages:
            image = stage(image)
            outputs.append(image)
        return outputs


class UpBlock(nn.Module):
    """Bilinear x2 upsampling followed by two :class:`ConvBNReLU` (one row group of Table I(b)).

    ``forward(x, skip=None)``: (N, C_in, H, W) [+ skip (N, C_skip, 2H, 2W), concatenated after the
    upsampling] -> (N, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int = 0) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            ConvBNReLU(in_channels + skip_channels, out_channels),
            ConvBNReLU(out_channels, out_channels),
        )
        self.out_channels = out_channels

    def forward(self, features: Tensor, skip: Tensor | None = None) -> Tensor:
        features = F.interpolate(features, scale_factor=2.0, mode="bilinear", align_corners=False)
        if skip is not None:
            features = torch.cat((features, skip), dim=1)
        return self.convs(features)


def fuse_batchnorm_(module: nn.Module) -> nn.Module:
    """Fold each :class:`ConvBNReLU`'s BatchNorm into its convolution, in place; returns ``module``.

    The folded convolution computes ``bn(conv(x))`` with BatchNorm's running statistics, i.e. the
    eval-mode function is unchanged (up to float rounding) and one pass over memory per layer is
    saved. For inference only: the module must be in eval mode, and its state dict loses the ``bn``
    keys (save checkpoints before fusing).
    """
    if module.training:
        raise RuntimeError("fuse_batchnorm_ needs a module in eval mode (call .eval() first)")
    for block in module.modules():
        if isinstance(block, ConvBNReLU) and isinstance(block.bn, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)  # keeps the memory format
            block.bn = nn.Identity()
    return module


def init_weights_(module: nn.Module) -> None:
    """torchvision's VGG initialisation, in place: Kaiming-normal (fan-out, ReLU) convolutions with
    zero bias, BatchNorm at identity (weight 1, bias 0)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def check_image_batch(image: Tensor, in_channels: int, stride: int) -> None:
    """Raise ``ValueError`` unless ``image`` is (N, in_channels, H, W) with H, W multiples of
    ``stride``."""
    if image.dim() != 4 or image.shape[1] != in_channels:
        raise ValueError(
            f"expected an image batch of shape (N, {in_channels}, H, W), got {tuple(image.shape)}"
        )
    height, width = image.shape[-2:]
    if height % stride or width % stride:
        raise ValueError(
            f"image sides must be multiples of {stride}, got {height}x{width} (pad or resize first)"
        )
