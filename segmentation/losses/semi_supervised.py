"""The semi-supervised loss of eq. 5: soft IoU + lambda_1 subset + lambda_2 CRF."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from segmentation.losses.crf import CRFSettings, crf_loss
from segmentation.losses.iou import soft_iou_loss
from segmentation.losses.subset import subset_loss
from segmentation.outputs import SegmentationOutput


def semi_supervised_loss(
    outputs: SegmentationOutput,
    batch: Mapping[str, Tensor],
    *,
    lambda_subset: float = 10.0,
    lambda_crf: float = 0.1,
    use_subset: bool = True,
    use_crf: bool = True,
    crf_settings: CRFSettings | None = None,
    smooth: float = 1.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``L = L_IoU + lambda_subset * L_SB + lambda_crf * L_CRF`` (eq. 5) for a mixed batch.

    Each term is the per-sample sum of eqs. 1, 3, 4 over the outputs present in ``outputs``, and
    the batch loss is the mean over all N samples (a term whose ground truth a sample lacks counts
    as 0 for that sample, so a batch estimates the expected per-sample loss whatever its mix):

    - L_IoU (eq. 1): :func:`soft_iou_loss` of O_T and O'_T against the pixel-level mask on samples
      with ``has_pixel``, of O_P and O'_P against the polygon-level mask on samples with
      ``has_region``.
    - L_SB (eq. 3): :func:`subset_loss` over every pair (Z, Y), Z in {O_T, O'_T}, Y in {O_P, O'_P},
      on every sample.
    - L_CRF (eq. 4): :func:`crf_loss` of O_T and O'_T on samples without ``has_pixel``, of O_P and
      O'_P on samples without ``has_region``.

    Phase 1 of the recipe passes a phase-1 output (O'_T, O'_P are ``None``) with
    ``use_subset=False, use_crf=False``; with the flags on, only the available pairs and maps count.
    A single-branch output (U-Net: only O_T) gets the pixel-level terms only.

    Args:
        outputs: the network's :class:`SegmentationOutput`.
        batch: a mapping with
            ``has_pixel``, ``has_region``: (N,) bool, which ground truth each sample carries;
            ``pixel_mask``, ``region_mask``: (N, 1, H, W) in [0, 1] (needed when some sample has
            that ground truth; any value where it has not);
            ``ignore``: optional (N, 1, H, W) bool, ``True`` where the label is "don't care"
            (excluded from both soft IoU terms);
            ``image``: (N, C, H, W) colours in [0, 1], needed for the CRF term.
        lambda_subset, lambda_crf: the weights lambda_1, lambda_2 of eq. 5.
        use_subset, use_crf: switch the weakly-supervised terms (the paper's ablations).
        crf_settings: kernel of the CRF term (default :class:`CRFSettings()`).
        smooth: soft IoU smoothing (pixels).

    Returns:
        ``(total, parts)``: the scalar loss to backpropagate, and the detached terms ``iou``,
        ``subset`` (if used), ``crf`` (if used) and ``total``, unweighted except ``total``.
    """
    size = outputs.text_logits.shape[0]
    device = outputs.text_logits.device
    has = {
        kind: torch.as_tensor(batch[f"has_{kind}"], device=device, dtype=torch.bool).reshape(size)
        for kind in ("pixel", "region")
    }
    probabilities = {
        "pixel": [p for p in (outputs.text, outputs.text_guided) if p is not None],
        "region": [p for p in (outputs.region, outputs.region_guided) if p is not None],
    }

    ignore = batch.get("ignore")
    valid = None if ignore is None else ~ignore.to(device=device, dtype=torch.bool)
    iou = outputs.text_logits.new_zeros((), dtype=torch.float32)
    for kind, maps in probabilities.items():
        if not maps or not has[kind].any():
            continue
        target = batch[f"{kind}_mask"].to(device)
        for probs in maps:
            iou = iou + (soft_iou_loss(probs, target, valid, smooth) * has[kind]).sum() / size
    total = iou
    parts = {"iou": iou}

    if use_subset:
        text_logits = [
            z for z in (outputs.text_logits, outputs.text_guided_logits) if z is not None
        ]
        subset = iou.new_zeros(())
        for z in text_logits:
            for y in probabilities["region"]:
                subset = subset + subset_loss(z, y).sum() / size
        total = total + lambda_subset * subset
        parts["subset"] = subset

    if use_crf:
        crf = iou.new_zeros(())
        maps = probabilities["pixel"] + probabilities["region"]
        needs_crf = torch.stack(
            [~has["pixel"]] * len(probabilities["pixel"])
            + [~has["region"]] * len(probabilities["region"]),
            dim=1,
        )  # (N, maps): True where the map's branch has no ground truth
        selected = needs_crf.any(dim=1).nonzero().flatten()
        if selected.numel():
            image = batch["image"].to(device)[selected]
            energies = crf_loss(torch.cat(maps, dim=1)[selected], image, crf_settings)
            crf = (energies * needs_crf[selected]).sum() / size
        total = total + lambda_crf * crf
        parts["crf"] = crf

    parts["total"] = total
    return total, {name: value.detach() for name, value in parts.items()}
