"""Losses of eqs. 1, 3, 4, 5 against brute-force references written with Python loops / numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segmentation.losses import (
    CRFSettings,
    crf_loss,
    dense_gaussian_filter,
    semi_supervised_loss,
    soft_iou_loss,
    subset_loss,
    window_gaussian_filter,
)
from segmentation.outputs import SegmentationOutput

# ---------------------------------------------------------------- brute-force references


def brute_soft_iou(x: np.ndarray, m: np.ndarray, valid: np.ndarray, smooth: float) -> float:
    inter = union = 0.0
    for xi, mi, vi in zip(x.ravel(), m.ravel(), valid.ravel(), strict=True):
        if vi:
            inter += xi * mi
            union += xi + mi - xi * mi
    return 1.0 - (inter + smooth) / (union + smooth)


def brute_subset(logits: np.ndarray, y: np.ndarray) -> float:
    total = 0.0
    for a, yi in zip(logits.ravel(), y.ravel(), strict=True):
        z = 1.0 / (1.0 + math.exp(-a))
        total += -z * (yi * math.log(z) + (1.0 - yi) * math.log(1.0 - z))
    return total / logits.size


def brute_kernel(image: np.ndarray, sigma_rgb: float, sigma_xy: float, radius=None) -> np.ndarray:
    """W (n, n) for one (C, h, w) image in [0, 1], pixels in row-major order."""
    _, height, width = image.shape
    pixels = [(r, c) for r in range(height) for c in range(width)]
    kernel = np.zeros((len(pixels), len(pixels)))
    for i, (ri, ci) in enumerate(pixels):
        for j, (rj, cj) in enumerate(pixels):
            if radius is not None and max(abs(ri - rj), abs(ci - cj)) > radius:
                continue
            colour = sum(
                (255 * (image[k, ri, ci] - image[k, rj, cj])) ** 2 for k in range(len(image))
            )
            position = (ri - rj) ** 2 + (ci - cj) ** 2
            kernel[i, j] = math.exp(-position / (2 * sigma_xy**2) - colour / (2 * sigma_rgb**2))
    return kernel


def brute_potts(x: np.ndarray, kernel: np.ndarray) -> float:
    """sum over {text, background} of S^T W (1 - S), divided by 1^T W 1."""
    x = x.ravel()
    energy = sum(s @ kernel @ (1 - s) for s in (x, 1 - x))
    return energy / kernel.sum()


def as_np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


# ---------------------------------------------------------------- soft IoU (eq. 1)


def test_soft_iou_matches_brute_force_with_ignore_mask():
    torch.manual_seed(0)
    probs = torch.rand(3, 1, 5, 6)
    target = (torch.rand(3, 1, 5, 6) > 0.6).float()
    valid = torch.rand(3, 1, 5, 6) > 0.2
    for mask, smooth in ((None, 1.0), (valid, 1.0), (valid, 1e-6)):
        got = soft_iou_loss(probs, target, mask, smooth)
        keep = np.ones((3, 30), bool) if mask is None else mask.reshape(3, -1).numpy()
        want = [
            brute_soft_iou(as_np(probs[n]), as_np(target[n]), keep[n], smooth) for n in range(3)
        ]
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)


def test_soft_iou_extremes():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    assert soft_iou_loss(target.clone(), target).item() == 0.0  # perfect
    assert soft_iou_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)).item() == 0.0
    disjoint = soft_iou_loss(1 - target, target, smooth=0.0)
    assert disjoint.item() == 1.0


# ---------------------------------------------------------------- subset loss (eq. 3)


def test_subset_matches_brute_force():
    torch.manual_seed(1)
    logits = torch.randn(2, 1, 4, 5) * 3
    region = torch.rand(2, 1, 4, 5)
    got = subset_loss(logits, region)
    want = [brute_subset(as_np(logits[n]), as_np(region[n])) for n in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("logit", "region", "low", "high"),
    [
        (12.0, 0.0, 11.9, 12.1),  # Z ~ 1, Y = 0: text outside the region, about -log(1 - Z)
        (12.0, 1.0, 0.0, 1e-5),  # Z ~ 1, Y = 1: text inside the region
        (-12.0, 0.0, 0.0, 1e-5),  # Z ~ 0: no text, no penalty whatever Y
        (-12.0, 1.0, 0.0, 1e-4),
        (0.0, 0.5, 0.5 * math.log(2) - 1e-6, 0.5 * math.log(2) + 1e-6),  # Z = Y = 0.5
    ],
)
def test_subset_penalises_text_outside_region_only(logit, region, low, high):
    value = subset_loss(torch.full((1, 1, 2, 2), logit), torch.full((1, 1, 2, 2), region)).item()
    assert low <= value <= high


def test_subset_stays_finite_and_keeps_gradient_when_saturated():
    logits = torch.full((1, 1, 1, 1), 40.0, requires_grad=True)  # sigmoid(40) == 1.0 in float32
    value = subset_loss(logits, torch.zeros(1, 1, 1, 1))
    value.backward()
    assert value.item() == pytest.approx(40.0)
    assert logits.grad.item() == pytest.approx(1.0)


# ---------------------------------------------------------------- CRF loss (eq. 4)


@pytest.fixture
def crf_inputs():
    torch.manual_seed(2)
    image = torch.rand(2, 3, 5, 6)
    image[:, :, :, 3:] += 0.3  # a colour edge
    values = torch.rand(2, 2, 5, 6)
    return image.clamp(0, 1), values


@pytest.mark.parametrize("chunk_elements", [1 << 22, 7])  # one chunk, and uneven small chunks
def test_dense_filter_is_exact(crf_inputs, chunk_elements):
    image, values = crf_inputs
    got = dense_gaussian_filter(
        image, values, sigma_rgb=60.0, sigma_xy=2.0, chunk_elements=chunk_elements
    )
    for n in range(2):
        kernel = brute_kernel(as_np(image[n]), 60.0, 2.0)
        want = kernel @ as_np(values[n]).reshape(2, -1).T
        np.testing.assert_allclose(as_np(got[n]).reshape(2, -1).T, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("radius", [1, 2, 7])
def test_window_filter_equals_truncated_kernel(crf_inputs, radius):
    image, values = crf_inputs
    got = window_gaussian_filter(image, values, sigma_rgb=60.0, sigma_xy=2.0, radius=radius)
    for n in range(2):
        kernel = brute_kernel(as_np(image[n]), 60.0, 2.0, radius=radius)
        want = kernel @ as_np(values[n]).reshape(2, -1).T
        np.testing.assert_allclose(as_np(got[n]).reshape(2, -1).T, want, rtol=1e-5, atol=1e-6)


def test_window_filter_approaches_dense_for_small_sigma_xy():
    torch.manual_seed(3)
    image, values = torch.rand(1, 1, 12, 12), torch.rand(1, 3, 12, 12)  # one colour channel
    dense = dense_gaussian_filter(image, values, sigma_rgb=15.0, sigma_xy=0.8)
    window = window_gaussian_filter(image, values, sigma_rgb=15.0, sigma_xy=0.8, radius=5)
    torch.testing.assert_close(window, dense, rtol=1e-5, atol=1e-6)
    truncated = window_gaussian_filter(image, values, sigma_rgb=15.0, sigma_xy=0.8, radius=1)
    assert (dense - truncated).abs().max() > 1e-2  # a window too small does differ


@pytest.mark.parametrize("radius", [None, 2])
def test_crf_loss_matches_brute_force_energy_and_gradient(crf_inputs, radius):
    image, _ = crf_inputs
    torch.manual_seed(4)
    probs = torch.rand(2, 3, 5, 6, requires_grad=True)
    settings = CRFSettings(sigma_rgb=60.0, sigma_xy=2.0, scale=1.0, radius=radius)
    energies = crf_loss(probs, image, settings)
    assert energies.shape == (2, 3)
    weights = torch.rand(2, 3)
    (energies * weights).sum().backward()

    reference = probs.detach().double().requires_grad_()
    total = 0.0
    for n in range(2):
        kernel = brute_kernel(as_np(image[n]), 60.0, 2.0, radius=radius)
        for k in range(3):
            want = brute_potts(as_np(reference[n, k]), kernel)
            assert energies[n, k].item() == pytest.approx(want, rel=1e-5, abs=1e-7)
            w = torch.from_numpy(kernel)
            x = reference[n, k].flatten()
            total = total + weights[n, k] * ((x @ w @ (1 - x) + (1 - x) @ w @ x) / w.sum())
    total.backward()
    torch.testing.assert_close(probs.grad.double(), reference.grad, rtol=1e-4, atol=1e-6)


def test_crf_loss_downscales_like_tang_et_al():
    """scale 0.5: nearest-neighbour image (every other pixel), 2x2-mean probabilities,
    sigma_xy / 2."""
    torch.manual_seed(5)
    image, probs = torch.rand(1, 3, 8, 10), torch.rand(1, 1, 8, 10)
    got = crf_loss(probs, image, CRFSettings(sigma_rgb=40.0, sigma_xy=6.0, scale=0.5, radius=None))
    small_image = as_np(image[0])[:, ::2, ::2]
    small_probs = as_np(probs[0, 0]).reshape(4, 2, 5, 2).mean(axis=(1, 3))
    want = brute_potts(small_probs, brute_kernel(small_image, 40.0, 3.0))
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_crf_energy_is_zero_for_a_constant_labelling_and_at_most_one():
    torch.manual_seed(6)
    image = torch.rand(1, 3, 16, 16)
    constant = torch.stack((torch.zeros(16, 16), torch.ones(16, 16)))[None]
    assert crf_loss(constant, image).abs().max().item() < 1e-7
    checkerboard = ((torch.arange(16)[:, None] + torch.arange(16)) % 2).float()[None, None]
    value = crf_loss(checkerboard, image, CRFSettings(scale=1.0)).item()
    assert 0.0 < value <= 1.0


def test_crf_loss_under_autocast_is_float32_and_unchanged(crf_inputs):
    image, values = crf_inputs
    probs = values[:, :1].bfloat16()
    expected = crf_loss(probs.float(), image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = crf_loss(probs, image)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="differ in batch or size"):
        crf_loss(probs, image[:1])


# ---------------------------------------------------------------- total loss (eq. 5)


def make_batch():
    torch.manual_seed(7)
    n, h, w = 4, 4, 6
    logits = [torch.randn(n, 1, h, w) * 2 for _ in range(4)]
    batch = {
        "image": torch.rand(n, 3, h, w),
        "pixel_mask": (torch.rand(n, 1, h, w) > 0.5).float(),
        "region_mask": (torch.rand(n, 1, h, w) > 0.4).float(),
        "ignore": torch.rand(n, 1, h, w) > 0.8,
        # sample 0: pixel mask only, 1: polygon mask only, 2: both, 3: both (CRF-free)
        "has_pixel": torch.tensor([True, False, True, True]),
        "has_region": torch.tensor([False, True, True, True]),
    }
    return logits, batch


def reference_terms(logits, batch, settings):
    """(iou, subset, crf) of eq. 5 for each sample, from the brute-force references."""
    probs = [torch.sigmoid(a) for a in logits]
    pixel, region = probs[0::2], probs[1::2]  # (O_T, O'_T), (O_P, O'_P)
    rows = []
    for n in range(4):
        iou = subset = crf = 0.0
        valid = ~batch["ignore"][n].numpy()
        kernel = brute_kernel(as_np(batch["image"][n]), settings.sigma_rgb, settings.sigma_xy)
        for x in pixel:
            if batch["has_pixel"][n]:
                iou += brute_soft_iou(as_np(x[n]), as_np(batch["pixel_mask"][n]), valid, 1.0)
            else:
                crf += brute_potts(as_np(x[n]), kernel)
        for x in region:
            if batch["has_region"][n]:
                iou += brute_soft_iou(as_np(x[n]), as_np(batch["region_mask"][n]), valid, 1.0)
            else:
                crf += brute_potts(as_np(x[n]), kernel)
        for z in logits[0::2]:
            for y in region:
                subset += brute_subset(as_np(z[n]), as_np(y[n]))
        rows.append((iou, subset, crf))
    return np.array(rows)


def test_semi_supervised_loss_matches_brute_force_on_a_mixed_batch():
    logits, batch = make_batch()
    settings = CRFSettings(sigma_rgb=50.0, sigma_xy=3.0, scale=1.0, radius=None)
    total, parts = semi_supervised_loss(SegmentationOutput(*logits), batch, crf_settings=settings)
    iou, subset, crf = reference_terms(logits, batch, settings).mean(axis=0)  # mean over N = 4
    assert parts["iou"].item() == pytest.approx(iou, rel=1e-5)
    assert parts["subset"].item() == pytest.approx(subset, rel=1e-5)
    assert parts["crf"].item() == pytest.approx(crf, rel=1e-5)
    assert total.item() == pytest.approx(iou + 10 * subset + 0.1 * crf, rel=1e-5)
    assert parts["total"].item() == total.item()


def test_semi_supervised_loss_switches_and_phase_one_outputs():
    logits, batch = make_batch()
    settings = CRFSettings(sigma_rgb=50.0, sigma_xy=3.0, scale=1.0, radius=None)
    outputs = SegmentationOutput(*logits)
    total, parts = semi_supervised_loss(outputs, batch, use_subset=False, use_crf=False)
    assert set(parts) == {"iou", "total"} and total.item() == pytest.approx(parts["iou"].item())
    _, crf_only = semi_supervised_loss(
        outputs, batch, use_subset=False, lambda_crf=2.0, crf_settings=settings
    )
    assert crf_only["total"].item() == pytest.approx(
        crf_only["iou"].item() + 2.0 * crf_only["crf"].item()
    )

    # Phase 1: only O_T and O_P exist; the terms shrink to the available outputs and pairs.
    phase_one = SegmentationOutput(logits[0], logits[1])
    _, parts = semi_supervised_loss(phase_one, batch, crf_settings=settings)
    probs = [torch.sigmoid(a) for a in logits[:2]]
    valid = ~batch["ignore"]
    iou = (soft_iou_loss(probs[0], batch["pixel_mask"], valid) * batch["has_pixel"]).sum()
    iou += (soft_iou_loss(probs[1], batch["region_mask"], valid) * batch["has_region"]).sum()
    torch.testing.assert_close(parts["iou"], iou / 4)
    torch.testing.assert_close(parts["subset"], subset_loss(logits[0], probs[1]).sum() / 4)
    energies = crf_loss(torch.cat(probs, dim=1), batch["image"], settings)
    crf = (
        energies[:, 0] @ (~batch["has_pixel"]).float()
        + energies[:, 1] @ (~batch["has_region"]).float()
    )
    torch.testing.assert_close(parts["crf"], crf / 4)


def test_semi_supervised_loss_gradient_flows_to_every_output():
    logits, batch = make_batch()
    leaves = [a.clone().requires_grad_() for a in logits]
    batch["has_pixel"] = torch.tensor([True, False, True, False])  # CRF on O_T, O'_T too
    total, _ = semi_supervised_loss(SegmentationOutput(*leaves), batch)
    total.backward()
    assert all(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in leaves)
