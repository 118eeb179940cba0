"""Recognizer configurations: one small record per model, stored in every checkpoint we write.

A :class:`RecognizerConfig` says everything needed to rebuild a model and feed it: architecture,
colour mode and mask channel (hence the input channels), input size, normalisation, alphabet and
the architecture's keyword arguments. ``default_cfgs`` holds the public models' settings;
:func:`build_recognizer` builds a model that carries its config as ``model.config``;
:func:`infer_config` reads the settings of a public state dict from its shapes, so a public
checkpoint also loads with no flags.

Image preprocessing contract (what ``mean``/``std`` describe): convert to ``color_mode`` ('L' with
PIL's ITU-R 601-2 luma, or 'RGB'), resize bilinearly to ``input_size``, scale to [0, 1], then
``(x - mean) / std`` on every image channel. With ``mask_channel`` a text-probability map in
[0, 1] (1 = text), resized alike, is stacked as the last channel without normalisation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from recognizers.aster import ASTER
from recognizers.codecs import (
    ASTER_ALPHABET,
    CRNN_ALPHABET,
    AttentionCodec,
    CTCCodec,
    LabelCodec,
)
from recognizers.crnn import CRNN
from recognizers.errors import CheckpointError

__all__ = [
    "ARCHS",
    "RecognizerConfig",
    "build_codec",
    "build_recognizer",
    "default_cfgs",
    "infer_config",
]

#: Supported architectures and the codec each decodes with.
ARCHS = {"crnn": "ctc", "aster": "attention"}
_COLOR_CHANNELS = {"L": 1, "RGB": 3}
# Keyword arguments each architecture accepts from ``arch_kwargs``.
_ARCH_KWARGS = {
    "crnn": {"hidden_size", "width_mult", "batchnorm_everywhere", "aux_ctc"},
    "aster": {
        "with_lstm",
        "width_mult",
        "s_dim",
        "att_dim",
        "num_control_points",
        "tps_margins",
        "stn_input_size",
        "rectified_size",
        "max_length",
        "beam_width",
    },
}


def _as_tuples(value: Any) -> Any:
    """Lists (from JSON) back to tuples, recursively."""
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(v) for v in value)
    return value


def _as_lists(value: Any) -> Any:
    """Tuples to lists, recursively (also inside dicts), for JSON."""
    if isinstance(value, Mapping):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_lists(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class RecognizerConfig:
    """How to build and feed one recognizer.

    Attributes:
        arch: ``'crnn'`` or ``'aster'``.
        color_mode: ``'L'`` (grayscale) or ``'RGB'`` image channels.
        input_size: (H, W) the image is resized to.
        alphabet: the characters the codec knows, in class order.
        lowercase: labels are lower-cased before encoding (case-insensitive alphabet).
        mask_channel: a text-mask channel follows the image channels.
        mean, std: image normalisation ``(x - mean) / std`` for x in [0, 1].
        arch_kwargs: keyword arguments of the model class (widths, options).
    """

    arch: str
    color_mode: str
    input_size: tuple[int, int]
    alphabet: str
    lowercase: bool = False
    mask_channel: bool = False
    mean: float = 0.5
    std: float = 0.5
    arch_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose from {sorted(ARCHS)}")
        if self.color_mode not in _COLOR_CHANNELS:
            raise ValueError(f"unknown colour mode {self.color_mode!r}; choose 'L' or 'RGB'")
        size = _as_tuples(self.input_size)
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ValueError(f"input_size must be (H, W) of positive ints, got {self.input_size!r}")
        unknown = set(self.arch_kwargs) - _ARCH_KWARGS[self.arch]
        if unknown:
            raise ValueError(f"unknown {self.arch} options: {', '.join(sorted(unknown))}")
        if self.std <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        object.__setattr__(self, "input_size", size)
        object.__setattr__(
            self, "arch_kwargs", {k: _as_tuples(v) for k, v in self.arch_kwargs.items()}
        )

    @property
    def codec_kind(self) -> str:
        """``'ctc'`` or ``'attention'``."""
        return ARCHS[self.arch]

    @property
    def image_channels(self) -> int:
        return _COLOR_CHANNELS[self.color_mode]

    @property
    def in_channels(self) -> int:
        """Channels of the model's input: image channels, plus one with a mask."""
        return self.image_channels + int(self.mask_channel)

    def replace(self, **changes: Any) -> RecognizerConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-compatible dict (tuples become lists)."""
        return {f.name: _as_lists(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecognizerConfig:
        """Inverse of :meth:`to_dict`; ValueError on unknown or missing fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown recognizer config fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**dict(data))
        except TypeError as error:  # a missing required field
            raise ValueError(f"incomplete recognizer config: {error}") from None


