"""``textmask-ocr finetune | evaluate | recognize``: a run end to end, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from recognizers import read_checkpoint
from tests.textmask_ocr.recognition_fixtures import (
    WordLmdbs,
    assert_one_line_error,
    read_metrics,
    run_cli,
)
from textmask_ocr.cli.recognition import finetune as finetune_command
from textmask_ocr.cli.recognition import parse_benchmarks
from textmask_ocr.engine import is_complete, load_checkpoint
from textmask_ocr.errors import InputError
from textmask_ocr.recognition.finetune_settings import FinetuneSettings
from textmask_ocr.recognition.models import MaskedCRNN

pytestmark = pytest.mark.usefixtures("single_thread_torch", "restore_determinism")


def finetune(lmdbs: WordLmdbs, out: Path, *options: object):
    return run_cli(
        "finetune",
        "--train",
        lmdbs.train,
        "--out",
        out,
        "--batch-size",
        8,
        "--workers",
        0,
        "--quiet",
        *options,
    )


@pytest.fixture(scope="module")
def rgbmask_checkpoint(tmp_path_factory: pytest.TempPathFactory, crnn_weights: Path) -> Path:
    """An RGB+mask CRNN of ours."""
    path = tmp_path_factory.mktemp("checkpoints") / "rgbmask.pt"
    return MaskedCRNN.from_pretrained(crnn_weights, device="cpu").save(path)


def test_finetune_then_resume_then_evaluate(
    word_lmdbs: WordLmdbs, crnn_weights: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    common = ("--val", word_lmdbs.val, "--eval-every", 100, "--mask", "random")
    common += ("--schedule", "constant")  # a constant schedule can be extended on resume
    result = finetune(word_lmdbs, run, "--weights", crnn_weights, "--steps", 200, *common)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"finished 200 steps in {run}: accuracy ")
    rows = read_metrics(run)
    assert [row["step"] for row in rows if row["kind"] == "val"] == [100, 200]
    assert [row["step"] for row in rows if row["kind"] == "train"] == [50, 100, 150, 200]
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["mask"] == "random" and config["weights"] == str(crnn_weights)
    assert {"best.pt", "last.pt"} <= {path.name for path in run.iterdir()}

    resumed = run_cli(
        "finetune", "--resume", run, "--train", word_lmdbs.train, "--steps", 220,
        "--batch-size", 8, "--workers", 0, "--quiet", *common,
    )  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.startswith(f"finished 220 steps in {run}")
    assert load_checkpoint(run / "last.pt")["trainer"]["step"] == 220
    assert [row["step"] for row in read_metrics(run) if row["kind"] == "val"] == [100, 200, 220]

    evaluated = run_cli(
        "evaluate", "--model", run / "last.pt", "--bench", f"val={word_lmdbs.val}",
        "--mask", "random", "--quiet",
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    last_val = read_metrics(run)[-1]
    lines = evaluated.stdout.splitlines()  # stderr has the progress lines
    assert lines[1].split() == ["Method", "val", "(n=23)"]
    assert lines[3].split() == ["last.pt", f"{last_val['accuracy']:.2f}"]  # the run's own score
    assert (run / "eval-random" / "results.json").is_file()


def test_resume_takes_the_recorded_settings_and_refuses_explicit_changes(
    word_lmdbs: WordLmdbs, crnn_weights: Path, tmp_path: Path
) -> None:
    first = finetune(word_lmdbs, tmp_path, "--weights", crnn_weights, "--steps", 2, "--lr", 0.01)
    assert first.exit_code == 0, first.output
    assert is_complete(tmp_path)
    prefix = f"--resume {tmp_path}: "
    for flags, message in (
        (
            ("--steps", 4),
            "--steps would change the run's steps from 2 to 4; leave --steps out to "
            "keep the run's value (only --schedule constant runs can be extended)",
        ),
        (("--lr", 0.1), "--lr would change the run's lr from 0.01 to 0.1"),
        (("--seed", 1), "--seed would change the run's seed from 0 to 1"),
        (("--mask", "real"), "--mask would change the run's mask from random to real"),
        (("--train-ratio", 1), "--train-ratio would change the run's train_ratio from None to 1"),
        (
            ("--train", word_lmdbs.val),
            f"--train would change the run's train from {word_lmdbs.train} to {word_lmdbs.val}",
        ),
    ):
        refused = run_cli("finetune", "--resume", tmp_path, *flags)
        assert_one_line_error(refused, prefix + message)
    # Flags left out keep the run's values (its --lr 0.01 is not compared with the default);
    # a repeated value and the runtime flags may be given.
    same = run_cli("finetune", "--resume", tmp_path, "--train", word_lmdbs.train, "--lr", 0.01,
                   "--workers", 0, "--checkpoint-every", 7, "--quiet")  # fmt: skip
    assert same.exit_code == 0, same.output
    assert same.output.startswith(f"finished 2 steps in {tmp_path}")
    assert load_checkpoint(tmp_path / "last.pt")["trainer"]["step"] == 2
    assert is_complete(tmp_path)


def test_resume_before_the_first_checkpoint_starts_over_with_the_recorded_settings(
    word_lmdbs: WordLmdbs, crnn_weights: Path, tmp_path: Path
) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    options = ("--weights", crnn_weights, "--steps", 3, "--seed", 5, "--schedule", "constant")
    assert finetune(word_lmdbs, straight, *options).exit_code == 0
    assert finetune(word_lmdbs, killed, *options).exit_code == 0
    for name in ("last.pt", "complete.json", "metrics.jsonl"):  # as if killed at step 1
        (killed / name).unlink()
    resumed = run_cli("finetune", "--resume", killed, "--quiet", "--workers", 0)
    assert resumed.exit_code == 0, resumed.output
    left = load_checkpoint(straight / "last.pt")["state_dict"]
    right = load_checkpoint(killed / "last.pt")["state_dict"]
    assert all(torch.equal(left[key], right[key]) for key in left)


def test_finetune_from_scratch_with_width_all_bn_aux_ctc_and_strip_symbols(
    word_lmdbs: WordLmdbs, tmp_path: Path
) -> None:
    result = finetune(
        word_lmdbs, tmp_path, "--mask", "none", "--train-layers", "all",
        "--width-mult", 0.125, "--all-bn", "--aux-ctc", "--strip-symbols", "--steps", 2,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert FinetuneSettings.recorded(tmp_path)["strip_symbols"] is True
    checkpoint = read_checkpoint(tmp_path / "last.pt")
    config = checkpoint.config
    assert config.arch_kwargs["width_mult"] == 0.125
    assert config.arch_kwargs["batchnorm_everywhere"] is True
    assert config.arch_kwargs["aux_ctc"] is True
    assert checkpoint.state_dict["aux_head.weight"].shape == (37, 64)
    assert not config.mask_channel and config.color_mode == "L"


def test_mask_real_on_an_lmdb_without_masks(word_lmdbs: WordLmdbs, crnn_weights: Path, tmp_path):
    lmdbs = word_lmdbs._replace(train=word_lmdbs.unmasked)
    result = finetune(lmdbs, tmp_path, "--weights", crnn_weights, "--mask", "real")
    assert_one_line_error(result, f"{word_lmdbs.unmasked}: --mask real needs mask-%09d entries")


def test_mask_predicted_without_cached_masks_or_segmenter(
    word_lmdbs: WordLmdbs, crnn_weights: Path, tmp_path: Path
) -> None:
    lmdbs = word_lmdbs._replace(train=word_lmdbs.unmasked)
    result = finetune(lmdbs, tmp_path, "--weights", crnn_weights, "--mask", "predicted")
    assert_one_line_error(result, f"{word_lmdbs.unmasked}: --mask predicted needs masks cached by")


def test_segmenter_errors(word_lmdbs: WordLmdbs, tmp_path: Path) -> None:
    segmenter = tmp_path / "segmenter.pt"
    segmenter.write_bytes(b"")
    result = finetune(word_lmdbs, tmp_path, "--mask", "random", "--segmenter", segmenter)
    assert_one_line_error(result, "--segmenter is used with --mask predicted, not --mask random")
    result = finetune(word_lmdbs, tmp_path, "--mask", "predicted", "--segmenter", segmenter)
    assert_one_line_error(result, f"{segmenter}: not a PyTorch checkpoint")


def test_junk_weights(word_lmdbs: WordLmdbs, crnn_weights: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"these are not weights")
    result = finetune(word_lmdbs, tmp_path / "run", "--weights", junk)
    assert_one_line_error(result, f"{junk}: not a PyTorch checkpoint")
    result = finetune(word_lmdbs, tmp_path / "run", "--weights", crnn_weights, "--arch", "aster")
    assert_one_line_error(result, f"{crnn_weights}: holds no ASTER weights")


def test_unknown_arch_is_a_usage_error(word_lmdbs: WordLmdbs, tmp_path: Path) -> None:
    result = finetune(word_lmdbs, tmp_path, "--arch", "vitstr")
    assert_one_line_error(result, "Invalid value for '--arch': 'vitstr'", exit_code=2)


def test_mask_none_has_no_input_layer_to_train(word_lmdbs: WordLmdbs, tmp_path: Path) -> None:
    result = finetune(word_lmdbs, tmp_path, "--mask", "none")
    assert_one_line_error(result, "--mask none has no new input layer to train")


def test_other_finetune_usage_errors(
    word_lmdbs: WordLmdbs, rgbmask_checkpoint: Path, tmp_path: Path
) -> None:
    no_out = run_cli("finetune", "--train", word_lmdbs.train)
    assert_one_line_error(no_out, "--out is required")
    ratios = finetune(word_lmdbs, tmp_path, "--train-ratio", 1, "--train-ratio", 2)
    assert_one_line_error(ratios, "--train-ratio given 2 times for 1 --train")
    batch = finetune(word_lmdbs, tmp_path, "--batch-size", 65)
    assert_one_line_error(batch, "--batch-size 65 is larger than the training data (64 samples")
    all_bn = finetune(word_lmdbs, tmp_path, "--arch", "aster", "--all-bn")
    assert_one_line_error(all_bn, "--all-bn applies to --arch crnn")
    aux_ctc = finetune(word_lmdbs, tmp_path, "--arch", "aster", "--aux-ctc")
    assert_one_line_error(aux_ctc, "--aux-ctc applies to --arch crnn")
    no_run = finetune(word_lmdbs, tmp_path, "--resume", tmp_path)
    assert_one_line_error(no_run, f"--resume {tmp_path}: no config.json (not a run folder)")
    base_as_input = finetune(word_lmdbs, tmp_path, "--weights", rgbmask_checkpoint, "--mask",
                             "none", "--train-layers", "all")  # fmt: skip
    assert_one_line_error(base_as_input, "holds an RGB+mask recognizer; it needs a mask source")


def test_evaluate_mask_must_fit_the_model(
    word_lmdbs: WordLmdbs, crnn_weights: Path, rgbmask_checkpoint: Path, tmp_path: Path
) -> None:
    bench = f"val={word_lmdbs.val}"
    masked = run_cli("evaluate", "--model", rgbmask_checkpoint, "--bench", bench, "--out", tmp_path)
    assert_one_line_error(masked, f"{rgbmask_checkpoint}: this recognizer reads a mask")
    base = run_cli(
        "evaluate", "--model", crnn_weights, "--arch", "crnn", "--bench", bench,
        "--mask", "real", "--out", tmp_path,
    )  # fmt: skip
    assert_one_line_error(base, f"{crnn_weights}: this recognizer has no mask channel")
    public = run_cli("evaluate", "--model", crnn_weights, "--bench", bench, "--out", tmp_path)
    assert_one_line_error(public, f"{crnn_weights}: stores no config; name its architecture")


@pytest.mark.parametrize(
    ("value", "message"),
    [("=somewhere", "--bench '=somewhere': expected NAME=PATH"), ("name=", "expected NAME=PATH")],
)
def test_bench_needs_a_name_and_a_path(
    value: str, message: str, rgbmask_checkpoint: Path, tmp_path: Path
) -> None:
    result = run_cli("evaluate", "--model", rgbmask_checkpoint, "--bench", value, "--mask", "real")
    assert_one_line_error(result, message)


def test_parse_benchmarks_names_bare_paths_and_refuses_repeats(tmp_path: Path) -> None:
    assert parse_benchmarks(("IC13=data/ic13", str(tmp_path / "svt"))) == [
        ("IC13", Path("data/ic13")),
        ("svt", tmp_path / "svt"),
    ]
    assert parse_benchmarks(("a=b=c",)) == [("a", Path("b=c"))]  # the first '=' splits
    with pytest.raises(InputError, match="--bench names repeat: svt, svt"):
        parse_benchmarks(("svt=x", "svt=y"))


def test_recognize_errors(rgbmask_checkpoint: Path, word_lmdbs: WordLmdbs, tmp_path: Path) -> None:
    exported = tmp_path / "exported"
    assert run_cli("lmdb", "export", word_lmdbs.val, exported, "--quiet").exit_code == 0
    image = sorted((exported / "images").iterdir())[0]
    no_masks = run_cli("recognize", image, "--model", rgbmask_checkpoint)
    assert_one_line_error(no_masks, "this recognizer reads a mask: pass --mask-dir or --segmenter")
    empty = tmp_path / "no_masks"
    empty.mkdir()
    missing = run_cli("recognize", image, "--model", rgbmask_checkpoint, "--mask-dir", empty)
    assert_one_line_error(missing, f"{empty}: no mask named 000000001.* for {image}")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    (empty / "broken.png").write_bytes(sorted((exported / "masks").iterdir())[0].read_bytes())
    unreadable = run_cli("recognize", broken, "--model", rgbmask_checkpoint, "--mask-dir", empty)
    assert_one_line_error(unreadable, f"{broken}: cannot read image (not a known image format)")


def test_finetune_flag_defaults_are_the_settings_defaults() -> None:
    """Every flag of a setting shows and uses the settings dataclass's default."""
    defaults = {field.name: field.default for field in dataclasses.fields(FinetuneSettings)}
    parsed = finetune_command.make_context("finetune", [], resilient_parsing=True).params
    paths = {"out", "resume", "weights", "val", "segmenter", "train"}
    shared = sorted(set(parsed) & set(defaults) - paths)
    assert len(shared) == 19, shared  # every setting but paths, arch_kwargs, grad_clip, ...
    for name in shared:
        expected = defaults[name] if defaults[name] is not None else ()
        assert parsed[name] == expected, name
