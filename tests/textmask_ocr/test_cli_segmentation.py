"""The segmentation commands: segment, train-seg (flags, --config, --resume), warp-icdar13."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from segmentation.configs import ARCHS
from segmentation.datasets import open_segmentation_dataset
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model, write_scenes
from textmask_ocr.cli import main
from textmask_ocr.cli.segmentation import _flag_setting, train_seg
from textmask_ocr.data.synth.writers import write_synth_words
from textmask_ocr.engine import is_complete
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.masking.training import SegTrainSettings

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def run(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def one_line_error(result: Any, message: str, exit_code: int = 1) -> None:
    assert result.exit_code == exit_code, result.output
    assert message in result.output, result.output
    assert result.output.count("\n") == 1, result.output


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("seg") / "tiny.pt", tiny_model())


def write_inputs(folder: Path) -> dict[str, tuple[int, int]]:
    """Images of every mode (name -> (width, height)) and one unreadable file."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(rgb[:30, :20, 0]).save(folder / "gray.png")
    rgba = np.concatenate([rgb[:25, :41], rng.integers(0, 256, (25, 41, 1), np.uint8)], axis=2)
    Image.fromarray(rgba).save(folder / "alpha.png")
    sixteen = Image.fromarray(rng.integers(0, 65536, (33, 47), dtype=np.uint16))
    assert sixteen.mode == "I;16"
    sixteen.save(folder / "deep.png")
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=90)
    (folder / "broken.png").write_bytes(b"\x89PNG but not really")
    (folder / "notes.txt").write_text("not an image, not listed")
    return {
        "rgb": (53, 37),
        "gray": (20, 30),
        "alpha": (41, 25),
        "deep": (47, 33),
        "photo": (53, 37),
    }


@pytest.mark.parametrize("size", [None, 32])
def test_segment_writes_four_outputs_at_the_input_size(
    tmp_path: Path, checkpoint: Path, size: int | None
) -> None:
    sizes = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    extra = [] if size is None else ["--size", size]
    result = run("segment", tmp_path / "in", "--model", checkpoint, "--out", out, "-q", *extra)
    assert result.exit_code == 1, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "broken.png: cannot read image" in skipped[0]
    assert f"segmented 5 images into {out}; 1 skipped" in result.output

    segmenter = Segmenter.from_pretrained(checkpoint, device="cpu")
    for name, image_size in sizes.items():
        text = Image.open(out / f"{name}_text.png")
        region = Image.open(out / f"{name}_region.png")
        overlay = Image.open(out / f"{name}_overlay.png")
        assert text.mode == region.mode == "L" and overlay.mode == "RGB"
        assert text.size == region.size == overlay.size == image_size
        (prediction,) = segmenter.predict(
            [tmp_path / "in" / f"{name}.{'jpg' if name == 'photo' else 'png'}"], size=size
        )
        assert np.array_equal(np.asarray(text), prediction.text_mask * 255)
        assert np.array_equal(np.asarray(region), prediction.region_mask * 255)
        record = json.loads((out / f"{name}_polygons.json").read_text())
        assert (record["width"], record["height"]) == image_size
        assert record["polygons"] == [p.tolist() for p in prediction.polygons()]
    assert not list(out.glob(".*tmp*")) and not list(out.glob("broken*"))


def test_segment_polygons_and_overlay_show_the_region(tmp_path: Path) -> None:
    """With a region output forced to a known square, the polygon outlines the square and the
    overlay draws it."""
    import torch

    from textmask_ocr.masking.predictor import SegmentationPrediction
    from textmask_ocr.masking.scene_outputs import REGION_COLOUR, write_scene_outputs

    region = np.zeros((40, 50), np.float32)
    region[10:30, 5:45] = 0.9
    text = np.zeros((40, 50), np.float32)
    text[15:25, 10:40] = 0.7
    prediction = SegmentationPrediction(text=text, region=region)
    write_scene_outputs(tmp_path, "scene", torch.zeros(3, 40, 50), prediction)
    record = json.loads((tmp_path / "scene_polygons.json").read_text())
    assert record["polygons"] == [[[5, 10], [44, 10], [44, 29], [5, 29]]]
    overlay = np.asarray(Image.open(tmp_path / "scene_overlay.png"))
    assert tuple(overlay[10, 20]) == REGION_COLOUR and tuple(overlay[0, 0]) == (0, 0, 0)
    assert overlay[20, 20, 0] > 100 and overlay[20, 20, 1] < 50  # text tinted red


def test_segment_with_unet_writes_text_and_overlay(tmp_path: Path) -> None:
    unet = save_tiny_checkpoint(tmp_path / "unet.pt", tiny_model("unet"))
    Image.new("RGB", (30, 20), (10, 200, 30)).save(tmp_path / "scene.png")
    result = run("segment", tmp_path / "scene.png", "--model", unet, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "scene_overlay.png",
        "scene_text.png",
    ]


