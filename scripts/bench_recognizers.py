"""What the mask channel costs: base vs RGB+mask CRNN and ASTER at their public sizes.

Usage: python scripts/bench_recognizers.py [--archs crnn aster] [--repeats 7] [--batch-size 64]
       [--threads N] [--devices cpu cuda] [--aster-steps 26]

For each architecture, a randomly initialised model of the public layout (the "base": gray CRNN,
RGB ASTER) and its RGB+mask copy made by the adapter are measured in one process, alternately
call by call, so that a change of machine load hits both alike:

- inference words/s at batch 1 and at ``--batch-size``: ``model.predict`` and the codec's
  ``decode`` on crops already preprocessed by the product's one preprocessing path (the numbers
  are the model's, not Pillow's); ASTER decodes ``--aster-steps`` steps with beam width 5
  (random weights never emit EOS; 26 steps cover 25-letter words);
- fine-tuning steps/s with only the input layer(s) trained, as in the paper: one optimizer step
  of the project's :class:`~textmask_ocr.engine.Trainer` (forward, backward, clipping, update,
  schedule) with :class:`RecognitionTask`, on a fixed batch of ``--batch-size`` crops.

Every number is the median over ``--repeats`` calls after warm-up calls. The overhead is
``base rate / RGB+mask rate - 1`` (the aim: under 2%), from wall-clock time and, on the CPU, also
from this process's CPU time, which other processes on a shared machine disturb much less (use
``--threads 1`` there). Prints a Markdown table; progress goes to stderr. CUDA is measured too
when it is available (``--devices`` to choose).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from recognizers import add_mask_channel, build_codec, build_recognizer, default_cfgs
from textmask_ocr.data.synth import iter_word_records
from textmask_ocr.engine import DistributedContext, Trainer, TrainerConfig
from textmask_ocr.engine.sampling import shuffled_order
from textmask_ocr.recognition.finetune import (
    FinetuneSettings,
    RecognitionTask,
    build_optimizer,
    freeze_for,
)
from textmask_ocr.recognition.mask_sources import SampleToInput, collate_inputs

NAMES = {"crnn": "CRNN", "aster": "ASTER"}
VARIANTS = ("base", "RGB+mask")
WARM_UP_CALLS = 3  # the first calls of a shape are slow (kernel selection, RNN workspaces)


@dataclass
class Timings:
    """Wall-clock and process CPU seconds of repeated calls."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def rate(self, units: int, clock: str = "wall") -> float:
        """``units`` per median second."""
        return units / statistics.median(getattr(self, clock))


