"""Bad input, tried as a hostile user would, through every command that reads it.

Each case must end in one line ``Error: ...`` naming the file or flag, exit code 1, no
traceback, and nothing under the final output name (nor a partial folder beside it). Unusual
but valid images must simply work.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from PIL import Image

from tests.textmask_ocr.recognition_fixtures import WordLmdbs, assert_one_line_error, run_cli
from tests.textmask_ocr.segmentation_fixtures import save_tiny_checkpoint, tiny_model
from textmask_ocr.atomic import output_lock
from textmask_ocr.data.filtering import OUTSIDE_ALPHABET, TOO_LONG
from textmask_ocr.data.lmdb_writer import write_word_lmdb
from textmask_ocr.data.records import WordRecord
from textmask_ocr.data.synth import iter_word_records
from textmask_ocr.recognition.data import recognizer_dataset
from textmask_ocr.recognition.finetune import build_model, longest_label
from textmask_ocr.recognition.finetune_settings import FinetuneSettings
from textmask_ocr.recognition.models import MaskedCRNN

pytestmark = pytest.mark.usefixtures("single_thread_torch")

BROKEN_LMDB = "mmocr_toy/rec_toy_dataset/broken.lmdb"


class MakesAFolder:
    """A pickled object whose unpickling would create a folder: the sign that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., None], tuple[str]]:
        return os.makedirs, (str(self.marker),)


@dataclass(frozen=True)
class Files:
    """Everything the cases read, written once per module."""

    root: Path
    lmdbs: WordLmdbs
    crnn: Path  # public-layout CRNN weights
    recognizer: Path  # an RGB+mask CRNN of ours
    segmenter: Path
    evil: Path  # torch.save of an object whose unpickling runs code
    raw_evil: Path  # the same, as a plain pickle (torch warns about its protocol)
    truncated: Path  # the first 200 bytes of a checkpoint
    marker: Path  # created if any evil file ran its code
    existing_file: Path
    good: Path  # a readable word crop
    bad_images: dict[str, Path]
    odd_images: dict[str, Path]
    gt_folders: dict[str, Path]

    def image_gt(self, name: str) -> Path:
        """A folder whose gt.txt lists only the bad image ``name``."""
        return self.gt_folders[f"image {name}"]


def _bomb_png() -> bytes:
    """A valid 1-bit PNG declaring 30000 x 30000 pixels (a few kB on disk)."""
    buffer = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def _write_gt(folder: Path, lines: bytes, images: dict[str, bytes]) -> Path:
    folder.mkdir()
    for name, data in images.items():
        (folder / name).write_bytes(data)
    (folder / "gt.txt").write_bytes(lines)
    return folder


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, word_lmdbs: WordLmdbs, crnn_weights: Path
) -> Files:
    root = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 100, 3), dtype=np.uint8)
    images = root / "images"
    images.mkdir()
    good = images / "good.png"
    Image.fromarray(pixels).save(good)

    bad = {
        "truncated.jpg": _jpeg(pixels)[:300],
        "zero.png": b"",
        "text.png": b"this is text, not a picture\n",
        "bomb.png": _bomb_png(),
    }
    bad_images = {}
    for name, data in bad.items():
        bad_images[name] = images / name
        bad_images[name].write_bytes(data)

    odd = images / "odd"
    odd.mkdir()
    odd_pictures = {
        "16-bit.png": Image.fromarray(rng.integers(0, 65536, (32, 100), dtype=np.uint16)),
        "rgba.png": Image.fromarray(pixels).convert("RGBA"),
        "palette.png": Image.fromarray(pixels).convert("P"),
        "cmyk.jpg": Image.fromarray(pixels).convert("CMYK"),
        "1x1.png": Image.new("RGB", (1, 1), (200, 10, 10)),
        "1x5000.png": Image.fromarray(rng.integers(0, 256, (1, 5000, 3), dtype=np.uint8)),
    }
    odd_images = {}
    for name, picture in odd_pictures.items():
        odd_images[name] = odd / name
        picture.save(odd_images[name])

    good_bytes = good.read_bytes()
    gt_folders = {
        "missing image": _write_gt(root / "gt_missing", b"absent.png\tword\n", {}),
        "non-UTF-8 line": _write_gt(
            root / "gt_latin1", b"a.png\tword\nb.png\tcaf\xe9\n", {"a.png": good_bytes}
        ),
        "no tab": _write_gt(root / "gt_no_tab", b"a.png word\n", {"a.png": good_bytes}),
        "empty label": _write_gt(
            root / "gt_empty", b"a.png\tword\nb.png\t\n", {"a.png": good_bytes, "b.png": good_bytes}
        ),
        "empty file": _write_gt(root / "gt_nothing", b"\n", {}),
    }
    for name, data in bad.items():
        gt_folders[f"image {name}"] = _write_gt(
            root / f"gt_{name}", f"{name}\tword\n".encode(), {name: data}
        )

    segmenter = save_tiny_checkpoint(root / "segmenter.pt", tiny_model())
    recognizer = MaskedCRNN.from_pretrained(crnn_weights, device="cpu").save(root / "ours.pt")
    marker = root / "code-ran"
    evil, raw_evil = root / "evil.pt", root / "evil.pkl"
    torch.save({"state_dict": MakesAFolder(marker)}, evil)
    raw_evil.write_bytes(pickle.dumps({"state_dict": MakesAFolder(marker)}, protocol=4))
    truncated = root / "truncated.pt"
    truncated.write_bytes(segmenter.read_bytes()[:200])
    existing_file = root / "existing-file"
    existing_file.write_text("keep me\n")
    return Files(
        root=root,
        lmdbs=word_lmdbs,
        crnn=crnn_weights,
        recognizer=recognizer,
        segmenter=segmenter,
        evil=evil,
        raw_evil=raw_evil,
        truncated=truncated,
        marker=marker,
        existing_file=existing_file,
        good=good,
        bad_images=bad_images,
        odd_images=odd_images,
        gt_folders=gt_folders,
    )


