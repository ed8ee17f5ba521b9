"""SQLite store of devices, aliases and measurements (one file, WAL, fsync on commit).

``synchronous=FULL`` in WAL mode fsyncs the log on every commit, so a write the service has
acknowledged survives ``kill -9`` and power loss. Every write is one transaction: a batch of
measurements is stored completely or not at all.

Writes go through one connection, reads through another: in WAL mode a reader never waits for
a writer, so a write waiting for another process's lock (a running ``import-help``) does not
hold up reads. A write waits at most ``busy_timeout_s`` for that lock, then fails with
:class:`StoreBusyError` (UNAVAILABLE in an RPC) and stores nothing; one given less time (a
call's deadline) fails then with :class:`~service.errors.DeadlineExceededError`.

Names and aliases share one case-sensitive namespace: a device's name resolves like an alias.
Each device carries a version counter, bumped by every stored batch; the model version the
service reports is built from it. A deletion is a batch too (a tombstone): the measurements it
deletes stay in their table, marked with its id, so the device at an earlier version still has
them. One that deleted nothing stores no batch, only its request_id (for its retries).

A write checks that the path still names the file the store opened (:class:`StoreMovedError`
otherwise): SQLite writes on to a file moved or deleted under it, and what it writes then is
lost (its -wal stays under the old name). A file copied over the store in place keeps its
inode and is not noticed: restore a backup as the README says, with the server stopped.

Opening an existing file checks it first (header, then ``PRAGMA quick_check``): a truncated or
corrupt store raises :class:`StoreCorruptError` naming the file, and is never recreated over,
because its measurements cost hours of device time. A SQLite file whose tables lack a column this
code uses (:class:`StoreSchemaError`), and a store the service could not write
(:class:`StoreAccessError`: a read-only file system, no permission) are refused the same way,
before anything is written, and so is a path that is no file (:class:`StoreNotAFileError`: a
directory, a pipe, a device).
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from service.errors import (
    DeadlineExceededError,
    DeviceExistsError,
    DeviceNotFoundError,
    InvalidRequestError,
    StoreAccessError,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreMovedError,
    StoreNotAFileError,
    StoreSchemaError,
)
from service.names import MAX_NAME_LENGTH, composed
from service.outputs import link_target, move_into_place
from service.waiting import Ended, holding, never, wait_until

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
#: A SQLite file starts with a 100-byte header; a shorter (or empty) store file was cut off.
SQLITE_HEADER_BYTES = 100
_CORRUPTION_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_corruption(exc: sqlite3.Error) -> bool:
    """Whether SQLite found the database corrupt (or no database)."""
    return primary_code(exc) in _CORRUPTION_CODES


#: Free bytes below which a disk I/O error is taken for a full disk: less than SQLite's pages
#: of a -shm file (32 KiB) or of a write's log.
SPACE_LEFT_BYTES = 1024 * 1024
_ACCESS_CODES = frozenset({sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM})
#: How long a write waits for the write lock (this process's earlier writes, then another
#: process's transaction) before it fails as busy.
BUSY_TIMEOUT_S = 10.0
#: Longest name a lookup compares: a name is checked at most MAX_NAME_LENGTH characters as
#: given, but stored composed (NFC), and either form may be some times longer than the other
#: (U+0958 composes to two characters; a Hangul syllable decomposes to three).
LONGEST_LOOKUP = 8 * MAX_NAME_LENGTH
_ADVICE = "restore it from a backup, or move it away to start an empty store"
_SCHEMA_ADVICE = "use a store this service created, or move it away to start an empty store"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    descriptor TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 0,
    measurement_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id)
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    added_at REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    search_space TEXT NOT NULL,
    arch TEXT NOT NULL,
    latency_ms REAL NOT NULL CHECK (latency_ms > 0),
    added_at REAL NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id)
);
CREATE INDEX IF NOT EXISTS measurements_by_device ON measurements(device_id, search_space);
"""
# Added later: stores made before them get them when opened (see _add_later_columns).
_LATER_COLUMNS = {
    "batches": {
        "request_id": "TEXT",
        # A deletion's request, to tell a retry from another request (NULL: an upload): the
        # JSON list of the [space, arch] pairs it deleted every measurement of, or where it
        # named exact measurements too, {"archs": that list, "measurements": its sorted
        # [space, arch, latency_ms] triples} (an archs-only request keeps the list, which
        # deletions stored before exact ones were recorded).
        "deleted_archs": "TEXT",
    },
    # The deletion (batch) that deleted the measurement; NULL while it counts.
    "measurements": {"deleted_by": "INTEGER REFERENCES batches(id)"},
}
# A deletion that deleted nothing stores no batch (a batch bumps the version, and the model
# version with it), so its request_id and request (as batches.deleted_archs) are kept here:
# its retry deletes nothing either, not what was uploaded of its archs since.
_LATER_TABLES = """
CREATE TABLE IF NOT EXISTS empty_deletions (
    device_id INTEGER NOT NULL REFERENCES devices(id),
    request_id TEXT NOT NULL,
    deleted_archs TEXT NOT NULL,
    added_at REAL NOT NULL,
    UNIQUE (device_id, request_id)
);
"""
_LATER_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS batches_by_request ON batches(device_id, request_id)"
    " WHERE request_id IS NOT NULL",
    # A deletion finds an arch's measurements by it, not by scanning the device's table.
    "CREATE INDEX IF NOT EXISTS measurements_by_arch"
    " ON measurements(device_id, search_space, arch)",
    # A device's measurements as of a version read its first batches: without it every batch
    # of every device was scanned (36 ms against 19 ms for 8,000 rows among 400,000 batches
    # of 50 devices; a review, 2026-12-06).
    "CREATE INDEX IF NOT EXISTS batches_by_device ON batches(device_id, id)",
)
#: The measurements that count now: those no deletion has deleted.
_LIVE = "deleted_by IS NULL"
#: A check of a batch before it is stored (:meth:`Store.add_batch`), given a reader of the
#: device's live archs in a space.
BatchCheck = Callable[[Callable[[str], list[str]]], None]
#: A device's live measurements of one arch: the rows a deletion marks.
_ARCH_ROWS = f" WHERE device_id = ? AND search_space = ? AND arch = ? AND {_LIVE}"


