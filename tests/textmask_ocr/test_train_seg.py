"""train-seg: the two-phase recipe on the engine, exact resume across phases, ablations, F1."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from segmentation.configs import DEFAULT_CROP_HEIGHT, SegmenterConfig, build_segmenter
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, write_scenes
from textmask_ocr.data.synth.writers import write_synth_words
from textmask_ocr.engine import load_checkpoint
from textmask_ocr.errors import InputError
from textmask_ocr.masking import training
from textmask_ocr.masking.evaluation import ModelMethod, evaluate_methods
from textmask_ocr.masking.predictor import Segmenter
from textmask_ocr.masking.sources import DataSource
from textmask_ocr.masking.training import SegTrainSettings, run_train_seg

pytestmark = pytest.mark.usefixtures("single_thread_torch")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scenes")
    return {
        "train": write_scenes(root / "train", 40, seed=0),
        "val": write_scenes(root / "val", 12, seed=1),
    }


def tiny_settings(out: Path, scenes: dict[str, Path], **changes) -> SegTrainSettings:
    settings = SegTrainSettings(
        out=out,
        data=[DataSource("synth", scenes["train"])],
        val=DataSource("synth", scenes["val"]),
        width=1 / 16,
        size=32,
        phase1_steps=4,
        phase2_steps=3,
        batch_size=2,
        workers=0,
        eval_every=2,
        log_every=1,
        checkpoint_every=2,
        quiet=True,
        deterministic=True,
    )
    return dataclasses.replace(settings, **changes)


def records(path: Path) -> list[dict]:
    """metrics.jsonl without the timing field."""
    return [
        {key: value for key, value in json.loads(line).items() if key != "samples_per_s"}
        for line in path.read_text().splitlines()
    ]


def test_run_folder_layout_and_model_file(
    scenes: dict[str, Path], tmp_path: Path, restore_determinism
) -> None:
    out = tmp_path / "run"
    results = run_train_seg(tiny_settings(out, scenes))
    assert set(results) == {"phase1", "phase2"}
    assert set(results["phase2"]) == {
        f"{kind}_{metric}"
        for kind in ("text", "region")
        for metric in ("precision", "recall", "f1", "foreground_iou", "fscore")
    }
    for phase in ("phase1", "phase2"):
        for name in ("metrics.jsonl", "config.json", "best.pt", "last.pt"):
            assert (out / phase / name).is_file(), (phase, name)
    model = load_checkpoint(out / "model.pt")
    assert "trainer" not in model
    assert SegmenterConfig.from_dict(model["config"]) == SegmenterConfig(
        width=1 / 16, input_size=(32, 32), phases=2
    )
    last = load_checkpoint(out / "phase2" / "last.pt")
    assert (
        last["config"]["phases"] == 2
        and load_checkpoint(out / "phase1" / "last.pt")["config"]["phases"] == 1
    )
    for key, value in model["state_dict"].items():
        assert torch.equal(value, last["state_dict"][key]), key
    recorded = json.loads((out / "config.json").read_text())["config"]
    assert recorded["data"] == [f"synth={scenes['train']}"] and recorded["model"]["width"] == 1 / 16
    assert SegTrainSettings.from_run(out).record() == {
        **tiny_settings(out, scenes, resume=out).record()
    }
    val_rows = [row for row in records(out / "phase2" / "metrics.jsonl") if row["kind"] == "val"]
    assert [row["step"] for row in val_rows] == [2, 3]


@pytest.mark.parametrize("interrupt_at", [3, 5, 7], ids=["phase1", "boundary", "phase2"])
def test_resume_is_exact_across_the_phase_boundary(
    scenes: dict[str, Path], tmp_path: Path, monkeypatch, restore_determinism, interrupt_at: int
) -> None:
    """4 steps of phase 1 and 3 of phase 2 (checkpoints every 2), interrupted at the given step
    (3: inside phase 1; 5: phase 1 done, phase 2 not yet checkpointed; 7: inside phase 2), then
    resumed: weights and logs equal those of a straight run."""
    straight = tmp_path / "straight"
    run_train_seg(tiny_settings(straight, scenes))

    interrupted = tmp_path / "interrupted"
    original_step = training.SegmentationTask.training_step
    calls = {"count": 0}

    def step_then_interrupt(self, model, batch):
        calls["count"] += 1
        if calls["count"] == interrupt_at:
            raise KeyboardInterrupt
        return original_step(self, model, batch)

    monkeypatch.setattr(training.SegmentationTask, "training_step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_train_seg(tiny_settings(interrupted, scenes))
    monkeypatch.setattr(training.SegmentationTask, "training_step", original_step)
    assert not (interrupted / "model.pt").exists()

    torch.manual_seed(1234)  # a resumed run must not depend on the RNG state it starts in
    run_train_seg(SegTrainSettings.from_run(interrupted))

    expected = load_checkpoint(straight / "model.pt")["state_dict"]
    resumed = load_checkpoint(interrupted / "model.pt")["state_dict"]
    for key, value in expected.items():
        assert torch.equal(value, resumed[key]), key
    for phase in ("phase1", "phase2"):
        assert records(interrupted / phase / "metrics.jsonl") == records(
            straight / phase / "metrics.jsonl"
        )


def loss_keys(path: Path) -> set[str]:
    rows = [row for row in records(path) if row["kind"] == "train"]
    return {key for row in rows for key in row if key.startswith("loss_")}


@pytest.mark.parametrize(
    ("changes", "phase2_keys"),
    [
        ({}, {"loss_iou", "loss_subset", "loss_crf"}),
        ({"crf_loss": False}, {"loss_iou", "loss_subset"}),
        ({"subset_loss": False}, {"loss_iou", "loss_crf"}),
        ({"subset_loss": False, "crf_loss": False}, {"loss_iou"}),
        ({"arch": "mgnet-skip"}, {"loss_iou", "loss_subset", "loss_crf"}),
        ({"arch": "unet"}, {"loss_iou", "loss_crf"}),
    ],
    ids=["ours", "ours-gamma", "no-subset", "ours-beta", "mgnet-skip", "unet"],
)
def test_ablation_flags_change_the_logged_loss_terms(
    scenes: dict[str, Path], tmp_path: Path, changes: dict, phase2_keys: set[str]
) -> None:
    # Phase-2 samples lack pixel masks, so the CRF term acts on the text branch at every step.
    both, region_only = (
        DataSource("synth", scenes["train"]),
        DataSource("synth", scenes["val"], "region"),
    )
    settings = tiny_settings(
        tmp_path,
        scenes,
        data=[both, region_only],
        phase2_data=[region_only],
        val=None,
        phase1_steps=2,
        phase2_steps=2,
        deterministic=False,
        **changes,
    )
    assert run_train_seg(settings) == {"phase1": {}, "phase2": {}}
    assert loss_keys(tmp_path / "phase1" / "metrics.jsonl") == {"loss_iou"}
    assert loss_keys(tmp_path / "phase2" / "metrics.jsonl") == phase2_keys
    rows = [row for row in records(tmp_path / "phase2" / "metrics.jsonl") if row["kind"] == "train"]
    if "loss_crf" in phase2_keys:
        assert all(row["loss_crf"] > 0 for row in rows)
    assert not (tmp_path / "phase2" / "best.pt").exists()  # no validation, no best checkpoint


def test_one_phase_is_ours_alpha(scenes: dict[str, Path], tmp_path: Path) -> None:
    results = run_train_seg(
        tiny_settings(tmp_path, scenes, phases=1, phase1_steps=2, deterministic=False)
    )
    assert set(results) == {"phase1"} and not (tmp_path / "phase2").exists()
    assert load_checkpoint(tmp_path / "model.pt")["config"]["phases"] == 1


def test_training_on_word_crops_records_the_crop_height(
    scenes: dict[str, Path], tmp_path: Path
) -> None:
    words = tmp_path / "words.lmdb"
    write_synth_words(words, 6, seed=0, quiet=True)
    mixed = [DataSource("words", words), DataSource("synth", scenes["train"])]
    results = run_train_seg(
        tiny_settings(
            tmp_path / "run",
            scenes,
            data=mixed,
            data_ratio=[1.0, 1.0],
            val=DataSource("words", words),
            phases=1,
            phase1_steps=2,
            deterministic=False,
        )
    )
    assert 0.0 <= results["phase1"]["text_f1"] <= 1.0 and "region_f1" in results["phase1"]
    segmenter = Segmenter.from_pretrained(tmp_path / "run")
    assert segmenter.config.crop_height == 32 == segmenter.config.input_size[0]
    scenes_only = tiny_settings(tmp_path / "scenes", scenes, phases=1)
    assert scenes_only.model_config().crop_height == DEFAULT_CROP_HEIGHT


def test_unet_validation_scores_the_pixel_output_only(
    scenes: dict[str, Path], tmp_path: Path
) -> None:
    results = run_train_seg(
        tiny_settings(tmp_path, scenes, arch="unet", phases=1, phase1_steps=2, deterministic=False)
    )
    assert set(results["phase1"]) == {
        f"text_{metric}" for metric in ("precision", "recall", "f1", "foreground_iou", "fscore")
    }
    assert Segmenter.from_pretrained(tmp_path).config.arch == "unet"


def test_settings_errors(scenes: dict[str, Path], tmp_path: Path) -> None:
    region_only = [DataSource("synth", scenes["train"], "region")]
    with pytest.raises(InputError, match="phase 2 trains on pixel-level data"):
        run_train_seg(tiny_settings(tmp_path / "a", scenes, data=region_only))
    with pytest.raises(InputError, match="--data-ratio given 2 times for 1 --data"):
        run_train_seg(tiny_settings(tmp_path / "b", scenes, data_ratio=[1.0, 2.0]))
    with pytest.raises(InputError, match="--size 40: a side or HxW, multiples of 16"):
        run_train_seg(tiny_settings(tmp_path / "c", scenes, size=40))
    with pytest.raises(InputError, match="--crf 'exact': choose from window, dense"):
        run_train_seg(tiny_settings(tmp_path / "d", scenes, crf="exact"))
    with pytest.raises(InputError, match="unknown settings colour"):
        SegTrainSettings.from_dict({"out": "x", "data": [], "colour": 1})
    with pytest.raises(InputError, match=r"no config\.json"):
        SegTrainSettings.from_run(tmp_path)


def test_resume_keeps_the_recorded_settings(scenes: dict[str, Path], tmp_path: Path) -> None:
    settings = tiny_settings(
        tmp_path, scenes, phases=1, phase1_steps=1, deterministic=False, val=None
    )
    run_train_seg(settings)
    with pytest.raises(InputError, match="holds a run already"):
        run_train_seg(settings)
    changed = dataclasses.replace(SegTrainSettings.from_run(tmp_path), width=0.25)
    with pytest.raises(InputError, match=r"--width would change the run's width from 0\.0625"):
        run_train_seg(changed)
    with pytest.raises(InputError, match="--seed would change the run's seed from 0 to 3"):
        SegTrainSettings.resumed(tmp_path, {"seed": 3})
    # Runtime settings may change; a finished run only rewrites its model file.
    run_train_seg(dataclasses.replace(SegTrainSettings.from_run(tmp_path), workers=1))


@pytest.mark.slow
def test_trained_mgnet_beats_an_untrained_one(scenes: dict[str, Path], tmp_path: Path) -> None:
    """The full recipe, ~20 s on one CPU thread: 150 phase-1 and 100 phase-2 steps at raised
    learning rates on 40 scenes of 64 px, scored on 12 held-out scenes at their own size."""
    settings = SegTrainSettings(
        out=tmp_path / "run",
        data=[DataSource("synth", scenes["train"])],
        width=1 / 8,
        size=64,
        phase1_steps=150,
        phase2_steps=100,
        phase1_lr=3e-3,
        phase2_lr=1e-3,
        augment=False,
        batch_size=8,
        workers=0,
        log_every=50,
        quiet=True,
    )
    run_train_seg(settings)
    torch.manual_seed(0)
    untrained = build_segmenter(settings.model_config())
    methods = [
        ModelMethod("trained", "run", Segmenter.from_pretrained(settings.out, device="cpu")),
        ModelMethod(
            "untrained",
            "init",
            Segmenter.from_pretrained(
                save_tiny_checkpoint(tmp_path / "init.pt", untrained), device="cpu"
            ),
        ),
    ]
    evaluation = evaluate_methods(
        methods, DataSource("synth", scenes["val"]), tmp_path / "eval", quiet=True
    )
    trained, initial = evaluation.scores["trained"], evaluation.scores["untrained"]
    print(f"\nF1 trained {trained['f1']:.3f} vs untrained {initial['f1']:.3f}")
    assert trained["f1"] > initial["f1"] + 0.15
    assert trained["f1"] > 3 * initial["f1"]
    assert trained["f1_top1_rate"] >= 0.75


def test_select_best_keeps_the_best_validated_phase(
    scenes: dict[str, Path], tmp_path: Path, restore_determinism
) -> None:
    out = tmp_path / "run"
    run_train_seg(tiny_settings(out, scenes, select_best=True))
    best = {phase: load_checkpoint(out / f"phase{phase}" / "best.pt") for phase in (1, 2)}
    winner = max((1, 2), key=lambda phase: (best[phase]["trainer"]["best"], phase))
    model = load_checkpoint(out / "model.pt")
    assert model["config"]["phases"] == winner
    for key, value in best[winner]["state_dict"].items():
        assert torch.equal(model["state_dict"][key], value), key
