"""Thin-plate-spline (TPS) rectification, as ASTER's public weights were trained with it.

Points live in [0, 1]^2 as (x, y), x to the right, y down. The output image has fixed target
control points: ``num_control_points // 2`` evenly spaced along the top edge and as many along the
bottom edge, ``margins`` = (mx, my) inside the border. Given where those points sit in the input
image (the STN's prediction), the TPS through them maps every output pixel to a sampling position
in the input, and ``grid_sample`` (bilinear, zero padding, PyTorch's default
``align_corners=False``) reads the input there. Every channel is sampled alike, so a text mask
stacked onto the image is rectified exactly as the image.

TPS model, for an output point p with control points c_k:
``f(p) = sum_k w_k U(|p - c_k|) + a_0 + a_x x + a_y y`` with ``U(r) = r^2 log r``; the weights
solve the (K + 3) x (K + 3) system ``[[U(c_i - c_k), 1, c_i], [1^T, 0, 0], [c^T, 0, 0]]``
against the source points padded with three zero rows. The inverse of that system and the basis
of every output pixel are fixed buffers (``inverse_kernel``, ``target_coordinate_repr``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TPSSpatialTransformer", "target_control_points", "tps_radial_basis"]


def target_control_points(num_control_points: int, margins: Sequence[float]) -> Tensor:
    """The fixed control points of the output: top row left to right, then bottom row.

    Returns:
        float (num_control_points, 2) as (x, y) in [0, 1].
    """
    if num_control_points < 4 or num_control_points % 2:
        raise ValueError(f"need an even number >= 4 of control points, got {num_control_points}")
    margin_x, margin_y = margins
    per_side = num_control_points // 2
    xs = torch.linspace(margin_x, 1.0 - margin_x, per_side, dtype=torch.float64)
    top = torch.stack([xs, torch.full_like(xs, margin_y)], dim=1)
    bottom = torch.stack([xs, torch.full_like(xs, 1.0 - margin_y)], dim=1)
    return torch.cat([top, bottom]).float()


def tps_radial_basis(points: Tensor, control_points: Tensor) -> Tensor:
    """``U(r) = r^2 log r`` between every point and every control point (0 where r = 0).

    Args:
        points: (P, 2); control_points: (K, 2).

    Returns:
        (P, K), computed as ``0.5 * r^2 * log(r^2)``.
    """
    squared = (points[:, None, :] - control_points[None, :, :]).pow(2).sum(dim=2)
    return torch.where(squared > 0, 0.5 * squared * squared.clamp_min(1e-30).log(), 0.0)


def _affine_basis(points: Tensor) -> Tensor:
    """(P, 3): the constant and linear terms ``[1, x, y]``."""
    return torch.cat([torch.ones_like(points[:, :1]), points], dim=1)


class TPSSpatialTransformer(nn.Module):
    """Samples a rectified ``output_size`` image through a TPS given source control points.

    Args:
        output_size: (H, W) of the rectified image (32 x 100 for ASTER).
        num_control_points: K, 20 for ASTER.
        margins: (mx, my) of the target control points, (0.05, 0.05) for ASTER.
    """

    def __init__(
        self,
        output_size: Sequence[int] = (32, 100),
        num_control_points: int = 20,
        margins: Sequence[float] = (0.05, 0.05),
    ) -> None:
        super().__init__()
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.num_control_points = num_control_points
        self.margins = (float(margins[0]), float(margins[1]))

        # Built in float64, stored in float32 like the public buffers.
        control = target_control_points(num_control_points, margins).double()
        size = num_control_points + 3
        kernel = torch.zeros(size, size, dtype=torch.float64)
        kernel[:num_control_points, :num_control_points] = tps_radial_basis(control, control)
        kernel[:num_control_points, num_control_points:] = _affine_basis(control)
        kernel[num_control_points:, :num_control_points] = _affine_basis(control).T

        height, width = self.output_size
        ys = torch.arange(height, dtype=torch.float64) / (height - 1)
        xs = torch.arange(width, dtype=torch.float64) / (width - 1)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        pixels = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)  # row-major (H*W, 2)
        pixel_repr = torch.cat([tps_radial_basis(pixels, control), _affine_basis(pixels)], dim=1)

        self.register_buffer("inverse_kernel", torch.linalg.inv(kernel).float())
        self.register_buffer("padding_matrix", torch.zeros(3, 2))
        self.register_buffer("target_coordinate_repr", pixel_repr.float())
        self.register_buffer("target_control_points", control.float())

    def source_coordinates(self, source_control_points: Tensor) -> Tensor:
        """Where each output pixel reads the input.

        Args:
            source_control_points: float (N, K, 2), (x, y) in [0, 1] (may stray outside).

        Returns:
            float32 (N, H*W, 2), (x, y) in input coordinates [0, 1], row-major over the output;
            computed in float32 even under autocast (half precision would shift pixels).
        """
        batch = source_control_points.shape[0]
        with torch.autocast(source_control_points.device.type, enabled=False):
            padded = torch.cat(
                [source_control_points.float(), self.padding_matrix.expand(batch, 3, 2)], dim=1
            )  # (N, K + 3, 2)
            mapping = self.inverse_kernel @ padded
            return self.target_coordinate_repr @ mapping

    def forward(self, images: Tensor, source_control_points: Tensor) -> Tensor:
        """Rectify.

        Args:
            images: float (N, C, H_in, W_in), any number of channels.
            source_control_points: float (N, K, 2).

        Returns:
            float (N, C, H, W) of ``output_size``.
        """
        if source_control_points.shape[1:] != (self.num_control_points, 2):
            raise ValueError(
                f"expected control points (N, {self.num_control_points}, 2), "
                f"got {tuple(source_control_points.shape)}"
            )
        height, width = self.output_size
        grid = self.source_coordinates(source_control_points).view(-1, height, width, 2)
        grid = grid.clamp(0.0, 1.0) * 2.0 - 1.0
        return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", align_corners=False)
