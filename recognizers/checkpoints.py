"""Reading checkpoints and loading them strictly, with errors that name what does not fit.

Two checkpoint forms are read:

* a public one: a bare state dict (CRNN's ``crnn.pth``) or ``{'state_dict': ...}`` (ASTER), maybe
  with the ``module.`` prefix of ``DataParallel``;
* ours: ``{'config': RecognizerConfig.to_dict(), 'state_dict': ...}`` (see
  :func:`checkpoint_payload`), maybe with more entries (optimizer, step, ...) that are ignored here.

Files are read with ``torch.load(..., weights_only=True)``: a checkpoint can never run code.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recognizers.codecs import LabelCodec
from recognizers.configs import RecognizerConfig, build_recognizer, infer_config
from recognizers.errors import CheckpointError

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "LoadReport",
    "checkpoint_payload",
    "load_recognizer",
    "load_state_dict_strict",
    "load_weights_only",
    "read_checkpoint",
    "remap_alphabet",
]

_LISTED_KEYS = 10  # names listed per category in a mismatch error
_TRACKED = "num_batches_tracked"
_PREFIX = "module."


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds for a recognizer.

    Attributes:
        state_dict: parameter and buffer tensors, ``module.`` prefix removed.
        config: the stored config (our checkpoints), or None (public ones).
        path: the file it came from.
    """

    state_dict: dict[str, Tensor]
    config: RecognizerConfig | None
    path: Path


