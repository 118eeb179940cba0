"""Text segmentation commands: ``train-seg``, ``segment``, ``evaluate-seg``, ``warp-icdar13``.

Data sets are named ``KIND[:GT][@SPLIT]=DIR`` (see :mod:`textmask_ocr.masking.sources`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from segmentation.configs import ARCHS
from textmask_ocr.atomic import check_output_folder
from textmask_ocr.cli.devices import device_option
from textmask_ocr.cli.options import explicit_values, loop_options, setting_option
from textmask_ocr.errors import InputError
from textmask_ocr.masking.training.settings import CRF_MODES, SegTrainSettings

_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(path_type=Path, exists=True)
_DATA_HELP = "KIND[:GT][@SPLIT]=DIR; GT: pixel|region|both (default both)."


class _TrainingSize(click.ParamType):
    """``S`` (a square side) or ``HxW``, as an int or a (height, width) pair."""

    name = "S|HxW"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | tuple[int, int]:
        if isinstance(value, int | tuple):
            return value
        height, separator, width = str(value).lower().partition("x")
        try:
            return (int(height), int(width)) if separator else int(height)
        except ValueError:
            self.fail(f"{value!r} is not a side or HxW", param, ctx)


_TRAINING_SIZE = _TrainingSize()
_NEGATED = {"no_subset_loss": "subset_loss", "no_crf_loss": "crf_loss", "no_augment": "augment"}
_SEG = SegTrainSettings


def _flag_setting(name: str, value: Any) -> tuple[str, Any]:
    """The settings key and value of a flag (``--no-crf-loss`` -> ``crf_loss=False``)."""
    if name in _NEGATED:
        return _NEGATED[name], not value
    if isinstance(value, tuple):
        return name, list(value)
    return name, value


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"--config {path}: not a readable JSON file ({error})") from None
    if not isinstance(values, dict):
        raise InputError(f"--config {path}: expected a JSON object of settings")
    if isinstance(values.get("config"), dict) and "argv" in values:  # a run's config.json
        values = {k: v for k, v in values["config"].items() if k not in ("model", "resume")}
    return values


@click.command("train-seg")
@click.option("--data", multiple=True, help=f"Phase-1 training set (repeat). {_DATA_HELP}")
@click.option("--data-ratio", type=float, multiple=True, help="Sampling ratio per --data.")
@click.option(
    "--phase2-data",
    multiple=True,
    help="Phase-2 training set (repeat); default: the --data sets with pixel-level masks.",
)
@click.option(
    "--val", help=f"Validation set (test split by default); best.pt follows its F1. {_DATA_HELP}"
)
@setting_option(
    _SEG,
    "arch",
    type=click.Choice(ARCHS),
    help="mgnet: the paper's network; mgnet-skip: with encoder-to-decoder skip connections "
    "(beyond the paper); unet: the single-branch baseline (its phase 2 adds only the CRF term).",
)
@setting_option(_SEG, "width", type=float, help="Channel multiplier.")
@setting_option(
    _SEG,
    "size",
    type=_TRAINING_SIZE,
    help="Training image side, or HxW (e.g. 32x128 for word crops); multiples of 16.",
)
@setting_option(
    _SEG,
    "phases",
    type=click.IntRange(1, 2),
    help="1 stops after phase 1 (the paper's Ours-alpha).",
)
@setting_option(_SEG, "phase1_steps", type=click.IntRange(min=1))
@setting_option(_SEG, "phase2_steps", type=click.IntRange(min=1))
@setting_option(_SEG, "phase1_lr", type=float, help="Adam, phase 1.")
@setting_option(_SEG, "phase2_lr", type=float, help="Adam, phase 2.")
@click.option("--no-subset-loss", is_flag=True, help="Phase 2 without the subset loss.")
@click.option("--no-crf-loss", is_flag=True, help="Phase 2 without the CRF loss.")
@setting_option(
    _SEG,
    "crf",
    type=click.Choice(CRF_MODES),
    help="CRF kernel: local window (fast) or exact dense (GPU).",
)
@click.option("--no-augment", is_flag=True, help="No rotation, colour jitter or noise.")
@loop_options(_SEG)
@setting_option(_SEG, "deterministic", is_flag=True, help="Deterministic algorithms (slower).")
@setting_option(
    _SEG,
    "select_best",
    is_flag=True,
    help="model.pt = the best validated checkpoint of both phases, not the final weights.",
)
@click.option(
    "--config",
    "config_file",
    type=_EXISTING,
    help="JSON object of settings (the keys of a run's config.json, or that file itself: the "
    "run again); flags override.",
)
@click.option("--out", type=_PATH, help="Run folder.")
@click.option(
    "--resume",
    type=_EXISTING,
    help="Continue the run in this folder exactly, with its recorded settings; a flag given "
    "with it must keep the run's value, except --workers, --quiet, --checkpoint-every, "
    "--checkpoint-minutes.",
)
@setting_option(_SEG, "quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def train_seg(
    ctx: click.Context,
    config_file: Path | None,
    out: Path | None,
    resume: Path | None,
    **options: Any,
) -> None:
    """Train a segmentation network with the paper's two-phase recipe.

    Phase 1: loop open, soft IoU only, Adam 1e-4 on the --data sets. Phase 2: loop closed, soft
    IoU + subset + CRF losses, Adam 1e-5 on the pixel-level sets, from phase 1's weights. OUT gets
    phase1/ and phase2/ run folders (metrics.jsonl, best.pt, last.pt), config.json and model.pt.
    Runs under torchrun for several GPUs.
    """
    from textmask_ocr.masking.training import run_train_seg

    given = dict(
        _flag_setting(name, value) for name, value in explicit_values(ctx, options).items()
    )
    if resume is not None:
        if config_file is not None:
            raise InputError("--config starts a new run; --resume continues the recorded one")
        if out is not None:
            given["out"] = str(out)
        settings = SegTrainSettings.resumed(resume, given)
    else:
        values = _read_config_file(config_file) if config_file is not None else {}
        values.update(given)
        if out is not None:
            values["out"] = str(out)
        if "out" not in values:
            raise InputError("--out is required (or --resume DIR to continue a run)")
        if not values.get("data"):
            raise InputError("--data is required (KIND[:GT]=DIR, repeatable)")
        origin = f"--config {config_file}" if config_file is not None else "train-seg"
        settings = SegTrainSettings.from_dict(values, origin=origin)
    check_output_folder(settings.out)
    results = run_train_seg(settings)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, one process reports
        return
    for phase, metrics in results.items():
        summary = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
        click.echo(f"{phase}: {summary or 'done (no --val)'}")
    click.echo(f"model written to {settings.out / 'model.pt'}")


def check_threshold(threshold: float) -> None:
    """Refuse a ``--threshold`` outside (0, 1)."""
    if not 0 < threshold < 1:
        raise InputError(f"--threshold {threshold}: must lie in (0, 1)")


def _expand_inputs(inputs: tuple[Path, ...]) -> Iterator[Path]:
    """Files as given; folders as their image files (sorted, not recursive)."""
    from segmentation.datasets.imageio import IMAGE_SUFFIXES

    for path in inputs:
        if path.is_dir():
            yield from sorted(
                child
                for child in path.iterdir()
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            yield path


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=_PATH)
@click.option(
    "--model",
    "model_path",
    type=_EXISTING,
    required=True,
    help="Segmentation checkpoint, or a train-seg output folder.",
)
@click.option("--out", type=_PATH, required=True, help="Output folder.")
@click.option("--threshold", type=float, default=0.5, show_default=True)
@click.option("--size", type=int, help="Run at SxS (multiple of 16); default: each image's size.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--min-area",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Smallest text region (pixels) traced into a polygon.",
)
@device_option()
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def segment(
    inputs: tuple[Path, ...],
    model_path: Path,
    out: Path,
    threshold: float,
    size: int | None,
    batch_size: int,
    min_area: int,
    device: str | None,
    quiet: bool,
) -> None:
    """Predict the text masks of images (files or folders of images).

    Writes <name>_text.png (pixel level), <name>_region.png (text regions), <name>_polygons.json
    and <name>_overlay.png into OUT, at each image's size. Unreadable files are reported and
    skipped; the exit code is 1 when any was.
    """
    from textmask_ocr.imaging import image_to_tensor
    from textmask_ocr.masking.predictor import Segmenter
    from textmask_ocr.masking.scene_outputs import write_scene_outputs
    from textmask_ocr.progress import track

    check_threshold(threshold)
    check_output_folder(out)
    segmenter = Segmenter.from_pretrained(model_path, device=device, threshold=threshold)
    paths = list(_expand_inputs(inputs))
    if not paths:
        raise InputError(f"no images in {', '.join(map(str, inputs))}")
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise InputError(f"{path} and {stems[path.stem]} would write the same outputs")
        stems[path.stem] = path

    written = failed = 0
    batches = [paths[start : start + batch_size] for start in range(0, len(paths), batch_size)]
    for batch in track(batches, total=len(batches), label="segmenting", quiet=quiet):
        images = []
        for path in batch:
            try:
                images.append((path, image_to_tensor(path)))
            except InputError as error:
                click.echo(f"skipped {error}", err=True)
                failed += 1
        if not images:
            continue
        predictions = segmenter.predict(
            [image for _, image in images], size=size, batch_size=batch_size
        )
        for (path, image), prediction in zip(images, predictions, strict=True):
            write_scene_outputs(out, path.stem, image, prediction, min_area=min_area)
            written += 1
    click.echo(f"segmented {written} images into {out}" + (f"; {failed} skipped" if failed else ""))
    if failed:
        sys.exit(1)


@click.command("evaluate-seg")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="[NAME=]CHECKPOINT or train-seg folder (repeat to compare).",
)
@click.option(
    "--predictions",
    multiple=True,
    help="[NAME=]DIR of saved <name>_text.png masks of another method (repeat).",
)
@click.option("--data", required=True, help=f"Scored set (test split by default). {_DATA_HELP}")
@click.option("--threshold", type=float, default=0.5, show_default=True)
@click.option(
    "--ignore-label",
    default="255",
    show_default=True,
    help="Label of don't-care ground-truth pixels, which count nowhere; 'none' scores "
    "them like other pixels.",
)
@click.option(
    "--size", type=int, help="Run models at SxS (multiple of 16); default: each image's size."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@device_option()
@click.option(
    "--out",
    type=_PATH,
    help="Folder for results.json and table.md (default: eval-seg beside the first method).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def evaluate_seg(
    models: tuple[str, ...],
    predictions: tuple[str, ...],
    data: str,
    threshold: float,
    ignore_label: str,
    size: int | None,
    batch_size: int,
    device: str | None,
    out: Path | None,
    quiet: bool,
) -> None:
    """Pixel-level segmentation scores: per-image precision, recall and F1 averaged over images,
    dataset-level foreground IoU and F-score; with several methods, the F1 top-1 rate."""
    from textmask_ocr.masking.evaluation import (
        ModelMethod,
        SavedMasksMethod,
        evaluate_methods,
        parse_named_path,
    )
    from textmask_ocr.masking.predictor import Segmenter
    from textmask_ocr.masking.sources import DataSource

    source = DataSource.parse(data, "--data")
    check_threshold(threshold)
    if out is not None:
        check_output_folder(out)
    if ignore_label.strip().lower() == "none":
        label = None
    else:
        try:
            label = int(ignore_label)
        except ValueError:
            raise InputError(f"--ignore-label {ignore_label!r}: an integer or 'none'") from None
    methods: list[Any] = []
    locations: list[Path] = []
    for value in models:
        name, path = parse_named_path(value, "--model")
        segmenter = Segmenter.from_pretrained(path, device=device, threshold=threshold)
        methods.append(ModelMethod(name, str(path), segmenter, size=size, batch_size=batch_size))
        locations.append(path)
    for value in predictions:
        name, path = parse_named_path(value, "--predictions")
        if not path.is_dir():
            raise InputError(f"--predictions {path}: not a folder")
        methods.append(SavedMasksMethod(name, str(path), path))
        locations.append(path)
    if not methods:
        raise InputError("nothing to evaluate: pass --model and/or --predictions")
    if out is None:
        first = locations[0]
        out = (first if first.is_dir() else first.parent) / "eval-seg"
        check_output_folder(out)
    evaluation = evaluate_methods(
        methods,
        source,
        out,
        threshold=threshold,
        ignore_label=label,
        batch_size=batch_size,
        quiet=quiet,
    )
    click.echo(evaluation.table.to_text())
    click.echo(f"results written to {evaluation.results_path}")


@click.command("warp-icdar13")
@click.argument("src", type=_EXISTING)
@click.argument("out", type=_PATH)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Scene i is warped with (seed, i): the same seed gives the same files.",
)
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def warp_icdar13(src: Path, out: Path, seed: int, split: str, overwrite: bool, quiet: bool) -> None:
    """Write ICDAR-2013-WARP: every ICDAR-2013 scene of SRC warped with its masks into OUT
    (a scene folder, read with --data icdar2013-warp=OUT)."""
    from segmentation.datasets import ICDAR2013, write_warped_dataset
    from textmask_ocr.progress import track

    source = ICDAR2013(src, split=split)
    count = write_warped_dataset(
        source,
        out,
        seed=seed,
        overwrite=overwrite,
        progress=lambda indices: track(indices, total=len(source), label="warping", quiet=quiet),
    )
    click.echo(f"wrote {count} warped scenes to {out}")
