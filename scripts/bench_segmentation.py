"""Speed of the segmentation networks and the CRF loss, against this machine's own peak rates.

Measures, at ``--size`` x ``--size`` for each ``--batch``:

- the machine: dense matmul and channels_last 3x3 convolution throughput (float32 on the CPU,
  bfloat16 under CUDA), measured in the same run;
- MutuallyGuidedNet (``--width``) inference: as built (BatchNorm, NCHW) and as deployed (BatchNorm
  folded into the convolutions, channels_last, zero guidance cached), with the zero guidance
  recomputed once per call (cache cleared), the FLOPs a per-image zero guidance would cost, and the
  open loop alone (``phases=1``);
- the training step (forward, eq. 5 loss with all terms, backward, Adam) unless ``--no-train``;
- the U-Net baseline beside it;
- the CRF loss (forward and backward, local window; ``--dense-crf`` adds the exact dense kernel) on
  the four outputs, as a fraction of the deployed forward.

FLOPs are counted with ``torch.utils.flop_counter`` on the meta device (2 per multiply-add, the
convolutions and matmuls; elementwise work is not counted), so achieved FLOP/s = counted FLOPs /
measured time. Times are the best of ``--repeats`` runs after ``--warmup`` runs.

Examples::

    python scripts/bench_segmentation.py                     # paper network, 512x512, batch 1
    python scripts/bench_segmentation.py --batch 1 8         # also batch 8 (slow on a CPU)

Training the paper network at 512 x 512 with batch 8 needs more than 24 GB of memory in float32
(use ``--no-train`` on small machines).
    python scripts/bench_segmentation.py --size 256 --width 0.25 --no-train
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segmentation.losses import CRFSettings, crf_loss, semi_supervised_loss
from segmentation.mgnet import MutuallyGuidedNet
from segmentation.unet import UNet


@dataclass
class Row:
    name: str
    batch: int
    seconds: float
    flops: float | None = None


class Bench:
    def __init__(self, device: torch.device, warmup: int, repeats: int) -> None:
        self.device = device
        self.warmup = warmup
        self.repeats = repeats
        self.amp_dtype = torch.bfloat16 if device.type == "cuda" else None

    def autocast(self) -> AbstractContextManager:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def time(self, fn: Callable[[], object]) -> float:
        """Best wall time of ``fn`` in seconds over the repeats."""
        for _ in range(self.warmup):
            fn()
        self.synchronize()
        best = float("inf")
        for _ in range(self.repeats):
            start = time.perf_counter()
            fn()
            self.synchronize()
            best = min(best, time.perf_counter() - start)
        return best

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def matmul_rate(self) -> float:
        """FLOP/s of a dense square matmul (float32 on CPU, bfloat16 on CUDA)."""
        side = 2048 if self.device.type == "cpu" else 8192
        dtype = self.amp_dtype or torch.float32
        a = torch.randn(side, side, device=self.device, dtype=dtype)
        b = torch.randn(side, side, device=self.device, dtype=dtype)
        return 2 * side**3 / self.time(lambda: a @ b)

    def conv_rate(self) -> float:
        """FLOP/s of a channels_last 3x3 convolution, 128 -> 128 channels on 128 x 128 (the
        network's most common layer shape)."""
        conv = nn.Conv2d(128, 128, 3, padding=1, bias=False).to(self.device)
        conv = conv.to(memory_format=torch.channels_last)
        x = torch.randn(1, 128, 128, 128, device=self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.autocast():
            seconds = self.time(lambda: conv(x))
        return 2 * 128 * 128 * 9 * 128 * 128 / seconds


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def inference_flops(
    model_cls: type[nn.Module],
    args: argparse.Namespace,
    batch: int,
    phases: int = 2,
    cached: bool = True,
) -> int:
    """FLOPs of one eval forward on the meta device, the zero-guidance cache warm or empty."""
    with torch.device("meta"):
        model = model_cls(width=args.width).eval()
        image = torch.empty(batch, 3, args.size, args.size)
    with torch.no_grad():
        if cached:
            model(image, phases=phases)
        return count_flops(lambda: model(image, phases=phases))


def training_flops(model_cls: type[nn.Module], args: argparse.Namespace, batch: int) -> int:
    """FLOPs of a train-mode forward and backward, on the meta device (losses not counted)."""
    with torch.device("meta"):
        model = model_cls(width=args.width).train()
        image = torch.empty(batch, 3, args.size, args.size)

    def step() -> None:
        sum(t.sum() for t in model(image) if t is not None).backward()

    return count_flops(step)


def synthetic_batch(batch: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """A mixed batch: pixel-only, region-only and both-ground-truth samples in turn."""
    generator = torch.Generator().manual_seed(0)
    kinds = torch.arange(batch) % 3
    data = {
        "image": torch.rand(batch, 3, size, size, generator=generator),
        "pixel_mask": (torch.rand(batch, 1, size, size, generator=generator) > 0.9).float(),
        "region_mask": (torch.rand(batch, 1, size, size, generator=generator) > 0.7).float(),
        "has_pixel": kinds != 1,
        "has_region": kinds != 0,
    }
    return {key: value.to(device) for key, value in data.items()}


def bench_model(
    bench: Bench,
    name: str,
    model_cls: type[nn.Module],
    args: argparse.Namespace,
    batch: int,
    rows: list[Row],
) -> float:
    """Append the model's rows; return the deployed forward time (seconds)."""
    device, size = bench.device, args.size
    torch.manual_seed(0)
    model = model_cls(width=args.width).to(device)
    data = synthetic_batch(batch, size, device)
    image = data["image"]
    flops = inference_flops(model_cls, args, batch)

    model.eval()
    with torch.inference_mode(), bench.autocast():
        rows.append(
            Row(f"{name} forward, as built", batch, bench.time(lambda: model(image)), flops)
        )
        deployed = copy.deepcopy(model).fuse_bn_for_inference()
        deployed = deployed.to(memory_format=torch.channels_last)
        image_cl = image.contiguous(memory_format=torch.channels_last)
        seconds = bench.time(lambda: deployed(image_cl))
        rows.append(Row(f"{name} forward, fused + channels_last", batch, seconds, flops))
        if isinstance(deployed, MutuallyGuidedNet):

            def recompute() -> None:
                deployed.clear_zero_guidance_cache()
                deployed(image_cl)

            recompute_flops = inference_flops(model_cls, args, batch, cached=False)
            recompute_seconds = bench.time(recompute)
            rows.append(
                Row(
                    f"{name} forward, zero guidance once per call",
                    batch,
                    recompute_seconds,
                    recompute_flops,
                )
            )
            per_image = batch * inference_flops(model_cls, args, 1, cached=False)
            rows.append(
                Row(f"{name} forward, zero guidance per image (FLOPs only)", batch, 0, per_image)
            )
            phase_one_seconds = bench.time(lambda: deployed(image_cl, phases=1))
            phase_one_flops = inference_flops(model_cls, args, batch, phases=1)
            rows.append(
                Row(f"{name} forward, phase 1 only", batch, phase_one_seconds, phase_one_flops)
            )

    if not args.no_train:
        model.train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
        train_image = image.contiguous(memory_format=torch.channels_last)

        def train_step() -> None:
            with bench.autocast():
                outputs = model(train_image)
            loss, _ = semi_supervised_loss(outputs, data)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        rows.append(
            Row(
                f"{name} train step (eq. 5, Adam)",
                batch,
                bench.time(train_step),
                training_flops(model_cls, args, batch),
            )
        )
    return seconds


def bench_crf(bench: Bench, args: argparse.Namespace, batch: int, rows: list[Row]) -> None:
    data = synthetic_batch(batch, args.size, bench.device)
    probs = torch.rand(batch, 4, args.size, args.size, device=bench.device, requires_grad=True)
    variants = [("CRF loss, window r=5 (4 maps, fwd+bwd)", CRFSettings())]
    if args.dense_crf:
        variants.append(("CRF loss, exact dense (4 maps, fwd+bwd)", CRFSettings(radius=None)))
    for name, settings in variants:

        def step(settings: CRFSettings = settings) -> None:
            crf_loss(probs, data["image"], settings).sum().backward()

        rows.append(Row(name, batch, bench.time(step)))


def print_table(rows: list[Row], matmul: float, conv: float, forward: dict[int, float]) -> None:
    header = (
        f"{'':52} {'batch':>5} {'ms':>10} {'GFLOP':>8} {'GFLOP/s':>8} {'%matmul':>8} {'%conv':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if not row.seconds:  # a FLOP count without a timing
            print(f"{row.name:52} {row.batch:5d} {'-':>10} {row.flops / 1e9:8.1f}")
            continue
        line = f"{row.name:52} {row.batch:5d} {row.seconds * 1e3:10.1f}"
        if row.flops:
            rate = row.flops / row.seconds
            line += f" {row.flops / 1e9:8.1f} {rate / 1e9:8.1f} {100 * rate / matmul:7.0f}%"
            line += f" {100 * rate / conv:5.0f}%"
        elif row.name.startswith("CRF"):
            line += f"   ({100 * row.seconds / forward[row.batch]:.1f}% of the deployed forward)"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="image side (multiple of 16)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-train", action="store_true", help="skip the training steps")
    parser.add_argument("--dense-crf", action="store_true", help="also time the exact dense CRF")
    args = parser.parse_args()
    if args.size % 16:
        parser.error("--size must be a multiple of 16")
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    bench = Bench(device, args.warmup, args.repeats)

    precision = "bfloat16 autocast" if bench.amp_dtype else "float32"
    print(f"device {device} ({torch.get_num_threads()} threads), {precision}")
    print(f"torch {torch.__version__}, image {args.size}x{args.size}, width {args.width}")

    # The machine's rates are measured before and after the models and the best is kept: on a
    # shared machine the ratios then compare with what it can do, not with a momentary slowdown.
    matmul, conv = bench.matmul_rate(), bench.conv_rate()
    rows: list[Row] = []
    forward: dict[int, float] = {}
    for batch in args.batch:
        forward[batch] = bench_model(bench, "MGNet", MutuallyGuidedNet, args, batch, rows)
        bench_model(bench, "U-Net", UNet, args, batch, rows)
        bench_crf(bench, args, batch, rows)
    matmul, conv = max(matmul, bench.matmul_rate()), max(conv, bench.conv_rate())
    print(
        f"dense matmul {matmul / 1e9:.1f} GFLOP/s, channels_last 3x3 conv {conv / 1e9:.1f} GFLOP/s"
    )
    print()
    print_table(rows, matmul, conv, forward)


if __name__ == "__main__":
    main()
