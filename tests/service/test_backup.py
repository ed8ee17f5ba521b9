"""``python -m service backup``: a whole, checked copy of a store in use, or nothing."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

import service.backup
from service.backup import backup_store
from service.cli import main
from service.errors import BackupError, StoreCorruptError
from service.outputs import ABANDONED_AFTER_S
from service.store import MeasurementRow, Store
from tests.helpers import REPO, files_capped_at, mount_namespace, run_python

BATCH = 50


def rows(batch: int) -> list[MeasurementRow]:
    return [MeasurementRow("nasbench201", f"b{batch}-{i}", 1.0 + i) for i in range(BATCH)]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A closed store with two devices and 3,000 measurements in 6 batches."""
    path = tmp_path / "store.sqlite"
    with closing(Store(path)) as store:
        edge = store.register_device("edge", ["e1"])
        store.register_device("idle")
        for batch in range(6):
            store.add_measurements(edge.id, rows(batch) * 10)
    return path


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def batches_whole(path: Path) -> list[int]:
    """The copy's batch ids, each checked to hold all its measurements."""
    with closing(sqlite3.connect(path)) as db:
        found = db.execute(
            "SELECT b.id, b.size, COUNT(m.id) FROM batches b"
            " LEFT JOIN measurements m ON m.batch_id = b.id GROUP BY b.id ORDER BY b.id"
        ).fetchall()
    assert all(size == count for _, size, count in found), found
    return [batch for batch, _, _ in found]


def test_a_backup_taken_while_another_connection_writes_holds_every_committed_batch(
    tmp_path: Path,
) -> None:
    """Copying the file missed the batches still in its -wal; the backup is one snapshot."""
    live = tmp_path / "live" / "store.sqlite"
    writer = Store(live)
    device = writer.register_device("edge")
    acknowledged: list[int] = []
    enough, stop = threading.Event(), threading.Event()

    def write() -> None:
        for batch in range(10_000):
            if stop.is_set():
                return
            writer.add_measurements(device.id, rows(batch))
            acknowledged.append(batch)
            if len(acknowledged) == 20:
                enough.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert enough.wait(60)
        stored_before = len(acknowledged)
        assert Path(f"{live}-wal").stat().st_size > 0  # what copying the file misses
        summary = backup_store(live, tmp_path / "backup.sqlite")
    finally:
        stop.set()
        thread.join()
        writer.close()
    batches = batches_whole(tmp_path / "backup.sqlite")
    assert len(batches) >= stored_before
    assert summary.devices == 1 and summary.measurements == len(batches) * BATCH
    with closing(Store(tmp_path / "backup.sqlite")) as copy:
        assert copy.resolve("edge").measurement_count == summary.measurements
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.sqlite", "live"]


