"""Tells a server started on a store that another server already serves it.

Two servers on one store stay consistent (SQLite's locks; each reads a device's version from
the store before answering), but each fits, caches and refits its own model, and each counts
its own limits (concurrent suggestions, RPCs): started by mistake, the second doubled the
memory and the fitting work, and said nothing of the first (an operator's review). A lock
file beside the store's real file, ``<store>.lock``, held while a server runs, lets the next
one say so.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from service.outputs import beside_real_file, owner_writable_like

logger = logging.getLogger(__name__)


def serving_lock_path(store_path: Path) -> Path:
    """The lock file a server holds beside the store it serves (its real file: a server
    started through a link to it finds the same lock)."""
    return beside_real_file(store_path, ".lock")


class ServingLock:
    """The lock on a store that a running server holds; :meth:`release` when it stops."""

    def __init__(self, store_path: Path, address: str) -> None:
        """Takes the store's lock, or warns that another server (named by the lock file)
        holds it. A folder where the lock file cannot be made only loses the warning."""
        self.path = serving_lock_path(store_path)
        self._file: IO[str] | None = None
        file = self._locked(owner_writable_like(store_path))
        if file is not None:
            file.truncate(0)
            file.write(f"pid {os.getpid()}, {address}\n")
            file.flush()
            self._file = file

    @property
    def held(self) -> bool:
        """Whether this server holds the lock (it warned otherwise)."""
        return self._file is not None

    def release(self) -> None:
        """Removes the lock file and lets go of it: a server that stops leaves nothing."""
        if self._file is None:
            return
        # Unlinked before it is let go: a start that opens it meanwhile still finds it held.
        # Only while it is this server's file: one removed by hand may be another's by now.
        if _names(self.path, self._file):
            self.path.unlink(missing_ok=True)
        self._file.close()
        self._file = None

    def _locked(self, mode: int) -> IO[str] | None:
        """The lock file, opened and locked by this server; None where another holds it (said)
        or it cannot be made."""
        while True:
            try:
                file = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, mode), "r+")
            except PermissionError:  # another user's lock: it still tells whether theirs runs
                self._warn_if_held()
                return None
            except OSError as exc:
                _no_lock_file(exc)
                return None
            if not _took(file, fcntl.LOCK_EX):
                self._warn(file)
                return None
            if _names(self.path, file):
                return file
            # Locked once a stopping server had removed it: a file no later start would find.
            file.close()

    def _warn_if_held(self) -> None:
        """Warns where another process holds the lock file this server may only read."""
        try:
            file = open(self.path)  # noqa: SIM115 - closed below or by _warn
        except OSError as exc:
            _no_lock_file(exc)
            return
        if _took(file, fcntl.LOCK_SH):
            file.close()
            # Left by another user's server that was killed: this one cannot take it over.
            logger.debug("the lock %s is another user's, held by none: not taken", self.path)
        else:
            self._warn(file)

    def _warn(self, file: IO[str]) -> None:
        """Says which server holds the lock ``file`` (its text), and closes it."""
        with file:
            holder = file.read().strip() or "a server"
        logger.warning(
            "another server serves this store (%s, %s): both answer from its data, but each"
            " fits and holds its own model; stop one of them unless that is meant",
            holder,
            self.path,
        )


def _no_lock_file(error: OSError) -> None:
    """Says (at debug level: serving goes on) that the lock file could not be opened."""
    logger.debug("no lock beside the store (%s): another server is not told", error)


def _took(file: IO[str], lock: int) -> bool:
    """Whether ``lock`` on ``file`` was taken at once (not held by another process)."""
    try:
        fcntl.flock(file, lock | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _names(path: Path, file: IO[str]) -> bool:
    """Whether ``path`` still names the open ``file`` (a stopping server removes it)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(file.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