def test_segment_errors(tmp_path: Path, checkpoint: Path) -> None:
    (tmp_path / "empty").mkdir()
    one_line_error(
        run("segment", tmp_path / "empty", "--model", checkpoint, "--out", tmp_path / "o"),
        "no images in",
    )
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (16, 16)).save(tmp_path / folder / "same.png")
    one_line_error(
        run(
            "segment",
            tmp_path / "a",
            tmp_path / "b",
            "--model",
            checkpoint,
            "--out",
            tmp_path / "o",
        ),
        "would write the same outputs",
    )
    one_line_error(
        run(
            "segment", tmp_path / "a", "--model", checkpoint, "--out", tmp_path / "o", "--size", 40
        ),
        "--size 40: must be a positive multiple of 16",
    )
    (tmp_path / "junk.pt").write_bytes(b"these are not weights")
    one_line_error(
        run("segment", tmp_path / "a", "--model", tmp_path / "junk.pt", "--out", tmp_path / "o"),
        "junk.pt: not a PyTorch checkpoint",
    )


def test_train_seg_flag_defaults_are_the_settings_defaults() -> None:
    defaults = {field.name: field.default for field in dataclasses.fields(SegTrainSettings)}
    parsed = train_seg.make_context("train-seg", [], resilient_parsing=True).params
    checked = 0
    for name, value in parsed.items():
        if name in ("config_file", "out", "resume") or isinstance(value, tuple):
            continue
        key, setting = _flag_setting(name, value)
        assert defaults[key] == setting, name
        checked += 1
    assert checked == 23
    arch_choices = next(param for param in train_seg.params if param.name == "arch").type.choices
    assert list(arch_choices) == list(ARCHS)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenes(tmp_path_factory.mktemp("scenes") / "train", 8, seed=0)


def test_train_seg_config_file_flags_and_resume(tmp_path: Path, scenes: Path) -> None:
    config = tmp_path / "recipe.json"
    config.write_text(
        json.dumps(
            {
                "data": [f"synth={scenes}"],
                "width": 0.0625,
                "size": 32,
                "phase1_steps": 5,
                "phase2_steps": 1,
                "batch_size": 2,
                "workers": 0,
                "crf_loss": False,
            }
        )
    )
    out = tmp_path / "run"
    result = run("train-seg", "--config", config, "--phase1-steps", 2, "--no-subset-loss",
                 "--out", out, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "phase1: done (no --val)" in result.output and f"{out / 'model.pt'}" in result.output
    recorded = json.loads((out / "config.json").read_text())["config"]
    assert recorded["phase1_steps"] == 2 and recorded["phase2_steps"] == 1  # flag over file
    assert recorded["width"] == 0.0625 and recorded["crf_loss"] is False  # file over defaults
    assert recorded["subset_loss"] is False and recorded["phase1_lr"] == 1e-4  # flag; default
    assert (out / "phase2" / "last.pt").is_file()

    assert is_complete(out) and is_complete(out / "phase1") and is_complete(out / "phase2")
    # Resume takes the recorded settings: flags left out are not changes, runtime flags may
    # change, a flag repeating the run's value is accepted, and any other change is refused.
    resumed = run("train-seg", "--resume", out, "--workers", 0, "--width", 0.0625, "-q")
    assert resumed.exit_code == 0, resumed.output
    one_line_error(
        run("train-seg", "--resume", out, "--width", 0.5, "--phase2-steps", 3),
        f"--resume {out}: --width would change the run's width from 0.0625 to 0.5; "
        "leave --width out to keep the run's value",
    )
    one_line_error(
        run("train-seg", "--resume", out, "--no-crf-loss", "--seed", 1),
        "--seed would change the run's seed from 0 to 1",
    )
    one_line_error(
        run("train-seg", "--resume", out, "--data", f"synth:region={scenes}"),
        "--data would change the run's data",
    )
    one_line_error(run("train-seg", "--resume", out, "--config", config), "--config starts")
    one_line_error(run("train-seg", "--config", config, "--out", out), "holds a run already")

    again = tmp_path / "again"  # a run's own config.json is a recipe too
    result = run("train-seg", "--config", out / "config.json", "--out", again, "-q")
    assert result.exit_code == 0, result.output
    rerun = json.loads((again / "config.json").read_text())["config"]
    assert {**rerun, "out": str(out)} == recorded


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "scenes"], "--data 'scenes': expected KIND[:GT][@SPLIT]=DIR"),
        (["--data", "photos=x"], "unknown kind 'photos'"),
        (["--data", "synth:pixels=x"], "ground truth 'pixels'; choose from both, pixel, region"),
        (["--data", "synth@test={scenes}"], "synth has no splits"),
        (["--data", "synth={scenes}", "--val", "synth"], "--val 'synth': expected"),
        (["--data", "synth={scenes}", "--data-ratio", "1", "--data-ratio", "2"],
         "--data-ratio given 2 times for 1 --data"),
        (["--data", "synth:region={scenes}"], "phase 2 trains on pixel-level data"),
        (["--data", "synth={scenes}", "--data-ratio", "0"], "must be >= 0 with a positive sum"),
        (["--data", "synth={scenes}", "--phase2-data", "synth=nowhere"], "nowhere: dataset folder"),
        (["--data", "synth={scenes}/nowhere"], "dataset folder not found"),
        (["--phase1-steps", "3"], "--data is required"),
        (["--data", "synth={scenes}", "--size", "32x40"],
         "--size (32, 40): a side or HxW, multiples of 16"),
        (["--data", "synth={scenes}", "--size", "40"], "--size 40: a side or HxW, multiples of 16"),
    ],
)  # fmt: skip
def test_train_seg_errors(tmp_path: Path, scenes: Path, args: list[str], message: str) -> None:
    args = [arg.format(scenes=scenes) for arg in args]
    one_line_error(run("train-seg", *args, "--out", tmp_path / "run"), message)
    assert not (tmp_path / "run").exists()  # nothing written before the inputs are checked