def assert_nothing_written(out: Path) -> None:
    """Neither ``out`` nor a temporary or partial sibling of it exists."""
    assert not out.exists(), out
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == [], leftovers


def assert_one_line_failure(args: list[object], fragment: str, out: Path | None) -> None:
    assert_one_line_error(run_cli(*args), fragment)
    if out is not None:
        assert_nothing_written(out)


# --------------------------------------------------------------------- checkpoint flags
#: Every flag that loads a checkpoint: (id, kind the flag expects, args given the file).
CHECKPOINT_FLAGS: list[tuple[str, str, Callable[[Files, Path, Path], list[object]]]] = [
    ("finetune --weights", "recognizer", lambda f, ckpt, out: [
        "finetune", "--train", f.lmdbs.train, "--out", out, "--weights", ckpt]),
    ("finetune --segmenter", "segmenter", lambda f, ckpt, out: [
        "finetune", "--train", f.lmdbs.train, "--out", out, "--weights", f.crnn,
        "--mask", "predicted", "--segmenter", ckpt]),
    ("evaluate --model", "recognizer", lambda f, ckpt, out: [
        "evaluate", "--model", ckpt, "--bench", f"val={f.lmdbs.val}", "--out", out]),
    ("evaluate --segmenter", "segmenter", lambda f, ckpt, out: [
        "evaluate", "--model", f.recognizer, "--bench", f"val={f.lmdbs.val}", "--mask",
        "predicted", "--segmenter", ckpt, "--out", out]),
    ("recognize --model", "recognizer", lambda f, ckpt, out: [
        "recognize", f.good, "--model", ckpt]),
    ("recognize --segmenter", "segmenter", lambda f, ckpt, out: [
        "recognize", f.good, "--model", f.recognizer, "--segmenter", ckpt]),
    ("segment --model", "segmenter", lambda f, ckpt, out: [
        "segment", f.good, "--model", ckpt, "--out", out]),
    ("evaluate-seg --model", "segmenter", lambda f, ckpt, out: [
        "evaluate-seg", "--model", ckpt, "--data", f"synth={f.root}", "--out", out]),
    ("add-masks --segmenter", "segmenter", lambda f, ckpt, out: [
        "add-masks", f.lmdbs.val, out, "--segmenter", ckpt]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "expects", "args"), CHECKPOINT_FLAGS, ids=[case[0] for case in CHECKPOINT_FLAGS]
)
@pytest.mark.parametrize("bad", ["evil", "raw_evil", "truncated", "other kind"])
def test_every_checkpoint_flag_refuses_bad_files(
    files: Files, tmp_path: Path, flag: str, expects: str, args: Callable, bad: str
) -> None:
    """Code-running pickles (nothing runs), a truncated file, and a segmenter where a
    recognizer is expected or the reverse."""
    if bad == "other kind":
        checkpoint = files.segmenter if expects == "recognizer" else files.recognizer
        fragment = f"{checkpoint}: not a" if expects == "segmenter" else f"{checkpoint}: "
    else:
        checkpoint = getattr(files, bad)
        fragment = f"{checkpoint}: "
    out = tmp_path / "out"
    assert_one_line_failure(args(files, checkpoint, out), fragment, out)
    assert not files.marker.exists()


