"""Shared fixtures: where the real latency tables are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "help-nasbench201"


@pytest.fixture(scope="session")
def help_dataset_dir() -> Path:
    """The HELP NB201 tables: $LATENCY_DATASET_DIR or ../shared/datasets/help-nasbench201."""
    path = Path(os.environ.get("LATENCY_DATASET_DIR", DEFAULT_DATASET))
    if not (path / "latency").is_dir():
        pytest.skip(f"HELP dataset not found at {path} (set LATENCY_DATASET_DIR)")
    return path