def check_header(path: Path) -> None:
    """Raises StoreNotAFileError unless ``path`` is a regular file, StoreAccessError if it
    cannot be read, StoreCorruptError unless it starts with a whole SQLite header."""
    # Read, a directory failed with a raw "[Errno 21] Is a directory", and a named pipe
    # blocked the start for ever, waiting for a writer.
    if path.is_dir():
        raise StoreNotAFileError(
            f"store {path} is a directory; give the path of a store file, e.g."
            f" {path / 'store.sqlite'}"
        )
    if not path.is_file():
        raise StoreNotAFileError(f"store {path} is not a regular file (a pipe or a device?)")
    try:
        with path.open("rb") as file:
            header = file.read(SQLITE_HEADER_BYTES)
    except OSError as exc:  # no permission: nothing is known of the file's content yet
        raise StoreAccessError(f"cannot read store {path}: {exc.strerror}") from None
    # Checked first: a short file that does not start as SQLite is another file (a path
    # mistyped to a CSV or a token file), not a store cut off, which it was called, with the
    # advice to restore it from a backup. Such a file is the user's: the path is the suspect.
    if not (header.startswith(SQLITE_MAGIC) or SQLITE_MAGIC.startswith(header)):
        raise StoreCorruptError(
            f"store {path} is not a SQLite database (bad header): check the path; if it is"
            f" the store, {_ADVICE}"
        )
    if len(header) < SQLITE_HEADER_BYTES:
        # The service never leaves a file this short (it writes the schema at creation).
        raise StoreCorruptError(
            f"store {path} is truncated ({len(header)} bytes, shorter than a SQLite header);"
            f" {_ADVICE}"
        )


def out_of_space(exc: sqlite3.Error, database: Path) -> bool:
    """Whether SQLite's error ``exc`` on ``database`` is its disk being full: SQLite says
    SQLITE_IOERR (SQLITE_IOERR_SHMSIZE), not SQLITE_FULL, where it cannot make or grow the -shm
    file beside the database (beside the file a link leads to), and a full disk was blamed on
    a failing one (reviews, 2026-12-06)."""
    if primary_code(exc) == sqlite3.SQLITE_FULL:
        return True
    if primary_code(exc) != sqlite3.SQLITE_IOERR:
        return False
    try:
        return shutil.disk_usage(link_target(database).parent).free < SPACE_LEFT_BYTES
    except OSError:
        return False


def journal_left(path: Path) -> Path | None:
    """The write-ahead log of the database ``path``, if there is one: beside the file a link
    ``path`` leads to, where SQLite keeps it (looked for beside the link, an old log went
    unseen and was replayed into a new database; a review, 2026-12-06)."""
    wal = Path(f"{link_target(path)}-wal")
    return wal if exists(wal, path) else None


def exists(path: Path, store: Path) -> bool:
    """Whether ``path`` (the store ``store`` or a file beside it) exists.

    Raises:
        StoreAccessError: the service may not look (a folder it cannot enter), or the name is
            too long: Path.exists raised PermissionError or OSError in a traceback.
    """
    try:
        return path.exists()
    except OSError as exc:
        raise StoreAccessError(f"cannot read store {store}: {exc.strerror}") from None


def check_no_orphan_journal(path: Path, journal: Path | None) -> None:
    """Raises StoreError if a missing store's write-ahead log is still there (the
    store deleted or moved while a server ran, or after it was killed): SQLite replays a log
    it finds beside a new file, and a new store made at that path came up holding the old
    one's devices. Left alone, it may be the newest part of measurements that cost hours."""
    if journal is None:
        return
    raise StoreError(
        f"store {path} is missing, but {journal}, the unsaved end of a store that was"
        f" there, is left, and SQLite would replay it into a new store: put the store back,"
        f" or move {journal.name} (and the -shm beside it) elsewhere to start a new one"
    )


def check_link(path: Path) -> None:
    """Raises StoreAccessError if ``path`` is a symbolic link to nowhere a store can be made:
    into a missing folder, or in a loop. SQLite said only "unable to open database file"."""
    if not path.is_symlink() or path.exists():
        return  # a link into an existing folder: the store is made at its target
    broken = f"store {path} is a broken symbolic link to {os.readlink(path)}"
    try:
        folder = path.resolve().parent
    except (RuntimeError, OSError):  # a loop: RuntimeError up to Python 3.12, then OSError
        raise StoreAccessError(f"{broken}, a loop of links; fix the link") from None
    if not folder.is_dir():
        raise StoreAccessError(
            f"{broken}: its folder {folder} does not exist; fix the link or create the folder"
        )


@dataclass
class DeviceRecord:
    """One registered device as stored."""

    id: int
    name: str
    aliases: list[str] = field(default_factory=list)
    descriptor: dict[str, float] = field(default_factory=dict)
    description: str = ""
    version: int = 0
    measurement_count: int = 0


class AddedBatch(NamedTuple):
    """What :meth:`Store.add_batch` did: the device after it, and whether the batch was
    stored now (not when empty, nor when a retry of one stored under its request_id)."""

    device: DeviceRecord
    stored: bool


class DeletedBatch(NamedTuple):
    """What :meth:`Store.delete_batch` did: the device after it, how many measurements the
    deletion deleted (a retry: its first time), whether it was stored now (not when it
    deleted nothing, nor when a retry of one stored under its request_id), and the archs and
    exact rows that matched no live measurement (none on such a retry: it cannot tell)."""

    device: DeviceRecord
    deleted: int
    stored: bool
    unmatched_archs: frozenset[tuple[str, str]] = frozenset()
    unmatched_rows: frozenset[tuple[str, str, float]] = frozenset()


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement to store: canonical arch string of ``search_space`` and its latency."""

    search_space: str
    arch: str
    latency_ms: float


def make_store_folder(path: Path) -> Path:
    """Creates the folder of the store at ``path`` (and its parents), as a new store needs; the
    folder. Raises StoreAccessError naming what is in the way."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # A file where a folder must be: mkdir said only "File exists" or "Not a directory".
        in_the_way = [p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()]
        problem = f"{in_the_way[0]} is not a folder" if in_the_way else exc.strerror
        raise StoreAccessError(f"cannot create the folder of store {path}: {problem}") from exc
    return folder


