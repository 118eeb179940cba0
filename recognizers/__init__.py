"""Text recognizers in plain PyTorch: CRNN, ASTER, their label codecs, checkpoint loading and the
input adapter that gives them an RGB + text-mask input.

Models are built from a config by :func:`build_recognizer`, or torchvision-style by the
per-architecture builders :func:`crnn` and :func:`aster` (the public settings, some changed).
Every model offers the same interface:

* ``model.config``: its :class:`RecognizerConfig` (saved by :func:`checkpoint_payload`);
* ``model(images, targets, lengths)``: training logits, CRNN (T, N, C) per frame (with its
  auxiliary CTC head, :class:`CRNNOutputs`), ASTER (N, L, C) teacher-forced;
  ``targets, lengths = build_codec(config).encode(texts)``;
* ``model.loss(outputs, targets, lengths, reduction="mean")``: CTC or sequence cross-entropy of
  the forward's output, in float32 (call it on the unwrapped model, the forward through the DDP
  wrapper);
* ``model.predict(images) -> (ids, probs)`` and ``build_codec(config).decode(ids, probs)`` for
  texts with confidences;
* ``model.classifier_keys``: the class-indexed parameters (head swaps, alphabet changes).

This package never imports ``textmask_ocr``; the application layer composes it.
"""

from __future__ import annotations

from recognizers.adapter import (
    adapt_input_conv,
    add_mask_channel,
    input_conv_names,
    input_layers,
    mask_is_ignored,
)
from recognizers.aster import ASTER
from recognizers.builders import aster, crnn, recognizer_config
from recognizers.checkpoints import (
    Checkpoint,
    LoadReport,
    checkpoint_payload,
    load_recognizer,
    load_state_dict_strict,
    read_checkpoint,
    remap_alphabet,
)
from recognizers.codecs import AttentionCodec, CTCCodec, LabelCodec, Prediction
from recognizers.configs import (
    RecognizerConfig,
    build_codec,
    build_recognizer,
    default_cfgs,
    infer_config,
)
from recognizers.crnn import CRNN, CRNNOutputs
from recognizers.errors import CheckpointError
from recognizers.losses import ctc_loss, sequence_cross_entropy

__all__ = [
    "ASTER",
    "CRNN",
    "AttentionCodec",
    "CRNNOutputs",
    "CTCCodec",
    "Checkpoint",
    "CheckpointError",
    "LabelCodec",
    "LoadReport",
    "Prediction",
    "RecognizerConfig",
    "adapt_input_conv",
    "add_mask_channel",
    "aster",
    "build_codec",
    "build_recognizer",
    "checkpoint_payload",
    "crnn",
    "ctc_loss",
    "default_cfgs",
    "infer_config",
    "input_conv_names",
    "input_layers",
    "load_recognizer",
    "load_state_dict_strict",
    "mask_is_ignored",
    "read_checkpoint",
    "recognizer_config",
    "remap_alphabet",
    "sequence_cross_entropy",
]
