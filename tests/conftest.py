"""Shared test fixtures: the real files in ../shared/fixtures (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    """The folder of real files written by other projects; skips the test in a user's clone."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES.name} beside the project")
    return SHARED_FIXTURES
