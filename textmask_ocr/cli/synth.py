"""``textmask-ocr synth``: synthetic word crops and scenes with exact text masks."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from textmask_ocr.data.synth import SceneConfig, SynthAssets, check_run
from textmask_ocr.data.synth.crops import WORD_STYLES
from textmask_ocr.data.synth.writers import write_synth_scenes, write_synth_words
from textmask_ocr.errors import InputError

_PATH = click.Path(path_type=Path)


def _common_options(function: click.decorators.FC) -> click.decorators.FC:
    """The options ``words`` and ``scenes`` share."""
    options = [
        click.option(
            "--n", "count", type=int, default=1000, show_default=True, help="How many samples."
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Sample i is drawn from (seed, i): the same seed gives the same bytes.",
        ),
        click.option(
            "--fonts",
            "font_dir",
            type=_PATH,
            default=None,
            help="Folder of .ttf/.otf/.ttc fonts (default: the system's fonts); "
            "Pillow's built-in font is always used too.",
        ),
        click.option(
            "--backgrounds",
            "background_dir",
            type=_PATH,
            default=None,
            help="Folder of pictures: half of the backgrounds become random crops of them.",
        ),
        click.option(
            "--workers",
            type=int,
            default=1,
            show_default=True,
            help="Worker processes (the output does not depend on it).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _report(what: str, count: int, out: Path, started: float) -> None:
    elapsed = time.perf_counter() - started
    click.echo(f"wrote {count} {what} to {out} in {elapsed:.1f} s ({count / elapsed:.1f}/s)")


@click.group()
def synth() -> None:
    """Generate synthetic training data with exact pixel-level text masks."""


@synth.command()
@click.argument("out", type=_PATH)
@_common_options
@click.option(
    "--style",
    type=click.Choice(sorted(WORD_STYLES)),
    default="recognizer",
    show_default=True,
    help="The appearance distribution: recognizer training words, or the wider range "
    "segmenters learn from.",
)
@click.option(
    "--hard-fraction",
    type=float,
    help="Share of hard crops: faint text, busy background, clutter in the text's colour "
    "(default: the style's).",
)
def words(
    out: Path,
    count: int,
    seed: int,
    font_dir: Path | None,
    background_dir: Path | None,
    workers: int,
    quiet: bool,
    style: str,
    hard_fraction: float | None,
) -> None:
    """Write COUNT word crops with masks (mask-%09d) as a word-crop LMDB at OUT.

    Labels are words of a built-in English list and random letters and digits; crops vary in
    font, size, colour, contrast, background, rotation, perspective, curvature, outline, shadow,
    blur, noise and JPEG quality. OUT appears only when complete.
    """
    check_run(count, seed, workers)
    word_style = WORD_STYLES[style]
    if hard_fraction is not None:
        if not 0.0 <= hard_fraction <= 1.0:
            raise InputError(f"--hard-fraction must lie in [0, 1], got {hard_fraction}")
        word_style = dataclasses.replace(word_style, hard_fraction=hard_fraction)
    assets = SynthAssets.find(font_dir, background_dir)
    started = time.perf_counter()
    written = write_synth_words(
        out,
        count,
        seed=seed,
        style=word_style,
        assets=assets,
        workers=workers,
        quiet=quiet,
    )
    _report("word crops with masks", written, out, started)


@synth.command()
@click.argument("out", type=_PATH)
@_common_options
@click.option("--size", type=int, default=512, show_default=True, help="Scene width and height.")
def scenes(
    out: Path,
    count: int,
    seed: int,
    font_dir: Path | None,
    background_dir: Path | None,
    workers: int,
    quiet: bool,
    size: int,
) -> None:
    """Write COUNT scenes with pixel masks, region masks and word polygons to the folder OUT.

    Layout: images/, pixel_masks/, region_masks/ ({stem}.png), polygons/ ({stem}.json) and
    meta.json; stems are 000000, 000001, ... OUT appears only when complete.
    """
    check_run(count, seed, workers)
    config = SceneConfig(size=size)
    assets = SynthAssets.find(font_dir, background_dir)
    started = time.perf_counter()
    written = write_synth_scenes(
        out, count, seed=seed, config=config, assets=assets, workers=workers, quiet=quiet
    )
    _report("scenes", written, out, started)
