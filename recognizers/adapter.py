"""Turn a pretrained recognizer into an RGB + text-mask one without changing what it computes.

:func:`adapt_input_conv` rebuilds one input convolution for RGB + mask input (timm-style, a pure
function); :func:`add_mask_channel` applies it to every layer that reads the image: the CRNN's
``cnn.conv0``, ASTER's ``stn_head.stn_convnet.0.0`` and ``encoder.layer0.0`` (ASTER's TPS samples
the mask with the image, so the encoder sees the rectified mask).

Why the output is unchanged right after adaptation (with ``mask_init='zero'``): a grayscale model
read ``g = 0.299 R + 0.587 G + 0.114 B`` (PIL's 'L' conversion); the coefficients sum to 1, so
``(g - 0.5) / 0.5 = sum_c k_c (x_c - 0.5) / 0.5`` and a conv with weights ``k_c w`` on the
normalised RGB channels equals the old conv on the normalised gray image. RGB weights are copied,
and a zero mask weight ignores the mask.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

from recognizers.configs import ARCHS

__all__ = [
    "LUMA_WEIGHTS",
    "adapt_input_conv",
    "add_mask_channel",
    "input_conv_names",
    "input_layers",
    "mask_is_ignored",
]

#: PIL's 'L' conversion (ITU-R 601-2 luma): L = 0.299 R + 0.587 G + 0.114 B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
_RANDOM_MASK_SCALE = 0.01  # 'random' mask weights: N(0, (0.01 * std of the image weights)^2)

# Input convolutions of each architecture -> whether the conv has a bias.
_INPUT_CONVS = {
    "crnn": {"cnn.conv0": True},
    "aster": {"stn_head.stn_convnet.0.0": True, "encoder.layer0.0": False},
}


def input_conv_names(arch: str) -> list[str]:
    """Module names of the convolutions that read the image."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}")
    return list(_INPUT_CONVS[arch])


def input_layers(arch: str) -> list[str]:
    """Names of the parameters ``--train-layers input`` trains: the input convolutions'."""
    return [
        f"{name}.{param}"
        for name in input_conv_names(arch)
        for param in (("weight", "bias") if _INPUT_CONVS[arch][name] else ("weight",))
    ]


def adapt_input_conv(
    conv: nn.Conv2d,
    *,
    source: Literal["gray", "rgb"],
    mask_init: Literal["zero", "mean", "random"] = "zero",
    generator: torch.Generator | None = None,
) -> nn.Conv2d:
    """A new conv reading (R, G, B, mask) that computes what ``conv`` computed on its image.

    Args:
        conv: the pretrained input conv, 1 input channel (``source='gray'``) or 3 (``'rgb'``).
        source: gray weights are split over R, G, B by :data:`LUMA_WEIGHTS`; RGB ones are copied.
        mask_init: the mask channel's weights: ``'zero'`` (output unchanged), ``'mean'`` (the
            mean of the three image channels' new weights), ``'random'`` (small Gaussian).
        generator: random source for ``'random'``.

    Returns:
        a new ``nn.Conv2d`` with 4 input channels, the same bias, geometry, dtype and device;
        ``conv`` is left untouched.
    """
    expected = {"gray": 1, "rgb": 3}
    if source not in expected:
        raise ValueError(f"unknown source {source!r}; choose 'gray' or 'rgb'")
    if conv.in_channels != expected[source] or conv.groups != 1:
        raise ValueError(
            f"a {source} input conv has {expected[source]} input channels and groups=1, got "
            f"{conv.in_channels} and groups={conv.groups}"
        )
    weight = conv.weight.detach()
    if source == "gray":
        luma = torch.tensor(LUMA_WEIGHTS, dtype=weight.dtype, device=weight.device)
        image_weight = weight * luma.view(1, 3, 1, 1)
    else:
        image_weight = weight.clone()

    if mask_init == "zero":
        mask_weight = torch.zeros_like(image_weight[:, :1])
    elif mask_init == "mean":
        mask_weight = image_weight.mean(dim=1, keepdim=True)
    elif mask_init == "random":
        noise = torch.randn(
            image_weight[:, :1].shape, generator=generator, dtype=weight.dtype, device="cpu"
        ).to(weight.device)
        mask_weight = noise * (_RANDOM_MASK_SCALE * image_weight.std())
    else:
        raise ValueError(f"unknown mask_init {mask_init!r}; choose 'zero', 'mean' or 'random'")

    adapted = nn.Conv2d(
        4,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        groups=1,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        adapted.weight.copy_(torch.cat([image_weight, mask_weight], dim=1))
        if conv.bias is not None:
            adapted.bias.copy_(conv.bias)
    for new, old in zip(adapted.parameters(), conv.parameters(), strict=True):
        new.requires_grad_(old.requires_grad)
    return adapted


def add_mask_channel(
    model: nn.Module,
    *,
    mask_init: Literal["zero", "mean", "random"] = "zero",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """An RGB + mask copy of a model built by ``build_recognizer`` (``model`` is untouched).

    The copy's ``config`` has ``color_mode='RGB'`` and ``mask_channel=True``: it reads
    (N, 4, H, W), the normalised RGB image then the mask. With ``mask_init='zero'`` its output
    on (rgb, any mask) equals the original's on the original input (gray(rgb) for a grayscale
    model, rgb for an RGB one).
    """
    config = model.config
    if config.mask_channel:
        raise ValueError("the model already has a mask channel")
    source: Literal["gray", "rgb"] = "gray" if config.color_mode == "L" else "rgb"
    adapted = copy.deepcopy(model)
    for name in input_conv_names(config.arch):
        parent_name, _, child = name.rpartition(".")
        parent = adapted.get_submodule(parent_name)
        conv = parent.get_submodule(child)
        setattr(
            parent,
            child,
            adapt_input_conv(conv, source=source, mask_init=mask_init, generator=generator),
        )
    adapted.config = config.replace(color_mode="RGB", mask_channel=True)
    return adapted


def mask_is_ignored(model: nn.Module) -> bool:
    """Whether an RGB + mask model's output does not depend on its mask: every input conv's
    mask-channel weights are zero (an adapted model with ``mask_init='zero'`` before fine-tuning).

    Raises:
        ValueError: the model has no mask channel.
    """
    if not model.config.mask_channel:
        raise ValueError("the model has no mask channel")
    return all(
        not model.get_submodule(name).weight[:, -1].any()
        for name in input_conv_names(model.config.arch)
    )
