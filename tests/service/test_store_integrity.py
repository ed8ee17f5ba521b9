"""A damaged store, one of another schema and one the service cannot write are refused by name
before anything is written, never recreated; dataset import never unpickles code."""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from gp.errors import DatasetError
from gp.spaces.nasbench201 import all_archs
from service.cli import main
from service.errors import (
    StoreAccessError,
    StoreCorruptError,
    StoreError,
    StoreNotAFileError,
    StoreSchemaError,
)
from service.importer import import_help
from service.store import MeasurementRow, Store
from tests.helpers import run_python
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
    # It was "truncated (12 bytes, ...)": a short file that is not SQLite is no cut-off store.
    "a short text file": (
        lambda p: p.write_text("arch,latency\n"),
        "SQLite database (bad header): check the path",
    ),
    "page overwritten": (overwrite(6 * PAGE + 8, bytes(range(256)) * 8), "integrity check"),
    # An intact SQLite header (its magic string kept) whose page size SQLite refuses: "file is
    # not a database" (SQLITE_NOTADB) is a damaged store like the others, not a raw sqlite3 error.
    "header page size overwritten": (
        overwrite(16, b"\x00\x03"),
        "is corrupt (file is not a database)",
    ),
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


def test_a_corrupt_store_found_beside_a_log_names_the_log(healthy: Path) -> None:
    """A backup put in place beside the old store's -wal meets that log; the advice to restore
    a backup was the step just taken, and said nothing of the log (an operator's review)."""
    damage, _ = DAMAGE["page overwritten"]
    damage(healthy)
    log = Path(f"{healthy}-wal")
    log.write_bytes(b"left by the store the backup replaced")
    with pytest.raises(StoreCorruptError) as info:
        Store(healthy)
    assert str(info.value).endswith(
        f"; {log} was beside it: where a backup was put in place, move the -wal and -shm"
        " beside it away and copy the backup again"
    )


def test_a_store_path_that_is_no_file_is_refused_by_name(tmp_path: Path) -> None:
    """A directory failed with "cannot read store X: [Errno 21] Is a directory: 'X'", and a
    named pipe blocked the start for ever (no writer ever came)."""
    folder, pipe = tmp_path / "data", tmp_path / "pipe"
    folder.mkdir()
    os.mkfifo(pipe)
    with pytest.raises(StoreNotAFileError) as info:
        Store(folder)
    assert str(info.value) == (
        f"store {folder} is a directory; give the path of a store file, e.g."
        f" {folder / 'store.sqlite'}"
    )
    assert list(folder.iterdir()) == []
    for path in (pipe, Path(os.devnull)):
        with pytest.raises(StoreNotAFileError, match="is not a regular file"):
            Store(path)


@pytest.mark.parametrize("store", ["notes.txt/store.sqlite", "notes.txt/deeper/store.sqlite"])
def test_a_file_where_the_stores_folder_must_be_is_named(store: str, tmp_path: Path) -> None:
    """mkdir said only "File exists" (or "Not a directory") of the path's folder."""
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(StoreAccessError) as info:
        Store(tmp_path / store)
    in_the_way = tmp_path / "notes.txt"
    assert str(info.value) == (
        f"cannot create the folder of store {tmp_path / store}: {in_the_way} is not a folder"
    )
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_a_broken_link_as_the_store_is_named_with_its_target(tmp_path: Path) -> None:
    """It was "cannot write store X: unable to open database file"."""
    broken, loop = tmp_path / "store.sqlite", tmp_path / "loop.sqlite"
    broken.symlink_to("gone/store.sqlite")
    loop.symlink_to(loop.name)
    with pytest.raises(StoreAccessError) as info:
        Store(broken)
    assert str(info.value) == (
        f"store {broken} is a broken symbolic link to gone/store.sqlite: its folder"
        f" {tmp_path / 'gone'} does not exist; fix the link or create the folder"
    )
    with pytest.raises(StoreAccessError) as info:
        Store(loop)
    assert str(info.value) == (
        f"store {loop} is a broken symbolic link to loop.sqlite, a loop of links; fix the link"
    )
    assert sorted(tmp_path.iterdir()) == [loop, broken]  # nothing made
    # A link into an existing folder is where the store is to be made, as before.
    (tmp_path / "gone").mkdir()
    store = Store(broken)
    store.close()
    # Made whole and said to be new: it was taken for another process's store, and SQLite
    # made it in place unwarned.
    assert store.created and broken.is_symlink()
    assert sorted(p.name for p in (tmp_path / "gone").iterdir()) == ["store.sqlite"]


