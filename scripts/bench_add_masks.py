"""Crops per second of ``add-masks`` (predicted masks cached into a word LMDB), and what that
means for caching the masks of Synth90k.

Usage: python scripts/bench_add_masks.py [--count 48] [--width 1.0] [--batch-size 32]
       [--device cpu|cuda] [--threads N] [--crops 9000000]

Writes ``--count`` synthetic word crops (:func:`textmask_ocr.data.synth.iter_word_records`, the
word-length and aspect mix of the demo data) into an LMDB, builds a randomly initialised
MutuallyGuidedNet of ``--width`` (1.0 = the paper's network; the weights do not change the
cost) deployed as :class:`~textmask_ocr.masking.predictor.Segmenter` runs a checkpoint (batch
norm folded; on CUDA channels_last and bfloat16/float16 autocast), and times
:func:`textmask_ocr.data.mask_cache.add_masks` end to end: LMDB reads, decoding, resizing to
height 64, both phases of the network, resizing back, PNG encoding and LMDB writes. A warm-up
call on a few crops comes first (kernel selection, zero-guidance cache).

Prints the rate (wall clock and, on the CPU, per second of this process's CPU time, which a
shared machine disturbs much less; use ``--threads 1`` there) and the time ``--crops`` crops
(Synth90k: about 9 million) would take at it, on this device, in one process; under
``torchrun`` the work splits over the processes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from segmentation.configs import STRIDE, SegmenterConfig, build_segmenter
from textmask_ocr.data.lmdb_format import decode_image
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.mask_cache import add_masks
from textmask_ocr.data.synth import iter_word_records
from textmask_ocr.masking.predictor import Segmenter

SYNTH90K_CROPS = 9_000_000
WARM_UP_CROPS = 4
CROP_HEIGHT = 64


@dataclass(frozen=True)
class AddMasksRate:
    """One timed ``add_masks`` run."""

    crops: int
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time (all its threads)
    mean_width: float  # network input width of the crops (height 64)

    @property
    def crops_per_second(self) -> float:
        return self.crops / self.seconds

    @property
    def crops_per_cpu_second(self) -> float:
        """What one core of its own would do per second (with ``--threads 1``): a figure that
        other processes on a shared machine disturb much less than the wall clock."""
        return self.crops / self.cpu_seconds

    def hours_for(self, crops: int) -> float:
        return crops / self.crops_per_second / 3600


def measure_add_masks(
    count: int, width: float, device: torch.device, batch_size: int, seed: int = 0
) -> AddMasksRate:
    """Time ``add_masks`` over ``count`` synthetic crops with a fresh MGNet of ``width``."""
    torch.manual_seed(seed)
    model = build_segmenter(SegmenterConfig(arch="mgnet", width=width)).eval()
    segmenter = Segmenter(model.fuse_bn_for_inference(), device=device)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "words.lmdb"
        records = list(iter_word_records(count + WARM_UP_CROPS, seed=seed))
        write_word_lmdb(source, records[WARM_UP_CROPS:], quiet=True)
        segmenter.crop_masks([decode_image(r.image) for r in records[:WARM_UP_CROPS]])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started, cpu_started = time.perf_counter(), time.process_time()
        add_masks(source, Path(tmp) / "masked.lmdb", segmenter.crop_masks,
                  batch_size=batch_size, quiet=True)  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    widths = [_network_width(decode_image(r.image).size) for r in records[WARM_UP_CROPS:]]
    return AddMasksRate(count, seconds, cpu_seconds, statistics.mean(widths))


def _network_width(size: tuple[int, int]) -> int:
    """The width :meth:`Segmenter.crop_masks` resizes a crop to (default height and cap)."""
    width = int(size[0] * CROP_HEIGHT / size[1] / STRIDE + 0.5) * STRIDE
    return min(max(width, STRIDE), 256)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=48, help="Crops timed.")
    parser.add_argument("--width", type=float, default=1.0, help="MGNet width (1.0 = paper).")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's).")
    parser.add_argument("--crops", type=int, default=SYNTH90K_CROPS, help="For the estimate.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rate = measure_add_masks(args.count, args.width, device, args.batch_size)
    hours = rate.hours_for(args.crops)
    print(f"add-masks, MGNet width {args.width:g}, {describe(device)}, batch {args.batch_size}:")
    print(
        f"  {rate.crops} crops (mean network input {CROP_HEIGHT}x{rate.mean_width:.0f}) in "
        f"{rate.seconds:.1f} s = {rate.crops_per_second:.2f} crops/s "
        f"({rate.crops_per_cpu_second:.2f} crops per CPU second)"
    )
    print(f"  {args.crops:,} crops at this rate: {hours:,.1f} h ({hours / 24:,.1f} days)")
    if device.type == "cpu":
        cpu_hours = args.crops / rate.crops_per_cpu_second / 3600
        print(f"  at the CPU-time rate: {cpu_hours:,.1f} core-hours ({cpu_hours / 24:,.1f} days)")


if __name__ == "__main__":
    main()
