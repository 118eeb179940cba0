"""Throughput of the synthetic data generator on one CPU core: words/s and scenes/s.

Usage: python scripts/bench_synth.py [--words 2000] [--scenes 50] [--size 512] [--seed 0]

Prints a Markdown table with, for word crops and for scenes, the rate of generation alone (records
and encoded files in memory) and of the full command path (written to a temporary LMDB / scene
folder). The process is pinned to one core where the OS allows it; workers=1 throughout. Rates are
given per wall-clock second and per CPU second (the latter is what one dedicated core achieves
when other processes compete for the machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textmask_ocr.data.synth import SceneConfig, default_assets, iter_scene_files, iter_word_records
from textmask_ocr.data.synth.writers import write_synth_scenes, write_synth_words


def pin_to_one_core() -> str:
    """Restrict this process to its first allowed core; returns a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this OS)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) spent in ``run``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=2000, help="word crops to generate")
    parser.add_argument("--scenes", type=int, default=50, help="scenes to generate")
    parser.add_argument("--size", type=int, default=512, help="scene side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pinning = pin_to_one_core()
    assets = default_assets()
    config = SceneConfig(size=args.size)
    list(iter_word_records(20, seed=args.seed + 1, assets=assets))  # warm the font caches
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        words_memory = timed(lambda: list(iter_word_records(args.words, args.seed, assets=assets)))
        words_lmdb = timed(
            lambda: write_synth_words(
                Path(tmp) / "words", args.words, seed=args.seed, assets=assets, quiet=True
            )
        )
        scenes_memory = timed(
            lambda: list(iter_scene_files(args.scenes, args.seed, config, assets))
        )
        scenes_folder = timed(
            lambda: write_synth_scenes(
                Path(tmp) / "scenes",
                args.scenes,
                seed=args.seed,
                config=config,
                assets=assets,
                quiet=True,
            )
        )
    rows = [
        ("word crops, in memory", args.words, words_memory, "words/s"),
        ("word crops -> LMDB", args.words, words_lmdb, "words/s"),
        (f"{args.size}x{args.size} scenes, in memory", args.scenes, scenes_memory, "scenes/s"),
        (f"{args.size}x{args.size} scenes -> folder", args.scenes, scenes_folder, "scenes/s"),
    ]
    print(
        f"synthetic data throughput, 1 worker, {pinning}; {len(assets.fonts)} fonts; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print()
    print("| what | n | wall s | CPU s | per wall s | per CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, count, (wall, cpu), unit in rows:
        print(
            f"| {what} | {count} | {wall:.2f} | {cpu:.2f} | {count / wall:.1f} {unit} "
            f"| {count / cpu:.1f} {unit} |"
        )


if __name__ == "__main__":
    main()
