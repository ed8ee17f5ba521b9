"""Online backup of the store: ``python -m service backup --store STORE OUT``.

Measurements users upload are the only data that cannot be recomputed. Copying the store's
file while a server runs can miss what is still in its ``-wal``; SQLite's backup API, read
in one step on a connection of its own, copies one snapshot of every committed batch (a WAL
reader neither waits for nor holds up the server's writes). The copy is written beside OUT
under a temporary name, checked as the service checks a store it opens, fsynced, then moved
into place (onto an OUT made meanwhile only if asked to replace it): a failure leaves neither
OUT nor the temporary file.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from service.errors import BackupError, StoreError
from service.outputs import (
    is_log_stream,
    link_target,
    output_path_problem,
    owner_writable_like,
    remove_abandoned_temporaries,
    replacing_atomically,
)
from service.store import (
    BUSY_TIMEOUT_S,
    check_header,
    check_schema,
    exists,
    is_corruption,
    journal_left,
    measurement_total,
    out_of_space,
    primary_code,
    quick_check,
    table_counts,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, counted from the copy."""

    devices: int
    measurements: int


def backup_store(store: Path, out: Path, replace: bool = False) -> BackupSummary:
    """Copies the store ``store`` (a server may be using it) to ``out``, whole or not at all.

    Raises:
        StoreError: ``store`` is missing or no store of this service (the store's own checks
            and messages), or its copy failed the integrity check.
        BackupError: ``out`` exists before the copy or when it is moved into place (unless
            ``replace``), is the store itself, or cannot be written (its folder missing, its
            disk full).
    """
    _check_paths(store, out, replace)
    # A backup killed outright (SIGKILL: a cron job's timeout, the OOM killer) left its
    # store-sized temporary file beside OUT, and backups went on piling them up there.
    remove_abandoned_temporaries(link_target(out).parent)
    logger.info("backing up store %s to %s", store, out)
    try:
        # replace: a check before the copy alone let an OUT made during it be replaced.
        with replacing_atomically(out, replace=replace) as tmp:
            _create_like(tmp, store)
            _copy(store, tmp)
            # Immutable: the copy, in WAL mode like the store, was read through a -wal and
            # -shm made beside it, which a disk with room for the copy alone could not take
            # ("disk I/O error"), and which were left there.
            with closing(
                sqlite3.connect(f"{tmp.resolve().as_uri()}?immutable=1", uri=True)
            ) as copy:
                # Named after the store: the copy is its snapshot, page for page.
                quick_check(copy, store)
                check_schema(copy, store)
                devices = table_counts(copy)["devices"]
                # As the devices count them: deleted measurements stay in their table.
                measurements = measurement_total(copy)
            _refuse_a_journal_beside(out)  # made during the copy
    except FileExistsError as exc:  # made during the copy
        raise _exists_error(out) from exc
    except (sqlite3.Error, OSError) as exc:
        raise _backup_error(exc, store, out) from exc
    return BackupSummary(devices=devices, measurements=measurements)


def _check_paths(store: Path, out: Path, replace: bool) -> None:
    """Refuses, before anything is written, a store that is missing or no SQLite file, and an
    ``out`` that cannot take the copy."""
    if not exists(store, store):
        # Not made, as serve and import-help would make a new store: there is nothing to copy.
        raise StoreError(f"no store at {store} (see --store)")
    check_header(store)
    if problem := output_path_problem(out):
        raise BackupError(problem)
    if is_log_stream(out):  # its log lines would open the copy (a review, 2026-12-06)
        raise BackupError(f"{out} is where the log goes (stderr's file): give another name")
    store_files = {Path(f"{store.resolve()}{suffix}") for suffix in ("", "-wal", "-shm")}
    try:
        resolved = out.resolve()
    except (RuntimeError, OSError):  # a loop: RuntimeError up to Python 3.12, then OSError
        raise BackupError(
            f"{out} is a symbolic link in a loop: fix it, or give another name"
        ) from None
    if resolved in store_files:
        # Replaced, the running server's file is no longer the one at the path: its writes fail.
        # Before "exists": that one's advice, --force, is refused here.
        raise BackupError(f"{out} is the store itself (or its journal): back it up elsewhere")
    if os.path.lexists(out) and not replace:
        if not out.exists():
            # exists() follows the link: the whole store was copied before the move into
            # place refused it (a review, 2026-12-07). --force writes through it, unless a
            # -wal is beside where it leads (refused first, as --force would be).
            _refuse_a_journal_beside(out)
            raise BackupError(
                f"{out} is a link to {link_target(out)}, which does not exist: give another"
                " name, or --force to write the backup there"
            )
        raise _exists_error(out)
    _refuse_a_journal_beside(out)


