"""A damaged store is refused by name, never recreated; dataset import never unpickles code."""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gp.errors import DatasetError
from gp.spaces.nasbench201 import all_archs
from service.errors import StoreCorruptError
from service.importer import import_help
from service.store import MeasurementRow, Store
from tests.service.conftest import DATASET, ServerProcess

ARCHS = all_archs()
PAGE = 4096


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    """A closed store with one device and 3,000 measurements (a few hundred KB)."""
    path = tmp_path / "store.sqlite"
    store = Store(path)
    device = store.register_device("edge", ["e1"], {"ram_gb": 4.0})
    for start in range(0, 3000, 500):
        rows = [
            MeasurementRow("nasbench201", a, 1.0 + i) for i, a in enumerate(ARCHS[start:][:500])
        ]
        store.add_measurements(device.id, rows)
    store.close()
    return path


def truncate_to(fraction: float) -> Callable[[Path], None]:
    return lambda path: os.truncate(path, int(path.stat().st_size * fraction))


def truncate_to_pages(pages: int) -> Callable[[Path], None]:
    return lambda path: os.truncate(path, pages * PAGE)


def overwrite(offset: int, data: bytes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with path.open("r+b") as file:
            file.seek(offset)
            file.write(data)

    return damage


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty file": (truncate_to(0.0), "truncated (0 bytes"),
    "cut inside the header": (lambda p: os.truncate(p, 60), "truncated (60 bytes"),
    "cut in half": (truncate_to(0.5), "corrupt"),
    "last page missing": (lambda p: os.truncate(p, p.stat().st_size - PAGE), "corrupt"),
    "first pages only": (truncate_to_pages(3), "corrupt"),
    "not a SQLite file": (overwrite(0, b"PK\x03\x04 this is a zip"), "not a SQLite database"),
    "page overwritten": (overwrite(6 * PAGE + 8, bytes(range(256)) * 8), "integrity check"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_store_is_refused_by_name_and_left_alone(case: str, healthy: Path) -> None:
    damage, fragment = DAMAGE[case]
    damage(healthy)
    before = healthy.read_bytes()
    with pytest.raises(StoreCorruptError) as info:
        Store(healthy)
    message = str(info.value)
    assert str(healthy) in message and fragment in message, message
    assert "restore it from a backup" in message
    assert healthy.read_bytes() == before  # never repaired or recreated over


def test_healthy_store_reopens_with_everything(healthy: Path) -> None:
    store = Store(healthy)
    try:
        assert store.resolve("e1").measurement_count == 3000
        assert store.table_counts() == {
            "devices": 1,
            "aliases": 1,
            "batches": 6,
            "measurements": 3000,
        }
    finally:
        store.close()


def test_store_with_an_uncheckpointed_wal_is_not_mistaken_for_corrupt(tmp_path: Path) -> None:
    """A copy taken while the writer is open (WAL holds the latest batch) opens and has it."""
    path = tmp_path / "live" / "store.sqlite"
    writer = Store(path)
    device = writer.register_device("edge")
    writer.add_measurements(device.id, [MeasurementRow("nasbench201", ARCHS[0], 2.0)])
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in path.parent.iterdir():  # what a kill -9 leaves behind: db, -wal, -shm
        shutil.copy2(file, copy / file.name)
    writer.close()
    reopened = Store(copy / "store.sqlite")
    try:
        assert reopened.resolve("edge").measurement_count == 1
    finally:
        reopened.close()


def test_serve_refuses_a_corrupt_store_with_a_clear_error(healthy: Path) -> None:
    truncate_to(0.5)(healthy)
    server = ServerProcess(healthy)
    assert server.process.wait(timeout=90) == 2
    log = server.output()
    assert f"cannot start: store {healthy} is corrupt" in log, log
    assert "Traceback" not in log


class _Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("target", ["str_arch2idx.pt", "latency/evil.pt"])
def test_dataset_import_never_unpickles_objects(target: str, tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    (root / "latency").mkdir(parents=True)
    marker = tmp_path / "pwned"
    (root / target).write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    if target != "str_arch2idx.pt":
        if not (DATASET / "str_arch2idx.pt").is_file():
            pytest.skip(f"HELP dataset not found at {DATASET}")
        (root / "str_arch2idx.pt").symlink_to(DATASET / "str_arch2idx.pt")
    else:
        (root / "latency" / "evil.pt").write_bytes(b"")
    store = Store(tmp_path / "store.sqlite")
    try:
        with pytest.raises(DatasetError, match="cannot read"):
            import_help(root, store, ["evil"], progress=False)
        assert not marker.exists()
        assert store.table_counts()["measurements"] == 0
    finally:
        store.close()
