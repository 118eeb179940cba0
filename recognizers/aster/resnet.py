"""ASTER's encoder: a 45-layer residual network over the rectified 32 x 100 image, then a BiLSTM.

Stages (blocks, channels, stride): layer0 = 3x3 conv (no bias) + BN + ReLU to 32 channels;
layer1 (3, 32, 2x2), layer2 (4, 64, 2x2), layer3 (6, 128, 2x1), layer4 (6, 256, 2x1),
layer5 (3, 512, 2x1). A 32 x 100 input leaves a 1 x 25 map, read left to right as 25 feature
vectors; with ``with_lstm`` a 2-layer bidirectional LSTM (hidden 256) re-encodes them to 512-d.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from recognizers.scaling import scaled_channels

__all__ = ["AsterBlock", "ResNetAster"]

# (channels, blocks, stride) of layer1..layer5 at width 1.
_STAGES = ((32, 3, (2, 2)), (64, 4, (2, 2)), (128, 6, (2, 1)), (256, 6, (2, 1)), (512, 3, (2, 1)))


class AsterBlock(nn.Module):
    """Residual block: 1x1 conv (carrying the stride) + BN + ReLU, 3x3 conv + BN, add, ReLU."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: Sequence[int] = (1, 1),
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 1, tuple(stride), bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class ResNetAster(nn.Module):
    """(N, in_channels, 32, W) -> features (N, W / 4, out_channels).

    Args:
        in_channels: 3 (RGB) or 4 (RGB + mask).
        with_lstm: append the 2-layer bidirectional LSTM (``rnn``).
        width_mult: scales every channel count and the LSTM (1.0 = public layout).
    """

    def __init__(self, in_channels: int = 3, *, with_lstm: bool = True, width_mult: float = 1.0):
        super().__init__()
        stem = scaled_channels(32, width_mult)
        self.layer0 = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        previous = stem
        for index, (channels, blocks, stride) in enumerate(_STAGES, start=1):
            channels = scaled_channels(channels, width_mult)
            downsample = nn.Sequential(
                nn.Conv2d(previous, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )
            stage = [AsterBlock(previous, channels, stride, downsample)]
            stage += [AsterBlock(channels, channels) for _ in range(blocks - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*stage))
            previous = channels

        self.rnn: nn.LSTM | None = None
        if with_lstm:
            hidden = scaled_channels(256, width_mult)
            self.rnn = nn.LSTM(previous, hidden, num_layers=2, bidirectional=True, batch_first=True)
            previous = 2 * hidden
        self.out_channels = previous

        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> Tensor:
        """Encode.

        Args:
            images: float (N, in_channels, 32, W), the rectified image.

        Returns:
            float (N, T, out_channels), T = W / 4 (25 for W = 100).
        """
        x = self.layer0(images)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = stage(x)
        if x.shape[2] != 1:
            raise ValueError(f"ASTER's encoder expects height 32, got {tuple(images.shape)}")
        features = x.squeeze(2).transpose(1, 2)
        if self.rnn is not None:
            features, _ = self.rnn(features)
        return features
