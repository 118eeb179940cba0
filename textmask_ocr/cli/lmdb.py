"""``textmask-ocr lmdb``: create, inspect and export word-crop LMDBs."""

from __future__ import annotations

import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import click

from textmask_ocr.data.folder_dataset import write_word_folder
from textmask_ocr.data.lmdb_format import WordLmdb
from textmask_ocr.data.lmdb_writer import write_word_lmdb_from_gt

_PATH = click.Path(path_type=Path)
_HISTOGRAM_WIDTH = 40
_CLASSES = (
    ("0-9", string.digits),
    ("a-z", string.ascii_lowercase),
    ("A-Z", string.ascii_uppercase),
)


@click.group()
def lmdb() -> None:
    """Create, inspect and export word-crop LMDBs (num-samples, image-/label-/mask-%09d)."""


@lmdb.command()
@click.argument("gt_txt", type=_PATH)
@click.argument("out", type=_PATH)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it is an LMDB already.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def create(gt_txt: Path, out: Path, overwrite: bool, quiet: bool) -> None:
    """Write the crops listed in GT_TXT as an LMDB at OUT.

    GT_TXT (or a folder holding gt.txt) has one 'image<TAB>label' or 'image<TAB>label<TAB>mask'
    line per crop, paths relative to its folder. Every image must decode and every mask be a
    single-channel image of its crop's size. OUT appears only when complete; a killed run
    continues where it stopped when started again on the same GT_TXT.
    """
    count = write_word_lmdb_from_gt(gt_txt, out, quiet=quiet, overwrite=overwrite)
    click.echo(f"wrote {count} samples to {out}")


@lmdb.command()
@click.argument("path", type=_PATH)
@click.argument("out_dir", metavar="DIR", type=_PATH)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def export(path: Path, out_dir: Path, quiet: bool) -> None:
    """Write the LMDB at PATH back to files: DIR/images/, DIR/masks/ and DIR/gt.txt.

    Image and mask bytes are written unchanged, so 'lmdb create DIR/gt.txt' rebuilds the LMDB.
    """
    with WordLmdb(path) as db:
        count = write_word_folder(out_dir, db.records(), total=db.num_samples, quiet=quiet)
    click.echo(f"exported {count} samples to {out_dir}")


@lmdb.command()
@click.argument("path", type=_PATH)
@click.option(
    "--samples",
    "num_samples",
    type=click.IntRange(min=1),
    default=None,
    help="How many samples to write to --samples-dir (default 16), evenly spread.",
)
@click.option(
    "--samples-dir",
    type=_PATH,
    default=None,
    help="Write sample crops (and masks) here, as images/, masks/ and gt.txt.",
)
@click.option(
    "--alphabet",
    default=None,
    help="Also report coverage of this alphabet, e.g. 0123456789abcdefghijklmnopqrstuvwxyz.",
)
def inspect(
    path: Path, num_samples: int | None, samples_dir: Path | None, alphabet: str | None
) -> None:
    """Report what the LMDB at PATH holds: sample count, mask presence, label lengths and
    characters; optionally write sample crops to a folder."""
    if num_samples is not None and samples_dir is None:
        raise click.UsageError("--samples needs --samples-dir")
    with WordLmdb(path) as db:
        summary = _summarize(db, alphabet)
        for line in _report(db, summary, alphabet):
            click.echo(line)
        if samples_dir is not None and db.num_samples:
            wanted = min(num_samples or 16, db.num_samples)
            picks = [1 + (i * db.num_samples) // wanted for i in range(wanted)]
            count = write_word_folder(samples_dir, db.records(picks), total=wanted, quiet=True)
            click.echo(f"sample crops:  {count} written to {samples_dir}")


@dataclass
class _Summary:
    masks: int = 0
    lengths: Counter[int] = field(default_factory=Counter)
    characters: Counter[str] = field(default_factory=Counter)
    undecodable_labels: int = 0
    labels_outside_alphabet: int = 0


def _summarize(db: WordLmdb, alphabet: str | None) -> _Summary:
    """One pass over the labels (no image is read) and over the mask keys."""
    summary = _Summary(masks=db.count_masks())
    charset = set(alphabet or "")
    for _, raw in db.iter_labels():
        try:
            label = raw.decode("utf-8")
        except UnicodeDecodeError:
            summary.undecodable_labels += 1
            continue
        summary.lengths[len(label)] += 1
        summary.characters.update(label)
        if alphabet is not None and not charset.issuperset(label):
            summary.labels_outside_alphabet += 1
    return summary


def _report(db: WordLmdb, summary: _Summary, alphabet: str | None) -> list[str]:
    lines = [
        f"path:          {db.path}",
        f"samples:       {db.num_samples}",
        f"masks:         {summary.masks} of {db.num_samples} samples",
    ]
    if summary.undecodable_labels:
        lines.append(f"non-UTF-8 labels: {summary.undecodable_labels}")
    if summary.lengths:
        lengths = summary.lengths
        total = sum(lengths.values())
        mean = sum(length * n for length, n in lengths.items()) / total
        lines.append(
            f"label length:  min {min(lengths)}, mean {mean:.2f}, max {max(lengths)}"
            f" ({lengths[0]} empty)"
        )
        peak = max(lengths.values())
        for length in range(min(lengths), max(lengths) + 1):
            bar = "#" * round(_HISTOGRAM_WIDTH * lengths[length] / peak)
            lines.append(f"  {length:3d} | {lengths[length]:8d} {bar}".rstrip())
    seen = set(summary.characters)
    classes = [f"{name} {len(seen & set(chars))}/{len(chars)}" for name, chars in _CLASSES]
    other = sorted(seen - set(string.ascii_letters + string.digits))
    lines.append(
        f"characters:    {len(seen)} distinct; {', '.join(classes)}, {len(other)} other"
        + (f": {''.join(other)!r}" if other else "")
    )
    if alphabet is not None:
        outside = sorted(seen - set(alphabet))
        lines.append(
            f"alphabet:      {len(seen & set(alphabet))}/{len(set(alphabet))} characters used;"
            f" {summary.labels_outside_alphabet} labels use {len(outside)} characters outside it"
            + (f": {''.join(outside)!r}" if outside else "")
        )
    return lines
