"""``textmask-ocr add-masks``: cache a segmenter's masks in a copy of a word-crop LMDB."""

from __future__ import annotations

from pathlib import Path

import click

from textmask_ocr.cli.devices import device_option


def _multiple_of_16(
    _context: click.Context, _param: click.Parameter, value: int | None
) -> int | None:
    if value is not None and value % 16:
        raise click.BadParameter(f"{value} is not a multiple of 16")
    return value


@click.command("add-masks")
@click.argument("lmdb_path", metavar="LMDB", type=click.Path(path_type=Path, exists=True))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--segmenter",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="Segmentation checkpoint (model.pt of train-seg, or its run folder).",
)
@click.option(
    "--crop-height",
    type=click.IntRange(min=1),
    callback=_multiple_of_16,
    help="Height crops are segmented at (a multiple of 16); default: the checkpoint's.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@device_option(
    "cpu, cuda, cuda:1 ... (default: CUDA if available; under torchrun, each rank's GPU)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def add_masks(
    lmdb_path: Path,
    out: Path,
    segmenter: Path,
    crop_height: int | None,
    batch_size: int,
    device: str | None,
    quiet: bool,
) -> None:
    """Copy LMDB to OUT with the segmenter's pixel-level mask of every crop as mask-%09d.

    Crops are resized to the checkpoint's crop height (the height it was trained at on word
    crops; 64 for checkpoints that do not record one) and a width rounded to a multiple of 16,
    batched by width, and the predicted mask is stored at the crop's size. A killed run continues
    where it stopped when started again with the same arguments; OUT appears only when complete.

    Under torchrun (any number of processes and machines), each rank predicts its own share of
    the batches and rank 0 merges them: OUT holds exactly what one process writes. OUT's folder
    must then be on a file system every rank shares, and a killed job continues with the same
    arguments and number of processes.
    """
    import functools
    import time

    from textmask_ocr.data.mask_cache import merge_mask_shards, predict_mask_shard
    from textmask_ocr.engine import DistributedContext
    from textmask_ocr.masking.predictor import Segmenter

    started = time.perf_counter()
    context = DistributedContext.from_environment(device)
    try:
        segmentation = Segmenter.from_pretrained(segmenter, device=context.device)
        predictor = functools.partial(segmentation.crop_masks, height=crop_height)
        predict_mask_shard(
            lmdb_path, out, predictor, rank=context.rank,
            world_size=context.world_size, batch_size=batch_size,
            quiet=quiet or not context.is_main,
        )  # fmt: skip
    finally:
        context.shutdown()  # every rank has finished (or failed) its shard
    if not context.is_main:
        return
    count = merge_mask_shards(out, world_size=context.world_size, quiet=quiet)
    seconds = time.perf_counter() - started
    click.echo(f"wrote {count} crops with predicted masks to {out} ({count / seconds:.1f} crops/s)")
