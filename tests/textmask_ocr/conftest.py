"""Fixtures of the recognition tests (opt-in: nothing here is autouse).

Helpers and sizes are in :mod:`tests.textmask_ocr.recognition_fixtures`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.textmask_ocr.recognition_fixtures import (
    WordLmdbs,
    one_torch_thread,
    save_public_weights,
    write_word_lmdbs,
)


@pytest.fixture(scope="session")
def word_lmdbs(tmp_path_factory: pytest.TempPathFactory) -> WordLmdbs:
    """Synthetic train (64), val (23) and mask-less (16) word-crop LMDBs, written once."""
    return write_word_lmdbs(tmp_path_factory.mktemp("word_lmdbs"))


@pytest.fixture(scope="session")
def crnn_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny public-layout CRNN (width 1/8, BN on conv2/4/6) saved as a bare state dict."""
    return save_public_weights("crnn", tmp_path_factory.mktemp("weights") / "crnn.pth")


@pytest.fixture(scope="session")
def aster_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny public-layout ASTER saved as ``{'state_dict': ...}``."""
    return save_public_weights("aster", tmp_path_factory.mktemp("weights") / "aster.pth")


@pytest.fixture(scope="module")
def single_thread_torch():
    """One intra-op thread for a test module (see ``one_torch_thread``)."""
    with one_torch_thread():
        yield


@pytest.fixture
def restore_determinism():
    """Undo the global ``torch.use_deterministic_algorithms`` of a deterministic training run."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
