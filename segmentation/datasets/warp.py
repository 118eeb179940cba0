"""ICDAR-2013-WARP (paper IV-A-1): every ICDAR-2013 scene warped so its word boxes curve.

ICDAR-2013's word boxes are axis-aligned rectangles, too simple to serve as polygon-level ground
truth, so the paper warps each image together with its masks. The warp here is a smooth, bijective
sinusoidal displacement field: the output pixel ``(x, y)`` shows the source point

    ``(x + B sin(2 pi y / mu + psi),  y + A sin(2 pi x / lambda + phi))``

i.e. rows bend into waves (text lines curve) and columns sway. Amplitudes and wavelengths are drawn
relative to the image size; their ratio keeps the field's slope below 1, so the map folds nowhere
and can be inverted by fixed-point iteration (used to carry word polygons forward).

Image and masks are resampled through the same grid (image bilinear, masks nearest, both with
reflection at the border), so a pixel mask inside its region mask stays inside it. Output is a
scene folder (:mod:`segmentation.datasets.scene_folder`) read by :class:`SyntheticScenes`, with
word polygons traced from the warped box edges. Each scene's warp is drawn from
``numpy.random.default_rng([seed, index])``: the same seed gives identical files.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from segmentation.datasets.base import SceneAnnotation, SegmentationDataset
from segmentation.datasets.errors import DatasetFormatError
from segmentation.datasets.polygons import TextPolygon, densify
from segmentation.datasets.scene_folder import write_scene

Range = tuple[float, float]


@dataclass(frozen=True)
class WarpConfig:
    """Ranges the random warp is drawn from (uniformly).

    Attributes:
        bend_amplitude: vertical displacement amplitude A, as a fraction of the image width.
        bend_wavelength: wavelength lambda of the bend along x, as a fraction of the width.
        sway_amplitude: horizontal displacement amplitude B, as a fraction of the height.
        sway_wavelength: wavelength mu of the sway along y, as a fraction of the height.
        points_per_edge: polygon points traced along each edge of a warped word box.
    """

    bend_amplitude: Range = (0.02, 0.06)
    bend_wavelength: Range = (0.6, 1.6)
    sway_amplitude: Range = (0.0, 0.03)
    sway_wavelength: Range = (0.8, 2.0)
    points_per_edge: int = 8

    def __post_init__(self) -> None:
        for name in ("bend_amplitude", "bend_wavelength", "sway_amplitude", "sway_wavelength"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must satisfy 0 <= low <= high, got {(low, high)}")
        for amplitude, wavelength in (
            (self.bend_amplitude, self.bend_wavelength),
            (self.sway_amplitude, self.sway_wavelength),
        ):
            if wavelength[0] <= 0 or 2 * math.pi * amplitude[1] / wavelength[0] >= 1:
                raise ValueError(
                    "warp could fold: need 2*pi*max(amplitude)/min(wavelength) < 1, got "
                    f"amplitude {amplitude}, wavelength {wavelength}"
                )
        if self.points_per_edge < 1:
            raise ValueError("points_per_edge must be >= 1")


@dataclass(frozen=True)
class SinusoidalWarp:
    """One warp: displacement ``d(x, y) = (B sin(2 pi y/mu + psi), A sin(2 pi x/lambda + phi))``.

    All lengths in pixels; coordinates are pixel centres (x right, y down).
    """

    bend_amplitude: float
    bend_wavelength: float
    bend_phase: float
    sway_amplitude: float
    sway_wavelength: float
    sway_phase: float

    @classmethod
    def random(
        cls, height: int, width: int, rng: np.random.Generator, config: WarpConfig = WarpConfig()
    ) -> SinusoidalWarp:
        """Draw a warp for a ``height x width`` image."""
        return cls(
            bend_amplitude=rng.uniform(*config.bend_amplitude) * width,
            bend_wavelength=rng.uniform(*config.bend_wavelength) * width,
            bend_phase=rng.uniform(0, 2 * math.pi),
            sway_amplitude=rng.uniform(*config.sway_amplitude) * height,
            sway_wavelength=rng.uniform(*config.sway_wavelength) * height,
            sway_phase=rng.uniform(0, 2 * math.pi),
        )

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """``d`` at ``(N, 2)`` points ``(x, y)``; returns ``(N, 2)`` float64."""
        points = np.asarray(points, dtype=np.float64)
        dx = self.sway_amplitude * np.sin(
            2 * math.pi * points[:, 1] / self.sway_wavelength + self.sway_phase
        )
        dy = self.bend_amplitude * np.sin(
            2 * math.pi * points[:, 0] / self.bend_wavelength + self.bend_phase
        )
        return np.stack([dx, dy], axis=1)

    def source_points(self, points: np.ndarray) -> np.ndarray:
        """Where output points read from in the source: ``p + d(p)``."""
        return np.asarray(points, dtype=np.float64) + self.displacement(points)

    def target_points(self, points: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
        """Where source points land in the output: the ``q`` with ``q + d(q) = p``.

        Solved by the fixed-point iteration ``q <- p - d(q)``, a contraction because the field's
        slope is below 1 (see :class:`WarpConfig`).
        """
        points = np.asarray(points, dtype=np.float64)
        target = points.copy()
        for _ in range(200):
            updated = points - self.displacement(target)
            converged = np.abs(updated - target).max(initial=0.0) < tolerance
            target = updated
            if converged:
                break
        return target

    def sampling_grid(self, height: int, width: int) -> torch.Tensor:
        """The ``grid_sample`` grid ``(1, H, W, 2)`` (``align_corners=True``) of this warp."""
        ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        source = self.source_points(np.stack([xs.ravel(), ys.ravel()], axis=1))
        scale = np.array([max(width - 1, 1), max(height - 1, 1)], dtype=np.float64)
        normalised = source / scale * 2 - 1
        return torch.from_numpy(normalised.reshape(1, height, width, 2)).float()


def _resample(values: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    return F.grid_sample(
        values[None], grid, mode=mode, padding_mode="reflection", align_corners=True
    )[0]


def warp_annotation(
    annotation: SceneAnnotation, warp: SinusoidalWarp, points_per_edge: int = 8
) -> SceneAnnotation:
    """Warp a scene's image, masks and polygons together (see the module docstring)."""
    height, width = annotation.height, annotation.width
    grid = warp.sampling_grid(height, width)

    def warp_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
        if mask is None:
            return None
        return _resample(mask[None].float(), grid, "nearest")[0] > 0.5

    limits = np.array([width - 1, height - 1], dtype=np.float64)
    polygons = [
        TextPolygon(
            np.clip(warp.target_points(densify(p.points, points_per_edge)), 0, limits),
            text=p.text,
            dont_care=p.dont_care,
        )
        for p in annotation.polygons
    ]
    return SceneAnnotation(
        name=annotation.name,
        image=_resample(annotation.image.float(), grid, "bilinear").clamp(0, 1),
        pixel_mask=warp_mask(annotation.pixel_mask),
        region_mask=warp_mask(annotation.region_mask),
        ignore=warp_mask(annotation.ignore),
        polygons=polygons,
    )


def write_warped_dataset(
    source: SegmentationDataset,
    out: str | Path,
    *,
    seed: int = 0,
    config: WarpConfig = WarpConfig(),
    overwrite: bool = False,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> int:
    """Warp every scene of ``source`` (e.g. :class:`ICDAR2013`) into the scene folder ``out``.

    The folder is written under a temporary sibling name and renamed when complete, so an
    interrupted run leaves no partial dataset. ``progress`` may wrap the index iterable (a
    progress bar). Returns the number of scenes written.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetFormatError(f"{out}: already exists (pass overwrite=True to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        indices: Iterable[int] = range(len(source))
        for index in progress(indices) if progress is not None else indices:
            annotation = source.load_annotation(index)
            rng = np.random.default_rng([seed, index])
            warp = SinusoidalWarp.random(annotation.height, annotation.width, rng, config)
            write_scene(staging, warp_annotation(annotation, warp, config.points_per_edge))
        meta = {
            "generator": "icdar2013-warp",
            "source": repr(source),
            "scenes": len(source),
            "seed": seed,
            "config": asdict(config),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        staging.replace(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(source)
