"""``textmask-ocr demo``: the paper's recognition experiment in miniature, end to end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click


@click.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True
)
@click.option(
    "--budget",
    type=click.Choice(["fast", "paper"]),
    default="fast",
    show_default=True,
    help="fast: a 2-core CPU in about 15 minutes; paper: the paper's sizes, for a GPU.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--weights",
    type=click.Path(path_type=Path, exists=True),
    help="A real base CRNN (e.g. the public crnn.pth) instead of the stand-in trained here.",
)
@click.option(
    "--bench",
    multiple=True,
    help="Extra benchmark NAME=LMDB (repeat), e.g. real word crops: masks are predicted for "
    "them, nothing is trained on them.",
)
@click.option(
    "--segmenter",
    "segmenters",
    multiple=True,
    type=click.Choice(["mgnet-skip", "mgnet", "unet"]),
    help="Segmenter architectures to train and compare (repeat; the first makes the PM row, "
    "the others PM (<name>) rows). Default: the budget's.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="DataLoader worker processes. The demo's small crops decode faster than the model "
    "trains, so on a few cores every core is better spent on torch threads.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch threads of the main process.  [default: the available cores, less --workers]",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or stage lines.")
def demo(
    out: Path,
    budget: str,
    seed: int,
    weights: Path | None,
    bench: tuple[str, ...],
    segmenters: tuple[str, ...],
    workers: int,
    threads: int | None,
    quiet: bool,
) -> None:
    """Reproduce Table IV(b) in miniature: base CRNN vs random (RM), predicted (PM) and real masks.

    Generates synthetic word crops (the recognizer's, and a wider range for the segmenter), trains
    the segmenter on the latter and a base CRNN on the former, caches predicted masks, fine-tunes
    the input layer with each mask source and evaluates on held-out crops and --bench sets with
    paired tests against RM. Writes data, checkpoints, metrics, table.md, results.json and
    report.html under --out; a second run with the same --out continues where it stopped (and
    adds the stages of --segmenter architectures it has not trained yet).
    """
    import torch

    from textmask_ocr.cli.recognition import parse_benchmarks
    from textmask_ocr.demo import BUDGETS, run_demo
    from textmask_ocr.demo.pipeline import available_cores
    from textmask_ocr.engine.metrics_log import MetricsLog
    from textmask_ocr.report.stages import StageTimes
    from textmask_ocr.report.table import TOTAL

    torch.set_num_threads(threads or max(available_cores() - workers, 1))
    chosen = BUDGETS[budget]
    if segmenters:
        chosen = dataclasses.replace(chosen, segmenters=tuple(dict.fromkeys(segmenters)))
    result = run_demo(
        out,
        chosen,
        seed=seed,
        weights=weights,
        benches=parse_benchmarks(bench),
        workers=workers,
        quiet=quiet,
    )
    click.echo(result.table.to_text().rstrip("\n"))
    if result.bench_table is not None:
        pooled = ", ".join(result.bench_table.benchmarks)
        click.echo(f"pooled over {pooled}: {result.bench_table.verdict('PM', TOTAL)}")
    times = StageTimes.from_records(MetricsLog(out / "metrics.jsonl").read())
    click.echo("\n" + times.table().to_text().rstrip("\n"))
    click.echo(f"report: {out / 'report.html'}")
