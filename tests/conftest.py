"""Shared fixtures: where the real latency tables are, and the one small fitted store.

The session-scoped store lives here rather than in tests/service/conftest.py so that the
service and client tests share one fit (a fixture defined in two conftests is two fixtures).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gp.estimator import LatencyEstimator
from service.importer import import_help
from service.registry import Registry
from service.store import Store
from tests.service.conftest import DATASET, STORE_NAME, TEST_DEVICES, fit_settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "help-nasbench201"


@pytest.fixture(scope="session")
def help_dataset_dir() -> Path:
    """The HELP NB201 tables: $LATENCY_DATASET_DIR or ../shared/datasets/help-nasbench201."""
    path = Path(os.environ.get("LATENCY_DATASET_DIR", DEFAULT_DATASET))
    if not (path / "latency").is_dir():
        pytest.skip(f"HELP dataset not found at {path} (set LATENCY_DATASET_DIR)")
    return path


@pytest.fixture(scope="session")
def model_cache() -> dict[str, LatencyEstimator]:
    """Fitted estimators shared by every in-process server of the session (one fit)."""
    return {}


@pytest.fixture(scope="session")
def template_store(
    tmp_path_factory: pytest.TempPathFactory, model_cache: dict[str, LatencyEstimator]
) -> Path:
    """A closed store directory with TEST_DEVICES imported and the model fitted."""
    if not (DATASET / "latency").is_dir():
        pytest.skip(f"HELP dataset not found at {DATASET} (set LATENCY_DATASET_DIR)")
    folder = tmp_path_factory.mktemp("template")
    store = Store(folder / STORE_NAME)
    import_help(DATASET, store, TEST_DEVICES, progress=False)
    Registry(store, fit_settings(), memory_cache=model_cache).start()
    store.close()
    return folder