class LoadReport(NamedTuple):
    """Keys that did not load: missing from the file, unknown to the model, shaped differently."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]]  # key, file shape, model shape


def _reason(error: BaseException, limit: int = 160) -> str:
    """One line on why loading failed: the weights-only unpickler's verdict, else the first line."""
    text = str(error)
    verdict = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    lines = text.strip().splitlines()
    if verdict:
        line = verdict.group(1).split(". ")[0].rstrip(".")
    else:
        line = lines[0] if lines else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def load_weights_only(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: no file can run code when read.

    torch's warnings about the file (an old pickle protocol, say) are not shown: a file that
    loads needs none, and one that does not gets the one-line error alone.

    Raises:
        CheckpointError: naming the file: missing, not a PyTorch file (truncated, junk), or one
            whose loading would run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails on foreign files with many exception types
        if isinstance(error, pickle.UnpicklingError) and "Unsupported global" in str(error):
            raise CheckpointError(
                f"{path}: refused by weights-only loading, it would run code ({_reason(error)})"
            ) from None
        reason = f"{type(error).__name__}: {_reason(error)}"
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({reason})") from None


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a public or our checkpoint file (weights only).

    Raises:
        CheckpointError: the file is missing, unreadable, would need to run code to load, or
            holds no state dict; the message names the file.
    """
    path = Path(path)
    content = load_weights_only(path)
    config: RecognizerConfig | None = None
    if isinstance(content, Mapping) and isinstance(content.get("state_dict"), Mapping):
        state = content["state_dict"]
        if content.get("config") is not None:
            try:
                config = RecognizerConfig.from_dict(content["config"])
            except ValueError as error:
                raise CheckpointError(f"{path}: bad stored config: {error}") from None
    elif isinstance(content, Mapping) and content:
        state = content
    else:
        raise CheckpointError(f"{path}: holds no state dict")

    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        shown = ", ".join(map(str, not_tensors[:5]))
        raise CheckpointError(f"{path}: holds no state dict (non-tensor entries: {shown})")
    keys = list(state)
    if keys and all(k.startswith(_PREFIX) for k in keys):
        state = {k[len(_PREFIX) :]: v for k, v in state.items()}
    return Checkpoint(dict(state), config, path)


def checkpoint_payload(model: nn.Module) -> dict[str, Any]:
    """What to save for a model built by :func:`build_recognizer`: its config and weights."""
    return {"config": model.config.to_dict(), "state_dict": model.state_dict()}


def _listing(title: str, names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED_KEYS])
    more = f" (+{len(names) - _LISTED_KEYS} more)" if len(names) > _LISTED_KEYS else ""
    return f"{title}: {shown}{more}"


def load_state_dict_strict(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    ignore_keys: Collection[str] = (),
    strict: bool = True,
    source: str = "checkpoint",
) -> LoadReport:
    """Copy ``state_dict`` into ``model``, strict by default.

    ``num_batches_tracked`` entries may be absent (older checkpoints lack them). Keys in
    ``ignore_keys`` are neither loaded nor required (an explicit head swap keeps the model's own).

    Returns:
        the keys that were not loaded (empty lists when strict).

    Raises:
        CheckpointError: strict and some key is missing, unexpected or mis-shaped; the message
            lists them by name (``source`` names the file).
    """
    ignored = set(ignore_keys)
    own = model.state_dict()
    missing = [
        k for k in own if k not in state_dict and k not in ignored and not k.endswith(_TRACKED)
    ]
    unexpected = [k for k in state_dict if k not in own and k not in ignored]
    mismatched = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state_dict.items()
        if k in own and k not in ignored and v.shape != own[k].shape
    ]
    if strict and (missing or unexpected or mismatched):
        parts = []
        if missing:
            parts.append(_listing("missing keys", missing))
        if unexpected:
            parts.append(_listing("unexpected keys", unexpected))
        if mismatched:
            parts.append(
                _listing(
                    "mis-shaped keys",
                    [f"{k} (checkpoint {s}, model {m})" for k, s, m in mismatched],
                )
            )
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: {'; '.join(parts)}")
    wrong = {k for k, _, _ in mismatched}
    loadable = {
        k: v for k, v in state_dict.items() if k in own and k not in ignored and k not in wrong
    }
    model.load_state_dict(loadable, strict=False)
    return LoadReport(missing, unexpected, mismatched)


def load_recognizer(
    checkpoint: Checkpoint | str | os.PathLike[str], *, arch: str | None = None
) -> nn.Module:
    """Build the model a checkpoint describes and load it strictly.

    Our checkpoints carry their config; a public one needs ``arch`` (its settings are then read
    from the tensor shapes, see :func:`infer_config`).

    Raises:
        CheckpointError: unreadable, no config and no ``arch``, or the weights do not fit.
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = read_checkpoint(checkpoint)
    source = str(checkpoint.path)
    config = checkpoint.config
    if config is None:
        if arch is None:
            raise CheckpointError(f"{source}: stores no config; name its architecture")
        config = infer_config(arch, checkpoint.state_dict, source=source)
    elif arch is not None and arch != config.arch:
        raise CheckpointError(f"{source}: holds a {config.arch} model, not {arch}")
    model = build_recognizer(config)
    load_state_dict_strict(model, checkpoint.state_dict, source=source)
    return model


_START = "<start>"  # the extra embedding row of an attention decoder's start symbol


def _row_tokens(codec: LabelCodec, rows: int, key: str) -> tuple[str, ...]:
    tokens = codec.tokens
    if rows == len(tokens):
        return tokens
    if rows == len(tokens) + 1:
        return (*tokens, _START)
    raise ValueError(f"{key} has {rows} rows, the codec {len(tokens)} classes")


def remap_alphabet(
    state_dict: Mapping[str, Tensor],
    head_keys: Collection[str],
    old_codec: LabelCodec,
    new_codec: LabelCodec,
    fresh_state: Mapping[str, Tensor],
) -> dict[str, Tensor]:
    """Move class-indexed tensors to a new alphabet.

    For each key of ``head_keys`` (the classifier and, for attention, the symbol embedding; see
    the models' ``classifier_keys``), the result starts from ``fresh_state[key]`` (the newly
    initialised model) and copies the rows of every token both codecs share: the characters and
    the special tokens (blank, EOS, ...), plus a trailing start-symbol row where the tensor has
    one. Other entries are returned unchanged.

    Returns:
        a new state dict for the model of ``new_codec``.
    """
    remapped = dict(state_dict)
    for key in head_keys:
        old, fresh = state_dict[key], fresh_state[key]
        if old.shape[1:] != fresh.shape[1:]:
            raise ValueError(
                f"{key}: rows of {tuple(old.shape[1:])} cannot fill {tuple(fresh.shape[1:])}"
            )
        old_rows = {t: i for i, t in enumerate(_row_tokens(old_codec, old.shape[0], key))}
        new_tokens = _row_tokens(new_codec, fresh.shape[0], key)
        pairs = [(j, old_rows[t]) for j, t in enumerate(new_tokens) if t in old_rows]
        result = fresh.detach().clone()
        if pairs:
            new_index, old_index = (
                torch.tensor(v, dtype=torch.long) for v in zip(*pairs, strict=True)
            )
            result[new_index] = old.detach()[old_index].to(result.dtype)
        remapped[key] = result
    return remapped
