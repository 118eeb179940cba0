"""The sample format shared by every scene-text segmentation dataset, and the reader base class.

Each reader turns its files into a :class:`SceneAnnotation` (native size, boolean masks, polygons);
:class:`SegmentationDataset` turns that into the training sample, a dict of tensors:

============== ======================= =====================================================
key            dtype / shape           meaning
============== ======================= =====================================================
image          float32 (3, H, W)       RGB in [0, 1]
pixel_mask     float32 (1, H, W)       1 on text pixels (character strokes); zeros if absent
region_mask    float32 (1, H, W)       1 inside text polygons; zeros if absent
has_pixel      bool ()                 the sample carries a pixel-level ground truth
has_region     bool ()                 the sample carries a polygon-level ground truth
ignore         bool (1, H, W)          True where the label is "don't care"
name           str                     the image file's stem
============== ======================= =====================================================

With ``size`` every tensor is resized to a fixed ``size x size`` or (height, width) (image bilinear
with antialiasing, masks nearest; word crops keep their aspect ratio and are padded, see
:meth:`SegmentationDataset.resize_transform`), so batches collate with the default collate
function. The joint ``transform`` (e.g. :func:`segmentation.augment.build_augmentation`) then sees
the sample with the image as ``tv_tensors.Image`` and the three masks as ``tv_tensors.Mask``, so
torchvision's v2 transforms move image and masks together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.imageio import index_files, index_images
from segmentation.datasets.polygons import TextPolygon, polygon_masks

GroundTruth = Literal["both", "pixel", "region"]
GROUND_TRUTH_CHOICES: tuple[str, ...] = ("both", "pixel", "region")
Sample = dict[str, Any]
MASK_KEYS = ("pixel_mask", "region_mask", "ignore")


@dataclass
class SceneAnnotation:
    """Everything a reader knows about one scene, at the image's stored size.

    Attributes:
        name: the image file's stem.
        image: float32 ``(3, H, W)`` RGB in [0, 1].
        pixel_mask: bool ``(H, W)`` text pixels, or None when the dataset has none.
        region_mask: bool ``(H, W)`` text regions, or None when the dataset has none.
        ignore: bool ``(H, W)`` don't-care pixels, or None when there are none.
        polygons: the word polygons, when the dataset has them.
    """

    name: str
    image: torch.Tensor
    pixel_mask: torch.Tensor | None = None
    region_mask: torch.Tensor | None = None
    ignore: torch.Tensor | None = None
    polygons: list[TextPolygon] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.image.shape[-2])

    @property
    def width(self) -> int:
        return int(self.image.shape[-1])


def _bool_tensor(mask: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
    if mask is None or isinstance(mask, torch.Tensor):
        return None if mask is None else mask.bool()
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))


def make_annotation(
    name: str,
    image: torch.Tensor,
    *,
    pixel_mask: np.ndarray | torch.Tensor | None = None,
    region_mask: np.ndarray | torch.Tensor | None = None,
    ignore: np.ndarray | torch.Tensor | None = None,
    polygons: Sequence[TextPolygon] | None = None,
    ignore_dont_care: bool = True,
) -> SceneAnnotation:
    """Build a :class:`SceneAnnotation`, deriving masks from polygons where needed.

    ``polygons`` None means the scene has no polygon annotation; a list (even empty) is its
    complete set of words. Without a ``region_mask`` the region mask is then the polygons'
    rasterisation. Don't-care polygons are added to ``ignore`` when ``ignore_dont_care``.
    """
    height, width = int(image.shape[-2]), int(image.shape[-1])
    region, ignored = _bool_tensor(region_mask), _bool_tensor(ignore)
    if polygons is not None:
        polygons = list(polygons)
        drawn_region, dont_care = polygon_masks(polygons, height, width)
        if region is None:
            region = torch.from_numpy(drawn_region)
        if ignore_dont_care and dont_care.any():
            dont_care_mask = torch.from_numpy(dont_care)
            ignored = dont_care_mask if ignored is None else ignored | dont_care_mask
    return SceneAnnotation(
        name=name,
        image=image,
        pixel_mask=_bool_tensor(pixel_mask),
        region_mask=region,
        ignore=ignored,
        polygons=polygons or [],
    )


def annotation_to_sample(annotation: SceneAnnotation, ground_truth: GroundTruth = "both") -> Sample:
    """The sample dict (plain tensors, see the module docstring) of one annotation.

    ``ground_truth`` keeps only the pixel-level ("pixel") or polygon-level ("region") labels;
    the other kind is then reported absent, as in a semi-supervised mix.
    """
    shape = (1, annotation.height, annotation.width)
    pixel = annotation.pixel_mask if ground_truth in ("both", "pixel") else None
    region = annotation.region_mask if ground_truth in ("both", "region") else None
    ignore = annotation.ignore
    return {
        "image": annotation.image.float(),
        "pixel_mask": torch.zeros(shape) if pixel is None else pixel.float()[None],
        "region_mask": torch.zeros(shape) if region is None else region.float()[None],
        "has_pixel": torch.tensor(pixel is not None),
        "has_region": torch.tensor(region is not None),
        "ignore": torch.zeros(shape, dtype=torch.bool) if ignore is None else ignore[None],
        "name": annotation.name,
    }


def as_tv_tensors(sample: Sample) -> Sample:
    """Wrap image and masks as ``tv_tensors`` so v2 transforms treat each by its kind."""
    wrapped = dict(sample)
    wrapped["image"] = tv_tensors.Image(sample["image"])
    for key in MASK_KEYS:
        wrapped[key] = tv_tensors.Mask(sample[key])
    return wrapped


def from_tv_tensors(sample: Sample) -> Sample:
    """Back to plain tensors with the sample format's dtypes."""
    plain = dict(sample)
    plain["image"] = sample["image"].as_subclass(torch.Tensor).float()
    plain["pixel_mask"] = sample["pixel_mask"].as_subclass(torch.Tensor).float()
    plain["region_mask"] = sample["region_mask"].as_subclass(torch.Tensor).float()
    plain["ignore"] = sample["ignore"].as_subclass(torch.Tensor).bool()
    return plain


