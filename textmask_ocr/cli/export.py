"""``textmask-ocr export``: a recognizer or segmenter as an ONNX graph."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("model", type=click.Path(path_type=Path, exists=True))
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--arch",
    type=click.Choice(["crnn", "aster"]),
    help="Architecture of a public recognizer checkpoint (ours store it).",
)
@click.option("--opset", type=click.IntRange(min=16), default=17, show_default=True)
@click.option(
    "--max-length",
    type=click.IntRange(min=1),
    help="ASTER: decoding steps in the graph, EOS included (default: the model's).",
)
def export(model: Path, out: Path, arch: str | None, opset: int, max_length: int | None) -> None:
    """Write MODEL (a recognizer or segmenter checkpoint) as the ONNX graph OUT.

    Recognizers read the preprocessed input (N, C, H, W) that recognition uses (image channels
    normalised, mask channel in [0, 1]) and give greedy ids and probs (N, L); ASTER's decoder is
    unrolled over --max-length steps, PADDING after EOS. Segmenters read the normalised image
    (sides multiples of 16) and give the text and region probabilities of their last phase,
    both phases in one graph. Batch and width (ASTER and segmenters: height too) are dynamic.
    """
    from textmask_ocr.export import export_onnx, load_exportable

    exported = export_onnx(
        load_exportable(model, arch=arch), out, opset=opset, max_length=max_length
    )
    axes = exported.dynamic_axes[exported.input_name]
    dynamic = ", ".join(f"{name} (axis {axis})" for axis, name in axes.items())
    click.echo(
        f"wrote {out}: {exported.input_name} -> {', '.join(exported.output_names)}; "
        f"dynamic {dynamic}"
    )