default_cfgs: dict[str, RecognizerConfig] = {
    "crnn": RecognizerConfig(
        arch="crnn",
        color_mode="L",
        input_size=(32, 100),
        alphabet=CRNN_ALPHABET,
        lowercase=True,
        arch_kwargs={"hidden_size": 256, "width_mult": 1.0, "batchnorm_everywhere": False},
    ),
    "aster": RecognizerConfig(
        arch="aster",
        color_mode="RGB",
        input_size=(64, 256),
        alphabet=ASTER_ALPHABET,
        arch_kwargs={
            "with_lstm": True,
            "width_mult": 1.0,
            "s_dim": 512,
            "att_dim": 512,
            "num_control_points": 20,
            "tps_margins": (0.05, 0.05),
            "stn_input_size": (32, 64),
            "rectified_size": (32, 100),
            "max_length": 100,
            "beam_width": 5,
        },
    ),
}


def build_codec(cfg: RecognizerConfig) -> LabelCodec:
    """The label codec of a config (CTC for CRNN, attention for ASTER)."""
    codec_class = CTCCodec if cfg.codec_kind == "ctc" else AttentionCodec
    return codec_class(cfg.alphabet, lowercase=cfg.lowercase)


def build_recognizer(cfg: RecognizerConfig) -> nn.Module:
    """A freshly initialised model for ``cfg``, carrying it as ``model.config``."""
    codec = build_codec(cfg)
    model: nn.Module
    if cfg.arch == "crnn":
        if cfg.input_size[0] != CRNN.input_height:
            raise ValueError(f"CRNN needs input height 32, got input_size {cfg.input_size}")
        model = CRNN(cfg.in_channels, codec.num_classes, **cfg.arch_kwargs)
    else:
        assert isinstance(codec, AttentionCodec)
        model = ASTER(
            codec.num_classes,
            cfg.in_channels,
            eos_index=codec.eos_index,
            padding_index=codec.padding_index,
            **cfg.arch_kwargs,
        )
    model.config = cfg
    return model


def _channels_to_mode(in_channels: int, source: str) -> tuple[str, bool]:
    modes = {1: ("L", False), 2: ("L", True), 3: ("RGB", False), 4: ("RGB", True)}
    if in_channels not in modes:
        raise CheckpointError(
            f"{source}: the input layer reads {in_channels} channels (1-4 expected)"
        )
    return modes[in_channels]


def _shape(state: Mapping[str, Tensor], key: str, arch: str, source: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{source}: holds no {arch.upper()} weights (no {key})")
    return tuple(state[key].shape)


def infer_config(
    arch: str, state_dict: Mapping[str, Tensor], *, source: str = "checkpoint"
) -> RecognizerConfig:
    """The config of a state dict in the public layout (ours or a width-scaled variant).

    Reads from the shapes: input channels, width multiplier, hidden sizes, the CRNN's all-BN and
    auxiliary-head options and the ASTER encoder's LSTM. The alphabet is the architecture's
    default, so the classifier must have its size; a checkpoint with another alphabet needs its
    stored config.

    Raises:
        CheckpointError: the state dict is not of this architecture or has another alphabet size.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}")
    base = default_cfgs[arch]
    codec = build_codec(base)
    if arch == "crnn":
        first = _shape(state_dict, "cnn.conv0.weight", arch, source)
        classes = _shape(state_dict, "rnn.1.embedding.weight", arch, source)[0]
        hidden = _shape(state_dict, "rnn.0.rnn.weight_hh_l0", arch, source)[1]
        kwargs = {
            "hidden_size": hidden,
            "width_mult": first[0] / 64,
            "batchnorm_everywhere": "cnn.batchnorm0.weight" in state_dict,
        }
        if "aux_head.weight" in state_dict:
            kwargs["aux_ctc"] = True
    else:
        first = _shape(state_dict, "encoder.layer0.0.weight", arch, source)
        classes = _shape(state_dict, "decoder.decoder.fc.weight", arch, source)[0]
        s_dim = _shape(state_dict, "decoder.decoder.gru.weight_hh_l0", arch, source)[1]
        att_dim = _shape(state_dict, "decoder.decoder.attention_unit.xEmbed.weight", arch, source)[
            0
        ]
        points = _shape(state_dict, "stn_head.stn_fc2.weight", arch, source)[0] // 2
        kwargs = {
            **base.arch_kwargs,
            "with_lstm": "encoder.rnn.weight_ih_l0" in state_dict,
            "width_mult": first[0] / 32,
            "s_dim": s_dim,
            "att_dim": att_dim,
            "num_control_points": points,
        }
    if classes != codec.num_classes:
        raise CheckpointError(
            f"{source}: the classifier has {classes} classes, the default {arch.upper()} "
            f"alphabet needs {codec.num_classes}; use a checkpoint that stores its config"
        )
    color_mode, mask_channel = _channels_to_mode(first[1], source)
    return base.replace(color_mode=color_mode, mask_channel=mask_channel, arch_kwargs=kwargs)