class Store:
    """Thread-safe access to one SQLite file: a write connection and a read connection, each
    behind its own lock.

    Args:
        path: the SQLite file; created, with its folder, when missing.
        busy_timeout_s: how long a write waits for the write lock in all before it raises
            StoreBusyError (read at each write).

    Attributes:
        created: whether this opening made the file (a new, empty store), so that a caller
            can say so: a mistyped path otherwise gives a store that works but holds nothing.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._opened = False  # a full disk met while opening is no write of the caller's
        # The journal first: another process making the store links the file before SQLite
        # makes its -wal, so a -wal seen before a missing file is no live store's.
        journal = journal_left(self.path)
        existed = exists(self.path, self.path)
        if existed:
            check_header(self.path)
        else:
            check_no_orphan_journal(self.path, journal)
            check_link(self.path)
        self._check_writable(existed)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self.created = not existed and self._create()
        with ExitStack() as undo:
            self._db = self._connect()
            undo.callback(self._db.close)
            self._identity = _file_identity(self.path)  # what every write checks is still there
            self._moved_reported = False
            # SQLite keeps the log beside the file it opened: a link's target, not the link.
            self._log = Path(f"{link_target(self.path)}-wal")
            with _blaming_a_log_left(journal):
                self._open(check=existed)
            self._reader = self._connect()
            undo.callback(self._reader.close)
            # The read connection never writes, so it never takes (or waits for) the write lock.
            self._reader.execute("PRAGMA query_only=ON")
            undo.pop_all()
        self._opened = True

    def _create(self) -> bool:
        """Makes a new store whole under another name, then links it into place: a process
        opening the path meanwhile finds no file or a whole store, never one being made.
        Before, a second process read the first one's new, empty file as a truncated store
        (19 of 40 concurrent openings) and advised restoring it from a backup.

        Returns whether this process's store was linked into place (not another's)."""
        # Made where a link leads: one to a file yet to be made was taken for a store another
        # process had made, and SQLite made it in place, unwarned (a review, 2026-12-06).
        target = link_target(self.path)
        staging = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            with self._sqlite_errors(), closing(sqlite3.connect(staging)) as db:
                db.isolation_level = None
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("BEGIN IMMEDIATE")
                _create_schema(db)
                _add_later_columns(db)
                db.execute("COMMIT")
                # Into the file itself before it is linked: closing checkpoints too, but says
                # nothing where that fails (a full disk), and the -wal removed below held the
                # only whole copy of the schema: every later start called the store corrupt.
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try:
                # A file system without hard links (FAT, some shares) made no store at all.
                move_into_place(staging, target, replace=False)
            except FileExistsError:
                return False  # another process made it first: theirs is the store
            return True
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{staging}{suffix}").unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        with self._sqlite_errors():
            return sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                check_same_thread=False,
                isolation_level=None,
            )

    def _check_writable(self, existed: bool) -> None:
        """Creates the store's folder; raises StoreAccessError if the service could not write.

        SQLite would open an unwritable store read-only without a word and fail at the first
        write. The folder must be writable too: the -wal and -shm files live beside the store.
        """
        folder = make_store_folder(self.path)
        targets = [(folder, "its folder")] + ([(self.path, "the file")] if existed else [])
        for path, what in targets:
            if not os.access(path, os.W_OK):  # a read-only file system says no even to root
                raise StoreAccessError(
                    f"cannot write store {self.path}: {what} is read-only (a read-only file"
                    " system, or no write permission)"
                )
        # Left by another user (a read-only user's backup, say): SQLite said only "attempt to
        # write a readonly database", of the store, which this user may write (a review,
        # 2026-12-06). Not removed: a -wal may hold the newest writes.
        target = link_target(self.path)
        for side in (Path(f"{target}-wal"), Path(f"{target}-shm")):
            if existed and exists(side, self.path) and not os.access(side, os.W_OK):
                raise StoreAccessError(
                    f"cannot write store {self.path}: {side} beside it is read-only (left by"
                    " another user, say): give this user write access to it, or run the"
                    " service as its owner"
                )

    def _open(self, check: bool) -> None:
        with self._sqlite_errors():
            if check:
                quick_check(self._db, self.path)
            empty = self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None
            if not empty:
                # Before the first write, even of the journal mode: a foreign file stays as it was.
                check_schema(self._db, self.path)
                if check:
                    orphan_check(self._db, self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
        with self._transaction() as db:
            if empty:  # IF NOT EXISTS: another process may have created it meanwhile
                _create_schema(db)
            _add_later_columns(db)

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._reader.close()
            moved = _file_identity(self.path) != self._identity
            self._db.close()
            if moved:
                self._report_log_left()

    def _report_moved(self) -> None:
        """Says, once, that writes are refused, and what to do before the stop."""
        if self._moved_reported:
            return
        self._moved_reported = True
        logger.error(
            "store %s was moved, deleted or replaced while this server ran: writes are"
            " refused; stop the server, then see what its stop logs about %s",
            self.path,
            self._log,
        )

    def _report_log_left(self) -> None:
        """Says where the writes acknowledged last before a move may be, and how to keep the
        next start from harm: SQLite's checkpoint at close skips a moved file, leaving its
        -wal under the old name (62 of 200 uploads in a review, 2026-12-06), and the next
        start there replays it into whatever file is at the path, corrupting a backup
        restored over the store. Nothing is done to the files: writing the log into the
        moved file, or renaming it, corrupted stores other servers had opened meanwhile
        (reviews, 2026-12-06)."""
        if not self._log.exists():
            return  # checkpointed, or moved along with the file
        logger.error(
            "store %s was moved, deleted or replaced while this server ran: %s may hold the"
            " writes it acknowledged last; before a server starts at %s again, stop every"
            " server on it and move %s and its -shm aside (a start replays the log into"
            " whatever file is there). They apply to the moved file only if no server has"
            " written to it since: copy it to NEW and the log to NEW-wal, then open NEW once"
            " (sqlite3 NEW 'PRAGMA integrity_check')",
            self.path,
            self._log,
            self.path,
            self._log,
        )

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        """Turns the SQLite errors an operator or a client can act on into typed errors that
        name the store."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            code = primary_code(exc)
            if code == sqlite3.SQLITE_BUSY:
                raise self._busy() from exc
            if out_of_space(exc, self.path):
                # Raw, it was INTERNAL "internal error: OperationalError" to the client.
                raise StoreFullError(
                    f"store {self.path}: its disk is full, and the write that found it stored"
                    " nothing; free space and try again"
                    if self._opened
                    # "The write" was none the caller had asked for (an operator's review).
                    else f"cannot open store {self.path}: its disk is full (SQLite writes its"
                    " -wal and -shm beside it); free space and start again"
                ) from exc
            if code == sqlite3.SQLITE_IOERR:
                # Raw, it was INTERNAL "internal error: OperationalError", a traceback logged.
                raise StoreIOError(
                    f"store {self.path}: disk I/O error ({exc.sqlite_errorname}): its file"
                    " system may have gone read-only after errors, or the disk failed; try"
                    " again once it is fixed"
                ) from exc
            if is_corruption(exc):
                raise StoreCorruptError(f"store {self.path} is corrupt ({exc}); {_ADVICE}") from exc
            if code in _ACCESS_CODES:
                raise StoreAccessError(f"cannot write store {self.path}: {exc}") from exc
            raise

    def _busy(self) -> StoreBusyError:
        return StoreBusyError(f"store {self.path} is busy (locked by another process); try again")

    @contextmanager
    def _transaction(
        self, timeout: float | None = None, ended: Ended = never
    ) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the write connection, or ROLLBACK on any exception.

        Waits at most ``busy_timeout_s`` in all, or ``timeout`` (a call's time left) where that
        is shorter, and no longer than the call waiting lasts (``ended``): first for this
        process's earlier writes, then for another process's transaction. Reads go on
        meanwhile on the read connection.

        Raises:
            StoreBusyError: the store stayed locked for ``busy_timeout_s``.
            DeadlineExceededError: it stayed locked for ``timeout``, the shorter: the caller
                has given up, and is not to find its write stored later.
            CallEndedError: the call ended while it waited (its client cancelled it): nothing
                was stored.
        """
        wait = (
            self.busy_timeout_s if timeout is None else min(max(timeout, 0.0), self.busy_timeout_s)
        )
        try:
            with self._locked_transaction(wait, ended) as db:
                yield db
        except StoreBusyError as exc:
            exc.nothing_done = True  # the transaction rolled back, or never began
            if wait < self.busy_timeout_s:
                late = DeadlineExceededError(
                    f"the deadline passed while the call waited for store {self.path}, busy"
                    " with other writes (another process's, or this server's before it): nothing"
                    " was stored"
                )
                late.nothing_done = True
                raise late from exc
            raise

    @contextmanager
    def _locked_transaction(self, wait: float, ended: Ended) -> Iterator[sqlite3.Connection]:
        """:meth:`_transaction`, waiting at most ``wait`` seconds in all for the write lock,
        and no longer than the call waiting lasts (``ended``)."""
        deadline = time.monotonic() + wait
        waiting_for = f"store {self.path}"
        refusal = functools.partial(
            StoreBusyError,
            f"store {self.path} is busy (earlier writes of this process hold it); try again",
        )
        with holding(self._write_lock, wait, ended, waiting_for, refusal), self._sqlite_errors():
            if not wait_until(self._begin, deadline - time.monotonic(), ended, waiting_for):
                raise self._busy()
            try:
                yield self._db
                self._check_in_place()
            except BaseException:
                # SQLite has rolled back itself after some errors (a full disk): another
                # ROLLBACK failed, and its error hid the one that says what happened.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _begin(self, seconds: float) -> bool:
        """BEGIN IMMEDIATE, waiting at most ``seconds`` for another process's transaction:
        whether it began."""
        self._db.execute(f"PRAGMA busy_timeout={round(seconds * 1000)}")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if primary_code(exc) == sqlite3.SQLITE_BUSY:
                return False
            raise
        return True

    def _check_in_place(self) -> None:
        """Raises StoreMovedError unless the store's path still names the file it opened.

        SQLite writes on to a file moved, deleted or replaced under it: after `mv store.sqlite
        backup/` a write was acknowledged, and after the stop it was in neither file (its
        -wal stays under the old name, where only a new store at that path reads it).
        """
        if _file_identity(self.path) != self._identity:
            self._report_moved()
            raise StoreMovedError(
                f"store {self.path} was moved, deleted or replaced since the service opened it:"
                " a write would be lost, so nothing of this request was stored; put the file"
                " back, or restart the service"
            )

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on the read connection: one snapshot for all its queries."""
        with self._read_lock, self._sqlite_errors():
            self._reader.execute("BEGIN")
            try:
                yield self._reader
            finally:
                if self._reader.in_transaction:  # an I/O error may have ended it already
                    self._reader.execute("COMMIT")

    # ---- devices -----------------------------------------------------------------------
    def register_device(
        self,
        name: str,
        aliases: Sequence[str] = (),
        descriptor: Mapping[str, float] | None = None,
        description: str = "",
        timeout: float | None = None,
        ended: Ended = never,
    ) -> DeviceRecord:
        """Adds a device; raises DeviceExistsError if its name or an alias is taken, and
        InvalidRequestError if one is given twice (the request itself is wrong). It waits for
        the store's write lock as :meth:`_transaction` does, at most ``timeout`` seconds, and
        no longer than the call waiting lasts (``ended``). Names are stored in Unicode's
        composed form (NFC): "café" typed composed and decomposed were two devices that
        printed alike (a review, 2026-12-06)."""
        name, aliases = composed(name), [composed(alias) for alias in aliases]
        wanted = [name, *aliases]
        duplicates = sorted({n for n in wanted if wanted.count(n) > 1})
        if duplicates:
            raise InvalidRequestError(f"name/alias {duplicates[0]!r} is given more than once")
        descriptor_json = json.dumps(dict(descriptor or {}), sort_keys=True)
        with self._transaction(timeout, ended) as db:
            for taken in wanted:
                owner = _lookup(db, taken)
                if owner is not None:
                    raise DeviceExistsError(f"{taken!r} is already taken by device {owner[1]!r}")
            cursor = db.execute(
                "INSERT INTO devices (name, description, descriptor, created_at)"
                " VALUES (?, ?, ?, ?)",
                (name, description, descriptor_json, time.time()),
            )
            device_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO aliases (alias, device_id) VALUES (?, ?)",
                [(alias, device_id) for alias in aliases],
            )
        return self.get(device_id)

    def resolve(self, name: str) -> DeviceRecord:
        """The device called ``name`` (name first, then alias; as given, then in its composed
        form, as names are stored); raises DeviceNotFoundError."""
        if len(name) > LONGEST_LOOKUP:
            # Near-names of one of 30 million characters took 13 s and 1.5 GB (a review,
            # 2026-12-06), and the message quoted it whole.
            raise DeviceNotFoundError(f"unknown device {name[:40]!r}...: longer than any name")
        with self._read() as db:
            found = _lookup(db, name)
            if found is None and (stored := composed(name)) != name:
                found = _lookup(db, stored)
            if found is not None:
                return _record(db, found[0])
            known = db.execute(
                "SELECT name, id FROM devices UNION ALL SELECT alias, device_id FROM aliases"
            ).fetchall()
        # Matched after the read lock, which every read of the server waits on: over 5,000
        # names one unknown name held them all 83-260 ms (a review, 2026-12-06).
        raise DeviceNotFoundError(f"unknown device {name!r}{_near_names(known, name)}")

    def get(self, device_id: int) -> DeviceRecord:
        """The device with this id."""
        with self._read() as db:
            return _record(db, device_id)

    def list_devices(self, after: str = "", limit: int = -1) -> list[DeviceRecord]:
        """The devices by name: all of them, or at most ``limit`` whose names sort after
        ``after``."""
        with self._read() as db:
            query = "SELECT id FROM devices WHERE name > ? ORDER BY name LIMIT ?"
            ids = [r[0] for r in db.execute(query, (after, limit))]
            return [_record(db, int(i)) for i in ids]

    # ---- measurements ------------------------------------------------------------------
    def add_measurements(
        self, device_id: int, rows: Sequence[MeasurementRow], request_id: str = ""
    ) -> DeviceRecord:
        """The device after :meth:`add_batch` of these arguments (for callers with no
        deadline)."""
        return self.add_batch(device_id, rows, request_id).device

    def add_batch(
        self,
        device_id: int,
        rows: Sequence[MeasurementRow],
        request_id: str = "",
        timeout: float | None = None,
        ended: Ended = never,
        check: BatchCheck | None = None,
    ) -> AddedBatch:
        """Stores ``rows`` as one batch in one transaction; returns the updated device, and
        whether the batch was stored now (told by the transaction: another process may have
        stored batches meanwhile, so the device's version cannot tell).

        An empty batch stores nothing and leaves the version unchanged, but is refused as a
        write is where the store was moved (StoreMovedError). A batch whose ``request_id`` the
        device already has is a retry of one that was stored (its answer may have been lost):
        it is not stored again; with other rows it is an error (InvalidRequestError), not a
        silent loss. It waits for the store's write lock as :meth:`_transaction` does, at most
        ``timeout`` seconds, and no longer than the call waiting lasts (``ended``).

        ``check``, where given, is called in the transaction before a new batch is stored,
        with a reader of the device's live archs in a space: what it raises refuses the batch
        against what every process has stored, not what this one has seen.
        """
        if not rows:  # a client's check that it may write: the store must be in place too
            self._check_in_place()
            return AddedBatch(self.get(device_id), stored=False)
        with self._transaction(timeout, ended) as db:
            _record(db, device_id)  # raises if the device vanished
            stored = _stored_request(db, device_id, request_id)
            if stored is not None:
                uploaded = [(r.search_space, r.arch, r.latency_ms) for r in rows]
                if (
                    stored.batch_id is None  # a deletion's, of nothing
                    or stored.deleted_archs is not None
                    or _batch_rows(db, stored.batch_id) != uploaded
                ):
                    raise _reused(request_id)
                return AddedBatch(_record(db, device_id), stored=False)
            if check is not None:
                check(lambda space: _live_archs(db, device_id, space))
            _insert_batch(db, device_id, rows, request_id)
        return AddedBatch(self.get(device_id), stored=True)

    def add_unmeasured(
        self, device_id: int, rows: Sequence[MeasurementRow]
    ) -> list[MeasurementRow]:
        """Stores, as one batch, the ``rows`` whose arch the device has no measurement of in
        its space, deleted ones included (a user's deletion is not undone); returns the rows
        stored. The check and the write are one transaction: two imports of a table at once
        stored it twice."""
        with self._transaction() as db:
            _record(db, device_id)  # raises if the device vanished
            measured = {
                (str(space), str(arch))
                for space, arch in db.execute(
                    "SELECT DISTINCT search_space, arch FROM measurements WHERE device_id = ?",
                    (device_id,),
                )
            }
            missing = [r for r in rows if (r.search_space, r.arch) not in measured]
            if missing:
                _insert_batch(db, device_id, missing)
        return missing

    def delete_batch(
        self,
        device_id: int,
        archs: Sequence[tuple[str, str]],
        request_id: str = "",
        timeout: float | None = None,
        ended: Ended = never,
        exact: Sequence[MeasurementRow] = (),
    ) -> DeletedBatch:
        """Deletes every measurement of the device of the ``(search space, canonical arch)``
        pairs ``archs``, and of the rows ``exact`` those of its arch whose latency equals the
        row's exactly, as one batch in one transaction (a tombstone: it bumps the version, and
        the measurements stay, marked with its id); returns the device after it.

        Archs and rows the device has no measurements of are no error. A deletion of nothing
        stores no batch and leaves the version unchanged; its ``request_id`` is kept apart
        (table empty_deletions), so that its retry deletes nothing either, not what was
        uploaded since. ``request_id``, ``timeout`` and ``ended`` are as :meth:`add_batch`
        takes them: a retry of a deletion deletes nothing more; the id with other archs or
        rows (in any order, repeats aside), or an upload's id, is an error
        (InvalidRequestError), and so is a deletion's id given to an upload.
        """
        if not archs and not exact:  # as add_batch: a client's check that it may write
            self._check_in_place()
            return DeletedBatch(self.get(device_id), 0, stored=False)
        wanted = sorted(set(archs))
        pairs = sorted({(r.search_space, r.arch, r.latency_ms) for r in exact})
        request = _deletion_identity(wanted, pairs)
        with self._transaction(timeout, ended) as db:
            _record(db, device_id)  # raises if the device vanished
            stored = _stored_request(db, device_id, request_id)
            if stored is not None:
                if stored.deleted_archs != request:
                    raise _reused(request_id)
                return DeletedBatch(_record(db, device_id), stored.size, stored=False)
            cursor = db.execute(
                "INSERT INTO batches (device_id, added_at, size, request_id, deleted_archs)"
                " VALUES (?, ?, 0, ?, ?)",
                (device_id, time.time(), request_id or None, request),
            )
            batch = int(cursor.lastrowid or 0)
            whole = "UPDATE measurements SET deleted_by = ?" + _ARCH_ROWS
            # One at a time, to tell which matched nothing: the client warns of those (a
            # mistyped arch, or a rounded value, among others that matched).
            counts = {
                (space, arch): db.execute(whole, (batch, device_id, space, arch)).rowcount
                for space, arch in wanted
            }
            # After the whole archs: a row they deleted is no longer live, so not counted
            # twice, nor taken for one that matched nothing.
            row_counts = {
                (space, arch, ms): db.execute(
                    whole + " AND latency_ms = ?", (batch, device_id, space, arch, ms)
                ).rowcount
                for space, arch, ms in pairs
            }
            deleted = sum(counts.values()) + sum(row_counts.values())
            unmatched_archs = frozenset(key for key, n in counts.items() if not n)
            unmatched_rows = frozenset(
                key for key, n in row_counts.items() if not n and not counts.get(key[:2])
            )
            if not deleted:  # no batch, as no upload is stored of nothing: its id apart
                db.execute("DELETE FROM batches WHERE id = ?", (batch,))
                if request_id:
                    db.execute(
                        "INSERT INTO empty_deletions"
                        " (device_id, request_id, deleted_archs, added_at) VALUES (?, ?, ?, ?)",
                        (device_id, request_id, request, time.time()),
                    )
                return DeletedBatch(
                    _record(db, device_id), 0, False, unmatched_archs, unmatched_rows
                )
            db.execute("UPDATE batches SET size = ? WHERE id = ?", (deleted, batch))
            db.execute(
                "UPDATE devices SET version = version + 1,"
                " measurement_count = measurement_count - ? WHERE id = ?",
                (deleted, device_id),
            )
        return DeletedBatch(self.get(device_id), deleted, True, unmatched_archs, unmatched_rows)

    def measurements(
        self, device_id: int, search_space: str, version: int | None = None
    ) -> tuple[list[str], np.ndarray]:
        """A device's measurements in one space: canonical archs and latencies, in insert order;
        with ``version``, those it had at that version, whatever was stored since.

        A version is the device's count of batches (each batch bumps it by one, in one
        transaction), and batch ids grow in the order they were stored: the device at version
        v is its first v batches, the measurements they stored less those they deleted. Read
        so, an answer stamped with a version is of its rows though another process (a second
        server, import-help) stores a batch after the version was read.
        """
        if version is None:
            rows = [(arch, ms) for _, arch, ms in self.measurement_rows(device_id, search_space)]
        else:
            with self._read() as db:
                rows = db.execute(
                    "WITH upto AS"
                    " (SELECT id FROM batches WHERE device_id = ? ORDER BY id LIMIT ?)"
                    " SELECT arch, latency_ms FROM measurements"
                    " WHERE device_id = ? AND search_space = ? AND batch_id IN upto"
                    " AND (deleted_by IS NULL OR deleted_by NOT IN upto)"
                    " ORDER BY id",
                    (device_id, version, device_id, search_space),
                ).fetchall()
        return [str(r[0]) for r in rows], np.array([r[1] for r in rows], dtype=np.float64)

    def measurement_rows(
        self, device_id: int, search_space: str, after: int = 0, limit: int = -1
    ) -> list[tuple[int, str, float]]:
        """``(row id, canonical arch, latency)`` of a device's measurements in one space (not
        deleted), in insert order: all of them, or at most ``limit`` whose row ids exceed
        ``after``."""
        with self._read() as db:
            rows = db.execute(
                "SELECT id, arch, latency_ms FROM measurements"
                f" WHERE device_id = ? AND search_space = ? AND id > ? AND {_LIVE}"
                " ORDER BY id LIMIT ?",
                (device_id, search_space, after, limit),
            ).fetchall()
        return [(int(i), str(arch), float(ms)) for i, arch, ms in rows]

    def holds_row(self, device_id: int, search_space: str, row: int) -> bool:
        """Whether ``row`` is a measurement row of the device in one space, deleted or not."""
        with self._read() as db:
            found = db.execute(
                "SELECT 1 FROM measurements WHERE id = ? AND device_id = ? AND search_space = ?",
                (row, device_id, search_space),
            ).fetchone()
        return found is not None

    def wholly_deleted_archs(self, device_id: int, search_space: str) -> set[str]:
        """The canonical archs of a device in one space whose measurements were all deleted
        (none measured since)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT arch FROM measurements WHERE device_id = ? AND search_space = ?"
                f" GROUP BY arch HAVING SUM({_LIVE}) = 0",
                (device_id, search_space),
            ).fetchall()
        return {str(arch) for (arch,) in rows}

    def space_counts(self) -> dict[tuple[int, str], int]:
        """(device id, search space) -> number of measurements (not deleted)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT device_id, search_space, COUNT(*) FROM measurements WHERE {_LIVE}"
                " GROUP BY device_id, search_space"
            ).fetchall()
        return {(int(d), str(s)): int(n) for d, s, n in rows}

    def table_counts(self) -> dict[str, int]:
        """Row count of every table (tests use it to check that a rejected write left no trace)."""
        with self._read() as db:
            return table_counts(db)


