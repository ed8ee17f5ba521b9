"""Shared fixtures: where the real latency tables are, and the one small fitted store.

The session-scoped store lives here rather than in tests/service/conftest.py so that the
service and client tests share one fit (a fixture defined in two conftests is two fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gp.estimator import LatencyEstimator
from service.importer import import_help
from service.registry import Registry
from service.server import RunningServer
from service.store import Store
from tests.helpers import DATASET, STORE_NAME, TEST_DEVICES, copy_store, fit_settings, start_server


@pytest.fixture(scope="session")
def help_dataset_dir() -> Path:
    """The HELP NB201 tables: $LATENCY_DATASET_DIR or ../shared/datasets/help-nasbench201."""
    if not (DATASET / "latency").is_dir():
        pytest.skip(f"HELP dataset not found at {DATASET} (set LATENCY_DATASET_DIR)")
    return DATASET


@pytest.fixture(scope="session")
def model_cache() -> dict[str, LatencyEstimator]:
    """Fitted estimators shared by every in-process server of the session (one fit)."""
    return {}


@pytest.fixture(scope="session")
def template_store(
    tmp_path_factory: pytest.TempPathFactory,
    model_cache: dict[str, LatencyEstimator],
    help_dataset_dir: Path,
) -> Path:
    """A closed store directory with TEST_DEVICES imported and the model fitted."""
    folder = tmp_path_factory.mktemp("template")
    store = Store(folder / STORE_NAME)
    import_help(help_dataset_dir, store, TEST_DEVICES, progress=False)
    Registry(store, fit_settings(), memory_cache=model_cache).start()
    store.close()
    return folder


@pytest.fixture
def store_path(template_store: Path, tmp_path: Path) -> Path:
    return copy_store(template_store, tmp_path / "store")


@pytest.fixture
def server(store_path: Path, model_cache: dict[str, LatencyEstimator]) -> Iterator[RunningServer]:
    """An in-process server on a free loopback port, model ready."""
    running = start_server(store_path, model_cache)
    yield running
    running.stop(grace=0)
