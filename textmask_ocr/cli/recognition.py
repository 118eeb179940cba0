"""``textmask-ocr finetune``, ``evaluate`` and ``recognize``: RGB+mask recognizers end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from textmask_ocr.atomic import check_output_folder
from textmask_ocr.cli.options import explicit_values, loop_options, setting_option
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.finetune_settings import (
    MASK_INITS,
    OPTIMIZERS,
    SCHEDULES,
    TRAIN_LAYERS,
    FinetuneSettings,
)

if TYPE_CHECKING:
    from textmask_ocr.recognition.benchmarks import EvaluatedModel

_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(path_type=Path, exists=True)
_MASKS = click.Choice(["real", "random", "predicted", "none"])
_PROTOCOLS = click.Choice(["ignore-case-symbols", "ignore-case", "exact"])
_ARCHS = click.Choice(["crnn", "aster"])


def mask_predictor(mask: str, segmenter: Path | None) -> Any:
    """The on-the-fly crop-mask predictor of ``--segmenter`` (None when not asked for)."""
    if segmenter is None:
        return None
    if mask != "predicted":
        raise InputError(f"--segmenter is used with --mask predicted, not --mask {mask}")
    from textmask_ocr.masking.predictor import crop_mask_predictor

    return crop_mask_predictor(segmenter)


def parse_named_paths(values: tuple[str, ...], option: str) -> list[tuple[str, Path]]:
    """``NAME=PATH`` pairs of a repeated ``option``; a bare PATH is named after its last part."""
    pairs = []
    for value in values:
        name, separator, path = value.partition("=")
        if not separator:
            name, path = Path(value).name, value
        if not name or not path:
            raise InputError(f"{option} {value!r}: expected NAME=PATH")
        pairs.append((name, Path(path)))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"{option} names repeat: {', '.join(names)}")
    return pairs


def parse_benchmarks(values: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``NAME=PATH`` pairs of ``--bench``; a bare PATH is named after its folder."""
    return parse_named_paths(values, "--bench")


def evaluated_models(
    values: tuple[str, ...], masks: tuple[str, ...], arch: str | None, segmenter: Path | None
) -> list[EvaluatedModel]:
    """The ``--model`` entries with their ``--mask`` (one for all, or one per ``--model``)."""
    from textmask_ocr.recognition.benchmarks import EvaluatedModel

    models = parse_named_paths(values, "--model")
    masks = masks or ("none",)
    if len(masks) == 1:
        masks *= len(models)
    if len(masks) != len(models):
        raise InputError(f"--mask given {len(masks)} times for {len(models)} --model")
    for _, path in models:
        if not path.is_file():
            raise InputError(f"--model {path}: no such file")
    if segmenter is not None and "predicted" not in masks:
        raise InputError(f"--segmenter is used with --mask predicted, not --mask {masks[0]}")
    return [
        EvaluatedModel(name, path, mask, arch)
        for (name, path), mask in zip(models, masks, strict=True)
    ]


_FINETUNE = FinetuneSettings