def _insert_batch(
    db: sqlite3.Connection, device_id: int, rows: Sequence[MeasurementRow], request_id: str = ""
) -> None:
    """Stores ``rows`` as one batch of the device, within the caller's transaction."""
    now = time.time()
    cursor = db.execute(
        "INSERT INTO batches (device_id, added_at, size, request_id) VALUES (?, ?, ?, ?)",
        (device_id, now, len(rows), request_id or None),
    )
    batch = int(cursor.lastrowid or 0)
    db.executemany(
        "INSERT INTO measurements"
        " (device_id, search_space, arch, latency_ms, added_at, batch_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(device_id, r.search_space, r.arch, r.latency_ms, now, batch) for r in rows],
    )
    db.execute(
        "UPDATE devices SET version = version + 1,"
        " measurement_count = measurement_count + ? WHERE id = ?",
        (len(rows), device_id),
    )


@contextmanager
def _blaming_a_log_left(journal: Path | None) -> Iterator[None]:
    """Names the write-ahead log ``journal`` that was beside the store at its opening where
    the store is found corrupt: a backup put in place beside the old store's log met that
    log, and the advice to restore a backup was the step just taken (an operator's review)."""
    try:
        yield
    except StoreCorruptError as exc:
        if journal is not None:
            exc.args = (
                f"{exc}; {journal} was beside it: where a backup was put in place, move the"
                " -wal and -shm beside it away and copy the backup again",
            )
        raise