@pytest.mark.parametrize("errno_name", ["EPERM", "EOPNOTSUPP"])
def test_a_store_is_made_on_a_file_system_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_name: str
) -> None:
    """A new store is linked into place: where links fail (FAT, some shares) serve and
    import-help ended in a PermissionError traceback, and no store could be made there."""
    import errno

    def no_links(source: object, destination: object) -> None:
        code = getattr(errno, errno_name)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_links)
    store = Store(tmp_path / "store.sqlite")
    store.register_device("d")
    store.close()
    assert store.created
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert left == ["store.sqlite"]  # no staging file left
    with closing(Store(tmp_path / "store.sqlite")) as again:
        assert [d.name for d in again.list_devices()] == ["d"]


def test_a_store_the_service_cannot_read_is_an_access_error(
    healthy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was a StoreCorruptError, "cannot read store X: [Errno 13] Permission denied: 'X'"
    (root, which runs the tests, reads any file: the refusal is simulated)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(healthy))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(StoreAccessError) as info:
        Store(healthy)
    assert str(info.value) == f"cannot read store {healthy}: Permission denied"


def test_healthy_store_reopens_with_everything(healthy: Path) -> None:
    store = Store(healthy)
    try:
        assert store.resolve("e1").measurement_count == 3000
        assert store.table_counts() == {
            "devices": 1,
            "aliases": 1,
            "batches": 6,
            "measurements": 3000,
            "empty_deletions": 0,
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


@pytest.mark.parametrize("linked", [False, True])
def test_a_new_store_is_not_made_over_a_deleted_ones_write_ahead_log(
    linked: bool, tmp_path: Path
) -> None:
    """A store deleted while its server ran (or after a kill -9) leaves its -wal, and SQLite
    replayed it into the new store made at that path: it came up holding the old devices.
    Through a link, the -wal is beside the file it leads to, and was looked for beside the
    link: the old devices came up in a store announced as new (a review, 2026-12-06)."""
    path = tmp_path / "real" / "store.sqlite"
    path.parent.mkdir()
    opened = path
    if linked:
        opened = tmp_path / "link.sqlite"
        opened.symlink_to(path)
    old = Store(opened)
    old.register_device("gone")
    wal = Path(f"{path}-wal")
    kept = wal.read_bytes()  # what a killed server leaves: a closing one checkpoints it
    path.unlink()
    old.close()
    wal.write_bytes(kept)
    with pytest.raises(StoreError, match=f"but {wal}, the unsaved end of a store"):
        Store(opened)
    assert not path.exists() and wal.read_bytes() == kept  # nothing made, nothing lost
    wal.rename(tmp_path / "aside-wal")
    fresh = Store(opened)
    try:
        assert fresh.created and fresh.list_devices() == []
    finally:
        fresh.close()


def test_serve_refuses_a_corrupt_store_with_a_clear_error(healthy: Path) -> None:
    truncate_to(0.5)(healthy)
    server = ServerProcess(healthy)
    assert server.process.wait(timeout=90) == 2
    log = server.output()
    assert f"cannot start: store {healthy} is corrupt" in log, log
    assert "Traceback" not in log


def sql(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)


#: How each store is made foreign, and what the error says about it.
FOREIGN: dict[str, tuple[tuple[str, ...], str]] = {
    "devices lack version and count": (
        (
            "ALTER TABLE devices DROP COLUMN version",
            "ALTER TABLE devices DROP COLUMN measurement_count",
        ),
        "table devices lacks version, measurement_count",
    ),
    "measurements lack search_space": (
        (
            "DROP INDEX measurements_by_device",
            "DROP INDEX measurements_by_arch",
            "ALTER TABLE measurements DROP COLUMN search_space",
        ),
        "table measurements lacks search_space",
    ),
    "no aliases table": (("DROP TABLE aliases",), "no table aliases"),
}


def make_foreign(path: Path, case: str) -> str:
    """Makes the store at ``path`` foreign as FOREIGN[case] says; returns what its error names."""
    statements, fragment = FOREIGN[case]
    sql(path, *statements)
    return fragment


@pytest.fixture(params=list(FOREIGN))
def foreign(request: pytest.FixtureRequest, healthy: Path) -> tuple[Path, str]:
    """A store whose schema lacks what this code uses, and the fragment its error names."""
    return healthy, make_foreign(healthy, request.param)


def test_store_of_another_schema_is_refused_by_name_and_left_alone(
    foreign: tuple[Path, str],
) -> None:
    path, fragment = foreign
    before = path.read_bytes()
    with pytest.raises(StoreSchemaError) as info:
        Store(path)
    assert str(info.value) == (
        f"store {path} has another schema ({fragment}); use a store this service created, or"
        " move it away to start an empty store"
    )
    assert path.read_bytes() == before


def test_database_of_another_program_is_refused_and_not_switched_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    sql(path, "CREATE TABLE notes (text TEXT)")
    before = path.read_bytes()  # rollback journal: opening it in WAL mode would rewrite it
    with pytest.raises(StoreSchemaError, match="no table devices"):
        Store(path)
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


def test_serve_refuses_a_store_of_another_schema_before_it_listens(healthy: Path) -> None:
    path, fragment = healthy, make_foreign(healthy, "devices lack version and count")
    server = ServerProcess(path)
    assert server.process.wait(timeout=90) == 2
    log = server.output()
    assert f"cannot start: store {path} has another schema ({fragment})" in log, log
    assert "Traceback" not in log and "listening" not in log


def test_import_help_refuses_a_store_of_another_schema(
    foreign: tuple[Path, str], help_dataset_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, fragment = foreign
    argv = ["import-help", str(help_dataset_dir), "--store", str(path), "--devices", "raspi4"]
    assert main(argv) == 2
    # "cannot start", as if a server had failed (a review, 2026-12-06).
    assert f"cannot import: store {path} has another schema ({fragment})" in caplog.text


def test_a_store_sqlite_cannot_open_is_refused_by_name(healthy: Path) -> None:
    Path(f"{healthy}-wal").mkdir()  # where SQLite must open its write-ahead log
    with pytest.raises(StoreAccessError) as info:
        Store(healthy)
    assert str(info.value) == f"cannot write store {healthy}: unable to open database file"


@pytest.mark.parametrize(
    ("command", "store", "message"),
    [
        ("serve", "store.sqlite", "cannot write store {store}: its folder is read-only"),
        (
            "import-help",
            "new/store.sqlite",
            "cannot create the folder of store {store}: Read-only file system",
        ),
    ],
)
def test_store_on_a_read_only_mount_is_refused_in_one_line(
    command: str,
    store: str,
    message: str,
    healthy: Path,
    help_dataset_dir: Path,
    read_only_mount: list[str],
) -> None:
    path = healthy.parent / store
    argv = [command, "--store", str(path)]
    if command == "serve":
        argv += ["--address", "127.0.0.1:0"]
    else:
        argv += [str(help_dataset_dir), "--devices", "raspi4"]
    result = run_python(["-m", "service", *argv], [*read_only_mount, str(healthy.parent)])
    assert result.returncode == 2, result.stderr
    failed = "cannot start" if command == "serve" else "cannot import"
    assert f"{failed}: {message.format(store=path)}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


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
