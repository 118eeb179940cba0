"""Sizes and schedules of the demo: ``fast`` (a 2-core CPU in minutes) and ``paper`` (a GPU)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DemoBudget:
    """Everything the demo's size depends on.

    ``fast`` uses higher learning rates than the paper (Adam 3e-3 / 1e-3 instead of 1e-4 / 1e-5)
    so that a few hundred steps converge; phase 2 needs a real share of the steps, since its
    guided decoders start from weights that phase 1 only ever showed zero guidance.

    Scenes and the segmenters:
        scene_size, train_scenes, val_scenes: synthetic scenes (square) for MGNet and U-Net.
        scene_font: font size range as a fraction of the scene side; scene_words: words per scene.
        seg_width: channel multiplier of MGNet and U-Net (1.0 = the paper's network).
        seg_batch, phase1_steps, phase2_steps, phase1_lr, phase2_lr: the two-phase recipe.
        crop_height: word crops are resized to this height (a multiple of 16) for the segmenter.
    Word crops and the recognizers:
        train_words, val_words, test_words: synthetic crops (train / validation / held-out test).
        base_width, base_steps, base_batch, base_lr: the stand-in base CRNN trained from scratch.
        finetune_steps, finetune_batch, finetune_lr: each mask run (input layer only).
    """

    name: str
    scene_size: int
    train_scenes: int
    val_scenes: int
    scene_font: tuple[float, float]
    scene_words: tuple[int, int]
    seg_width: float
    seg_batch: int
    phase1_steps: int
    phase2_steps: int
    phase1_lr: float
    phase2_lr: float
    crop_height: int
    train_words: int
    val_words: int
    test_words: int
    base_width: float
    base_steps: int
    base_batch: int
    base_lr: float
    finetune_steps: int
    finetune_batch: int
    finetune_lr: float

    def record(self) -> dict[str, Any]:
        return asdict(self)


BUDGETS: dict[str, DemoBudget] = {
    "fast": DemoBudget(
        name="fast",
        scene_size=128,
        train_scenes=600,
        val_scenes=60,
        scene_font=(0.15, 0.35),
        scene_words=(1, 3),
        seg_width=0.0625,
        seg_batch=8,
        phase1_steps=300,
        phase2_steps=150,
        phase1_lr=3e-3,
        phase2_lr=1e-3,
        crop_height=48,
        train_words=15_000,
        val_words=1_000,
        test_words=2_000,
        base_width=0.25,
        base_steps=1_400,
        base_batch=64,
        base_lr=3e-3,
        finetune_steps=400,
        finetune_batch=64,
        finetune_lr=5e-3,
    ),
    "paper": DemoBudget(
        name="paper",
        scene_size=512,
        train_scenes=20_000,
        val_scenes=300,
        scene_font=(0.035, 0.14),
        scene_words=(3, 10),
        seg_width=1.0,
        seg_batch=8,
        phase1_steps=60_000,
        phase2_steps=20_000,
        phase1_lr=1e-4,
        phase2_lr=1e-5,
        crop_height=64,
        train_words=1_000_000,
        val_words=5_000,
        test_words=10_000,
        base_width=1.0,
        base_steps=200_000,
        base_batch=128,
        base_lr=1e-3,
        finetune_steps=20_000,
        finetune_batch=128,
        finetune_lr=1e-3,
    ),
}
