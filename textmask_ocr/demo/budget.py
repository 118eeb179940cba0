"""Sizes and schedules of the demo: ``fast`` (a 2-core CPU in minutes) and ``paper`` (a GPU)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DemoBudget:
    """Everything the demo's size depends on.

    The segmenter learns from data the recognizer never sees, as in the paper (where it learns
    from real pixel-level annotations and the recognizer from Synth90k): word crops of the
    ``wide`` style (a wider appearance range than the recognizer's words, see
    :data:`~textmask_ocr.data.synth.crops.WORD_STYLES`); scene datasets are the business of
    ``train-seg`` itself (see the README). ``fast`` uses higher learning rates than the paper so
    that a few hundred steps converge.

    Recognizer words:
        train_words, val_words, test_words: synthetic crops of the ``recognizer`` style
            (train / validation / held-out test, different seeds).
        recognizer_fonts: ``system`` (the system's fonts) or ``all`` (also those of installed
            Python packages, e.g. the ``fonts`` extra); the segmenter's crops use all of them.
    Segmenter data and the segmenters:
        seg_style: the synthetic style of the segmenter's crops.
        seg_train_words, seg_val_words: its training and validation crops.
        seg_crop_size: (height, width) the segmenter learns crops at (multiples of 16; wider
            crops are shrunk to fit, narrower ones padded).
        segmenters: the architectures trained; the first one's masks make the ``PM`` row, the
            others add ``PM (<arch>)`` rows.
        seg_width: channel multiplier of the segmenters (1.0 = the paper's network).
        seg_batch, phase1_steps, phase2_steps, phase1_lr, phase2_lr: the two-phase recipe.
        seg_phases: 2 for the full recipe, 1 to stop after phase 1 (the paper's Ours-alpha; the
            U-Net baseline always stops there). A short phase 2 lowers F1 before it raises it
            (its guided decoders start from weights phase 1 only showed zero guidance), so the
            fast budget spends its segmenter time on phase 1.
        seg_augment: rotation and colour jitter on the segmenter's training images (the
            synthetic crops are already drawn over a wide appearance range).
    The base recognizer and the fine-tuning:
        base_width, base_hidden, base_aux_ctc, base_steps, base_batch, base_lr: the stand-in
            base CRNN trained from scratch (width multiplier, LSTM size, whether it has the
            auxiliary CTC head that ends the CTC plateau sooner, schedule).
        finetune_steps, finetune_batch, finetune_lr: each mask run (input layer only).
    """

    name: str
    train_words: int
    val_words: int
    test_words: int
    recognizer_fonts: str
    seg_style: str
    seg_train_words: int
    seg_val_words: int
    seg_crop_size: tuple[int, int]
    segmenters: tuple[str, ...]
    seg_width: float
    seg_batch: int
    seg_phases: int
    seg_augment: bool
    phase1_steps: int
    phase2_steps: int
    phase1_lr: float
    phase2_lr: float
    base_width: float
    base_hidden: int
    base_aux_ctc: bool
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
        train_words=12_000,
        val_words=500,
        test_words=2_000,
        recognizer_fonts="all",
        seg_style="wide",
        seg_train_words=3_000,
        seg_val_words=300,
        seg_crop_size=(32, 128),
        segmenters=("mgnet-skip",),
        seg_width=0.125,
        seg_batch=16,
        seg_phases=1,
        seg_augment=False,
        phase1_steps=300,
        phase2_steps=150,
        phase1_lr=3e-3,
        phase2_lr=1e-3,
        base_width=0.25,
        base_hidden=128,
        base_aux_ctc=True,
        base_steps=1_900,
        base_batch=32,
        base_lr=3e-3,
        finetune_steps=400,
        finetune_batch=32,
        finetune_lr=5e-3,
    ),
    "paper": DemoBudget(
        name="paper",
        train_words=1_000_000,
        val_words=5_000,
        test_words=10_000,
        recognizer_fonts="all",
        seg_style="wide",
        seg_train_words=200_000,
        seg_val_words=2_000,
        seg_crop_size=(64, 256),
        segmenters=("mgnet", "mgnet-skip", "unet"),
        seg_width=1.0,
        seg_batch=8,
        seg_phases=2,
        seg_augment=True,
        phase1_steps=60_000,
        phase2_steps=20_000,
        phase1_lr=1e-4,
        phase2_lr=1e-5,
        base_width=1.0,
        base_hidden=256,
        base_aux_ctc=True,
        base_steps=200_000,
        base_batch=128,
        base_lr=1e-3,
        finetune_steps=20_000,
        finetune_batch=128,
        finetune_lr=1e-3,
    ),
}
