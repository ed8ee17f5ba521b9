"""A store another process has locked: a write gives up after the busy timeout as UNAVAILABLE,
storing nothing, and reads go on while it waits.

A second SQLite connection in this process stands in for the other process (``import-help``):
SQLite's file locks keep connections apart just as they keep processes apart.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from gp.spaces.nasbench201 import all_archs
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.errors import StoreBusyError
from service.server import RunningServer
from service.store import Store
from service.wording import NOTHING_DONE_KEY
from tests.helpers import assert_calls_end_at_their_deadline, assert_calls_end_when_cancelled
from tests.service.conftest import nb201

ARCHS = all_archs()
#: Long enough that a waiting write is still waiting when the test looks; never waited out.
PATIENT_S = 60.0


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds the store's write lock, as a busy ``import-help`` does, until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def on_begin(store: Store) -> threading.Event:
    """An event set when the store's write connection starts BEGIN IMMEDIATE (before it waits)."""
    began = threading.Event()

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            began.set()

    store._db.set_trace_callback(trace)
    return began


def add_request(count: int = 3) -> pb.AddMeasurementsRequest:
    measurements = [pb.Measurement(arch=nb201(a), latency_ms=5.0) for a in ARCHS[:count]]
    return pb.AddMeasurementsRequest(device="pi4", measurements=measurements)


def test_a_write_to_a_locked_store_is_unavailable_and_stores_nothing(
    server: RunningServer,
    stub: pb_grpc.LatencyEstimatorStub,
    store_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.store.busy_timeout_s = 0.1
    before = server.store.table_counts()
    with caplog.at_level(logging.INFO), locked(store_path):
        with pytest.raises(grpc.RpcError) as info:
            stub.AddMeasurements(add_request())
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value.details()
    assert (
        info.value.details() == f"store {store_path} is busy (locked by another process); try again"
    )
    # It stored nothing, and says so: a client need not say the upload may have been stored.
    assert (NOTHING_DONE_KEY, "1") in tuple(info.value.trailing_metadata())
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert server.store.table_counts() == before
    assert stub.AddMeasurements(add_request()).accepted == 3  # once the lock is gone


def test_a_write_waiting_for_the_lock_ends_at_its_deadline_and_stores_nothing(
    server: RunningServer, stub: pb_grpc.LatencyEstimatorStub, store_path: Path
) -> None:
    """Before, it waited the busy timeout (10 s by default) past its deadline, holding its
    worker (and an upload its device's lock), and stored what its caller had given up on
    once the other process let go."""
    server.store.busy_timeout_s = PATIENT_S
    before = server.store.table_counts()
    register = pb.RegisterDeviceRequest(name="late")
    with locked(store_path):
        calls = ((stub.AddMeasurements, add_request()), (stub.RegisterDevice, register))
        assert_calls_end_at_their_deadline(server, calls, timeout=0.5)
    assert server.store.table_counts() == before


@pytest.mark.parametrize("holder", ["another process", "an earlier write of this process"])
def test_a_write_without_deadline_waiting_for_the_lock_ends_when_cancelled(
    holder: str,
    server: RunningServer,
    stub: pb_grpc.LatencyEstimatorStub,
    store_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, a write whose client set no deadline and then cancelled it waited on for the
    busy timeout (10 s by default), holding its worker (and an upload its device's lock), and
    stored what its caller had given up on once the lock was free."""
    server.store.busy_timeout_s = PATIENT_S
    before = server.store.table_counts()
    register = pb.RegisterDeviceRequest(name="late")
    held = locked(store_path) if holder == "another process" else server.store._write_lock
    with caplog.at_level(logging.INFO), held:
        calls = ((stub.AddMeasurements, add_request()), (stub.RegisterDevice, register))
        assert_calls_end_when_cancelled(server, calls)
    assert server.store.table_counts() == before
    for method in ("AddMeasurements", "RegisterDevice"):
        logged = f"{method}: CANCELLED the call ended while it waited for store {store_path}:"
        assert logged in caplog.text


def test_reads_go_on_while_a_write_waits_for_the_lock(
    server: RunningServer, stub: pb_grpc.LatencyEstimatorStub, store_path: Path
) -> None:
    server.store.busy_timeout_s = PATIENT_S
    began = on_begin(server.store)
    with locked(store_path):
        write = stub.AddMeasurements.future(add_request())
        assert began.wait(PATIENT_S), "the write never started"
        device = stub.GetDevice(pb.GetDeviceRequest(name="pi4"))
        assert not write.done(), "the read waited for the write"
    assert device.name == "raspi4"
    assert write.result().device_total == device.measurement_count + 3


def test_a_write_queued_behind_a_waiting_one_gives_up_within_the_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", busy_timeout_s=PATIENT_S)
    began = on_begin(store)
    first: list[str] = []
    with locked(store.path):
        waiting = threading.Thread(target=lambda: first.append(store.register_device("a").name))
        waiting.start()
        assert began.wait(PATIENT_S), "the first write never started"
        store.busy_timeout_s = 0.05  # the queued write's whole allowance: it never gets the lock
        with pytest.raises(StoreBusyError, match=r"is busy \(earlier writes of this process"):
            store.register_device("b")
    waiting.join()
    assert first == ["a"] and [d.name for d in store.list_devices()] == ["a"]
    store.close()
