"""``kill -9`` in the middle of AddMeasurements bursts, restart, count: nothing lost, nothing half.

Writers stream batches of random sizes at a subprocess server, each batch marked by a latency
value of its own; the server is killed at a random moment and restarted, ``CYCLES`` times.
After every restart each acknowledged batch is stored exactly once and whole, and no batch at
all (acknowledged or not) is partly stored.

CI runs 2 cycles; the full run is ``LATENCY_CRASH_CYCLES=20 python -m pytest
tests/service/test_crash.py -q``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from gp.spaces.nasbench201 import all_archs
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from tests.service.conftest import ServerProcess, nb201

ARCHS = all_archs()
CYCLES = int(os.environ.get("LATENCY_CRASH_CYCLES", "2"))
WRITERS = 4
DEVICE = "crash-dev"


@dataclass
class Ledger:
    """What the clients know: acknowledged batches (marker -> size), and the ones in doubt."""

    acked: dict[float, int] = field(default_factory=dict)
    unknown: dict[float, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_marker: int = 1000

    def new_marker(self) -> float:
        with self.lock:
            self.next_marker += 1
            return float(self.next_marker)


def writer(address: str, ledger: Ledger, seed: int, stop: threading.Event) -> None:
    """Sends batches until the server dies (or ``stop``); records each outcome."""
    rng = random.Random(seed)
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.LatencyEstimatorStub(channel)
        while not stop.is_set():
            marker, size = ledger.new_marker(), rng.choice([1, 7, 50, 400, 2000])
            start = rng.randrange(len(ARCHS) - size)
            batch = [
                pb.Measurement(arch=nb201(a), latency_ms=marker)
                for a in ARCHS[start : start + size]
            ]
            request = pb.AddMeasurementsRequest(device=DEVICE, measurements=batch)
            try:
                reply = stub.AddMeasurements(request, timeout=10)
            except grpc.RpcError:
                with ledger.lock:
                    ledger.unknown[marker] = size
                return
            assert reply.accepted == size
            with ledger.lock:
                ledger.acked[marker] = size


def stored_batches(store: Path) -> list[tuple[int, int, int, float, float]]:
    """(batch id, declared size, rows, min latency, max latency) of every stored batch."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT b.id, b.size, COUNT(m.id), MIN(m.latency_ms), MAX(m.latency_ms)"
            " FROM batches b LEFT JOIN measurements m ON m.batch_id = b.id GROUP BY b.id"
        ).fetchall()
    finally:
        db.close()


def check_store(store: Path, ledger: Ledger, device_count: int) -> tuple[int, int]:
    """Asserts every acked batch whole and once, no partial batch.

    Returns:
        the rows stored, and how many unacknowledged (in-flight) batches were stored whole.
    """
    batches = stored_batches(store)
    by_marker: dict[float, int] = {}
    for batch_id, size, rows, low, high in batches:
        assert rows == size, f"batch {batch_id} is half-stored: {rows} of {size} rows"
        assert low == high, f"batch {batch_id} mixes rows of two requests"
        assert low not in by_marker, f"batch marker {low} stored twice"
        by_marker[low] = rows
    for marker, size in ledger.acked.items():
        assert by_marker.get(marker) == size, f"acknowledged batch {marker} lost"
    for marker in by_marker:  # anything else stored must be a batch whose reply was lost
        assert marker in ledger.acked or marker in ledger.unknown
    total = sum(by_marker.values())
    assert device_count == total
    return total, sum(marker in ledger.unknown for marker in by_marker)


def test_kill_9_during_add_bursts_keeps_every_acknowledged_batch(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"  # no source devices: start-up needs no model fit
    ledger = Ledger()
    rng = random.Random(0)
    server = ServerProcess(store)
    server.wait_serving()
    with grpc.insecure_channel(server.address) as channel:
        pb_grpc.LatencyEstimatorStub(channel).RegisterDevice(pb.RegisterDeviceRequest(name=DEVICE))
    for cycle in range(CYCLES):
        stop = threading.Event()
        threads = [
            threading.Thread(target=writer, args=(server.address, ledger, 100 * cycle + i, stop))
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.5, 2.0))
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server = ServerProcess(store)
        server.wait_serving()
        with grpc.insecure_channel(server.address) as channel:
            device = pb_grpc.LatencyEstimatorStub(channel).GetDevice(
                pb.GetDeviceRequest(name=DEVICE)
            )
        total, in_flight_stored = check_store(store, ledger, device.measurement_count)
        acked_rows = sum(ledger.acked.values())
        print(
            f"after kill {cycle + 1}: {len(ledger.acked)} batches ({acked_rows} rows)"
            f" acknowledged and all stored; {len(ledger.unknown)} unanswered at the kills, of"
            f" which {in_flight_stored} stored whole and the rest not at all; {total} rows"
        )
    assert server.stop(signal.SIGTERM) == 0
    assert len(ledger.acked) >= CYCLES  # the bursts did write