def test_a_raw_pickle_prints_the_error_alone(files: Files) -> None:
    """torch's UserWarning about the pickle protocol does not print before the error."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run(
        [sys.executable, "-m", "textmask_ocr", "recognize", str(files.good), "--model",
         str(files.raw_evil)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {files.raw_evil}: "), result.stderr
    assert not files.marker.exists()


# --------------------------------------------------------------------- data
@pytest.fixture
def broken_lmdb(shared_fixtures: Path) -> Path:
    return shared_fixtures / BROKEN_LMDB


@pytest.mark.parametrize(
    "command",
    [
        lambda f, db, out: ["lmdb", "inspect", db],
        lambda f, db, out: ["lmdb", "export", db, out],
        lambda f, db, out: [
            "evaluate",
            "--model",
            f.crnn,
            "--arch",
            "crnn",
            "--bench",
            f"broken={db}",
            "--out",
            out,
        ],
        lambda f, db, out: [
            "finetune",
            "--train",
            db,
            "--weights",
            f.crnn,
            "--out",
            out,
            "--steps",
            1,
            "--batch-size",
            2,
            "--workers",
            0,
        ],
    ],
    ids=["inspect", "export", "evaluate", "finetune"],
)
def test_the_shared_broken_lmdb(
    files: Files, broken_lmdb: Path, tmp_path: Path, command: Callable
) -> None:
    out = tmp_path / "out"
    assert_one_line_failure(command(files, broken_lmdb, out), f"{broken_lmdb}: corrupt", out)


def _no_num_samples(path: Path) -> Path:
    write_word_lmdb(path, iter_word_records(2, seed=0))
    env = lmdb.open(str(path))
    with env.begin(write=True) as txn:
        txn.delete(b"num-samples")
    env.close()
    return path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: tmp / "absent", "absent: no such file or directory"),
        (lambda tmp: (tmp / "folder").mkdir() or tmp / "folder", "folder: n"),
        (lambda tmp: _no_num_samples(tmp / "db"), "no 'num-samples' key"),
    ],
    ids=["missing path", "folder that is not an LMDB", "LMDB without num-samples"],
)
@pytest.mark.parametrize("command", ["inspect", "evaluate", "finetune"])
def test_paths_that_are_no_lmdb(
    files: Files, tmp_path: Path, make: Callable, fragment: str, command: str
) -> None:
    path, out = make(tmp_path), tmp_path / "out"
    args: list[object] = {
        "inspect": ["lmdb", "inspect", path],
        "evaluate": ["evaluate", "--model", files.crnn, "--arch", "crnn", "--bench",
                     f"b={path}", "--out", out],
        "finetune": ["finetune", "--train", path, "--weights", files.crnn, "--out", out],
    }[command]  # fmt: skip
    assert_one_line_failure(args, fragment, out)


GT_CASES = {
    "missing image": "gt.txt:1: image file",
    "non-UTF-8 line": "gt.txt:2: not UTF-8 text",
    "no tab": "gt.txt:1: expected 'image<TAB>label'",
    "empty label": "gt.txt:2: empty label for 'b.png'",
    "empty file": "gt.txt: lists no sample",
}


@pytest.mark.parametrize(("case", "fragment"), GT_CASES.items(), ids=list(GT_CASES))
@pytest.mark.parametrize("command", ["lmdb create", "evaluate"])
def test_bad_gt_txt(files: Files, tmp_path: Path, case: str, fragment: str, command: str) -> None:
    folder, out = files.gt_folders[case], tmp_path / "out"
    if command == "lmdb create":
        args: list[object] = ["lmdb", "create", folder, out]
    else:
        args = ["evaluate", "--model", files.crnn, "--arch", "crnn", "--bench", f"b={folder}",
                "--out", out]  # fmt: skip
    assert_one_line_failure(args, f"{folder / fragment}", out)


BAD_IMAGES = {
    "truncated.jpg": "Truncated File Read",
    "zero.png": "",
    "text.png": "",
    "bomb.png": "refused as a possible decompression bomb",
}


@pytest.mark.parametrize(("name", "detail"), list(BAD_IMAGES.items()))
def test_bad_image_through_lmdb_create(files: Files, tmp_path: Path, name: str, detail: str):
    folder, out = files.image_gt(name), tmp_path / "out"
    assert_one_line_failure(["lmdb", "create", folder, out], "gt.txt:1: image does not decode", out)


@pytest.mark.parametrize(("name", "detail"), list(BAD_IMAGES.items()))
def test_bad_image_through_recognize(files: Files, name: str, detail: str) -> None:
    path = files.bad_images[name]
    result = run_cli("recognize", path, "--model", files.crnn, "--arch", "crnn")
    assert detail in assert_one_line_error(result, f"{path}: ")


@pytest.mark.parametrize(("name", "detail"), list(BAD_IMAGES.items()))
def test_bad_image_through_segment_is_skipped(
    files: Files, tmp_path: Path, name: str, detail: str
) -> None:
    """segment reports the bad file, writes the good one's outputs, and exits 1 at the end."""
    out = tmp_path / "out"
    result = run_cli("segment", files.good, files.bad_images[name], "--model", files.segmenter,
                     "--out", out)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"skipped {files.bad_images[name]}: ") and detail in lines[0]
    assert lines[-1] == f"segmented 1 images into {out}; 1 skipped"
    assert sorted(path.name for path in out.iterdir()) == [
        "good_overlay.png", "good_polygons.json", "good_region.png", "good_text.png"]  # fmt: skip