def quick_check(db: sqlite3.Connection, path: Path) -> None:
    """Raises StoreCorruptError naming the store ``path`` unless ``PRAGMA quick_check`` on
    ``db`` passes (O(file size), no index cross-check): catches cut-off pages."""
    # A row may hold lines ("*** in database main ***\nPage 972: ..."): the error is one.
    problems = [
        "; ".join(line for line in str(r[0]).splitlines() if line.strip())
        for r in db.execute("PRAGMA quick_check(5)")
    ]
    if problems != ["ok"]:
        raise StoreCorruptError(
            f"store {path} failed its integrity check: {'; '.join(problems)}; {_ADVICE}"
        )


def orphan_check(db: sqlite3.Connection, path: Path) -> None:
    """Raises StoreCorruptError naming the store ``path`` where a row refers to a device (or
    batch) that is gone: a device deleted by hand in SQL, whose id SQLite then gives the next
    device registered, which took over its measurements (a review, 2026-12-06)."""
    orphan = db.execute("PRAGMA foreign_key_check").fetchone()
    if orphan is not None:
        table, row, parent, _ = orphan
        if parent == "devices":
            advice = (
                "; a device deleted by hand?): a device registered later would take them"
                f" over; delete them too, or {_ADVICE}"
            )
        else:  # an upload's record: its measurements are real
            advice = f"; deleted by hand?): {_ADVICE}"
        raise StoreCorruptError(
            f"store {path} has {table} rows whose {parent} row is gone (row {row}{advice}"
        )


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Raises StoreSchemaError naming the store ``path`` unless every table this code uses
    has all its columns in ``db``.

    Extra tables and columns are fine: stores of every earlier version pass.
    """
    for table, columns in _schema_columns().items():
        have = {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")}
        missing = [c for c in columns if c not in have]
        if missing:
            problem = f"table {table} lacks {', '.join(missing)}" if have else f"no table {table}"
            raise StoreSchemaError(f"store {path} has another schema ({problem}); {_SCHEMA_ADVICE}")


def table_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Row count of every table of the store ``db`` (a later one where it has it: a store
    not yet opened by this code, backed up, lacks it)."""
    present = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {
        table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in ("devices", "aliases", "batches", "measurements", "empty_deletions")
        if table in present
    }


