"""Shared fixtures of the unit tests."""

from __future__ import annotations

import pytest
from realdata import require_movielens

from hydrarec_minimal.data import SequenceDataset, load_dataset


@pytest.fixture(scope="session")
def ml100k() -> SequenceDataset:
    """Real ML-100K as a ``SequenceDataset`` (never the synthetic fallback)."""
    require_movielens("ml-100k", "u.data")
    return load_dataset("ml-100k", allow_synthetic=False)
