"""The layering of the packages, checked on their source: imports only run downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (``from x import y`` gives ``x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no source found for {package}"
    return files


def test_imported_modules_reads_every_import_form(tmp_path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os, textmask_ocr.engine\nfrom textmask_ocr import x\nfrom . import y\n"
        "def f():\n    import textmask_ocr.cli as c\n"
    )
    assert imported_modules(source) == [
        "os",
        "textmask_ocr.engine",
        "textmask_ocr",
        "textmask_ocr.cli",
    ]


@pytest.mark.parametrize("package", ["recognizers", "segmentation"])
def test_model_packages_never_import_the_application_layer(package: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources(package)
        for name in imported_modules(path)
        if name == "textmask_ocr" or name.startswith("textmask_ocr.")
    ]
    assert offending == []


def test_application_modules_never_import_the_package_face() -> None:
    """``textmask_ocr/__init__`` composes the package; its modules import from where things live
    (the version from ``textmask_ocr._version``), so no arrow runs back up to the face."""
    offending = [
        str(path.relative_to(ROOT))
        for path in sources("textmask_ocr")
        if "textmask_ocr" in imported_modules(path)
    ]
    assert offending == []


def test_only_the_command_line_layer_uses_click() -> None:
    """Library code logs or warns; only ``textmask_ocr/cli`` prints (through click)."""
    cli = ROOT / "textmask_ocr" / "cli"
    offending = [
        str(path.relative_to(ROOT))
        for package in ("textmask_ocr", "recognizers", "segmentation")
        for path in sources(package)
        if cli not in path.parents
        and any(name == "click" or name.startswith("click.") for name in imported_modules(path))
    ]
    assert offending == []
