"""Tells a server started on a store that another server already serves it.

Two servers on one store stay consistent (SQLite's locks; each reads a device's version from
the store before answering), but each fits, caches and refits its own model, and each counts
its own limits (concurrent suggestions, RPCs): started by mistake, the second doubled the
memory and the fitting work, and said nothing of the first (an operator's review). A lock
file beside the store, ``<store>.lock``, held while a server runs, lets the next one say so.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from service.outputs import owner_writable_like

logger = logging.getLogger(__name__)


def serving_lock_path(store_path: Path) -> Path:
    """The lock file a server holds beside the store it serves."""
    return Path(f"{store_path}.lock")


class ServingLock:
    """The lock on a store that a running server holds; :meth:`release` when it stops."""

    def __init__(self, store_path: Path, address: str) -> None:
        """Takes the store's lock, or warns that another server (named by the lock file)
        holds it. A folder where the lock file cannot be made only loses the warning."""
        self.path = serving_lock_path(store_path)
        self._file: IO[str] | None = None
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, owner_writable_like(store_path))
        except OSError as exc:
            logger.debug("no lock beside the store (%s): another server would not be told", exc)
            return
        file = os.fdopen(descriptor, "r+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = file.read().strip() or "a server"
            file.close()
            logger.warning(
                "another server serves this store (%s, %s): both answer from its data, but"
                " each fits and holds its own model; stop one of them unless that is meant",
                holder,
                self.path,
            )
            return
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
        self.path.unlink(missing_ok=True)
        self._file.close()
        self._file = None