def measurement_total(db: sqlite3.Connection) -> int:
    """The measurements the devices of the store ``db`` count, all together: the deleted ones
    stay in their table, but no longer count."""
    return int(db.execute("SELECT COALESCE(SUM(measurement_count), 0) FROM devices").fetchone()[0])


def primary_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of ``exc`` (of an extended one too); 0 if none."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names, or None where it names none."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


@functools.cache
def _schema_columns() -> dict[str, list[str]]:
    """Each table's columns as ``_SCHEMA`` creates them (read back from a database in memory)."""
    with closing(sqlite3.connect(":memory:")) as db:
        _create_schema(db)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [str(r[1]) for r in db.execute(f"PRAGMA table_info({t})")] for t in tables}


def _create_schema(db: sqlite3.Connection) -> None:
    _execute_script(db, _SCHEMA)


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    # One statement at a time: executescript() would commit the caller's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _add_later_columns(db: sqlite3.Connection) -> None:
    """What the schema gained after stores were made with it (none is required of a store:
    check_schema reads _SCHEMA alone, so that code of every version opens it)."""
    _execute_script(db, _LATER_TABLES)
    for table, later in _LATER_COLUMNS.items():
        columns = {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}
        for column, declaration in later.items():
            if column not in columns:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    for index in _LATER_INDEXES:
        db.execute(index)