def _square(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


class SegmentationDataset(Dataset[Sample]):
    """Base of the scene-text segmentation readers.

    Subclasses list their scenes in ``self.names`` (file stems) and implement
    :meth:`load_annotation`.

    Args:
        size: resize every sample to ``size x size`` (an int) or ``(height, width)``; None keeps
            the stored size (then batches of different sizes do not collate).
        transform: a joint transform applied to the sample after resizing, seeing the image as
            ``tv_tensors.Image`` and the masks as ``tv_tensors.Mask``.
        ground_truth: "both" keeps every label; "pixel" or "region" keeps only that kind.
    """

    def __init__(
        self,
        *,
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        ground_truth: GroundTruth = "both",
    ) -> None:
        if ground_truth not in GROUND_TRUTH_CHOICES:
            raise ValueError(
                f"ground_truth must be one of {', '.join(GROUND_TRUTH_CHOICES)}, "
                f"not {ground_truth!r}"
            )
        self.size = None if size is None else _square(size)
        self.transform = transform
        self.ground_truth: GroundTruth = ground_truth
        self.names: list[str] = []
        self._resize = None if self.size is None else self.resize_transform(self.size)

    def __len__(self) -> int:
        return len(self.names)

    def resize_transform(self, size: tuple[int, int]) -> Callable[[Sample], Sample]:
        """How a sample (as tv_tensors) is brought to ``size`` = (H, W): stretched to it (image
        bilinear with antialiasing, masks nearest). Readers of word crops keep the aspect ratio
        instead (:class:`~segmentation.datasets.aspect.ResizeAndPad`)."""
        return v2.Resize(size, antialias=True)

    def load_annotation(self, index: int) -> SceneAnnotation:
        """Read scene ``index`` from disk at its stored size."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        sample = annotation_to_sample(self.load_annotation(index), self.ground_truth)
        if self._resize is None and self.transform is None:
            return sample
        sample = as_tv_tensors(sample)
        if self._resize is not None:
            sample = self._resize(sample)
        if self.transform is not None:
            sample = self.transform(sample)
        return from_tv_tensors(sample)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} scenes, ground_truth={self.ground_truth!r})"


def resolve_folder(
    root: Path,
    given: str | Path | None,
    candidates: Sequence[str],
    what: str,
    *,
    required: bool,
) -> Path | None:
    """Locate one of a dataset's folders.

    ``given`` (absolute, or relative to ``root``) must exist. Without it the first existing
    candidate under ``root`` is used; None when there is none and the folder is optional.
    """
    if given is not None:
        folder = root / given
        if not folder.is_dir():
            raise DatasetFormatError(f"{folder}: {what} folder not found")
        return folder
    for candidate in candidates:
        if (root / candidate).is_dir():
            return root / candidate
    if required:
        raise DatasetFormatError(
            f"{root}: no {what} folder (looked for {', '.join(candidates)}; pass its path)"
        )
    return None


def match_annotations(
    folder: Path, names: Sequence[str], patterns: Sequence[str], *, images: bool = False
) -> list[Path]:
    """For each scene name, the first file of ``folder`` named by one of ``patterns``.

    A pattern may use ``{stem}`` (the image's stem) and ``{digits}`` (its trailing digits, e.g.
    ``1`` for ``img_1``); names compare case-insensitively. With ``images`` the patterns name
    stems and any image suffix matches. A scene without a file raises, naming the expected file.
    """
    index = index_images(folder) if images else index_files(folder)
    found = []
    for name in names:
        digits = re.search(r"(\d+)$", name)
        keys = [
            pattern.format(stem=name, digits=digits.group(1) if digits else name)
            for pattern in patterns
        ]
        path = next((index[key.lower()] for key in keys if key.lower() in index), None)
        if path is None:
            kind = "mask" if images else "annotation"
            raise DatasetFormatError(f"{folder / keys[0]}: no {kind} for image {name!r}")
        found.append(path)
    return found
