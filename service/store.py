"""SQLite store of devices, aliases and measurements (one file, WAL, fsync on commit).

``synchronous=FULL`` in WAL mode fsyncs the log on every commit, so a write the service has
acknowledged survives ``kill -9`` and power loss. Every write is one transaction: a batch of
measurements is stored completely or not at all.

Names and aliases share one case-sensitive namespace: a device's name resolves like an alias.
Each device carries a version counter, bumped by every stored batch; the model version the
service reports is built from it.

Opening an existing file checks it first (header, then ``PRAGMA quick_check``): a truncated or
corrupt store raises :class:`StoreCorruptError` naming the file, and is never recreated over,
because its measurements cost hours of device time.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from service.errors import DeviceExistsError, DeviceNotFoundError, StoreCorruptError

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
#: A SQLite file starts with a 100-byte header; a shorter (or empty) store file was cut off.
SQLITE_HEADER_BYTES = 100
_CORRUPTION_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
_ADVICE = "restore it from a backup, or move it away to start an empty store"

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
# Added later: stores made before it get the column when opened (see Store._create_schema).
_REQUEST_ID_COLUMN = "ALTER TABLE batches ADD COLUMN request_id TEXT"
_REQUEST_ID_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS batches_by_request ON batches(device_id, request_id)"
    " WHERE request_id IS NOT NULL"
)


def check_header(path: Path) -> None:
    """Raises StoreCorruptError unless ``path`` starts with a whole SQLite header."""
    try:
        with path.open("rb") as file:
            header = file.read(SQLITE_HEADER_BYTES)
    except OSError as exc:
        raise StoreCorruptError(f"cannot read store {path}: {exc}") from None
    if len(header) < SQLITE_HEADER_BYTES:
        # The service never leaves a file this short (it writes the schema at creation).
        raise StoreCorruptError(
            f"store {path} is truncated ({len(header)} bytes, shorter than a SQLite header);"
            f" {_ADVICE}"
        )
    if not header.startswith(SQLITE_MAGIC):
        raise StoreCorruptError(f"store {path} is not a SQLite database (bad header); {_ADVICE}")


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


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement to store: canonical arch string of ``search_space`` and its latency."""

    search_space: str
    arch: str
    latency_ms: float


class Store:
    """Thread-safe access to one SQLite file (one connection behind a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        existed = self.path.exists()
        if existed:
            check_header(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._open(check=existed)
        except BaseException:
            self._db.close()
            raise

    def _open(self, check: bool) -> None:
        try:
            self._db.execute("PRAGMA busy_timeout=10000")
            if check:
                self._quick_check()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction():
                self._create_schema()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") not in _CORRUPTION_CODES:
                raise
            raise StoreCorruptError(f"store {self.path} is corrupt ({exc}); {_ADVICE}") from exc

    def _quick_check(self) -> None:
        """``PRAGMA quick_check`` (O(file size), no index cross-check): catches cut-off pages."""
        problems = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreCorruptError(
                f"store {self.path} failed its integrity check: {'; '.join(problems)}; {_ADVICE}"
            )

    def _create_schema(self) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)
        columns = {str(row[1]) for row in self._db.execute("PRAGMA table_info(batches)")}
        if "request_id" not in columns:
            self._db.execute(_REQUEST_ID_COLUMN)
        self._db.execute(_REQUEST_ID_INDEX)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ---- devices -----------------------------------------------------------------------
    def register_device(
        self,
        name: str,
        aliases: Sequence[str] = (),
        descriptor: Mapping[str, float] | None = None,
        description: str = "",
    ) -> DeviceRecord:
        """Adds a device; raises DeviceExistsError if its name or an alias is taken."""
        wanted = [name, *aliases]
        duplicates = sorted({n for n in wanted if wanted.count(n) > 1})
        if duplicates:
            raise DeviceExistsError(f"name/alias {duplicates[0]!r} is given more than once")
        descriptor_json = json.dumps(dict(descriptor or {}), sort_keys=True)
        with self._transaction() as db:
            for taken in wanted:
                owner = self._lookup(taken)
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
        return self._record(device_id)

    def _lookup(self, name: str) -> tuple[int, str] | None:
        """(id, name) of the device ``name`` names (name first, then alias), if any."""
        row = self._db.execute(
            "SELECT id, name FROM devices WHERE name = ?"
            " UNION ALL SELECT d.id, d.name FROM aliases a JOIN devices d ON d.id = a.device_id"
            " WHERE a.alias = ?",
            (name, name),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def resolve(self, name: str) -> DeviceRecord:
        """The device called ``name`` (name first, then alias); raises DeviceNotFoundError."""
        with self._lock:
            found = self._lookup(name)
            if found is None:
                raise DeviceNotFoundError(f"unknown device {name!r}")
            return self._record(found[0])

    def get(self, device_id: int) -> DeviceRecord:
        """The device with this id."""
        with self._lock:
            return self._record(device_id)

    def list_devices(self) -> list[DeviceRecord]:
        """Every device, by name."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM devices ORDER BY name")]
            return [self._record(int(i)) for i in ids]

    def _record(self, device_id: int) -> DeviceRecord:
        row = self._db.execute(
            "SELECT id, name, description, descriptor, version, measurement_count"
            " FROM devices WHERE id = ?",
            (device_id,),
        ).fetchone()
        if row is None:
            raise DeviceNotFoundError(f"no device with id {device_id}")
        aliases = [
            str(r[0])
            for r in self._db.execute(
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

    # ---- measurements ------------------------------------------------------------------
    def add_measurements(
        self, device_id: int, rows: Sequence[MeasurementRow], request_id: str = ""
    ) -> DeviceRecord:
        """Stores ``rows`` as one batch in one transaction; returns the updated device.

        An empty batch stores nothing and leaves the version unchanged. A batch whose
        ``request_id`` the device already has is a retry of one that was stored (its answer
        may have been lost): it is not stored again.
        """
        if not rows:
            return self.get(device_id)
        now = time.time()
        with self._transaction() as db:
            self._record(device_id)  # raises if the device vanished
            if request_id and self._has_batch(device_id, request_id):
                logger.info("request %s was stored before: not stored again", request_id)
                return self._record(device_id)
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
        return self.get(device_id)

    def _has_batch(self, device_id: int, request_id: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM batches WHERE device_id = ? AND request_id = ?", (device_id, request_id)
        ).fetchone()
        return found is not None

    def measurements(self, device_id: int, search_space: str) -> tuple[list[str], np.ndarray]:
        """A device's measurements in one space: canonical archs and latencies, in insert order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT arch, latency_ms FROM measurements"
                " WHERE device_id = ? AND search_space = ? ORDER BY id",
                (device_id, search_space),
            ).fetchall()
        return [str(r[0]) for r in rows], np.array([r[1] for r in rows], dtype=np.float64)

    def space_counts(self) -> dict[tuple[int, str], int]:
        """(device id, search space) -> number of measurements."""
        with self._lock:
            rows = self._db.execute(
                "SELECT device_id, search_space, COUNT(*) FROM measurements"
                " GROUP BY device_id, search_space"
            ).fetchall()
        return {(int(d), str(s)): int(n) for d, s, n in rows}

    def table_counts(self) -> dict[str, int]:
        """Row count of every table (tests use it to check that a rejected write left no trace)."""
        with self._lock:
            return {
                table: int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("devices", "aliases", "batches", "measurements")
            }
