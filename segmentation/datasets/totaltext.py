"""Total-Text (Ch'ng and Chan, 2017): curved scene text with polygon and pixel-level labels.

Layout as distributed (every folder can be passed explicitly, absolute or relative to ``root``)::

    root/Images/{Train,Test}/img11.jpg
    root/Groundtruth/Polygon/{Train,Test}/poly_gt_img11.mat   (or the legacy .txt form)
    root/Groundtruth/Pixel/{Train,Test}/img11.jpg              character-level text masks
    root/Groundtruth/TextRegion/{Train,Test}/img11.png         text-region masks (optional)

Polygon files come in two forms. The legacy text form has one polygon a line (a line may wrap)::

    x: [[115 503 494 115]], y: [[322 346 426 404]], ornt: [u'm'], transcriptions: [u'nauGHTY']

The MATLAB form holds a cell array ``polygt`` (``gt`` in some files) with rows
``['x:', x (1, N), 'y:', y (1, N), transcription, orientation]``; reading it needs scipy
(``pip install textmask-ocr[mat]``). Orientation ``c``/``h``/``m`` is curved, horizontal or
multi-oriented; ``#`` (as orientation or transcription) marks a don't-care polygon.

Without a region-mask folder the region mask is the rasterised polygons.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segmentation.datasets.base import (
    GroundTruth,
    Sample,
    SceneAnnotation,
    SegmentationDataset,
    make_annotation,
    match_annotations,
    resolve_folder,
)
from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.imageio import (
    check_same_size,
    list_images,
    read_binary_mask,
    read_rgb_image,
)
from segmentation.datasets.polygons import TextPolygon

DONT_CARE = "#"
POLYGON_FILES = ("poly_gt_{stem}.txt", "poly_gt_{stem}.mat", "{stem}.txt", "{stem}.mat")

_STRING = r"u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
_RECORD = re.compile(
    r"x:\s*\[\[(?P<x>[^\]]*)\]\]\s*,\s*y:\s*\[\[(?P<y>[^\]]*)\]\]\s*,\s*"
    rf"ornt:\s*\[\s*(?P<ornt>{_STRING})\s*\]\s*,\s*"
    rf"transcriptions:\s*\[\s*(?P<text>{_STRING})\s*\]",
)


def _polygon(xs: np.ndarray, ys: np.ndarray, text: str, ornt: str, path: Path) -> TextPolygon:
    if xs.size != ys.size or xs.size < 3:
        raise DatasetFormatError(
            f"{path}: polygon {text!r} has {xs.size} x and {ys.size} y coordinates (need >= 3 each)"
        )
    points = np.stack([xs, ys], axis=1)
    return TextPolygon(points, text=text, dont_care=DONT_CARE in (text, ornt))


def _expect_blank(content: str, start: int, end: int, path: Path) -> None:
    """Raise, naming the line, if ``content[start:end]`` holds anything but white space."""
    gap = content[start:end]
    if gap.strip():
        offset = start + len(gap) - len(gap.lstrip())
        line = content.count("\n", 0, offset) + 1
        raise DatasetFormatError(f"{path}: line {line}: not a Total-Text polygon record")


def parse_totaltext_txt(path: Path) -> list[TextPolygon]:
    """Parse a legacy Total-Text ``poly_gt_*.txt`` file into polygons (file order)."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({error.reason})") from None
    polygons: list[TextPolygon] = []
    position = 0
    for match in _RECORD.finditer(content):
        _expect_blank(content, position, match.start(), path)
        position = match.end()
        try:
            xs = np.array(match["x"].replace(",", " ").split(), dtype=np.float32)
            ys = np.array(match["y"].replace(",", " ").split(), dtype=np.float32)
        except ValueError:
            line = content.count("\n", 0, match.start()) + 1
            raise DatasetFormatError(f"{path}: line {line}: bad coordinates") from None
        try:
            text, ornt = ast.literal_eval(match["text"]), ast.literal_eval(match["ornt"])
        except (ValueError, SyntaxError):
            line = content.count("\n", 0, match.start()) + 1
            raise DatasetFormatError(f"{path}: line {line}: bad quoted string") from None
        polygons.append(_polygon(xs, ys, text, ornt, path))
    _expect_blank(content, position, len(content), path)
    return polygons


def _mat_string(cell: object) -> str:
    values = np.asarray(cell).ravel()
    return "" if values.size == 0 else str(values[0])


