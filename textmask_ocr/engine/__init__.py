"""The training engine shared by recognizer fine-tuning and segmentation training.

One loop (:class:`Trainer`) with AMP, DDP through ``torchrun``, progress reports, ``metrics.jsonl``,
atomic best/last checkpoints and exact resume; one checkpoint format (:mod:`.checkpoint`).
"""

from textmask_ocr.engine.checkpoint import is_complete, load_checkpoint, save_checkpoint
from textmask_ocr.engine.distributed import DistributedContext
from textmask_ocr.engine.sampling import ResumableSampler, SeededDataset, ShardSampler
from textmask_ocr.engine.trainer import Trainer, TrainerConfig, TrainTask

__all__ = [
    "DistributedContext",
    "ResumableSampler",
    "SeededDataset",
    "ShardSampler",
    "TrainTask",
    "Trainer",
    "TrainerConfig",
    "is_complete",
    "load_checkpoint",
    "save_checkpoint",
]