@pytest.mark.parametrize(
    "name", ["16-bit.png", "rgba.png", "palette.png", "cmyk.jpg", "1x1.png", "1x5000.png"]
)
def test_unusual_but_valid_images_work(files: Files, tmp_path: Path, name: str) -> None:
    path = files.odd_images[name]
    recognized = run_cli("recognize", path, "--model", files.crnn, "--arch", "crnn")
    assert recognized.exit_code == 0, recognized.output
    assert recognized.output.startswith(f"{path}\t")
    segmented = run_cli("segment", path, "--model", files.segmenter, "--out", tmp_path / "seg")
    assert segmented.exit_code == 0, segmented.output
    assert Image.open(tmp_path / "seg" / f"{path.stem}_text.png").size == Image.open(path).size
    (tmp_path / "gt.txt").write_text(f"{path}\tword\n")
    created = run_cli("lmdb", "create", tmp_path / "gt.txt", tmp_path / "db")
    assert created.exit_code == 0, created.output


def test_out_of_alphabet_and_overlong_labels_are_counted(
    files: Files, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Training data skips labels the model cannot learn, counts each in the skip report
    (samples, by reason), and says so; none is dropped silently."""
    labels = ["word", "café", "x" * 300, "ok", "Über-long" * 40]
    records = iter_word_records(len(labels), seed=4)
    db = tmp_path / "labels.lmdb"
    write_word_lmdb(
        db, [WordRecord(r.image, t, r.mask) for r, t in zip(records, labels, strict=True)]
    )
    settings = FinetuneSettings(out=tmp_path / "run", train=[db], weights=files.crnn)
    model = build_model(settings)
    dataset = recognizer_dataset(
        db, model.config, "random", training=True, max_label_length=longest_label(model)
    )
    assert len(dataset) == 2
    assert dataset.filter_report[OUTSIDE_ALPHABET] == 2  # "café", and "Über-long..." first
    assert dataset.filter_report[TOO_LONG] == 1
    assert f"{db}: skipped 3 of 5 samples (" in caplog.text


def test_mask_real_without_masks(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["finetune", "--train", files.lmdbs.unmasked, "--weights", files.crnn, "--mask",
            "real", "--out", out]  # fmt: skip
    assert_one_line_failure(args, "--mask real needs mask-%09d entries", out)


# --------------------------------------------------------------------- numbers and devices
def _finetune(files: Files, out: Path, *flags: object) -> list[object]:
    return ["finetune", "--train", files.lmdbs.train, "--weights", files.crnn, "--out", out,
            *flags]  # fmt: skip


def _segment(files: Files, out: Path, *flags: object) -> list[object]:
    return ["segment", files.good, "--model", files.segmenter, "--out", out, *flags]


NUMBER_CASES = {
    "finetune --lr -1": (lambda f, o: _finetune(f, o, "--lr", -1), "--lr -1.0: must be a positive"),
    "finetune --lr nan": (lambda f, o: _finetune(f, o, "--lr", "nan"), "--lr nan: must be a"),
    "finetune --train-ratio -1": (
        lambda f, o: _finetune(f, o, "--train-ratio", -1), "--train-ratio [-1.0]: must be >= 0"),
    "segment --size 17": (lambda f, o: _segment(f, o, "--size", 17), "--size 17: must be"),
    "segment --threshold 2": (
        lambda f, o: _segment(f, o, "--threshold", 2), "--threshold 2.0: must lie in (0, 1)"),
    "evaluate-seg --threshold 0": (
        lambda f, o: ["evaluate-seg", "--model", f.segmenter, "--data", f"synth={o}",
                      "--threshold", 0], "--threshold 0.0: must lie in (0, 1)"),
    "train-seg --size 17": (
        lambda f, o: ["train-seg", "--data", f"synth={f.root}", "--out", o, "--size", 17],
        "--size 17: a side or HxW, multiples of 16"),
    "train-seg --phase1-lr nan": (
        lambda f, o: ["train-seg", "--data", f"synth={f.root}", "--out", o, "--phase1-lr", "nan"],
        "--phase1-lr nan: must be a positive number"),
}  # fmt: skip


@pytest.mark.parametrize(("args", "fragment"), NUMBER_CASES.values(), ids=list(NUMBER_CASES))
def test_absurd_numbers(files: Files, tmp_path: Path, args: Callable, fragment: str) -> None:
    out = tmp_path / "out"
    assert_one_line_failure(args(files, out), fragment, out)


@pytest.mark.parametrize(
    ("device", "fragment"),
    [
        ("foo", "--device 'foo': not a device"),
        pytest.param("cuda:7", "--device cuda:7: ", marks=pytest.mark.skipif(
            torch.cuda.device_count() > 7, reason="this machine has a GPU cuda:7")),
    ],
)  # fmt: skip
def test_a_device_the_machine_lacks(
    files: Files, tmp_path: Path, device: str, fragment: str
) -> None:
    """A bad ``--device`` is bad usage: one line, exit code 2, before any work."""
    out = tmp_path / "out"
    assert_one_line_error(run_cli(*_segment(files, out, "--device", device)), fragment, exit_code=2)
    assert_nothing_written(out)


# --------------------------------------------------------------------- outputs
#: Every command that writes, given its output path.
WRITERS: dict[str, Callable[[Files, Path], list[object]]] = {
    "lmdb create": lambda f, out: ["lmdb", "create", f.root / "gt",
                                   out],
    "lmdb export": lambda f, out: ["lmdb", "export", f.lmdbs.val, out],
    "synth words": lambda f, out: ["synth", "words", out, "--n", 2],
    "synth scenes": lambda f, out: ["synth", "scenes", out, "--n", 1, "--size", 64],
    "segment": lambda f, out: _segment(f, out),
    "evaluate": lambda f, out: ["evaluate", "--model", f.crnn, "--arch", "crnn", "--bench",
                                f"val={f.lmdbs.val}", "--out", out],
    "finetune": lambda f, out: _finetune(f, out, "--steps", 1, "--batch-size", 2),
    "train-seg": lambda f, out: ["train-seg", "--data", f"synth={f.root}", "--out", out],
    "add-masks": lambda f, out: ["add-masks", f.lmdbs.val, out, "--segmenter", f.segmenter],
}  # fmt: skip


@pytest.fixture(scope="module")
def gt_source(files: Files) -> Path:
    """A valid gt.txt folder for ``lmdb create``."""
    folder = files.root / "gt"
    if not folder.exists():
        _write_gt(folder, b"a.png\tword\n", {"a.png": files.good.read_bytes()})
    return folder


@pytest.mark.parametrize("command", list(WRITERS))
def test_output_that_is_an_existing_file(files: Files, gt_source: Path, command: str) -> None:
    target = files.existing_file
    fragment = f"{target}: " if command in ("lmdb create", "add-masks") else f"{target}"
    assert_one_line_error(run_cli(*WRITERS[command](files, target)), fragment)
    assert target.read_text() == "keep me\n"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    assert leftovers == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
@pytest.mark.parametrize("command", list(WRITERS))
def test_output_inside_a_read_only_folder(
    files: Files, gt_source: Path, tmp_path: Path, command: str
) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        out = folder / "out"
        assert_one_line_error(run_cli(*WRITERS[command](files, out)), f"{folder}")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_lmdb_create_refuses_an_existing_lmdb(files: Files, gt_source: Path) -> None:
    out = files.root / "exists.lmdb"
    assert run_cli("lmdb", "create", gt_source, out).exit_code == 0
    assert_one_line_error(
        run_cli("lmdb", "create", gt_source, out), f"{out}: already exists; pass --overwrite"
    )
    assert run_cli("lmdb", "create", gt_source, out, "--overwrite").exit_code == 0


@pytest.mark.parametrize("command", ["add-masks", "lmdb create", "synth words"])
def test_a_second_writer_of_one_output_is_refused(
    files: Files, gt_source: Path, tmp_path: Path, command: str
) -> None:
    """Two runs writing one OUT: the second (here, while this test holds the lock) stops with
    a one-line error and leaves the first's partial output alone."""
    out = tmp_path / "out"
    with output_lock(out):
        assert_one_line_error(
            run_cli(*WRITERS[command](files, out)), f"{out}: another process is writing it"
        )
    assert_nothing_written(out)
