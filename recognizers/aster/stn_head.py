"""ASTER's localisation network: predicts the TPS source control points from a 32 x 64 image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from recognizers.aster.tps import target_control_points
from recognizers.scaling import scaled_channels

__all__ = ["STNHead"]

_CONV_CHANNELS = (32, 64, 128, 256, 256, 256)


def _conv3x3_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (with bias) + batch norm + ReLU, size preserving."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 1, 1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class STNHead(nn.Module):
    """Six conv blocks with a 2x2 max-pool between consecutive ones, then two linear layers.

    ``stn_convnet`` indices 0, 2, ..., 10 are the conv blocks (1, 3, ..., 9 the pools); a 32 x 64
    input leaves a 1 x 2 map of 256 channels, flattened to 512 features. ``stn_fc1`` is
    Linear + BatchNorm1d + ReLU; ``stn_fc2`` reads ``0.1 * features`` and outputs the control
    points with no activation. ``stn_fc2`` starts with zero weights and the target control points
    as bias, so an untrained head predicts the identity rectification.

    Args:
        in_channels: 3 (RGB) or 4 (RGB + mask).
        num_control_points: K (20 for ASTER).
        margins: the TPS target control point margins, for the initial bias.
        width_mult: scales every channel count (1.0 = public layout).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_control_points: int = 20,
        margins: Sequence[float] = (0.05, 0.05),
        *,
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_control_points = num_control_points
        channels = [scaled_channels(c, width_mult) for c in _CONV_CHANNELS]
        layers: list[nn.Module] = []
        previous = in_channels
        for i, out_channels in enumerate(channels):
            if i:
                layers.append(nn.MaxPool2d(2, 2))
            layers.append(_conv3x3_block(previous, out_channels))
            previous = out_channels
        self.stn_convnet = nn.Sequential(*layers)
        hidden = scaled_channels(512, width_mult)
        self.stn_fc1 = nn.Sequential(
            nn.Linear(2 * previous, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)
        )
        self.stn_fc2 = nn.Linear(hidden, 2 * num_control_points)
        self._init_weights(target_control_points(num_control_points, margins))

    def _init_weights(self, identity_points: Tensor) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, (2.0 / fan_out) ** 0.5)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.001)
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.stn_fc2.weight.zero_()
            self.stn_fc2.bias.copy_(identity_points.reshape(-1))

    def forward(self, images: Tensor) -> Tensor:
        """Control points of the source image.

        Args:
            images: float (N, in_channels, 32, 64).

        Returns:
            float (N, K, 2), (x, y) in (roughly) [0, 1].
        """
        features = self.stn_convnet(images).flatten(1)
        hidden = self.stn_fc1(features)
        return self.stn_fc2(0.1 * hidden).view(-1, self.num_control_points, 2)
