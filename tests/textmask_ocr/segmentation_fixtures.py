"""Helpers of the segmentation tests: small synthetic scene folders and tiny checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from segmentation.configs import SegmenterConfig, build_segmenter
from textmask_ocr.data.synth import SceneConfig, SynthAssets
from textmask_ocr.data.synth.fonts import FontFace
from textmask_ocr.data.synth.writers import write_synth_scenes
from textmask_ocr.engine import save_checkpoint

#: 64 px scenes with 1-3 large words: text a tiny network can learn in seconds.
TEST_SCENES = SceneConfig(size=64, words=(1, 3), font_size=(0.16, 0.3), hard_fraction=0.0)
TINY_WIDTH = 1 / 16
#: Pillow's built-in face only, so the scenes (and what a test learns from them) are the same on
#: every machine, whatever fonts it has.
TEST_ASSETS = SynthAssets((FontFace(None),))


def write_scenes(out: Path, n: int, seed: int) -> Path:
    """``n`` synthetic scenes (images, pixel and region masks, polygons) in ``out``."""
    write_synth_scenes(out, n, seed=seed, config=TEST_SCENES, assets=TEST_ASSETS, quiet=True)
    return out


def tiny_config(arch: str = "mgnet", phases: int = 2, **changes: Any) -> SegmenterConfig:
    return SegmenterConfig(
        arch=arch, width=TINY_WIDTH, input_size=(64, 64), phases=phases, **changes
    )


def tiny_model(
    arch: str = "mgnet", phases: int = 2, seed: int = 0, **changes: Any
) -> torch.nn.Module:
    """An untrained tiny network with non-trivial batch-norm statistics (so that folding them
    into the convolutions is tested for real); ``changes`` go to its config."""
    torch.manual_seed(seed)
    model = build_segmenter(tiny_config(arch, phases, **changes))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def save_tiny_checkpoint(path: Path, model: torch.nn.Module) -> Path:
    """``model`` as a weights-only checkpoint of this project's format."""
    save_checkpoint(path, model_state=model.state_dict(), model_config=model.config.to_dict())
    return path