@click.command()
@setting_option(_FINETUNE, "arch", type=_ARCHS)
@click.option("--weights", type=_EXISTING, help="Base checkpoint (public layout or ours).")
@click.option(
    "--resume",
    type=_EXISTING,
    help="Continue the run in this folder exactly, with its recorded settings; a flag given "
    "with it must keep the run's value, except --out, --workers, --quiet, --checkpoint-every, "
    "--checkpoint-minutes (and --steps with --schedule constant).",
)
@click.option("--train", type=_PATH, multiple=True, help="Training LMDB (repeat; required).")
@click.option("--train-ratio", type=float, multiple=True, help="Sampling ratio per --train.")
@click.option("--val", type=_PATH, help="Validation LMDB or folder; best.pt follows it.")
@setting_option(_FINETUNE, "mask", type=_MASKS)
@click.option("--segmenter", type=_EXISTING, help="Segmentation checkpoint for --mask predicted.")
@setting_option(_FINETUNE, "train_layers", type=click.Choice(TRAIN_LAYERS))
@setting_option(_FINETUNE, "mask_init", type=click.Choice(MASK_INITS))
@setting_option(_FINETUNE, "optimizer", type=click.Choice(OPTIMIZERS))
@setting_option(_FINETUNE, "lr", type=float)
@setting_option(_FINETUNE, "weight_decay", type=float)
@setting_option(_FINETUNE, "schedule", type=click.Choice(SCHEDULES))
@setting_option(_FINETUNE, "steps", type=click.IntRange(min=1))
@setting_option(
    _FINETUNE,
    "strip_symbols",
    is_flag=True,
    help="Drop characters outside the model's alphabet from training labels ('$4.50' -> '450') "
    "instead of skipping those samples.",
)
@loop_options(_FINETUNE)
@click.option("--width-mult", type=float, help="Width multiplier of a model built from scratch.")
@click.option("--all-bn", is_flag=True, help="Batch norm after every conv (CRNN from scratch).")
@click.option(
    "--aux-ctc", is_flag=True, help="Auxiliary CTC head on the conv features (CRNN from scratch)."
)
@click.option("--out", type=_PATH, help="Run folder (default: the --resume folder).")
@setting_option(_FINETUNE, "quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def finetune(ctx: click.Context, resume: Path | None, **options: Any) -> None:
    """Fine-tune a recognizer on word-crop LMDBs with real, random, predicted or no masks.

    The paper's recipe: --weights a pretrained CRNN/ASTER, add a mask channel and train only the
    new input layer (--train-layers input). Without --weights the model starts from scratch.
    Runs under torchrun for several GPUs or machines.
    """
    from textmask_ocr.recognition.finetune import run_finetune

    if resume is not None:
        settings = FinetuneSettings.resumed(
            resume, _finetune_settings(explicit_values(ctx, options))
        )
    else:
        if options["out"] is None:
            raise InputError("--out is required (or --resume DIR to continue a run)")
        settings = FinetuneSettings.from_dict(_finetune_settings(options), origin="finetune")
    for name, option in _CRNN_FLAGS.items():
        if settings.arch_kwargs.get(option) and settings.arch != "crnn":
            raise InputError(f"--{name.replace('_', '-')} applies to --arch crnn")
    check_output_folder(settings.out)
    metrics = run_finetune(settings, predictor=mask_predictor(settings.mask, settings.segmenter))
    summary = ", ".join(f"{key} {value:.4g}" for key, value in metrics.items())
    click.echo(
        f"finished {settings.steps} steps in {settings.out}" + (f": {summary}" if summary else "")
    )


#: finetune's flags that set a CRNN option of a model built from scratch: option name -> arch kwarg.
_CRNN_FLAGS = {"all_bn": "batchnorm_everywhere", "aux_ctc": "aux_ctc"}


def _finetune_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Settings values of ``finetune``'s options (only those present in ``options``)."""
    values = dict(options)
    width_mult = values.pop("width_mult", None)
    arch_kwargs = {option: True for name, option in _CRNN_FLAGS.items() if values.pop(name, False)}
    if width_mult is not None:
        arch_kwargs["width_mult"] = width_mult
    if arch_kwargs:
        values["arch_kwargs"] = arch_kwargs
    for name in ("train", "train_ratio"):
        if name in values:
            values[name] = list(values[name]) or None
    if values.get("out") is None:
        values.pop("out", None)
    return values


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Checkpoint, or NAME=PATH (repeat to compare on the same crops; the first is the "
    "reference).",
)
@click.option("--arch", type=_ARCHS, help="Architecture of a public checkpoint (ours need none).")
@click.option("--bench", multiple=True, required=True, help="NAME=PATH (LMDB or folder; repeat).")
@click.option(
    "--mask",
    "masks",
    type=_MASKS,
    multiple=True,
    help="Mask source: once for every --model, or once per --model in order.  [default: none]",
)
@click.option("--segmenter", type=_EXISTING, help="Segmentation checkpoint for --mask predicted.")
@click.option("--protocol", type=_PROTOCOLS, default="ignore-case-symbols", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--out",
    type=_PATH,
    help="Folder for results.json (default: beside the first --model, eval-MASK or eval-compare).",
)
@click.option("--save-predictions", is_flag=True, help="Also write predictions/<bench>.jsonl.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or progress lines.")
def evaluate(
    models: tuple[str, ...],
    arch: str | None,
    bench: tuple[str, ...],
    masks: tuple[str, ...],
    segmenter: Path | None,
    protocol: str,
    batch_size: int,
    workers: int,
    out: Path | None,
    save_predictions: bool,
    quiet: bool,
) -> None:
    """Word accuracy and normalised edit distance on benchmarks, as papers report them.

    Prints one column per benchmark plus the total weighted by sample counts, and writes
    results.json (and per-sample predictions on request). With several --model, each is compared
    with the first on the same crops: the difference, its exact McNemar p-value and a 95% paired
    bootstrap interval, per benchmark and pooled.
    """
    from textmask_ocr.recognition.benchmarks import evaluate_benchmarks

    entries = evaluated_models(models, masks, arch, segmenter)
    first = entries[0]
    default_out = f"eval-{first.mask}" if len(entries) == 1 else "eval-compare"
    out = out or first.path.parent / default_out
    check_output_folder(out)
    report = evaluate_benchmarks(
        entries,
        parse_benchmarks(bench),
        predictor=mask_predictor("predicted", segmenter),
        protocol=protocol,
        batch_size=batch_size,
        num_workers=workers,
        out=out,
        save_predictions=save_predictions,
        quiet=quiet,
    )
    click.echo(report.table_text.rstrip("\n"))
    click.echo(f"results written to {report.results_path}")


@click.command()
@click.argument("images", nargs=-1, required=True, type=_EXISTING)
@click.option("--model", "model_path", type=_EXISTING, required=True, help="Checkpoint.")
@click.option("--arch", type=_ARCHS, help="Architecture of a public checkpoint (ours need none).")
@click.option("--mask-dir", type=_EXISTING, help="Masks named like the images (any extension).")
@click.option("--segmenter", type=_EXISTING, help="Predict the masks with this segmenter.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
def recognize(
    images: tuple[Path, ...],
    model_path: Path,
    arch: str | None,
    mask_dir: Path | None,
    segmenter: Path | None,
    batch_size: int,
) -> None:
    """Print the text of each word-crop IMAGE (path, text and confidence, tab-separated)."""
    from textmask_ocr.recognition.benchmarks import recognize_files

    for path, prediction in recognize_files(
        model_path,
        list(images),
        arch=arch,
        mask_dir=mask_dir,
        predictor=mask_predictor("predicted", segmenter),
        batch_size=batch_size,
    ):
        click.echo(f"{path}\t{prediction.text}\t{prediction.confidence:.4f}")
