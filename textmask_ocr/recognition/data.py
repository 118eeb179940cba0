"""Word-crop datasets read for a recognizer under a mask source."""

from __future__ import annotations

import os
from typing import Any

from recognizers import RecognizerConfig
from textmask_ocr.data.mask_cache import has_predicted_masks
from textmask_ocr.data.sampling import open_word_dataset
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.mask_sources import MaskPredictor, SampleToInput


def recognizer_dataset(
    path: str | os.PathLike[str],
    config: RecognizerConfig,
    mask: str,
    predictor: MaskPredictor | None = None,
    *,
    training: bool = False,
    **options: Any,
) -> Any:
    """An LMDB or folder of word crops whose items are the recognizer's inputs.

    Training data is filtered to labels the codec can encode (counted, see the dataset's
    ``filter_report``); evaluation data is not filtered: the protocol normalises labels instead,
    and every benchmark sample counts.

    ``predicted`` reads masks cached by ``add-masks`` when the LMDB has them (the fast path), and
    otherwise runs ``predictor`` on every crop inside the data pipeline (once per read, in the
    DataLoader workers: simple, but the segmenter then runs every epoch).

    Raises:
        InputError: ``mask="real"`` on data without ``mask-%09d`` entries or with predicted ones,
            or ``"predicted"`` without cached masks and without a predictor.
    """
    if training:
        options = {"alphabet": config.alphabet, "lowercase": config.lowercase, **options}
    cached = has_predicted_masks(path)
    if mask == "real" and cached:
        raise InputError(f"{path}: its masks are predictions (add-masks); use --mask predicted")
    if mask == "predicted" and predictor is None and not cached:
        raise InputError(
            f"{path}: --mask predicted needs masks cached by `textmask-ocr add-masks` "
            "or a --segmenter to predict them"
        )
    transform = SampleToInput(config, mask, predictor, stored_masks_are_predicted=cached)
    dataset = open_word_dataset(path, transform=transform, **options)
    if mask == "real" and not dataset.has_masks:
        raise InputError(f"{path}: --mask real needs mask-%09d entries, and this data has none")
    return dataset