class _StoredRequest(NamedTuple):
    batch_id: int | None  # None: a deletion that deleted nothing (no batch)
    size: int
    deleted_archs: str | None  # None: an upload


def _stored_request(
    db: sqlite3.Connection, device_id: int, request_id: str
) -> _StoredRequest | None:
    """The request the device stored under ``request_id``, if any ("": none): a batch, or a
    deletion that deleted nothing."""
    if not request_id:
        return None
    found = db.execute(
        "SELECT id, size, deleted_archs FROM batches WHERE device_id = ? AND request_id = ?"
        " UNION ALL SELECT NULL, 0, deleted_archs FROM empty_deletions"
        " WHERE device_id = ? AND request_id = ?",
        (device_id, request_id, device_id, request_id),
    ).fetchone()
    if found is None:
        return None
    batch_id = None if found[0] is None else int(found[0])
    return _StoredRequest(batch_id, int(found[1]), found[2])


def _batch_rows(db: sqlite3.Connection, batch_id: int) -> list[tuple[str, str, float]]:
    """The (space, arch, latency) rows an upload stored, in upload order."""
    rows = db.execute(
        "SELECT search_space, arch, latency_ms FROM measurements WHERE batch_id = ? ORDER BY id",
        (batch_id,),
    )
    return [(str(space), str(arch), float(ms)) for space, arch, ms in rows]


