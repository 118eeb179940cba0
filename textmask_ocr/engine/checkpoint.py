"""The project's one checkpoint format, and RNG capture for exact resume.

A checkpoint is a dict saved with ``torch.save`` and read back with ``weights_only=True``::

    {
        "format": "textmask_ocr/1",
        "state_dict": state_dict,             # no "module." prefix
        "config": dict,                       # enough to rebuild the model with no flags
        "trainer": {...} | absent,            # optimizer, scheduler, scaler, step, best, rng, task
        "run_config": dict | absent,          # the command's settings, for the record
    }

``best.pt`` and ``last.pt`` of a run hold the trainer state as well; a released model may drop it.
The ``state_dict`` + ``config`` pair is also what :func:`recognizers.read_checkpoint` reads, so a
fine-tuned recognizer loads anywhere with no flags.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recognizers.checkpoints import CheckpointError, load_weights_only
from textmask_ocr.atomic import atomic_torch_save, atomic_write_json
from textmask_ocr.errors import InputError

CHECKPOINT_FORMAT = "textmask_ocr/1"
#: The record a training run writes last, once it has finished (see :func:`is_complete`).
COMPLETE_FILE = "complete.json"


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model_state: dict[str, torch.Tensor],
    model_config: dict[str, Any],
    trainer_state: dict[str, Any] | None = None,
    run_config: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (a temporary file renamed over ``path``)."""
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {key.removeprefix("module."): value for key, value in model_state.items()},
        "config": model_config,
    }
    if trainer_state is not None:
        payload["trainer"] = trainer_state
    if run_config is not None:
        payload["run_config"] = run_config
    atomic_torch_save(payload, path)


def read_torch_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line errors naming the file
    (see :func:`recognizers.checkpoints.load_weights_only`)."""
    try:
        return load_weights_only(path)
    except CheckpointError as error:
        raise InputError(str(error)) from None


def is_project_checkpoint(payload: Any) -> bool:
    """Whether a loaded object is a checkpoint in this project's format."""
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint of this project's format; :class:`InputError` for anything else."""
    payload = read_torch_file(path)
    if not is_project_checkpoint(payload):
        raise InputError(
            f"{path}: not a textmask_ocr checkpoint (expected a dict with format "
            f"{CHECKPOINT_FORMAT!r}); public base weights go to --weights"
        )
    return payload


def mark_complete(run_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Write ``run_dir/complete.json`` (atomically): the run finished; ``record`` says how."""
    atomic_write_json({"complete": True, **record}, Path(run_dir) / COMPLETE_FILE)


def clear_complete(run_dir: str | os.PathLike[str]) -> None:
    """Remove the completion record of a run that continues."""
    (Path(run_dir) / COMPLETE_FILE).unlink(missing_ok=True)


def is_complete(run_dir: str | os.PathLike[str]) -> bool:
    """Whether the training run in ``run_dir`` finished (its checkpoints alone do not say so:
    ``best.pt`` and ``last.pt`` are written while it runs)."""
    return (Path(run_dir) / COMPLETE_FILE).is_file()


def capture_rng_state() -> dict[str, Any]:
    """The state of every RNG a training step may draw from (Python, NumPy, torch CPU/CUDA)."""
    algorithm, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (algorithm, keys.tolist(), position, has_gauss, cached_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    algorithm, keys, position, has_gauss, cached_gauss = state["numpy"]
    keys = np.asarray(keys, dtype=np.uint32)
    np.random.set_state((algorithm, keys, position, has_gauss, cached_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """Lists back to tuples, recursively (``random.setstate`` insists on tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(item) for item in value)
    return value