def _refuse_a_journal_beside(out: Path) -> None:
    """Refuses an ``out`` with a write-ahead log beside it (of a database there whose writer
    was killed, say): SQLite replays it into the copy the first time the copy is opened, and
    the backup it reported held another database's devices (a review, 2026-12-06)."""
    # Beside the file a link leads to: the copy is written there, and its log with it.
    target = link_target(out)
    if (journal := journal_left(out)) is not None:
        raise BackupError(
            f"{journal} is beside {target}: the write-ahead log of a database that was there,"
            " which SQLite would replay into the backup when it is opened; move it (and"
            f" {target.name}-shm) elsewhere, or give another name"
        )


def _exists_error(out: Path) -> BackupError:
    """The refusal of an ``out`` that exists, before the copy or made during it."""
    return BackupError(f"{out} exists: give another name, or --force to replace it")


def _create_like(path: Path, store: Path) -> None:
    """Makes the empty file ``path`` with the store's permissions (and its owner's write, which
    the copy and a restored store need): a store only its owner could read was backed up
    readable by everyone."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, owner_writable_like(store)))


def _copy(store: Path, target: Path) -> None:
    """Copies ``store`` into the new database ``target`` in one backup step: one snapshot."""
    # Read-write like the store's own reader (query_only): a read-only connection left an
    # empty -wal and -shm beside a store no server had open. mode=rw: a missing store is an
    # error, not created.
    with closing(_opened(store)) as source, closing(sqlite3.connect(target)) as copy:
        # The new file is removed if the copy fails, so it needs no rollback journal; one that
        # a full disk kept SQLite from rolling back stayed beside OUT (".<hex>.tmp-journal").
        copy.execute("PRAGMA journal_mode=OFF")
        source.backup(copy)


def _opened(store: Path) -> sqlite3.Connection:
    """A query-only connection to ``store`` that has read it.

    Raises:
        BackupError: SQLite cannot read it here: a store no server has open is read through a
            -shm made beside it, which a user who may not write there cannot make (SQLite
            said only "unable to open database file" or "attempt to write a readonly
            database").
    """
    source: sqlite3.Connection | None = None
    try:
        source = sqlite3.connect(
            f"{store.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S
        )
        source.execute("PRAGMA query_only=ON")
        source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        if source is not None:
            source.close()
        if primary_code(exc) not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            raise
        raise BackupError(
            f"cannot back up store {store}: SQLite cannot read it here ({exc}): with no server"
            " running on it, reading it needs write access to it and its folder (SQLite makes"
            " its -shm there); back it up as the store's owner, or while its server runs"
        ) from exc
    return source


def _backup_error(exc: sqlite3.Error | OSError, store: Path, out: Path) -> BackupError:
    """One line for a copy that failed: SQLite's and the file system's errors say no file."""
    if isinstance(exc, OSError):
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    else:
        full = primary_code(exc) == sqlite3.SQLITE_FULL
        if not full and out_of_space(exc, store):
            # SQLite reads a store through a -shm file it makes beside it: this was blamed on
            # a failing disk, where the operator most wants a backup (a review, 2026-12-06).
            return BackupError(
                f"cannot back up store {store}: its disk is full, and reading it needs room"
                " beside it for SQLite's -shm file; free space there (with no server running,"
                " a copy of the file alone is a backup too); no backup was written"
            )
    if full:
        return BackupError(f"{out}: its disk is full, so no backup was written; free space")
    if isinstance(exc, sqlite3.Error) and is_corruption(exc):  # serve's words for it, not SQLite's
        return BackupError(f"store {store} is corrupt ({exc}); no backup was written")
    reason = exc.strerror if isinstance(exc, OSError) else str(exc)
    return BackupError(f"cannot back up store {store} to {out}: {reason}; no backup was written")
