"""Stages of a resumable pipeline: each is done only once its completion record is written.

A stage's work writes its results under temporary names or resumes from its own checkpoints; only
when the work returns does :class:`StageRunner` write ``stages/NAME.json`` (atomically, last).
A rerun skips exactly the stages with a record and redoes or resumes the others, so a run killed
in the middle of a stage never passes off half-made results as finished. The record keeps the
seconds of the run that did the work: a resumed run reports those, not the time it took to skip.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from textmask_ocr.atomic import atomic_write_json
from textmask_ocr.engine.metrics_log import MetricsLog

logger = logging.getLogger(__name__)

T = TypeVar("T")
RECORDS_DIR = "stages"


def _record_name(stage: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", stage.lower()).strip("_") + ".json"


class StageRunner:
    """Runs named stages in ``root``, skipping those already recorded as complete.

    Every stage that runs or is skipped is logged to ``root/metrics.jsonl`` as
    ``{"kind": "stage", "stage", "seconds", "skipped"}``; :attr:`seconds` holds, per stage, the
    seconds of the run that did its work.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.records = self.root / RECORDS_DIR
        self.log = MetricsLog(self.root / "metrics.jsonl")
        self.seconds: dict[str, float] = {}

    def record_path(self, stage: str) -> Path:
        return self.records / _record_name(stage)

    def is_complete(self, stage: str) -> bool:
        return self.record_path(stage).is_file()

    def run(self, stage: str, work: Callable[[], T], *, result: Callable[[], T] | None = None) -> T:
        """Run ``work`` unless ``stage`` is recorded as complete.

        Args:
            stage: the stage's name (unique in the pipeline).
            work: does the stage (resuming its own partial output) and returns its result.
            result: recomputes the result of a completed stage cheaply (e.g. a checkpoint's
                path); default: ``work`` itself, for stages whose work is idempotent.
        """
        if self.is_complete(stage):
            recorded = json.loads(self.record_path(stage).read_text(encoding="utf-8"))
            self.seconds[stage] = float(recorded["seconds"])
            self._log(stage, self.seconds[stage], skipped=True)
            logger.info("[demo] %s: done in an earlier run (%.0f s)", stage, self.seconds[stage])
            return (result or work)()
        logger.info("[demo] %s ...", stage)
        started = time.perf_counter()
        value = work()
        seconds = time.perf_counter() - started
        self.records.mkdir(parents=True, exist_ok=True)
        atomic_write_json({"stage": stage, "seconds": seconds}, self.record_path(stage))
        self.seconds[stage] = seconds
        self._log(stage, seconds, skipped=False)
        logger.info("[demo] %s: %.0f s", stage, seconds)
        return value

    def _log(self, stage: str, seconds: float, *, skipped: bool) -> None:
        entry: dict[str, Any] = {
            "kind": "stage",
            "step": len(self.seconds),
            "stage": stage,
            "seconds": seconds,
            "skipped": skipped,
        }
        self.log.write(entry)
