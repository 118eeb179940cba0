"""``textmask-ocr add-masks``: cache a segmenter's masks in a copy of a word-crop LMDB."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("add-masks")
@click.argument("lmdb_path", metavar="LMDB", type=click.Path(path_type=Path, exists=True))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--segmenter",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="Segmentation checkpoint (model.pt of train-seg, or its run folder).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def add_masks(lmdb_path: Path, out: Path, segmenter: Path, batch_size: int, quiet: bool) -> None:
    """Copy LMDB to OUT with the segmenter's pixel-level mask of every crop as mask-%09d.

    Crops are resized to height 64 and a width rounded to a multiple of 16, batched by width,
    and the predicted mask is stored at the crop's size. A killed run continues where it
    stopped when started again with the same arguments; OUT appears only when complete.
    """
    import time

    from textmask_ocr.data.mask_cache import add_masks as add_predicted_masks
    from textmask_ocr.masking.predictor import Segmenter

    started = time.perf_counter()
    predictor = Segmenter.from_pretrained(segmenter)
    count = add_predicted_masks(
        lmdb_path, out, predictor.crop_masks, batch_size=batch_size, quiet=quiet
    )
    seconds = time.perf_counter() - started
    click.echo(f"wrote {count} crops with predicted masks to {out} ({count / seconds:.1f} crops/s)")
