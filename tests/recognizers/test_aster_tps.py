"""TPS rectification: control points, the spline system, interpolation and the identity resize."""

from __future__ import annotations

import math

import pytest
import torch

from recognizers.aster.tps import TPSSpatialTransformer, target_control_points


def bilinear_zero_padded(image: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """Value of (C, H, W) ``image`` at pixel coordinates (y, x), zero outside the pixels."""
    _, height, width = image.shape
    y0, x0 = math.floor(y), math.floor(x)
    value = torch.zeros(image.shape[0], dtype=image.dtype)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                value += wy * wx * image[:, yy, xx]
    return value


def test_target_control_points_are_two_rows_inside_the_margins():
    points = target_control_points(20, (0.05, 0.05))
    assert points.shape == (20, 2)
    expected_x = [0.05 + 0.1 * i for i in range(10)]
    assert points[:10, 0].tolist() == pytest.approx(expected_x)
    assert points[10:, 0].tolist() == pytest.approx(expected_x)
    assert points[:10, 1].tolist() == pytest.approx([0.05] * 10)
    assert points[10:, 1].tolist() == pytest.approx([0.95] * 10)


def test_buffers_have_the_public_shapes_and_invert_the_spline_system():
    tps = TPSSpatialTransformer((32, 100), 20, (0.05, 0.05))
    buffers = dict(tps.named_buffers())
    assert {k: tuple(v.shape) for k, v in buffers.items()} == {
        "inverse_kernel": (23, 23),
        "padding_matrix": (3, 2),
        "target_coordinate_repr": (3200, 23),
        "target_control_points": (20, 2),
    }
    points = tps.target_control_points.double()
    kernel = torch.zeros(23, 23, dtype=torch.float64)
    for i in range(20):
        for k in range(20):
            r = math.dist(points[i].tolist(), points[k].tolist())
            kernel[i, k] = r * r * math.log(r) if r > 0 else 0.0
        kernel[i, 20:] = torch.tensor([1.0, *points[i].tolist()])
        kernel[20:, i] = torch.tensor([1.0, *points[i].tolist()])
    identity = tps.inverse_kernel.double() @ kernel
    assert torch.allclose(identity, torch.eye(23, dtype=torch.float64), atol=1e-4)
    # Row 5 * 100 + 7 of the pixel basis is output pixel (y, x) = (5/31, 7/99).
    row = tps.target_coordinate_repr[5 * 100 + 7]
    assert row[20:].tolist() == pytest.approx([1.0, 7 / 99, 5 / 31])


def test_the_spline_passes_through_the_source_control_points():
    # On a 21 x 21 output the target control points fall on pixels: x = 1, 3, ..., 19; y = 1, 19.
    tps = TPSSpatialTransformer((21, 21), 20, (0.05, 0.05))
    generator = torch.Generator().manual_seed(0)
    source = tps.target_control_points + 0.1 * torch.randn(2, 20, 2, generator=generator)
    mapped = tps.source_coordinates(source).view(2, 21, 21, 2)
    at_points = torch.cat([mapped[:, 1, 1::2], mapped[:, 19, 1::2]], dim=1)
    assert torch.allclose(at_points, source, atol=1e-4)


def test_identity_control_points_reproduce_a_resize():
    """Source = target points: an affine identity map, sampled as grid_sample with
    align_corners=False reads it: output pixel (i, j) reads input pixel coordinates
    (i / (H - 1) * H_in - 0.5, j / (W - 1) * W_in - 0.5), zero outside."""
    tps = TPSSpatialTransformer((32, 100), 20, (0.05, 0.05))
    image = torch.rand(1, 2, 8, 16, generator=torch.Generator().manual_seed(1))
    source = tps.target_control_points[None]
    coordinates = tps.source_coordinates(source).view(32, 100, 2)
    ys, xs = torch.meshgrid(torch.arange(32) / 31, torch.arange(100) / 99, indexing="ij")
    assert torch.allclose(coordinates, torch.stack([xs, ys], dim=2), atol=1e-5)

    output = tps(image, source)[0]
    assert output.shape == (2, 32, 100)
    for i in range(32):
        for j in range(0, 100, 3):
            expected = bilinear_zero_padded(image[0], i / 31 * 8 - 0.5, j / 99 * 16 - 0.5)
            assert torch.allclose(output[:, i, j], expected, atol=1e-5), (i, j)


def test_every_channel_is_sampled_alike():
    tps = TPSSpatialTransformer((32, 100), 20, (0.05, 0.05))
    generator = torch.Generator().manual_seed(2)
    image = torch.rand(2, 3, 64, 256, generator=generator)
    mask = (torch.rand(2, 1, 64, 256, generator=generator) > 0.5).float()
    source = tps.target_control_points + 0.05 * torch.randn(2, 20, 2, generator=generator)
    both = tps(torch.cat([image, mask], dim=1), source)
    assert torch.equal(both[:, :3], tps(image, source))
    assert torch.equal(both[:, 3:], tps(mask, source))


def test_wrong_number_of_control_points_is_refused():
    tps = TPSSpatialTransformer((32, 100), 20, (0.05, 0.05))
    with pytest.raises(ValueError, match=r"\(N, 20, 2\)"):
        tps(torch.zeros(1, 3, 8, 8), torch.zeros(1, 18, 2))
    with pytest.raises(ValueError, match="even number"):
        target_control_points(7, (0.05, 0.05))


def test_sampling_positions_stay_float32_under_autocast():
    tps = TPSSpatialTransformer((32, 100), 20, (0.05, 0.05))
    source = tps.target_control_points[None] + 0.013
    exact = tps.source_coordinates(source)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = tps.source_coordinates(source)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, exact, atol=1e-6)  # bf16 matmuls would be off by up to 0.4
