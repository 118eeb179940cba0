"""Write synthetic datasets to disk: word-crop LMDBs and scene folders, atomically.

Kept apart from the generators so that worker processes, which import only the generators, start
without the heavier modules the writers need.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from textmask_ocr._version import __version__
from textmask_ocr.atomic import atomic_path
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.synth.assets import SynthAssets, default_assets
from textmask_ocr.data.synth.crops import WordStyle, iter_word_records
from textmask_ocr.data.synth.scenes import META_FILE, SCENE_DIRS, SceneConfig, iter_scene_files
from textmask_ocr.errors import InputError
from textmask_ocr.progress import track

#: ``meta.json["generator"]`` of scene folders; an existing folder is replaced only if it has it.
SCENE_GENERATOR = "textmask_ocr.synth.scenes"


def write_synth_words(
    out: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    style: WordStyle | None = None,
    assets: SynthAssets | None = None,
    workers: int = 1,
    quiet: bool = False,
) -> int:
    """Write ``n`` synthetic word crops with masks as a word-crop LMDB at ``out``.

    The LMDB is the same byte for byte for a given ``seed`` (and fonts), whatever ``workers``;
    a killed run with the same arguments continues where it stopped. An existing LMDB at ``out``
    is replaced.

    Returns:
        the number of samples written.

    Raises:
        InputError: bad ``n``, ``seed`` or ``workers``; ``out`` exists and is not an LMDB.
    """
    style, assets = style or WordStyle(), assets or default_assets()
    job = json.dumps(
        {"synth words": n, "seed": seed, "style": dataclasses.asdict(style), **assets.describe()},
        sort_keys=True,
        default=str,
    )
    return write_word_lmdb(
        out,
        lambda done: iter_word_records(n, seed, style, assets, workers, start=done),
        total=n,
        quiet=quiet,
        overwrite=True,
        job=job,
    )


def write_synth_scenes(
    out: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    config: SceneConfig | None = None,
    assets: SynthAssets | None = None,
    workers: int = 1,
    quiet: bool = False,
) -> int:
    """Write ``n`` synthetic scenes to the folder ``out`` (layout in :mod:`.scenes`).

    The folder is built under a temporary name and renamed when complete; an existing ``out``
    is replaced only if it is a scene folder written by this function.

    Returns:
        the number of scenes written.

    Raises:
        InputError: bad ``n``, ``seed`` or ``workers``; ``out`` exists and is something else.
    """
    config = config or SceneConfig()
    assets = assets or default_assets()
    files = iter_scene_files(n, seed, config, assets, workers)
    out = Path(out)
    _check_scene_output(out)
    with atomic_path(out, directory=True) as tmp:
        for folder in SCENE_DIRS:
            (tmp / folder).mkdir()
        for scene in track(files, total=n, label="rendering scenes", quiet=quiet):
            for relative, data in scene.items():
                (tmp / relative).write_bytes(data)
        meta = {
            "generator": SCENE_GENERATOR,
            "version": __version__,
            "seed": seed,
            "n": n,
            "config": dataclasses.asdict(config),
            "assets": assets.describe(),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return n


def _check_scene_output(out: Path) -> None:
    """Refuse to replace anything but an empty folder or a scene folder written here."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    try:
        generator = json.loads((out / META_FILE).read_text(encoding="utf-8")).get("generator")
    except (OSError, ValueError, AttributeError):
        generator = None
    if generator != SCENE_GENERATOR:
        raise InputError(
            f"{out}: exists and is not a synthetic scene folder; choose another output"
        )