def test_train_seg_on_word_crops_at_a_crop_shaped_size(tmp_path: Path) -> None:
    write_synth_words(tmp_path / "words", 6, seed=0, quiet=True)
    out = tmp_path / "run"
    result = run("train-seg", "--data", f"words={tmp_path / 'words'}", "--size", "32x64",
                 "--width", 0.0625, "--phases", 1, "--phase1-steps", 1, "--batch-size", 2,
                 "--workers", 0, "--out", out, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["config"]["size"] == [32, 64]
    config = Segmenter.from_pretrained(out).config
    assert config.input_size == (32, 64) and config.crop_height == 32
    bad = run("train-seg", "--data", f"words={tmp_path / 'words'}", "--size", "32by64")
    assert bad.exit_code == 2 and "'32by64' is not a side or HxW" in bad.output


def test_train_seg_config_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    one_line_error(
        run("train-seg", "--config", tmp_path / "bad.json", "--out", tmp_path),
        "not a readable JSON",
    )
    (tmp_path / "list.json").write_text("[1]")
    one_line_error(run("train-seg", "--config", tmp_path / "list.json"), "expected a JSON object")
    (tmp_path / "odd.json").write_text(json.dumps({"data": ["synth=x"], "colour": "red"}))
    one_line_error(
        run("train-seg", "--config", tmp_path / "odd.json", "--out", tmp_path),
        f"--config {tmp_path / 'odd.json'}: unknown settings colour",
    )


def icdar_layout(root: Path) -> Path:
    """A two-scene ICDAR-2013 training split: images, word boxes, colour segmentation maps."""
    images = root / "Challenge2_Training_Task12_Images"
    boxes = root / "Challenge2_Training_Task1_GT"
    maps = root / "Challenge2_Training_Task2_GT"
    for folder in (images, boxes, maps):
        folder.mkdir(parents=True)
    for name in ("100", "101"):
        Image.new("RGB", (64, 48), (90, 120, 150)).save(images / f"{name}.png")
        (boxes / f"gt_{name}.txt").write_text('6 10 50 30 "WORD"\n')
        colours = np.full((48, 64, 3), 255, dtype=np.uint8)
        colours[14:26, 10:46] = (200, 30, 30)
        Image.fromarray(colours).save(maps / f"{name}_GT.bmp")
    return root


def test_warp_icdar13_is_reproducible_by_seed(tmp_path: Path) -> None:
    source = icdar_layout(tmp_path / "icdar")
    for out in ("warp_a", "warp_b"):
        result = run("warp-icdar13", source, tmp_path / out, "--seed", 3, "-q")
        assert result.exit_code == 0 and "wrote 2 warped scenes" in result.output, result.output
    files = sorted(p.relative_to(tmp_path / "warp_a") for p in (tmp_path / "warp_a").rglob("*.*"))
    assert len(files) >= 8
    for relative in files:
        assert (tmp_path / "warp_a" / relative).read_bytes() == (
            tmp_path / "warp_b" / relative
        ).read_bytes()
    run("warp-icdar13", source, tmp_path / "warp_c", "--seed", 4, "-q")
    masks = ("warp_a/pixel_masks/100.png", "warp_c/pixel_masks/100.png")
    assert (tmp_path / masks[0]).read_bytes() != (tmp_path / masks[1]).read_bytes()
    sample = open_segmentation_dataset("icdar2013-warp", tmp_path / "warp_a")[0]
    assert bool(sample["has_pixel"]) and bool(sample["has_region"])
    pixel, region = sample["pixel_mask"].bool(), sample["region_mask"].bool()
    assert pixel.any() and not (pixel & ~region).any()  # warped text stays inside its region
    one_line_error(run("warp-icdar13", source, tmp_path / "warp_a"), "already exists")
