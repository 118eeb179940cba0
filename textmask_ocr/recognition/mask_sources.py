"""Where the mask channel of an RGB+mask recognizer comes from.

- ``real``: the crop's ``mask-%09d`` from the LMDB (synthetic ground truth, or masks cached by
  ``add-masks``);
- ``random``: the paper's control, every pixel independently 1 with probability 0.5, drawn afresh
  for every sample at the model's input size;
- ``predicted``: a segmenter's pixel-level output, cached in the LMDB or computed on the fly;
- ``none``: no mask channel (the unmodified recognizer, the baseline row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image

from recognizers import RecognizerConfig
from textmask_ocr.recognition.preprocess import model_input

MASK_SOURCES = ("real", "random", "predicted", "none")

#: Predicts the text masks of a batch of crops: crops -> masks ('L', each its crop's size).
MaskPredictor = Callable[[Sequence[Image.Image]], list[Image.Image]]


def random_mask(config: RecognizerConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """A Bernoulli(0.5) mask at the model's input size, (1, H, W) with values in {0, 1}."""
    probabilities = torch.full((1, *config.input_size), 0.5)
    return torch.bernoulli(probabilities, generator=generator)


class SampleToInput:
    """Dataset transform: a word-crop sample -> ``{"input": (C, H, W), "label": str, "key": int}``.

    Args:
        config: what the recognizer reads (``mask_channel`` must agree with ``mask_source``).
        mask_source: one of :data:`MASK_SOURCES`.
        predictor: for ``predicted`` samples without a cached mask.
        stored_masks_are_predicted: the data's ``mask-%09d`` entries are cached predictions
            (``add-masks``); otherwise ``predicted`` never reads them (they are ground truth).
    """

    def __init__(
        self,
        config: RecognizerConfig,
        mask_source: str,
        predictor: MaskPredictor | None = None,
        *,
        stored_masks_are_predicted: bool = False,
    ) -> None:
        if mask_source not in MASK_SOURCES:
            raise ValueError(f"unknown mask source {mask_source!r}")
        if config.mask_channel != (mask_source != "none"):
            kind = "an RGB+mask" if config.mask_channel else "a mask-less"
            raise ValueError(f"mask source {mask_source!r} does not fit {kind} recognizer")
        self.config = config
        self.mask_source = mask_source
        self.predictor = predictor
        self.use_stored_masks = mask_source == "real" or stored_masks_are_predicted

    def mask_for(self, sample: dict[str, Any]) -> torch.Tensor | Image.Image | None:
        """The mask of one sample under this source (``None`` for ``none``)."""
        if self.mask_source == "none":
            return None
        if self.mask_source == "random":
            return random_mask(self.config)
        if self.use_stored_masks and sample.get("mask") is not None:
            return sample["mask"]
        if self.mask_source == "predicted" and self.predictor is not None:
            return self.predictor([sample["image"]])[0]
        raise ValueError(f"sample {sample.get('key')} has no {self.mask_source} mask")

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        return {
            "input": model_input(sample["image"], self.config, self.mask_for(sample)),
            "label": sample["label"],
            "key": sample.get("key", -1),
        }


def collate_inputs(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch transformed samples: ``{"input": (N, C, H, W), "labels": [str], "keys": [int]}``."""
    return {
        "input": torch.stack([sample["input"] for sample in samples]),
        "labels": [sample["label"] for sample in samples],
        "keys": [sample["key"] for sample in samples],
    }
