"""Segmenter configurations: what a checkpoint stores to rebuild and feed its network.

A :class:`SegmenterConfig` names the architecture (``mgnet``: the mutually guided network;
``mgnet-skip``: the same with encoder-to-decoder skip connections, beyond the paper; ``unet``: the
single-branch baseline), its width multiplier and input channels, the training input
size, and the image normalisation. :func:`build_segmenter` builds a model that carries its config
as ``model.config``; :func:`normalize_image` is the one image preprocessing step shared by training,
evaluation and prediction.

Image contract: RGB colours in [0, 1] (how :func:`segmentation.datasets.read_rgb_image` decodes
any file), then ``(x - mean) / std`` per channel; the network needs sides that are multiples of
:data:`STRIDE` (prediction pads or resizes, see ``textmask_ocr.masking.predictor``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from segmentation.mgnet import MutuallyGuidedNet
from segmentation.unet import UNet

__all__ = [
    "ARCHS",
    "DEFAULT_CROP_HEIGHT",
    "STRIDE",
    "TWO_BRANCH_ARCHS",
    "SegmenterConfig",
    "build_segmenter",
    "default_cfgs",
    "normalize_image",
]

#: Network builders by architecture name; each takes ``width`` and ``in_channels``.
ARCHS: dict[str, Callable[..., nn.Module]] = {
    "mgnet": MutuallyGuidedNet,
    "mgnet-skip": functools.partial(MutuallyGuidedNet, skips=True),
    "unet": UNet,
}
#: Architectures with both branches (pixel-level D_T and polygon-level D_P) and two phases.
TWO_BRANCH_ARCHS = frozenset({"mgnet", "mgnet-skip"})
#: Output stride of every architecture: input sides must be multiples of it.
STRIDE = 16
#: The height word crops are segmented at when a config does not say (checkpoints made before
#: ``crop_height`` existed were all used at this height).
DEFAULT_CROP_HEIGHT = 64


def _floats(value: float | Sequence[float], channels: int, name: str) -> tuple[float, ...]:
    values = (float(value),) * channels if isinstance(value, int | float) else tuple(value)
    if len(values) != channels:
        raise ValueError(f"{name} needs {channels} values (one per channel), got {list(values)}")
    return tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class SegmenterConfig:
    """How to build and feed one segmentation network.

    Attributes:
        arch: ``'mgnet'`` (the paper's network), ``'mgnet-skip'`` (with skip connections) or
            ``'unet'``.
        width: channel multiplier of every layer (1.0 = the paper's network).
        in_channels: image channels (3 for RGB).
        input_size: (H, W) the network was trained at; multiples of :data:`STRIDE`.
        mean, std: per-channel normalisation ``(x - mean) / std`` of colours x in [0, 1]; a single
            number is repeated over the channels.
        phases: how many phases the network runs at inference: 2 (the loop closed, answers O'_T
            and O'_P) for a network trained through phase 2, 1 (O_T and O_P) for one trained in
            phase 1 only, whose guided path never learnt. Single-branch networks ignore it.
        crop_height: the height word crops are resized to before segmentation (a multiple of
            :data:`STRIDE`; the width follows the crop's aspect ratio): the training height of a
            network trained on word crops, :data:`DEFAULT_CROP_HEIGHT` otherwise.
    """

    arch: str = "mgnet"
    width: float = 1.0
    in_channels: int = 3
    input_size: tuple[int, int] = (512, 512)
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    phases: int = 2
    crop_height: int = DEFAULT_CROP_HEIGHT

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHS)}")
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if not isinstance(self.in_channels, int) or self.in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {self.in_channels!r}")
        size = tuple(self.input_size)
        if len(size) != 2 or not all(
            isinstance(side, int) and side > 0 and side % STRIDE == 0 for side in size
        ):
            raise ValueError(
                f"input_size must be (H, W) of positive multiples of {STRIDE}, "
                f"got {self.input_size!r}"
            )
        if self.phases not in (1, 2):
            raise ValueError(f"phases must be 1 or 2, got {self.phases!r}")
        height = self.crop_height
        if not isinstance(height, int) or height < STRIDE or height % STRIDE:
            raise ValueError(
                f"crop_height must be a positive multiple of {STRIDE}, got {self.crop_height!r}"
            )
        mean = _floats(self.mean, self.in_channels, "mean")
        std = _floats(self.std, self.in_channels, "std")
        if not all(s > 0 for s in std):
            raise ValueError(f"std must be positive, got {list(std)}")
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def replace(self, **changes: Any) -> SegmenterConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (lists for tuples), the ``config`` of a checkpoint."""
        return {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in dataclasses.fields(self)
            for value in [getattr(self, field.name)]
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SegmenterConfig:
        """Inverse of :meth:`to_dict`; ``ValueError`` naming unknown or missing fields. Fields
        added later (``crop_height``) take their defaults when absent."""
        if not isinstance(values, Mapping):
            raise ValueError(f"a segmenter config is a mapping, got {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown segmenter config fields: {', '.join(sorted(unknown))}")
        if "arch" not in values:
            raise ValueError("segmenter config has no 'arch'")
        plain = {key: tuple(v) if isinstance(v, list) else v for key, v in values.items()}
        return cls(**plain)


#: The paper's configurations of each architecture (512 x 512 training input, width 1).
default_cfgs: dict[str, SegmenterConfig] = {arch: SegmenterConfig(arch=arch) for arch in ARCHS}


def build_segmenter(config: SegmenterConfig) -> nn.Module:
    """The network of ``config`` (freshly initialised), with ``model.config = config``.

    Both architectures take ``forward(image, phases=2)`` with a normalised image
    (N, in_channels, H, W) and return a :class:`~segmentation.outputs.SegmentationOutput`.
    """
    model = ARCHS[config.arch](width=config.width, in_channels=config.in_channels)
    model.config = config
    return model


def normalize_image(image: Tensor, config: SegmenterConfig) -> Tensor:
    """``(image - mean) / std`` per channel: the network input of colours in [0, 1].

    Args:
        image: (N, C, H, W) or (C, H, W) colours in [0, 1], C = ``config.in_channels``.
        config: gives ``mean`` and ``std``.

    Returns:
        float32 tensor of the same shape, on the same device.
    """
    channels = image.shape[-3] if image.dim() >= 3 else -1
    if image.dim() not in (3, 4) or channels != config.in_channels:
        raise ValueError(
            f"expected an image (N, {config.in_channels}, H, W) or ({config.in_channels}, H, W), "
            f"got {tuple(image.shape)}"
        )
    image = image.float()
    mean = torch.tensor(config.mean, device=image.device).view(-1, 1, 1)
    std = torch.tensor(config.std, device=image.device).view(-1, 1, 1)
    return (image - mean) / std
