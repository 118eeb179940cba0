"""``textmask-ocr train-seg``: the paper's two-phase training recipe, by role.

- :mod:`.settings`: :class:`SegTrainSettings`, the command's settings, record and validation.
- :mod:`.task`: :class:`SegmentationTask`, the engine task of one phase (loss, validation).
- :mod:`.recipe`: :func:`run_train_seg`, the two phases on the shared training engine.
"""

from textmask_ocr.masking.training.recipe import plan_phases, run_train_seg
from textmask_ocr.masking.training.settings import CRF_MODES, SegTrainSettings
from textmask_ocr.masking.training.task import PhaseSpec, SegmentationTask

__all__ = [
    "CRF_MODES",
    "PhaseSpec",
    "SegTrainSettings",
    "SegmentationTask",
    "plan_phases",
    "run_train_seg",
]
