"""Scene-text segmentation datasets: readers, ICDAR-2013-WARP, ratio mixing.

Every reader yields the sample format of :mod:`segmentation.datasets.base`.
"""

from __future__ import annotations

from segmentation.datasets.aspect import ResizeAndPad, fit_size
from segmentation.datasets.base import (
    SceneAnnotation,
    SegmentationDataset,
    annotation_to_sample,
    as_tv_tensors,
    from_tv_tensors,
    make_annotation,
)
from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.icdar2013 import ICDAR2013
from segmentation.datasets.imageio import pil_to_rgb_tensor, read_rgb_image
from segmentation.datasets.mixing import MixingSampler, mixture_order
from segmentation.datasets.polygon_only import MLT, COCOText
from segmentation.datasets.polygons import TextPolygon, rasterize_polygons
from segmentation.datasets.registry import DATASETS, open_segmentation_dataset, register_dataset
from segmentation.datasets.scene_folder import SyntheticScenes, write_scene
from segmentation.datasets.textseg import TextSeg
from segmentation.datasets.totaltext import TotalText
from segmentation.datasets.warp import (
    SinusoidalWarp,
    WarpConfig,
    warp_annotation,
    write_warped_dataset,
)

__all__ = [
    "DATASETS",
    "ICDAR2013",
    "MLT",
    "COCOText",
    "DatasetFormatError",
    "MixingSampler",
    "ResizeAndPad",
    "SceneAnnotation",
    "SegmentationDataset",
    "SinusoidalWarp",
    "SyntheticScenes",
    "TextPolygon",
    "TextSeg",
    "TotalText",
    "WarpConfig",
    "annotation_to_sample",
    "as_tv_tensors",
    "fit_size",
    "from_tv_tensors",
    "make_annotation",
    "mixture_order",
    "open_segmentation_dataset",
    "pil_to_rgb_tensor",
    "rasterize_polygons",
    "read_rgb_image",
    "register_dataset",
    "warp_annotation",
    "write_scene",
    "write_warped_dataset",
]
