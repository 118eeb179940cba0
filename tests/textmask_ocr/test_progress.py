"""Progress a person can follow: lines every 30 s without a terminal, a bar on one, and how the
command shows the library's records."""

from __future__ import annotations

import io
import logging
import warnings

import pytest

from textmask_ocr.cli.console import StderrHandler, console_logging
from textmask_ocr.progress import (
    LOG_INTERVAL_S,
    Progress,
    format_duration,
    track,
)

PROGRESS_LOGGER = "textmask_ocr.progress"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=PROGRESS_LOGGER)
    return caplog


def messages(log: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in log.records]


def test_without_a_terminal_a_line_comes_when_30_s_have_passed_not_before(log) -> None:
    assert LOG_INTERVAL_S == 30.0
    clock = FakeClock()
    progress = Progress(100, label="training", unit="steps", clock=clock, terminal=False)
    for _ in range(29):  # 29 steps, one a second: 29 s
        clock.now += 1.0
        progress.update(1, "loss 0.5")
    clock.now += 0.999
    progress.update(0)
    assert log.records == []
    clock.now += 0.001  # 30 s since the start
    progress.update(1, "loss 0.25")
    assert messages(log) == ["training: 30/100 steps (30.0%), 1 steps/s, ETA 1 min 10 s, loss 0.25"]
    assert log.records[0].transient is False and log.records[0].levelno == logging.INFO
    clock.now += 29.9
    progress.update(29)
    assert len(log.records) == 1  # 29.9 s after the last line
    clock.now += 0.1
    progress.update(1)
    assert messages(log)[1] == "training: 60/100 steps (60.0%), 1 steps/s, ETA 40 s, loss 0.25"
    clock.now += 40.0
    progress.update(40)
    progress.close()
    progress.close()  # once
    assert messages(log)[2:] == [
        "training: 100/100 steps (100.0%), 1 steps/s, ETA 0 s, loss 0.25",
        "training: 100/100 steps in 1 min 40 s (1 steps/s)",
    ]


def test_a_resumed_run_counts_its_rate_from_the_resume(log) -> None:
    clock = FakeClock()
    progress = Progress(1000, label="training", unit="steps", done=600, clock=clock, terminal=False)
    clock.now += 40.0
    progress.update(100)  # 100 steps in 40 s, 300 left
    assert messages(log) == ["training: 700/1000 steps (70.0%), 2.5 steps/s, ETA 2 min 0 s"]


def test_on_a_terminal_a_bar_is_redrawn_at_most_every_fifth_of_a_second(log) -> None:
    clock = FakeClock()
    progress = Progress(48, label="writing LMDB", unit="crops", clock=clock, terminal=True)
    clock.now += 0.1
    progress.update(12)
    assert log.records == []
    clock.now += 0.1
    progress.update(12)
    (bar,) = log.records
    assert bar.transient is True
    assert bar.getMessage() == (
        "writing LMDB [############------------] 24/48 crops (50.0%), 120 crops/s, ETA 0 s"
    )


def test_unknown_totals_quiet_runs_and_tracked_loops(log) -> None:
    clock = FakeClock()
    progress = Progress(None, label="reading", unit="words", clock=clock, terminal=False)
    clock.now += 30.0
    progress.update(60)
    assert messages(log) == ["reading: 60 words, 2 words/s"]
    quiet = Progress(10, label="x", clock=clock, terminal=False, quiet=True)
    clock.now += 100.0
    quiet.update(10)
    quiet.close()
    assert len(log.records) == 1
    assert list(track(range(3), label="copying", unit="files")) == [0, 1, 2]
    assert messages(log)[1].startswith("copying: 3/3 files in 0 s (")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (59.4, "59 s"), (60, "1 min 0 s"), (3599, "59 min 59 s"), (7500, "2 h 05 min")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def make_record(message: str, level: int = logging.INFO, transient: bool = False):
    record = logging.LogRecord("textmask_ocr.x", level, __file__, 1, message, None, None)
    record.transient = transient
    return record


def test_the_command_draws_bars_over_each_other_and_ends_them_with_a_line(monkeypatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    handler = StderrHandler()
    for record in [
        make_record("bar 1", transient=True),
        make_record("bar 2", transient=True),
        make_record("done"),
        make_record("careful", level=logging.WARNING),
    ]:
        handler.emit(record)
    assert stream.getvalue() == "\r\x1b[Kbar 1\r\x1b[Kbar 2\r\x1b[Kdone\nwarning: careful\n"


def test_console_logging_shows_info_and_one_line_warnings_then_restores(monkeypatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    library = logging.getLogger("textmask_ocr")
    level, handlers, format_warning = library.level, list(library.handlers), warnings.formatwarning
    with console_logging():
        logging.getLogger("textmask_ocr.engine.trainer").info("step %d", 3)
        logging.getLogger("textmask_ocr.engine.trainer").debug("hidden")
        shown = warnings.formatwarning(UserWarning("no effect"), UserWarning, "models.py", 9)
    assert stream.getvalue() == "step 3\n"
    assert shown == "warning: no effect\n"  # what warnings then writes to stderr
    assert library.level == level and library.handlers == handlers
    assert warnings.formatwarning is format_warning
