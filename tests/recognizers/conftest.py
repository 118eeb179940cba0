"""Fixtures of the recognizer tests: the public state-dict layouts in ../shared/reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture
def shared_reference(shared_fixtures: Path) -> Path:
    """The folder beside the shared fixtures with the public checkpoint layouts; skips if absent."""
    reference = shared_fixtures.parent / "reference"
    if not reference.is_dir():
        pytest.skip(f"shared reference folder not found at {reference.name} beside the fixtures")
    return reference


@pytest.fixture(scope="package", autouse=True)
def single_thread_torch():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the
    threads' spin-waiting makes them many times slower; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
