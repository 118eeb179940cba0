"""Where a run's time went: seconds per stage and their share of the total.

A pipeline logs one record per stage and run to its ``metrics.jsonl``::

    {"kind": "stage", "stage": "train base CRNN", "seconds": 412.3}
    {"kind": "stage", "stage": "train base CRNN", "seconds": 0.01, "skipped": true}

the second from a resumed run that found the stage finished. :meth:`StageTimes.from_records`
keeps, for every stage, the time of the run that did the work, so a resumed run reports what the
stages cost rather than the 0 s it spent skipping them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from textmask_ocr.errors import InputError
from textmask_ocr.report.table import MetricTable

EARLIER = " (earlier run)"


@dataclass(frozen=True)
class StageTimes:
    """Seconds per stage, in running order.

    Attributes:
        seconds: stage -> wall-clock seconds (>= 0) of the run that did the stage's work.
        earlier: stages the latest run skipped; their seconds are those of an earlier run.
    """

    seconds: Mapping[str, float]
    earlier: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        seconds = {stage: float(value) for stage, value in self.seconds.items()}
        negative = [stage for stage, value in seconds.items() if not value >= 0.0]
        if negative:
            raise InputError(f"stage times must be >= 0 s: {', '.join(negative)}")
        unknown = sorted(set(self.earlier) - set(seconds))
        if unknown:
            raise InputError(f"earlier-run stages without a time: {', '.join(unknown)}")
        object.__setattr__(self, "seconds", seconds)
        object.__setattr__(self, "earlier", frozenset(self.earlier))

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> StageTimes:
        """Each stage's seconds from the latest run that did its work (a record without
        ``"skipped": true``), from the records of ``metrics.jsonl`` (other kinds are ignored).

        A stage the latest run skipped is listed in :attr:`earlier`; one that no run is recorded
        doing keeps the seconds of its latest (skipped) record.
        """
        worked: dict[str, float] = {}
        latest: dict[str, Mapping[str, Any]] = {}
        for record in records:
            if record.get("kind") != "stage":
                continue
            try:
                stage, seconds = str(record["stage"]), float(record["seconds"])
            except (KeyError, TypeError, ValueError):
                raise InputError(f"a stage record needs 'stage' and 'seconds': {record}") from None
            latest[stage] = record
            if not record.get("skipped", False):
                worked[stage] = seconds
        return cls(
            {
                stage: worked.get(stage, float(record["seconds"]))
                for stage, record in latest.items()
            },
            frozenset(stage for stage, record in latest.items() if record.get("skipped", False)),
        )

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def table(self) -> MetricTable:
        """Seconds and share of the total (%) per stage, and the total; a stage the latest run
        skipped is named with `` (earlier run)``."""
        if not self.seconds:
            raise InputError("no stage times recorded")
        total = self.total
        rows = {
            stage + (EARLIER if stage in self.earlier else ""): {
                "seconds": seconds,
                "share (%)": 100.0 * seconds / total if total else 0.0,
            }
            for stage, seconds in self.seconds.items()
        }
        rows["total"] = {"seconds": total, "share (%)": 100.0 if total else 0.0}
        caption = "Time per stage (wall clock)"
        if self.earlier:
            caption += f";{EARLIER}: skipped by this resumed run, the time of the run that did it"
        return MetricTable(rows, caption=caption, decimals=1)