def parse_totaltext_mat(path: Path) -> list[TextPolygon]:
    """Parse a Total-Text ``poly_gt_*.mat`` file into polygons (needs scipy)."""
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError:
        raise DatasetFormatError(
            f"{path}: reading .mat annotations needs scipy (pip install textmask-ocr[mat])"
        ) from None
    try:
        content = loadmat(path)
    except (MatReadError, ValueError, TypeError, OSError) as error:
        raise DatasetFormatError(f"{path}: cannot read MATLAB file ({error})") from None
    key = next((name for name in ("polygt", "gt") if name in content), None)
    if key is None:
        raise DatasetFormatError(f"{path}: no 'polygt' variable")
    table = np.asarray(content[key], dtype=object)
    if table.size == 0:
        return []
    if table.ndim != 2 or table.shape[1] < 5:
        raise DatasetFormatError(f"{path}: 'polygt' has shape {table.shape}, expected (N, 6)")
    polygons = []
    for number, row in enumerate(table, start=1):
        try:
            xs = np.asarray(row[1], dtype=np.float32).ravel()
            ys = np.asarray(row[3], dtype=np.float32).ravel()
        except (ValueError, TypeError):
            raise DatasetFormatError(f"{path}: polygon {number}: bad coordinates") from None
        ornt = _mat_string(row[5]) if len(row) > 5 else ""
        polygons.append(_polygon(xs, ys, _mat_string(row[4]), ornt, path))
    return polygons


def read_totaltext_polygons(path: Path) -> list[TextPolygon]:
    """Parse a Total-Text polygon file, choosing the form by its suffix (.txt or .mat)."""
    if path.suffix.lower() == ".mat":
        return parse_totaltext_mat(path)
    return parse_totaltext_txt(path)


class TotalText(SegmentationDataset):
    """Total-Text scenes with pixel-level and polygon-level ground truth.

    Args:
        root: the dataset folder.
        split: "train" or "test" (selects ``{Train,Test}`` sub-folders).
        images_dir, polygons_dir, pixel_dir, region_dir: explicit folders (absolute or relative
            to ``root``); by default the distributed layout is searched, and missing optional
            folders mean that ground truth is absent. Mask folders of a kind that
            ``ground_truth`` drops are not read; polygons are (they also mark don't care).
        ignore_dont_care: mark don't-care polygons as ``ignore``.
        size, transform, ground_truth: see :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        images_dir: str | Path | None = None,
        polygons_dir: str | Path | None = None,
        pixel_dir: str | Path | None = None,
        region_dir: str | Path | None = None,
        ignore_dont_care: bool = True,
        size: int | Sequence[int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        ground_truth: GroundTruth = "both",
    ) -> None:
        super().__init__(size=size, transform=transform, ground_truth=ground_truth)
        root, part = Path(root), split.capitalize()
        self.ignore_dont_care = ignore_dont_care
        images = resolve_folder(root, images_dir, [f"Images/{part}"], "image", required=True)
        polygons = resolve_folder(
            root,
            polygons_dir,
            [f"Groundtruth/Polygon/{part}", f"Groundtruth/Text/{part}"],
            "polygon",
            required=False,
        )
        pixels = regions = None
        if ground_truth != "region":
            pixels = resolve_folder(
                root,
                pixel_dir,
                [f"Groundtruth/Pixel/{part}", f"Groundtruth/Pixel/Character Level Mask/{part}"],
                "pixel-mask",
                required=False,
            )
        if ground_truth != "pixel":
            regions = resolve_folder(
                root,
                region_dir,
                [f"Groundtruth/TextRegion/{part}", f"Groundtruth/Pixel/Text Region Mask/{part}"],
                "region-mask",
                required=False,
            )
        if polygons is None and pixels is None and regions is None:
            raise DatasetFormatError(f"{root}: no Total-Text ground truth folders found")
        self.image_paths = list_images(images)
        self.names = [path.stem for path in self.image_paths]
        self.polygon_paths = (
            None if polygons is None else match_annotations(polygons, self.names, POLYGON_FILES)
        )
        self.pixel_paths = (
            None
            if pixels is None
            else match_annotations(pixels, self.names, ["{stem}"], images=True)
        )
        self.region_paths = (
            None
            if regions is None
            else match_annotations(regions, self.names, ["{stem}"], images=True)
        )

    def load_annotation(self, index: int) -> SceneAnnotation:
        image = read_rgb_image(self.image_paths[index])
        pixel = region = None
        if self.pixel_paths is not None:
            path = self.pixel_paths[index]
            pixel = check_same_size(read_binary_mask(path), image, path)
        if self.region_paths is not None:
            path = self.region_paths[index]
            region = check_same_size(read_binary_mask(path), image, path)
        polygons = None
        if self.polygon_paths is not None:
            polygons = read_totaltext_polygons(self.polygon_paths[index])
        return make_annotation(
            self.names[index],
            image,
            pixel_mask=pixel,
            region_mask=region,
            polygons=polygons,
            ignore_dont_care=self.ignore_dont_care,
        )
