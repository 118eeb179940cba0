"""``metrics.jsonl`` (one JSON object per line) and the run's config record."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from textmask_ocr._version import __version__
from textmask_ocr.atomic import atomic_write_json, atomic_write_text


class MetricsLog:
    """Appends records to ``<out>/metrics.jsonl``; on resume, forgets records after the resume step.

    Each record has ``step`` and ``kind`` (``"train"`` or ``"val"``) and any numbers the task adds.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop records newer than ``step`` (they belong to the interrupted tail of a run)."""
        if not self.path.exists():
            return
        kept = [line for line in self.read() if line["step"] <= step]
        atomic_write_text("".join(json.dumps(row) + "\n" for row in kept), self.path)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]


def write_config_record(out_dir: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    """Write ``<out>/config.json``: the command's settings plus versions and the command line."""
    record = {
        "config": config,
        "textmask_ocr": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "argv": sys.argv,
    }
    path = Path(out_dir) / "config.json"
    atomic_write_json(record, path)
    return path