def _deletion_identity(archs: list[tuple[str, str]], exact: list[tuple[str, str, float]]) -> str:
    """What a deletion's ``deleted_archs`` holds (see _LATER_COLUMNS): sorted lists, so that a
    retry's order and repeats do not matter, and JSON's floats round-trip exactly."""
    if not exact:
        return json.dumps(archs)
    return json.dumps({"archs": archs, "measurements": exact})


def _reused(request_id: str) -> InvalidRequestError:
    """The error of a request_id the device stored another request under: no retry, and
    dropping it as one would lose it silently."""
    return InvalidRequestError(
        f"request_id {request_id!r} was used for another request to this device (an upload"
        " or a deletion); give each request an id of its own"
    )


def _lookup(db: sqlite3.Connection, name: str) -> tuple[int, str] | None:
    """(id, name) of the device ``name`` names (name first, then alias), if any."""
    row = db.execute(
        "SELECT id, name FROM devices WHERE name = ?"
        " UNION ALL SELECT d.id, d.name FROM aliases a JOIN devices d ON d.id = a.device_id"
        " WHERE a.alias = ?",
        (name, name),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


#: Names are compared for near ones by this many first characters: difflib's cost grows with
#: the square of the length (a lookup of 199 characters among 990 names of that length took
#: 4 s; of 48, about 0.2 s), and a longer name's slip past them leaves its start as typed.
NEAR_NAME_LONGEST = 48


def _near_names(known: Sequence[tuple[str, int]], name: str) -> str:
    """`` (did you mean 'pi4'?)``, naming the ``known`` ``(name or alias, device id)`` nearest
    ``name`` (one per device), or "" when none is near: a name is mistyped more often than
    unregistered, and names are case-sensitive ("PI4" is not pi4)."""
    spelled: dict[str, list[tuple[str, int]]] = {}
    for other, device in known:  # by their first characters (NEAR_NAME_LONGEST)
        key = str(other).casefold()[:NEAR_NAME_LONGEST]
        spelled.setdefault(key, []).append((str(other), int(device)))
    typed = name.casefold()
    nearest: dict[int, str] = {}  # closest first
    for key in difflib.get_close_matches(typed[:NEAR_NAME_LONGEST], spelled, n=3):
        # Names sharing those characters, the nearest in full first: one of two kept alone
        # hid the other (a review, 2026-12-06).
        for other, device in _by_nearness(spelled[key], typed):
            nearest.setdefault(device, repr(other))
    shown = list(nearest.values())[:3]
    return f" (did you mean {' or '.join(shown)}?)" if shown else ""


def _by_nearness(names: list[tuple[str, int]], typed: str) -> list[tuple[str, int]]:
    """The first 200 ``names`` (of one start), nearest ``typed`` first by their first 96
    characters, ties in their order: bounded however many names share a start (the first 8
    alone missed a 9th; a review, 2026-12-06)."""
    few, longest = names[:200], 2 * NEAR_NAME_LONGEST
    if len(few) == 1:
        return few
    ratio = difflib.SequenceMatcher(None, "", typed[:longest])  # typed is b, cached
    return sorted(few, key=lambda pair: -_ratio(ratio, pair[0].casefold()[:longest]))


def _ratio(matcher: difflib.SequenceMatcher[str], other: str) -> float:
    matcher.set_seq1(other)
    return matcher.ratio()


def _record(db: sqlite3.Connection, device_id: int) -> DeviceRecord:
    row = db.execute(
        "SELECT id, name, description, descriptor, version, measurement_count"
        " FROM devices WHERE id = ?",
        (device_id,),
    ).fetchone()
    if row is None:
        raise DeviceNotFoundError(f"no device with id {device_id}")
    aliases = [
        str(r[0])
        for r in db.execute(
            "SELECT alias FROM aliases WHERE device_id = ? ORDER BY rowid", (device_id,)
        )
    ]
    return DeviceRecord(
        id=int(row[0]),
        name=str(row[1]),
        aliases=aliases,
        descriptor={k: float(v) for k, v in json.loads(row[3]).items()},
        description=str(row[2]),
        version=int(row[4]),
        measurement_count=int(row[5]),
    )


def _live_archs(db: sqlite3.Connection, device_id: int, search_space: str) -> list[str]:
    """The canonical archs of a device's live measurements in one space, read in ``db``'s
    transaction."""
    rows = db.execute(
        f"SELECT arch FROM measurements WHERE device_id = ? AND search_space = ? AND {_LIVE}",
        (device_id, search_space),
    )
    return [str(arch) for (arch,) in rows]