def test_the_command_prints_what_it_copied(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "backup.sqlite"
    assert main(["backup", "--store", str(store_path), str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == f"2 devices and 3000 measurements copied from {store_path} to {out}\n"
    assert batches_whole(out) == [1, 2, 3, 4, 5, 6]
    # A read-only connection left an empty -wal and -shm beside the store.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.sqlite", "store.sqlite"]


def test_force_replaces_an_earlier_backup(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup.sqlite"
    out.write_text("last week's\n")
    assert main(["backup", "--store", str(store_path), str(out), "--force"]) == 0
    assert batches_whole(out) == [1, 2, 3, 4, 5, 6]


def test_an_existing_out_is_refused_before_anything_is_copied(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The move into place refuses it too, with the same words, but after a whole copy: the
    time and the disk space of a large store's, spent to be told "exists"."""

    def no_copy(store: Path, target: Path) -> None:
        raise AssertionError("copied before the refusal")

    monkeypatch.setattr(service.backup, "_copy", no_copy)
    out = tmp_path / "backup.sqlite"
    out.write_text("last week's\n")
    with pytest.raises(BackupError, match="exists"):
        backup_store(store_path, out)
    assert out.read_text() == "last week's\n"


def refusals(tmp_path: Path, store_path: Path) -> dict[str, tuple[list[str], str]]:
    """Arguments of backups refused, and the message of each."""
    foreign = tmp_path / "foreign.db"
    with closing(sqlite3.connect(foreign)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.commit()
    (tmp_path / "notes.txt").write_text("arch,latency\n")
    out, earlier = tmp_path / "backup.sqlite", tmp_path / "earlier.sqlite"
    earlier.write_text("last week's\n")
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(store_path.read_bytes()[: store_path.stat().st_size * 2 // 5])
    return {
        # SQLite's bare "database disk image is malformed" (a review, 2026-12-06).
        "STORE truncated": ([str(truncated), str(out)], f"store {truncated} is corrupt ("),
        "OUT exists": (
            [str(store_path), str(earlier)],
            f"{earlier} exists: give another name, or --force to replace it",
        ),
        "STORE missing": ([str(tmp_path / "gone.sqlite"), str(out)], "no store at"),
        "STORE no SQLite file": (
            [str(tmp_path / "notes.txt"), str(out)],
            "is not a SQLite database (bad header): check the path",
        ),
        "STORE of another schema": (
            [str(foreign), str(out)],
            f"store {foreign} has another schema (no table devices)",
        ),
        "STORE a folder": ([str(tmp_path), str(out)], "is a directory"),
        "OUT's folder missing": (
            [str(store_path), str(tmp_path / "nowhere" / "backup.sqlite")],
            f"no folder {tmp_path / 'nowhere'}",
        ),
        "OUT the store itself": (
            [str(store_path), str(store_path), "--force"],
            "is the store itself",
        ),
        # Not "exists: ... --force to replace it", which was then refused.
        "OUT the store itself, without --force": (
            [str(store_path), str(store_path)],
            "is the store itself",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "OUT exists",
        "STORE truncated",
        "STORE missing",
        "STORE no SQLite file",
        "STORE of another schema",
        "STORE a folder",
        "OUT's folder missing",
        "OUT the store itself",
        "OUT the store itself, without --force",
    ],
)
def test_a_refused_backup_says_why_in_one_line_and_leaves_nothing(
    case: str, store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (store, *args), message = refusals(tmp_path, store_path)[case]
    before = files(tmp_path)
    assert main(["backup", "--store", store, *args]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("cannot back up: "), errors
    assert message in errors[0]
    assert "Traceback" not in caplog.text
    assert files(tmp_path) == before


@pytest.mark.parametrize("force", [False, True])
def test_an_out_with_a_write_ahead_log_beside_it_is_refused(
    force: bool, store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A -wal left by a killed writer of a database at OUT was replayed into the copy when it
    was first opened: the backup reported 2 devices and held the other database's."""
    out = tmp_path / "backup.sqlite"
    with closing(Store(out)) as other:
        other.register_device("other")
    Path(f"{out}-wal").write_bytes(b"the unsaved end of another database")
    if not force:
        out.unlink()
    before = files(tmp_path)
    assert main(["backup", "--store", str(store_path), str(out), *["--force"] * force]) == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert f"{out}-wal is beside {out}: the write-ahead log of a database" in error, error
    assert files(tmp_path) == before


def test_a_write_ahead_log_beside_the_file_an_out_link_leads_to_is_refused(
    store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With --force the copy replaces the file a link OUT leads to, and SQLite keeps its -wal
    beside that file: the one looked for beside the link was never there."""
    real = tmp_path / "real" / "backup.sqlite"
    real.parent.mkdir()
    with closing(Store(real)) as other:
        other.register_device("other")
    Path(f"{real}-wal").write_bytes(b"the unsaved end of another database")
    out = tmp_path / "backup.sqlite"
    out.symlink_to(real)
    before = files(real.parent)
    assert main(["backup", "--store", str(store_path), str(out), "--force"]) == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert f"{real}-wal is beside {real}: the write-ahead log of a database" in error, error
    assert files(real.parent) == before and out.is_symlink()


def test_an_out_that_is_a_link_leading_nowhere_is_refused_before_the_copy(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "backup.sqlite"
    out.symlink_to(tmp_path / "missing.sqlite")

    def no_copy(store: Path, target: Path) -> None:
        raise AssertionError("copied before OUT was refused")

    monkeypatch.setattr("service.backup._copy", no_copy)
    with pytest.raises(BackupError) as refused:
        backup_store(store_path, out)
    assert str(refused.value) == (
        f"{out} is a link to {tmp_path / 'missing.sqlite'}, which does not exist: give another"
        " name, or --force to write the backup there"
    )
    assert out.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [
        "backup.sqlite",
        "store.sqlite",
    ]
    journal = tmp_path / "missing.sqlite-wal"  # where --force would write: refused first
    journal.write_bytes(b"another database's log")
    with pytest.raises(BackupError, match=r"missing\.sqlite-wal is beside .*write-ahead log"):
        backup_store(store_path, out)
    journal.unlink()
    monkeypatch.undo()
    assert backup_store(store_path, out, replace=True).devices == 2
    assert out.is_symlink() and (tmp_path / "missing.sqlite").is_file()


def test_an_out_that_is_a_loop_of_links_is_refused_in_one_line(
    store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (links / "a.sqlite").symlink_to(links / "b.sqlite")
    (links / "b.sqlite").symlink_to(links / "a.sqlite")
    assert main(["backup", "--store", str(store_path), str(links / "a.sqlite")]) == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "a.sqlite is a symbolic link in a loop" in error, error
    assert "Traceback" not in caplog.text


def test_a_backup_is_as_private_as_its_store(store_path: Path, tmp_path: Path) -> None:
    """A store only its owner may read was backed up readable by everyone (0644)."""
    store_path.chmod(0o600)
    out = tmp_path / "backup.sqlite"
    backup_store(store_path, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("force", [False, True])
def test_a_copy_cut_off_midway_leaves_no_temporary_file(
    force: bool, store_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "backup.sqlite"
    if force:
        out.write_text("last week's\n")
    before = files(tmp_path)
    # The copy's file cannot grow past half the store: the disk fails mid-copy.
    with files_capped_at(store_path.stat().st_size // 2), pytest.raises(BackupError) as failed:
        backup_store(store_path, out, replace=force)
    assert str(failed.value) == (
        f"cannot back up store {store_path} to {out}: disk I/O error; no backup was written"
    )
    assert files(tmp_path) == before  # an earlier backup is kept


@pytest.mark.parametrize("replace", [False, True])
def test_an_out_made_during_the_copy_is_replaced_only_with_force(
    replace: bool, store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OUT was checked before the copy alone: one made meanwhile was replaced without --force."""
    out = tmp_path / "backup.sqlite"
    copy = service.backup._copy

    def copy_while_out_is_made(store: Path, target: Path) -> None:
        copy(store, target)
        out.write_text("another backup's\n")

    monkeypatch.setattr("service.backup._copy", copy_while_out_is_made)
    if replace:
        backup_store(store_path, out, replace=True)
        assert batches_whole(out) == [1, 2, 3, 4, 5, 6]
    else:
        with pytest.raises(BackupError) as refused:
            backup_store(store_path, out)
        assert str(refused.value) == f"{out} exists: give another name, or --force to replace it"
        assert out.read_text() == "another backup's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.sqlite", "store.sqlite"]


def test_a_journal_made_beside_out_during_the_copy_is_refused(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite would replay it into the copy when the copy is first opened."""
    out = tmp_path / "backup.sqlite"
    copy = service.backup._copy

    def copy_while_a_journal_is_made(store: Path, target: Path) -> None:
        copy(store, target)
        Path(f"{out}-wal").write_bytes(b"another database's log")

    monkeypatch.setattr("service.backup._copy", copy_while_a_journal_is_made)
    with pytest.raises(BackupError, match=r"backup\.sqlite-wal is beside .*the write-ahead log"):
        backup_store(store_path, out)
    assert not out.exists()


#: Runs ``python -m service backup ARGS`` with a SIGTERM sent to itself once the copy is made,
#: before it is checked and moved into place (a cron job's timeout, systemd stopping it).
TERMINATED_MIDWAY = """
import os, signal, sys
import service.backup
from service.cli import main

copy = service.backup._copy

def copy_then_terminated(store, target):
    copy(store, target)
    os.kill(os.getpid(), signal.SIGTERM)

service.backup._copy = copy_then_terminated
sys.exit(main(["backup", *sys.argv[1:]]))
"""


def test_a_backup_terminated_midway_leaves_no_temporary_file(
    store_path: Path, tmp_path: Path
) -> None:
    """SIGTERM killed the process outright and left the copy (".<hex>.tmp") beside OUT."""
    out = tmp_path / "backup.sqlite"
    before = files(tmp_path)
    done = run_python(["-c", TERMINATED_MIDWAY, "--store", str(store_path), str(out)])
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert files(tmp_path) == before


def test_a_backup_removes_what_backups_killed_outright_long_ago_left_beside_out(
    store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL (a cron job's ``timeout -s KILL``, the OOM killer) runs no cleanup: each such
    backup left its store-sized ".<hex>.tmp" beside OUT, and they piled up there for good."""
    folder = tmp_path / "backups"
    folder.mkdir()
    abandoned, recent = folder / f".{'a' * 32}.tmp", folder / f".{'b' * 32}.tmp"
    for left in (abandoned, recent):  # a backup running now may still write the recent one
        left.write_bytes(b"half a copy")
    long_ago = time.time() - ABANDONED_AFTER_S - 60
    os.utime(abandoned, (long_ago, long_ago))
    caplog.set_level(logging.INFO)
    assert main(["backup", "--store", str(store_path), str(folder / "backup.sqlite")]) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(["backup.sqlite", recent.name])
    assert f"removed 1 temporary file that writes killed mid-way left in {folder}" in caplog.text


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_one_line_and_leaves_nothing(
    code: int,
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A user's quota spent is a full disk to that user."""

    def no_space(path: Path) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("service.outputs.fsync_path", no_space)  # the copy made, not in place
    out = tmp_path / "backup.sqlite"
    before = files(tmp_path)
    assert main(["backup", "--store", str(store_path), str(out)]) == 2
    assert f"cannot back up: {out}: its disk is full, so no backup was written" in caplog.text
    assert "Traceback" not in caplog.text
    assert files(tmp_path) == before


def test_a_read_only_folder_for_out_is_named_with_the_reason(
    store_path: Path, tmp_path: Path, read_only_mount: list[str]
) -> None:
    """Only "cannot back up: OUT: cannot write in FOLDER" was said, not why."""
    folder = tmp_path / "backups"
    folder.mkdir()
    out = folder / "backup.sqlite"
    argv = ["-m", "service", "backup", "--store", str(store_path), str(out)]
    result = run_python(argv, [*read_only_mount, str(folder)])
    assert result.returncode == 2, result.stderr
    reason = "Read-only file system"
    assert f"cannot back up: {out}: cannot write in {folder} ({reason})" in result.stderr
    assert list(folder.iterdir()) == []


def test_a_store_this_user_cannot_read_unserved_says_what_reading_it_needs(
    store_path: Path, tmp_path: Path, read_only_mount: list[str]
) -> None:
    """A store no server has open is read through a -shm made beside it; on a read-only
    folder SQLite said only "unable to open database file"."""
    out = tmp_path.parent / f"{tmp_path.name}-backup.sqlite"
    argv = ["-m", "service", "backup", "--store", str(store_path), str(out)]
    result = run_python(argv, [*read_only_mount, str(tmp_path)])
    assert result.returncode == 2, result.stderr
    assert "SQLite cannot read it here (unable to open database file)" in result.stderr
    assert "back it up as the store's owner, or while its server runs" in result.stderr
    assert not out.exists()


def test_the_copy_is_flushed_through_a_handle_that_windows_can_flush(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' FlushFileBuffers needs write access: os.fsync of a file opened read-only fails
    there (EBADF), and every backup failed "cannot back up ...: Bad file descriptor"."""
    real_fsync = os.fsync

    def fsync_as_on_windows(fd: int) -> None:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # a folder: Windows cannot open one
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                raise OSError(errno.EBADF, "Bad file descriptor")
        real_fsync(fd)

    monkeypatch.setattr("service.backup.os.fsync", fsync_as_on_windows)
    out = tmp_path / "backup.sqlite"
    assert backup_store(store_path, out).measurements == 3000
    assert batches_whole(out) == [1, 2, 3, 4, 5, 6]


def test_the_count_of_a_store_with_deletions_leaves_the_deleted_out(
    store_path: Path, tmp_path: Path
) -> None:
    """Deleted measurements stay in their table (earlier versions hold them): counted by
    rows, the backup said 3000 measurements of a device that counts 2500."""
    with closing(Store(store_path)) as store:
        edge = store.resolve("edge")
        store.delete_batch(edge.id, [("nasbench201", f"b0-{i}") for i in range(BATCH)])
    assert backup_store(store_path, tmp_path / "backup.sqlite").measurements == 2500


def test_a_backup_keeps_the_ids_of_deletions_of_nothing(store_path: Path, tmp_path: Path) -> None:
    """Kept apart from the batches (they store none), they travel with the file: a retry
    against the restored store deletes nothing either, not what was uploaded since."""
    with closing(Store(store_path)) as store:
        edge = store.resolve("edge")
        store.delete_batch(edge.id, [("nasbench201", "new")], "req")
    out = tmp_path / "backup.sqlite"
    backup_store(store_path, out)
    with closing(Store(out)) as restored:
        restored.add_measurements(edge.id, [MeasurementRow("nasbench201", "new", 1.0)])
        assert restored.delete_batch(edge.id, [("nasbench201", "new")], "req").deleted == 0


def test_a_store_made_before_deletions_of_nothing_were_kept_backs_up(
    store_path: Path, tmp_path: Path
) -> None:
    """Such a store, not opened since by this code, lacks their table: counted all the same."""
    with closing(sqlite3.connect(store_path)) as db:
        db.execute("DROP TABLE IF EXISTS empty_deletions")
        db.commit()
    summary = backup_store(store_path, tmp_path / "backup.sqlite")
    assert (summary.devices, summary.measurements) == (2, 3000)


#: Runs "$@" with a tmpfs of $DISK_BYTES bytes (4096 unless set) on the folder "$0", then
#: lists what is left on it: the mount, and the files, end with the command.
SMALL_DISK = (
    'mount -t tmpfs -o "size=${DISK_BYTES:-4096}" tmpfs "$0"'
    ' && { "$@"; code=$?; ls -A "$0"; exit $code; }'
)
PAGE = 4096  # tmpfs sizes round up to whole pages


@pytest.fixture(scope="module")
def small_disk() -> list[str]:
    return mount_namespace(SMALL_DISK, REPO)


def back_up_on_a_small_disk(
    small_disk: list[str], store: Path, disk: Path, size: int
) -> subprocess.CompletedProcess[str]:
    """``backup`` of ``store`` to ``disk``/backup.sqlite, a disk of ``size`` bytes; its stdout
    ends with what the command left on the disk."""
    disk.mkdir()
    argv = ["-m", "service", "backup", "--store", str(store), str(disk / "backup.sqlite")]
    return run_python(argv, [*small_disk, str(disk)], {"DISK_BYTES": str(size)})


def test_a_store_on_a_full_disk_is_named_as_what_is_full(
    store_path: Path, tmp_path: Path, small_disk: list[str]
) -> None:
    """SQLite reads a store through a -shm it makes beside it: with the store's disk full
    (OUT's had room) the backup said "disk I/O error", as of a failing disk."""
    disk, out = tmp_path / "disk", tmp_path / "backup.sqlite"
    disk.mkdir()
    size = (-(-store_path.stat().st_size // PAGE) + 2) * PAGE
    fill_and_back_up = (
        f'cp "{store_path}" "$0/s.sqlite" && {{ cat /dev/zero > "$0/fill" 2>/dev/null; true; }}'
        f' && exec "$@" -m service backup --store "$0/s.sqlite" "{out}"'
    )
    result = subprocess.run(
        [*small_disk, str(disk), "sh", "-c", fill_and_back_up, str(disk), sys.executable],
        cwd=REPO,
        env={**os.environ, "DISK_BYTES": str(size), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2, result.stderr
    assert f"cannot back up store {disk / 's.sqlite'}: its disk is full, and reading it" in (
        result.stderr
    )
    assert not out.exists()


@pytest.fixture
def large_store(tmp_path: Path) -> Path:
    """A closed store of about 3 MB: more than SQLite's page cache (2 MB), so that a copy of
    it is written to its disk before its commit."""
    path = tmp_path / "large.sqlite"
    with closing(Store(path)) as store:
        edge = store.register_device("edge")
        for batch in range(80):
            store.add_measurements(edge.id, rows(batch) * 10)
    return path


def test_a_disk_too_small_for_the_copy_is_left_empty(
    large_store: Path, tmp_path: Path, small_disk: list[str]
) -> None:
    """SQLite, stopped by the full disk before its commit, could not roll back: the copy's
    rollback journal (".<hex>.tmp-journal") was left beside OUT."""
    result = back_up_on_a_small_disk(small_disk, large_store, tmp_path / "disk", 16 * PAGE)
    assert result.returncode == 2, result.stderr
    assert "its disk is full, so no backup was written" in result.stderr
    assert result.stdout == ""


def test_a_disk_with_room_for_the_copy_alone_takes_it(
    store_path: Path, tmp_path: Path, small_disk: list[str]
) -> None:
    """The copy was checked through a -wal and -shm beside it, which such a disk could not
    take: "disk I/O error", and both were left there."""
    size = (-(-store_path.stat().st_size // PAGE) + 1) * PAGE
    disk = tmp_path / "disk"
    result = back_up_on_a_small_disk(small_disk, store_path, disk, size)
    assert result.returncode == 0, result.stderr
    copied = f"2 devices and 3000 measurements copied from {store_path} to {disk / 'backup.sqlite'}"
    assert result.stdout == f"{copied}\nbackup.sqlite\n"


def test_a_store_that_fails_its_integrity_check_is_refused_and_no_copy_is_left(
    store_path: Path, tmp_path: Path
) -> None:
    """The copy holds the store's pages as they are: a damaged one must not pass as a backup."""
    with store_path.open("r+b") as file:
        file.seek(6 * 4096 + 8)  # inside a table page, past its header
        file.write(bytes(range(256)) * 8)
    before = files(tmp_path)
    with pytest.raises(
        StoreCorruptError, match=f"store {store_path} failed its integrity check"
    ) as bad:
        backup_store(store_path, tmp_path / "backup.sqlite")
    assert files(tmp_path) == before
    # SQLite's report holds line breaks, and the start-up error spanned 6 lines (a review).
    assert "On tree page" in str(bad.value) and "\n" not in str(bad.value)


def test_the_store_is_read_from_the_environment_as_serve_reads_it(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATENCY_STORE", str(store_path))
    assert main(["backup", str(tmp_path / "backup.sqlite")]) == 0
    assert batches_whole(tmp_path / "backup.sqlite") == [1, 2, 3, 4, 5, 6]


def test_a_backup_is_written_into_a_pipe_with_force(store_path: Path, tmp_path: Path) -> None:
    """The temporary file of a stream was made before the copy, whose exclusive create then
    refused it as "OUT exists" (a review, 2026-12-06)."""
    import os
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_bytes()))
    reader.start()
    assert main(["backup", "--store", str(store_path), "--force", str(pipe)]) == 0
    reader.join(timeout=30)
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(read[0])
    with closing(Store(copy)) as store:
        assert store.table_counts()["measurements"] == 3000


def test_a_backup_to_stdout_s_file_holds_the_copy_alone(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backup --force /dev/stdout > copy` added the summary line to the copy (a review)."""
    import sys

    copy = tmp_path / "copy.sqlite"
    with copy.open("w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        assert main(["backup", "--store", str(store_path), "--force", str(copy)]) == 0
    assert copy.stat().st_size == store_path.stat().st_size
    with closing(Store(copy)) as store:
        assert store.table_counts()["measurements"] == 3000


def test_a_backup_to_stderr_s_file_is_refused(
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`backup --force /dev/stderr 2> copy` said it copied, and the log line opened the copy:
    no database (a review, 2026-12-06)."""
    import sys

    copy = tmp_path / "copy.sqlite"
    with copy.open("w") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        assert main(["backup", "--store", str(store_path), "--force", str(copy)]) == 2
    assert "is where the log goes (stderr's file)" in caplog.text
    assert copy.read_text() == ""
