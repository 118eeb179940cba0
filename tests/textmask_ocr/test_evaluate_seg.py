"""evaluate-seg and validation metrics against brute-force per-image counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from segmentation.configs import normalize_image
from segmentation.datasets import make_annotation, open_segmentation_dataset, write_scene
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.cli import main
from textmask_ocr.engine import DistributedContext
from textmask_ocr.masking.evaluation import validation_metrics

pytestmark = pytest.mark.usefixtures("single_thread_torch")

SIZES = {"a": (20, 30), "b": (24, 24), "c": (16, 40), "d": (18, 18)}  # (H, W); "d" has no text


def random_scenes(root: Path, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Scene folder with random images, pixel masks, region masks and (in "a") don't-care pixels;
    returns the masks by scene name."""
    rng = np.random.default_rng(seed)
    truth = {}
    for name, (height, width) in SIZES.items():
        pixel = (
            rng.random((height, width)) < 0.3 if name != "d" else np.zeros((height, width), bool)
        )
        ignore = np.zeros((height, width), bool)
        if name == "a":
            ignore[:4, :10] = True
        annotation = make_annotation(
            name,
            torch.rand(3, height, width, generator=torch.Generator().manual_seed(len(truth))),
            pixel_mask=pixel,
            region_mask=pixel | (rng.random((height, width)) < 0.2),
            ignore=ignore,
            polygons=[],
        )
        write_scene(root, annotation)
        truth[name] = {"pixel": pixel, "ignore": ignore}
    return truth


