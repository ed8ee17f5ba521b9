"""The SQLite store on its own: namespaces, atomic batches, versions, durability settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.errors import DeviceExistsError, DeviceNotFoundError
from service.store import MeasurementRow, Store
from tests.helpers import write_help_dataset


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "s.sqlite")
    yield store
    store.close()


def test_pragmas(store: Store) -> None:
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_names_and_aliases_share_a_namespace(store: Store) -> None:
    device = store.register_device("raspi4", ["pi4"], {"ram": 4.0}, "Pi")
    assert store.resolve("pi4") == device == store.resolve("raspi4")
    assert device.descriptor == {"ram": 4.0} and device.description == "Pi"
    for name, aliases in [("pi4", []), ("x", ["raspi4"]), ("y", ["pi4"]), ("z", ["z"])]:
        with pytest.raises(DeviceExistsError):
            store.register_device(name, aliases)
    with pytest.raises(DeviceNotFoundError):
        store.resolve("PI4")
    assert store.table_counts()["devices"] == 1


def test_batches_are_atomic_and_bump_the_version(store: Store) -> None:
    device = store.register_device("d")
    rows = [MeasurementRow("nasbench201", "a", 1.0), MeasurementRow("fbnet", "b", 2.0)]
    updated = store.add_measurements(device.id, rows)
    assert (updated.version, updated.measurement_count) == (1, 2)
    before = store.table_counts()
    with pytest.raises(Exception, match="CHECK constraint"):
        store.add_measurements(device.id, [rows[0], MeasurementRow("fbnet", "c", -1.0)])
    assert store.table_counts() == before
    assert store.get(device.id).version == 1
    archs, latency = store.measurements(device.id, "fbnet")
    assert archs == ["b"] and latency.tolist() == [2.0]


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    device = store.register_device("d", ["alias"])
    store.add_measurements(device.id, [MeasurementRow("vector", "1.0,2.0", 3.0)])
    store.close()
    again = Store(tmp_path / "s.sqlite")
    assert again.resolve("alias").measurement_count == 1
    again.close()


def test_import_help_is_idempotent(store: Store, help_dataset_dir: Path) -> None:
    from service.importer import import_help

    first = import_help(help_dataset_dir, store, ["raspi4"], progress=False)
    second = import_help(help_dataset_dir, store, ["raspi4"], progress=False)
    assert (first.devices_created, first.measurements_added) == (1, 15625)
    assert (second.devices_created, second.measurements_added, second.devices_skipped) == (0, 0, 1)
    device = store.resolve("pi4")
    assert device.name == "raspi4" and device.measurement_count == 15625


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A directory shaped like a HELP dataset with two (unread) tables."""
    root = tmp_path / "dataset"
    (root / "latency").mkdir(parents=True)
    for stem in ("fpga", "raspi4"):
        (root / "latency" / f"{stem}.pt").write_bytes(b"")
    return root


def test_import_help_reads_every_table_before_writing_any(store: Store, tmp_path: Path) -> None:
    from gp.errors import DatasetError
    from gp.spaces.nasbench201 import NUM_ARCHS
    from service.importer import import_help

    # "a_good" sorts first: a per-table import would have written it before reading "b_short".
    root = write_help_dataset(
        tmp_path / "dataset", {"a_good": [1.0] * NUM_ARCHS, "b_short": [1.0] * 10}
    )
    with pytest.raises(DatasetError, match="b_short.pt: expected 15625 latencies"):
        import_help(root, store, progress=False)
    assert store.table_counts() == dict.fromkeys(store.table_counts(), 0)
    summary = import_help(root, store, ["a_good"], progress=False)
    assert (summary.devices_created, summary.measurements_added) == (1, NUM_ARCHS)


@pytest.mark.parametrize(
    ("directory", "devices", "message"),
    [
        ("missing", None, "not a HELP dataset directory"),
        ("dataset", "raspi4,tpu,gpu", "not in .*dataset: tpu, gpu; it has: fpga, raspi4"),
        ("dataset", None, "missing dataset file: .*str_arch2idx.pt"),
    ],
)
def test_import_help_refuses_a_bad_dataset_before_creating_the_store(
    tiny_dataset: Path,
    directory: str,
    devices: str | None,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from service.cli import main

    store = tiny_dataset.parent / "new.sqlite"
    argv = ["import-help", str(tiny_dataset.parent / directory), "--store", str(store)]
    assert main(argv + (["--devices", devices] if devices else [])) == 2
    assert re.search(f"cannot import: .*{message}", caplog.text)
    assert list(tiny_dataset.parent.glob("new.sqlite*")) == []


def test_serving_a_dataset_that_is_not_one_is_a_config_error(tiny_dataset: Path) -> None:
    from service.config import ServiceConfig
    from service.errors import ConfigError

    assert ServiceConfig(dataset=tiny_dataset).dataset == tiny_dataset
    with pytest.raises(ConfigError, match="--dataset/LATENCY_DATASET: .*no latency/ folder"):
        ServiceConfig(dataset=tiny_dataset / "latency")
