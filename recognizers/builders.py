"""Per-architecture model builders, torchvision-style: ``crnn(...)`` and ``aster(...)``.

Each builds a freshly initialised model from the public model's settings
(:data:`~recognizers.configs.default_cfgs`) with the given changes, through
:func:`~recognizers.configs.build_recognizer`, so the model carries its config as
``model.config`` and its checkpoints load with no flags::

    model = crnn(width_mult=0.25, batchnorm_everywhere=True)  # the demo's base CRNN
    masked = aster(mask_channel=True)  # RGB + mask input
"""

from __future__ import annotations

import dataclasses
from typing import Any

from recognizers.aster import ASTER
from recognizers.configs import RecognizerConfig, build_recognizer, default_cfgs
from recognizers.crnn import CRNN

__all__ = ["aster", "crnn", "recognizer_config"]

_CONFIG_FIELDS = {field.name for field in dataclasses.fields(RecognizerConfig)} - {
    "arch",
    "arch_kwargs",
}


def recognizer_config(arch: str, **changes: Any) -> RecognizerConfig:
    """``default_cfgs[arch]`` with ``changes``: config fields (``color_mode``, ``mask_channel``,
    ``input_size``, ``alphabet``, ``lowercase``, ``mean``, ``std``) are replaced, anything else is
    an option of the model class, merged into the default ``arch_kwargs``.

    Raises:
        ValueError: an unknown architecture or option, or an invalid value.
    """
    if arch not in default_cfgs:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(default_cfgs)}")
    base = default_cfgs[arch]
    fields = {key: value for key, value in changes.items() if key in _CONFIG_FIELDS}
    options = {key: value for key, value in changes.items() if key not in _CONFIG_FIELDS}
    return base.replace(**fields, arch_kwargs={**base.arch_kwargs, **options})


def crnn(**changes: Any) -> CRNN:
    """A CRNN (public layout: gray 32x100 input, 37 classes, width 1, BiLSTM 256).

    Args:
        changes: see :func:`recognizer_config`; CRNN options are ``hidden_size``,
            ``width_mult`` and ``batchnorm_everywhere``.
    """
    return build_recognizer(recognizer_config("crnn", **changes))


def aster(**changes: Any) -> ASTER:
    """An ASTER (public layout: RGB 64x256 input, TPS + ResNet-45 + attention, 97 classes).

    Args:
        changes: see :func:`recognizer_config`; ASTER options are ``with_lstm``, ``width_mult``,
            ``s_dim``, ``att_dim``, ``num_control_points``, ``tps_margins``, ``stn_input_size``,
            ``rectified_size``, ``max_length`` and ``beam_width``.
    """
    return build_recognizer(recognizer_config("aster", **changes))
