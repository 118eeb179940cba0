"""Helpers of the recognizer tests: tiny configurations, random weights, layout parsing."""

from __future__ import annotations

import ast
from pathlib import Path

import torch
from torch import nn

from recognizers import RecognizerConfig, default_cfgs

# Same architectures at a fraction of the width: fast on a CPU, same code paths.
TINY_KWARGS = {
    "crnn": {"hidden_size": 16, "width_mult": 0.125, "batchnorm_everywhere": False},
    "aster": {
        **default_cfgs["aster"].arch_kwargs,
        "width_mult": 0.125,
        "s_dim": 16,
        "att_dim": 16,
        "max_length": 12,
    },
}


def tiny_config(arch: str, **changes: object) -> RecognizerConfig:
    """The default config of ``arch`` with tiny widths."""
    return default_cfgs[arch].replace(arch_kwargs=TINY_KWARGS[arch], **changes)


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights that keep the model sensitive to its input, in eval mode.

    The control-point head gets random weights (ASTER's starts at zero). Batch-norm statistics
    are measured on random images (so activations neither vanish nor explode), then jittered,
    and the affine parameters drawn at random.
    """
    generator = torch.Generator().manual_seed(seed)

    def rand(shape: torch.Size, low: float, high: float) -> torch.Tensor:
        return torch.rand(shape, generator=generator) * (high - low) + low

    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    config = model.config
    height, width = config.input_size
    images = rand(torch.Size((8, config.in_channels, height, width)), -1.0, 1.0)
    with torch.no_grad():
        if hasattr(model, "stn_head"):
            fc2 = model.stn_head.stn_fc2
            fc2.weight.copy_(rand(fc2.weight.shape, -0.1, 0.1))
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average over the calibration pass
        model.train()
        model.predict(images)
        for norm in norms:
            norm.momentum = 0.1
            norm.weight.copy_(rand(norm.weight.shape, 0.5, 1.5))
            norm.bias.copy_(rand(norm.bias.shape, -0.2, 0.2))
            std = norm.running_var.sqrt()
            norm.running_mean.add_(rand(std.shape, -0.1, 0.1) * std)
            norm.running_var.mul_(rand(std.shape, 0.8, 1.25))
    return model.eval()


def parse_layout(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    """``key (d1, d2, ...)`` lines of a layout file, in order; ``#`` lines are comments."""
    entries = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, shape = line.split(" ", 1)
            entries.append((key, tuple(ast.literal_eval(shape))))
    return entries


def layout_of(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, tuple(value.shape)) for key, value in model.state_dict().items()]