def write_predictions(folder: Path, levels: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, level in levels.items():
        Image.fromarray(level.astype(np.uint8)).save(folder / f"{name}_text.png")
    return folder


def brute_force(
    predictions: dict[str, np.ndarray], truth: dict[str, dict[str, np.ndarray]], ignore: bool
) -> dict[str, float]:
    """Per-image P/R/F1 (empty denominators score 1) averaged, pooled IoU and F-score."""
    per_image, pooled = [], np.zeros(3)
    for name in SIZES:
        valid = ~truth[name]["ignore"] if ignore else np.ones_like(truth[name]["pixel"])
        predicted, text = predictions[name] & valid, truth[name]["pixel"] & valid
        tp = float((predicted & text).sum())
        fp = float((predicted & ~text).sum())
        fn = float((~predicted & text).sum())
        pooled += (tp, fp, fn)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 1.0
        per_image.append((precision, recall, f1))
    tp, fp, fn = pooled
    means = np.mean(per_image, axis=0)
    return {
        "precision": means[0],
        "recall": means[1],
        "f1": means[2],
        "foreground_iou": tp / (tp + fp + fn),
        "fscore": 2 * tp / (2 * tp + fp + fn),
        "per_image_f1": [row[2] for row in per_image],
    }


def evaluate(*args: Any) -> tuple[Any, dict[str, Any]]:
    result = CliRunner().invoke(main, ["evaluate-seg", *map(str, args)])
    assert result.exit_code == 0, result.output
    out = Path(args[list(args).index("--out") + 1])
    return result, json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("ignore_label", ["255", "none"])
def test_scores_equal_brute_force_counts(tmp_path: Path, ignore_label: str) -> None:
    truth = random_scenes(tmp_path / "scenes")
    rng = np.random.default_rng(1)
    levels = {
        name: {m: rng.choice([0, 100, 127, 128, 200, 255], size=SIZES[name]) for m in "AB"}
        for name in SIZES
    }
    levels["d"]["B"][:] = 0  # an empty prediction of an empty scene: P = R = F1 = 1
    folders = {
        method: write_predictions(
            tmp_path / method, {name: level[method] for name, level in levels.items()}
        )
        for method in "AB"
    }
    result, record = evaluate(
        "--predictions", f"A={folders['A']}",
        "--predictions", f"B={folders['B']}",
        "--data", f"synth={tmp_path / 'scenes'}",
        "--ignore-label", ignore_label,
        "--out", tmp_path / "eval",
    )  # fmt: skip
    expected = {
        method: brute_force(
            {name: levels[name][method] >= 127.5 for name in SIZES}, truth, ignore_label != "none"
        )
        for method in "AB"
    }
    per_image = np.array([expected[m]["per_image_f1"] for m in "AB"]).T
    winners = (per_image == per_image.max(axis=1, keepdims=True)).astype(float)
    top1 = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    assert record["per_image"]["names"] == list(SIZES)
    for index, method in enumerate(record["methods"]):
        name = "AB"[index]
        assert method["name"] == name and method["images"] == len(SIZES)
        for key in ("precision", "recall", "f1", "foreground_iou", "fscore"):
            assert method[key] == pytest.approx(expected[name][key], abs=1e-12), key
        assert method["f1_top1_rate"] == pytest.approx(top1[index], abs=1e-12)
        assert record["per_image"]["f1"][name] == pytest.approx(expected[name]["per_image_f1"])
    assert record["ignore_label"] == (None if ignore_label == "none" else 255)
    assert "F1 top-1 (%)" in result.output
    assert (tmp_path / "eval" / "table.md").read_text().startswith("| ")


def test_a_model_and_its_saved_masks_score_alike(tmp_path: Path) -> None:
    random_scenes(tmp_path / "scenes")
    checkpoint = save_tiny_checkpoint(tmp_path / "tiny.pt", tiny_model())
    runner = CliRunner()
    segmented = runner.invoke(
        main,
        ["segment", str(tmp_path / "scenes" / "images"), "--model", str(checkpoint),
         "--out", str(tmp_path / "masks"), "--quiet"],
    )  # fmt: skip
    assert segmented.exit_code == 0, segmented.output
    _, record = evaluate(
        "--model", checkpoint,
        "--predictions", f"saved={tmp_path / 'masks'}",
        "--data", f"synth={tmp_path / 'scenes'}",
        "--out", tmp_path / "eval",
    )  # fmt: skip
    model, saved = record["methods"]
    assert model["name"] == "tiny" and saved["name"] == "saved"
    for key in ("precision", "recall", "f1", "foreground_iou", "fscore"):
        assert model[key] == saved[key]
    assert model["f1_top1_rate"] == saved["f1_top1_rate"] == 0.5  # every image a tie


def test_evaluate_seg_errors(tmp_path: Path) -> None:
    random_scenes(tmp_path / "scenes")
    data = f"synth={tmp_path / 'scenes'}"
    folder = write_predictions(tmp_path / "p", {"a": np.zeros(SIZES["a"])})
    cases = [
        (["--data", data], "nothing to evaluate"),
        (["--data", data, "--predictions", folder], "b_text.png: file not found"),
        (["--data", data, "--predictions", tmp_path / "absent"], "not a folder"),
        (["--data", f"synth:region={tmp_path / 'scenes'}", "--predictions", folder],
         "has no pixel-level masks"),
        (["--data", data, "--predictions", folder, "--ignore-label", "1"],
         "--ignore-label 1: 0 and 1 are background and text"),
        (["--data", data, "--predictions", folder, "--ignore-label", "x"],
         "--ignore-label 'x': an integer or 'none'"),
        (["--data", data, "--predictions", f"p={folder}", "--predictions", f"p={folder}"],
         "method names repeat"),
        (["--data", "synth", "--predictions", folder], "expected KIND[:GT][@SPLIT]=DIR"),
    ]  # fmt: skip
    for args, message in cases:
        result = CliRunner().invoke(main, ["evaluate-seg", *map(str, args)])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and result.output.count("\n") == 1, result.output
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(folder / "b_text.png")
    result = CliRunner().invoke(
        main, ["evaluate-seg", "--data", data, "--predictions", str(folder)]
    )
    assert "b_text.png: mask is 5x5 but the scene is 24x24" in result.output


@dataclass(frozen=True)
class TwoRankContext(DistributedContext):
    """Rank ``rank`` of a 2-process job whose all-gather returns the counts of the other rank
    recorded in ``exchange`` (rank 1 runs first, rank 0 second)."""

    exchange: dict = field(default_factory=dict)

    def gather_objects(self, value: Any) -> list[Any]:
        key = len(self.exchange.get(self.rank, []))
        self.exchange.setdefault(self.rank, []).append(value)
        if self.rank == 1:
            return [value, value]  # rank 1's view is not used
        return [value, self.exchange[1][key]]


def test_validation_metrics_equal_brute_force_and_shard_over_ranks(tmp_path: Path) -> None:
    truth_folder = tmp_path / "scenes"
    random_scenes(truth_folder)
    dataset = open_segmentation_dataset("synth", truth_folder, size=32)
    model = tiny_model()
    metrics = validation_metrics(model, dataset, phases=2, batch_size=3)

    expected: dict[str, float] = {}
    for kind, mask_key in (("text", "pixel_mask"), ("region", "region_mask")):
        predictions, truth = {}, {}
        for index, name in enumerate(SIZES):
            sample = dataset[index]
            with torch.no_grad():
                output = model(normalize_image(sample["image"][None], model.config))
            probability = (output.final_text if kind == "text" else output.final_region)[0, 0]
            predictions[name] = (probability >= 0.5).numpy()
            truth[name] = {
                "pixel": sample[mask_key][0].numpy() > 0.5,
                "ignore": sample["ignore"][0].numpy(),
            }
        scores = brute_force(predictions, truth, ignore=True)
        expected.update({f"{kind}_{key}": scores[key] for key in scores if key != "per_image_f1"})
    assert metrics == pytest.approx(expected, abs=1e-9)

    exchange: dict = {}
    validation_metrics(
        model, dataset, phases=2, batch_size=3, context=TwoRankContext(1, 2, exchange=exchange)
    )
    sharded = validation_metrics(
        model, dataset, phases=2, batch_size=3, context=TwoRankContext(0, 2, exchange=exchange)
    )
    assert [len(counts) for counts in exchange[1]] == [2, 2]  # rank 1 scored scenes b and d
    assert sharded == pytest.approx(metrics, abs=1e-12)
