"""The GPU figures of the README in one run (under 8 minutes on one GPU): a Markdown table.

Usage: python scripts/bench_gpu.py [--smoke] [--device cuda] [--repeats 10]
       (or ``scripts/bench_gpu.sh``, which adds a time limit)

At the paper's sizes:

- MutuallyGuidedNet (width 1.0), 512 x 512, batch 8: the deployed forward (batch norm folded,
  both phases) and the training step (eq. 5 loss with all terms, backward, Adam), each in
  float32 and under bfloat16 autocast, channels_last;
- ``add-masks``: crops/s end to end (``scripts/bench_add_masks.py``'s measurement: LMDB in,
  decode, resize, network, PNG, LMDB out) at MGNet width 1.0;
- CRNN and ASTER at their public sizes: fine-tuning steps/s of the input layer, batch 64, the
  base model and its RGB+mask copy (``scripts/bench_recognizers.py``'s step: the project's
  Trainer, one optimizer step).

``--smoke`` runs every measurement at tiny sizes (MGNet width 1/16 at 64 x 64, tiny recognizers,
a handful of crops): it proves on a CPU, in about a minute, that the script works. Each time is
the best of ``--repeats`` calls after warm-up calls (CUDA synchronised).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from bench_add_masks import describe, measure_add_masks
from bench_recognizers import finetune_step_call, model_batch, word_samples
from bench_segmentation import Bench, synthetic_batch

from recognizers import add_mask_channel, build_recognizer, default_cfgs
from segmentation.losses import semi_supervised_loss
from segmentation.mgnet import MutuallyGuidedNet

WARM_UP_CALLS = 3
# --smoke: the recognizers' tiny widths (as the test suite builds them)
TINY_RECOGNIZERS = {
    "crnn": {"hidden_size": 16, "width_mult": 0.125},
    "aster": {"width_mult": 0.125, "s_dim": 16, "att_dim": 16, "max_length": 12},
}


@dataclass(frozen=True)
class Sizes:
    """What one run measures: the paper's sizes, or tiny ones for ``--smoke``."""

    mgnet_width: float
    mgnet_side: int
    mgnet_batch: int
    add_masks_crops: int
    recognizer_batch: int
    tiny_recognizers: bool


PAPER = Sizes(1.0, 512, 8, 2048, 64, False)
SMOKE = Sizes(1 / 16, 64, 2, 8, 4, True)


def autocast(device: torch.device, dtype: torch.dtype) -> AbstractContextManager:
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def mgnet_rows(bench: Bench, sizes: Sizes, dtypes: list[torch.dtype]) -> list[list[str]]:
    device, batch = bench.device, sizes.mgnet_batch
    torch.manual_seed(0)
    model = MutuallyGuidedNet(width=sizes.mgnet_width).to(device)
    data = synthetic_batch(batch, sizes.mgnet_side, device)
    image = data["image"].contiguous(memory_format=torch.channels_last)
    deployed = copy.deepcopy(model).eval().fuse_bn_for_inference()
    deployed = deployed.to(memory_format=torch.channels_last)
    model.train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    setting = f"width {sizes.mgnet_width:g}, {sizes.mgnet_side}², batch {batch}, channels_last"
    rows = []
    for dtype in dtypes:
        precision = "fp32" if dtype == torch.float32 else "bf16 autocast"

        def forward(dtype: torch.dtype = dtype) -> None:
            with torch.inference_mode(), autocast(device, dtype):
                deployed(image)

        def train_step(dtype: torch.dtype = dtype) -> None:
            with autocast(device, dtype):
                outputs = model(image)
            loss, _ = semi_supervised_loss(outputs, data)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        seconds = bench.time(forward)
        rows.append(["MGNet forward, both phases, BN folded", f"{setting}, {precision}",
                     f"{batch / seconds:.1f} images/s"])  # fmt: skip
        seconds = bench.time(train_step)
        rows.append(["MGNet training step (eq. 5, Adam)", f"{setting}, {precision}",
                     f"{1 / seconds:.2f} steps/s"])  # fmt: skip
    return rows


def add_masks_row(device: torch.device, sizes: Sizes) -> list[str]:
    batch = 256 if device.type == "cuda" else 8
    rate = measure_add_masks(sizes.add_masks_crops, sizes.mgnet_width, device, batch)
    hours = rate.hours_for(9_000_000)
    setting = f"MGNet width {sizes.mgnet_width:g}, {rate.crops} crops, batch {batch}"
    return ["add-masks (9M crops would take)", setting,
            f"{rate.crops_per_second:.1f} crops/s ({hours:,.1f} h)"]  # fmt: skip


def recognizer_rows(bench: Bench, sizes: Sizes) -> list[list[str]]:
    device, batch = bench.device, sizes.recognizer_batch
    samples = word_samples(batch + 32)
    rows = []
    for arch, name in (("crnn", "CRNN"), ("aster", "ASTER")):
        config = default_cfgs[arch]
        if sizes.tiny_recognizers:
            config = config.replace(arch_kwargs={**config.arch_kwargs, **TINY_RECOGNIZERS[arch]})
        torch.manual_seed(0)
        base = build_recognizer(config).to(device)
        models = {"base": base, "RGB+mask": add_mask_channel(base).to(device)}
        with tempfile.TemporaryDirectory() as out:
            for variant, model in models.items():
                step = finetune_step_call(
                    model, model_batch(model, samples, batch), Path(out), device
                )
                seconds = bench.time(step)
                rows.append([f"{name} fine-tuning step, input layer", f"{variant}, batch {batch}",
                             f"{1 / seconds:.2f} steps/s"])  # fmt: skip
    return rows


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def markdown(rows: list[list[str]]) -> str:
    lines = ["| Measure | Setting | Rate |", "|:---|:---|---:|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: check the script.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's; smoke: 1).")
    args = parser.parse_args()
    if args.threads or args.smoke:
        torch.set_num_threads(args.threads or 1)
    device = torch.device(args.device)
    sizes = SMOKE if args.smoke else PAPER
    bench = Bench(device, WARM_UP_CALLS, 2 if args.smoke else args.repeats)
    bf16 = device.type == "cpu" or torch.cuda.is_bf16_supported()
    dtypes = [torch.float32, torch.bfloat16] if bf16 else [torch.float32]
    started = time.perf_counter()
    log(f"MGNet on {device} ...")
    rows = mgnet_rows(bench, sizes, dtypes)
    log("add-masks ...")
    rows.append(add_masks_row(device, sizes))
    log("recognizer fine-tuning steps ...")
    rows += recognizer_rows(bench, sizes)
    print(f"**{describe(device)}**, torch {torch.__version__}" + (" (smoke sizes)" * args.smoke))
    print()
    print(markdown(rows))
    print(
        f"\n*Best of {bench.repeats} calls after {WARM_UP_CALLS} warm-up calls; add-masks: one "
        f"timed run after a warm-up. Whole run {time.perf_counter() - started:.0f} s.*"
    )


if __name__ == "__main__":
    main()
