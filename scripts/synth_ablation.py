"""Which synthetic-word additions help a small CRNN read real words: one variant per run.

Generates word crops with one variant of the generator, trains the demo's stand-in base CRNN
(batch norm after every convolution) on them from scratch, and scores it on real word
crops given with --bench (e.g. the IIIT5K and SVT training splits: validation only, never
trained on), in all and per label case (upper, title, lower, digits, mixed: the share of the crops
and the accuracy on them). Appends one JSON line per run to --log.

    python scripts/synth_ablation.py --variant all-fonts \\
        --bench IIIT5K-train=../shared/fixtures/real_words/iiit5k_train --out runs/ablation

--steps, --batch, --lr and --schedule set the AdamW schedule (one-cycle, cosine with a 5%
warm-up, or constant), --width and --hidden the CRNN's width multiplier and LSTM size (default:
the demo's fast budget), --no-aux-ctc drops its auxiliary CTC head; the DataLoader runs in the
main process unless --workers is given, and torch uses every core (``OMP_NUM_THREADS`` limits it).

Variants:
    system-fonts   the recognizer style with the system's fonts only
    scene-labels   system-fonts with labels cased like scene text: 85% dictionary words (45% upper
                   case, 30% title, 25% lower), 5% random letter-digit strings, 10% numbers
    all-fonts      system-fonts + the fonts of installed Python packages (the ``fonts`` extra),
                   family first (the demo's words)
    punctuation    all-fonts with 15% of the labels punctuated (``LabelMix.punctuation``: trailing
                   marks, quotes, possessives, hyphenated pairs, prices, web addresses); the
                   training labels drop the marks, as every demo run's do (``--strip-symbols``)
    wide-labels    all-fonts + faux bold (a quarter of the words), the wide style's labels
                   (pseudowords, more upper case)
    photo-effects  system-fonts with the degradations of small photographed crops: more and
                   stronger blur (half the crops, radius 0.5-2 px) and low resolution (half the
                   crops shrunk 1.5-4 times and enlarged back)
    wide-photo     wide-labels + photo-effects
    muted-colour   all-fonts with half the crops' colours washed out as in photographs (each
                   pixel keeps 10-70% of its distance from the grey of its luminance)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from textmask_ocr.data.lmdb_format import is_lmdb_dir
from textmask_ocr.data.synth import default_assets
from textmask_ocr.data.synth.appearance import PaintStyle
from textmask_ocr.data.synth.crops import WORD_STYLES, WordStyle
from textmask_ocr.data.synth.effects import ImageEffects
from textmask_ocr.data.synth.words import LabelMix
from textmask_ocr.data.synth.writers import write_synth_words
from textmask_ocr.demo.budget import BUDGETS
from textmask_ocr.demo.pipeline import base_crnn_settings
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.evaluation import evaluate_dataset
from textmask_ocr.recognition.finetune import run_finetune
from textmask_ocr.recognition.models import load_base_or_adapted

#: The demo's fast budget: the base CRNN's shape and, by default, its schedule.
FAST = BUDGETS["fast"]
#: Labels cased like photographed scene text: mostly words, upper case the most common (signs and
#: shop fronts), few random letter-digit strings.
SCENE_LABELS = LabelMix(
    dictionary=0.85, alphanumeric=0.05, number=0.1, lower=0.25, title=0.3, upper=0.45
)
#: Degradations as small photographed crops have them (SVT's are often 20-40 pixels high,
#: enlarged to the recognizer's 32): blur and low resolution on half the crops each.
PHOTO_EFFECTS = ImageEffects(
    blur_probability=0.5, blur_radius=(0.5, 2.0), downscale_probability=0.5, downscale=(1.5, 4.0)
)

#: Colours as photographs of signs and walls have them: half the crops washed out towards grey.
MUTED_COLOUR = dataclasses.replace(WORD_STYLES["recognizer"].effects, desaturate_probability=0.5)


def variant(name: str) -> tuple[WordStyle, bool]:
    """The word style and whether package fonts are used."""
    recognizer, wide = WORD_STYLES["recognizer"], WORD_STYLES["wide"]
    if name == "system-fonts":
        return recognizer, False
    if name == "all-fonts":
        return recognizer, True
    if name == "punctuation":
        labels = dataclasses.replace(recognizer.labels, punctuation=0.15)
        return dataclasses.replace(recognizer, labels=labels), True
    if name == "muted-colour":
        return dataclasses.replace(recognizer, effects=MUTED_COLOUR), True
    if name == "scene-labels":
        return dataclasses.replace(recognizer, labels=SCENE_LABELS), False
    if name == "photo-effects":
        return dataclasses.replace(recognizer, effects=PHOTO_EFFECTS), False
    if name in ("wide-labels", "wide-photo"):
        paint = PaintStyle(bold_probability=0.25)
        style = dataclasses.replace(recognizer, labels=wide.labels, paint=paint)
        if name == "wide-photo":
            style = dataclasses.replace(style, effects=PHOTO_EFFECTS)
        return style, True
    raise SystemExit(f"unknown variant {name!r}")


def label_case(label: str) -> str:
    """``upper``, ``title``, ``lower``, ``digits`` or ``mixed``: the case of a label's letters and
    digits (symbols ignored; one capital letter alone is ``upper``)."""
    kept = "".join(character for character in label if character.isalnum())
    if kept.isdigit() or not kept:
        return "digits" if kept else "mixed"
    if kept.isupper():
        return "upper"
    if kept.islower():
        return "lower"
    return "title" if kept[0].isupper() and kept[1:].islower() else "mixed"


def accuracy_by_case(predictions: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Share of the crops (%) and word accuracy (%) per :func:`label_case` of their labels."""
    groups: dict[str, list[bool]] = {}
    for row in predictions:
        groups.setdefault(label_case(row["label"]), []).append(row["correct"])
    return {
        case: {
            "share": round(100 * len(hits) / len(predictions), 2),
            "accuracy": round(100 * sum(hits) / len(hits), 2),
        }
        for case, hits in sorted(groups.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="all-fonts")
    parser.add_argument("--words", type=int, default=15_000)
    parser.add_argument("--steps", type=int, default=FAST.base_steps)
    parser.add_argument("--batch", type=int, default=FAST.base_batch)
    parser.add_argument("--lr", type=float, default=FAST.base_lr)
    parser.add_argument(
        "--schedule", choices=("onecycle", "cosine", "constant"), help="default: the demo's"
    )
    parser.add_argument("--width", type=float, default=FAST.base_width, help="width multiplier")
    parser.add_argument("--hidden", type=int, default=FAST.base_hidden, help="LSTM hidden size")
    parser.add_argument("--no-aux-ctc", action="store_true", help="no auxiliary CTC head")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bench", action="append", default=[], help="NAME=LMDB (repeat)")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args()

    style, package_fonts = variant(args.variant)
    budget = dataclasses.replace(
        FAST,
        base_width=args.width,
        base_hidden=args.hidden,
        base_aux_ctc=not args.no_aux_ctc,
        base_steps=args.steps,
        base_batch=args.batch,
        base_lr=args.lr,
    )
    data = args.out / f"words_{args.variant}_{args.seed}"
    shape = f"w{args.width:g}h{args.hidden}_{args.steps}x{args.batch}_lr{args.lr:g}"
    schedule = {"schedule": args.schedule} if args.schedule else {}
    suffix = (f"_{args.schedule}" if args.schedule else "") + ("_noaux" if args.no_aux_ctc else "")
    run = args.out / f"crnn_{args.variant}_{args.seed}_{shape}{suffix}"
    started = time.perf_counter()
    if not is_lmdb_dir(data):
        write_synth_words(
            data,
            args.words,
            seed=args.seed * 10 + 2,
            style=style,
            assets=default_assets(package_fonts=package_fonts),
            workers=2,
        )
    generated = time.perf_counter()
    settings = base_crnn_settings(
        budget, out=run, train=[data], workers=args.workers, seed=args.seed, **schedule
    )
    run_finetune(settings)
    trained = time.perf_counter()
    model = load_base_or_adapted(run / "last.pt", arch="crnn", with_mask=False).eval()
    record = {
        "variant": args.variant,
        "seed": args.seed,
        "words": args.words,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "schedule": settings.schedule,
        "width": args.width,
        "hidden": args.hidden,
        "aux_ctc": budget.base_aux_ctc,
        "data_s": round(generated - started),
        "train_s": round(trained - generated),
    }
    for bench in args.bench:
        name, _, path = bench.partition("=")
        dataset = recognizer_dataset(Path(path), model.config, "none")
        result = evaluate_dataset(model, dataset, name=name, keep_predictions=True)
        record[name] = round(result.metric.accuracy, 2)
        record[f"{name} by case"] = accuracy_by_case(result.predictions)
    print(json.dumps(record))
    log = args.log or args.out / "ablation.jsonl"
    with log.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