def word_samples(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Synthetic word crops with their masks, as the word datasets yield them."""
    samples = []
    for key, record in enumerate(iter_word_records(count, seed=seed), start=1):
        image = Image.open(io.BytesIO(record.image)).convert("RGB")
        mask = Image.open(io.BytesIO(record.mask)).convert("L")
        samples.append({"image": image, "label": record.label, "mask": mask, "key": key})
    return samples


def model_batch(model: nn.Module, samples: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """``size`` samples through the product's transform (real masks for an RGB+mask model),
    keeping labels the model's codec can encode, collated."""
    codec = build_codec(model.config)
    transform = SampleToInput(model.config, "real" if model.config.mask_channel else "none")
    usable = [sample for sample in samples if not codec.unencodable(sample["label"])]
    if len(usable) < size:
        raise SystemExit(f"only {len(usable)} synthetic words fit the {model.config.arch} alphabet")
    return collate_inputs([transform(sample) for sample in usable[:size]])


def timed(run: Callable[[], object], device: torch.device, timings: Timings) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    timings.wall.append(time.perf_counter() - wall)
    timings.cpu.append(time.process_time() - cpu)


def alternate(
    runs: dict[str, Callable[[], object]], device: torch.device, repeats: int
) -> dict[str, Timings]:
    """Warm up, then time the runs one after the other, ``repeats`` rounds."""
    for _ in range(WARM_UP_CALLS):
        for run in runs.values():
            run()
    timings = {key: Timings() for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            timed(run, device, timings[key])
    return timings


def inference_call(model: nn.Module, batch: dict[str, Any], options: dict[str, int]):
    """One ``predict`` + ``decode`` of a batch already on the model's device."""
    codec = build_codec(model.config)
    inputs = batch["input"].to(next(model.parameters()).device)

    @torch.no_grad()
    def run() -> None:
        codec.decode(*model.predict(inputs, **options))

    return run


def finetune_step_call(model: nn.Module, batch: dict[str, Any], out: Path, device: torch.device):
    """One optimizer step of an input-layer fine-tuning run, as the Trainer takes it."""
    settings = FinetuneSettings(out=out, train=[], batch_size=len(batch["labels"]))
    optimizer, scheduler = build_optimizer(settings, freeze_for(model, "input"))
    context = DistributedContext(device=device)
    task = RecognitionTask(model, train_layers="input", validate=None, device=device)
    trainer = Trainer(
        model=model,
        model_config=model.config.to_dict(),
        optimizer=optimizer,
        scheduler=scheduler,
        dataset=[None] * settings.batch_size,
        order=shuffled_order(settings.batch_size),
        collate_fn=collate_inputs,
        task=task,
        config=TrainerConfig(
            out_dir=out, max_steps=settings.steps, batch_size=settings.batch_size, quiet=True
        ),
        context=context,
    )

    def run() -> None:
        task.set_train_mode(model)
        trainer._optimizer_step(model, batch)

    return run


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def row(name: str, device: torch.device, measure: str, timings: dict[str, Timings], units: int):
    """A table row: rates, and the overhead by wall clock (and CPU time on the CPU)."""
    wall = {key: timing.rate(units) for key, timing in timings.items()}
    cpu = {key: timing.rate(units, "cpu") for key, timing in timings.items()}
    overhead = f"{100 * (wall['base'] / wall['RGB+mask'] - 1):+.1f}%"
    cpu_overhead = f"{100 * (cpu['base'] / cpu['RGB+mask'] - 1):+.1f}%"
    return [
        name,
        device.type,
        measure,
        f"{wall['base']:.4g}",
        f"{wall['RGB+mask']:.4g}",
        overhead,
        cpu_overhead if device.type == "cpu" else "",
    ]


def benchmark(arch: str, device: torch.device, args: argparse.Namespace) -> list[list[str]]:
    """Table rows of one architecture on one device."""
    torch.manual_seed(0)
    base = build_recognizer(default_cfgs[arch]).to(device).eval()
    models = dict(zip(VARIANTS, (base, add_mask_channel(base).to(device).eval()), strict=True))
    name = NAMES[arch]
    extra = parameter_count(models["RGB+mask"]) - parameter_count(base)
    log(f"{name} on {device}: {parameter_count(base):,} parameters, +{extra:,} for the mask")
    samples = word_samples(args.batch_size + 32)
    options = {"max_length": args.aster_steps} if arch == "aster" else {}

    rows = []
    for size in (1, args.batch_size):
        batches = {key: model_batch(model, samples, size) for key, model in models.items()}
        calls = {key: inference_call(model, batches[key], options) for key, model in models.items()}
        repeats = args.repeats * (4 if size == 1 else 1)
        timings = alternate(calls, device, repeats)
        rows.append(row(name, device, f"inference, batch {size} (words/s)", timings, size))
        log(f"  {rows[-1]}")

    with tempfile.TemporaryDirectory() as out:
        batches = {
            key: model_batch(model, samples, args.batch_size) for key, model in models.items()
        }
        calls = {
            key: finetune_step_call(model, batches[key], Path(out), device)
            for key, model in models.items()
        }
        timings = alternate(calls, device, args.repeats)
    measure = f"fine-tuning the input layer, batch {args.batch_size} (steps/s)"
    rows.append(row(name, device, measure, timings, 1))
    log(f"  {rows[-1]}")
    return rows


def markdown(rows: list[list[str]]) -> str:
    header = ["Model", "Device", "Measure", "Base", "RGB+mask", "Overhead", "Overhead (CPU time)"]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    align = "|" + "|".join([":---"] * 3 + ["---:"] * 4) + "|"
    return "\n".join([line(header), align, *map(line, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", choices=sorted(NAMES), default=["crnn", "aster"])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per measure")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=["cpu", "cuda"],
        default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"],
    )
    parser.add_argument("--aster-steps", type=int, default=26, help="ASTER decoding steps")
    args = parser.parse_args()
    if "cuda" in args.devices and not torch.cuda.is_available():
        parser.error("--devices cuda: CUDA is not available")
    torch.set_num_threads(args.threads)

    rows = []
    for arch in args.archs:
        for device in args.devices:
            rows += benchmark(arch, torch.device(device), args)
    machine = f"{os.cpu_count()} CPUs, {args.threads} intra-op threads, torch {torch.__version__}"
    if "cuda" in args.devices:
        machine += f", {torch.cuda.get_device_name()}"
    print(markdown(rows))
    print(
        f"\n*Median of {args.repeats} timed calls ({4 * args.repeats} at batch 1) after "
        f"{WARM_UP_CALLS} warm-up calls, base and RGB+mask alternately. Overhead = base rate / "
        f"RGB+mask rate - 1. {machine}.*"
    )


if __name__ == "__main__":
    main()
