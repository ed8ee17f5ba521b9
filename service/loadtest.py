"""Load test: many concurrent clients mixing Predict, SuggestSamples and AddMeasurements.

``python -m service.loadtest --clients 32 --duration 60 --json load.json`` copies the store
(``--store``, default the service's own) to a temporary directory, serves the copy from a
subprocess on a loopback port, and drives it from ``--clients`` threads, each on its own
channel, for ``--duration`` seconds. Afterwards it checks that every acknowledged measurement
is stored exactly once (the multiset of latencies on the test's devices equals the
acknowledged one), reports p50/p99 latency per RPC and the server's RSS, and exits 1 on any
RPC error (a busy server's answer, which the client library retries, is counted apart), an RPC
of which no call was served, a count mismatch, or RSS growth above ``--max-rss-growth`` (10%)
from just after the warm-up to the end of the run (medians of the first and the last third of
the samples after the warm-up).
``--address`` drives a running loopback server instead (counts are then checked over the API
only, and its RSS not at all: it is not the test's process to sample): its test devices
and their random latencies stay in that server's store, as no RPC deletes a device.

The writes go to devices the test registers (``loadtest-<run>-<k>``) and preloads with 1,000
measurements each (a posterior's conditioning cap), so the store's own devices are only read
and the run sees the steady state of devices in long use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import numpy as np
import psutil

from gp.spaces.nasbench201 import all_archs
from service import probe
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.addresses import address_problem
from service.auth import load_token
from service.backup import backup_store
from service.config import ServiceConfig
from service.errors import ConfigError, ServerExitedError, StoreError
from service.interrupts import sigterm_as_interrupt
from service.outputs import output_path_problem, write_atomically
from service.server import is_loopback
from service.store import check_header
from service.wording import is_busy_answer, quantity

logger = logging.getLogger(__name__)

NB201 = "nasbench201"
#: Share of each RPC in the mix, and the size of its requests.
MIX = {"Predict": 0.5, "SuggestSamples": 0.2, "AddMeasurements": 0.3}
PREDICT_ARCHS = 50
SUGGEST_CANDIDATES = 200
SUGGEST_COUNT = 3
ADD_BATCH = 5
TARGETS = 4
#: Measurements each test device gets before the clients start: as many as a posterior is
#: conditioned on (``max_conditioning``), so the run measures the steady state of a device in
#: long use rather than posteriors growing from nothing.
PRELOAD = 1000
#: The share of the samples after the warm-up whose median is the baseline, and likewise the
#: end value. A third, not a few seconds: single samples swing by 10-20% as requests allocate
#: and free their matrices, and the 5 s medians this check used before moved by -3.6% to +17.1%
#: over five 60 s runs of a steady server (its live memory flat), failing one, where thirds of
#: those runs' samples and of two more moved by -6.9% to +7.5% (2026-12-07). A leak shows two
#: thirds of its growth over the run.
RSS_WINDOW_SHARE = 1 / 3
#: Distinct error messages a client keeps (all are counted by RPC and status).
MESSAGES_KEPT = 20


@dataclass
class LoadSettings:
    """One load run.

    Attributes:
        clients: concurrent client threads (one channel each).
        duration_s: how long they call, warm-up included.
        warmup_s: the first seconds, after which the RSS baseline is taken.
        store: the store to copy and serve (ignored with ``address``).
        address: a running loopback server to drive instead of starting one.
        max_rss_growth: allowed RSS growth from the end of the warm-up; None: not checked.
        seed: the clients' random choices.
        timeout_s: per-RPC deadline.
        start_timeout_s: how long the started server may take to report SERVING.
    """

    clients: int = 32
    duration_s: float = 60.0
    warmup_s: float = 10.0
    store: Path | None = None
    address: str | None = None
    max_rss_growth: float | None = 0.10
    seed: int = 0
    timeout_s: float = 60.0
    start_timeout_s: float = 600.0


@dataclass
class RpcStats:
    """Latency figures of one RPC (milliseconds; None when it was never called): of the calls
    answered or failed; ``busy``: those a busy server turned away besides (the back-pressure it
    is built with, not an error), neither timed nor in ``calls``."""

    calls: int
    errors: int
    busy: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass
class LoadReport:
    """What a run measured and whether it passed."""

    clients: int
    duration_s: float
    rpcs: dict[str, RpcStats]
    errors: list[str]
    acknowledged_batches: int
    acknowledged_measurements: int  # preloaded ones included
    stored_measurements: int
    counts_ok: bool
    count_problems: list[str]
    rss_start_mb: float | None = None
    rss_after_warmup_mb: float | None = None
    rss_end_mb: float | None = None
    rss_max_mb: float | None = None
    rss_growth: float | None = None
    rss_ok: bool = True
    rss_samples_mb: list[float] = field(default_factory=list)
    preloaded_measurements: int = 0
    server_codes: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unserved and self.counts_ok and self.rss_ok

    @property
    def unserved(self) -> list[str]:
        """The RPCs of the mix of which no call was served: the run did not test them (a busy
        server may have turned every one away), and had passed all the same."""
        return [method for method, stats in self.rpcs.items() if stats.calls == 0]

    @property
    def throughput(self) -> float:
        return sum(s.calls for s in self.rpcs.values()) / self.duration_s


# ---- the server under test ---------------------------------------------------------------------
def free_ports(count: int) -> list[int]:
    """``count`` different loopback ports free now: each socket is held until all are chosen,
    as one closed may be handed out again at once."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


def copy_store(source: Path, folder: Path) -> Path:
    """A consistent copy of the SQLite store (as ``service backup`` makes it) and its model
    cache files."""
    target = folder / source.name
    backup_store(source, target)
    for extra in source.parent.glob(f"{source.name}.model.pt*"):
        shutil.copy2(extra, folder / extra.name)
    return target


_SERVER_ONLY_ENV = frozenset(
    {"LATENCY_ADDRESS", "LATENCY_TLS_CERT", "LATENCY_TLS_KEY", "LATENCY_METRICS_ADDRESS"}
)


class ServedCopy:
    """``python -m service serve`` over a store copy, loopback port, metrics on."""

    def __init__(self, store: Path, folder: Path) -> None:
        self.store = copy_store(store, folder)
        port, metrics_port = free_ports(2)
        self.address = f"127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.log = folder / "server.log"
        metrics = self.metrics_url.removeprefix("http://").removesuffix("/metrics")
        command = [sys.executable, "-m", "service", "serve", "--address", self.address]
        command += ["--store", str(self.store), "--metrics-address", metrics]
        repo = Path(__file__).resolve().parents[1]
        path = [str(repo), *filter(None, [os.environ.get("PYTHONPATH")])]
        # Plaintext on the loopback port chosen here; a configured token still applies.
        env = {k: v for k, v in os.environ.items() if k not in _SERVER_ONLY_ENV}
        env["PYTHONPATH"] = os.pathsep.join(path)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


#: How long ``--address`` may go unanswered: a server still fitting answers (NOT_SERVING), so
#: silence means a wrong address, which waited the whole start timeout (10 min) unsaid.
UNREACHABLE_WAIT_S = 30.0


class NotServingError(RuntimeError):
    """The server to drive never reported SERVING: one line for the command line."""


def wait_serving(address: str, timeout_s: float, server: ServedCopy | None = None) -> None:
    def exited() -> bool:
        return server is not None and server.process.poll() is not None

    def log_tail() -> str:
        return server.tail() if server is not None else ""

    with grpc.insecure_channel(address) as channel:
        if server is None:
            logger.info("waiting for %s to report SERVING", address)
            try:
                grpc.channel_ready_future(channel).result(timeout=UNREACHABLE_WAIT_S)
            except grpc.FutureTimeoutError:
                raise NotServingError(
                    f"--address {address}: nothing answers there within"
                    f" {UNREACHABLE_WAIT_S:.0f} s; is the server running on that port?"
                ) from None
        try:
            probe.wait_serving(channel, timeout_s, exited)
        except ServerExitedError:
            raise NotServingError(f"the server exited at start-up:\n{log_tail()}") from None
        except TimeoutError:
            raise NotServingError(f"{address}: no SERVING within {timeout_s:.0f} s") from None


# ---- the clients -------------------------------------------------------------------------------
@dataclass
class Outcome:
    """One client's record: latencies by RPC, errors (by "RPC STATUS", and by message: at most
    MESSAGES_KEPT distinct ones), busy answers by RPC, acknowledged latencies by device."""

    latency_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_counts: Counter[str] = field(default_factory=Counter)
    busy: Counter[str] = field(default_factory=Counter)
    acked: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    batches: int = 0


Metadata = tuple[tuple[str, str], ...]


def auth_metadata() -> Metadata:
    """``authorization: Bearer ...`` when LATENCY_TOKEN(_FILE) is set, as the server reads it."""
    token = load_token(ServiceConfig.from_env())
    return (("authorization", f"Bearer {token}"),) if token else ()


class Client:
    """Calls a random mix of RPCs until ``until`` (a monotonic time)."""

    def __init__(
        self,
        address: str,
        targets: Sequence[str],
        readable: Sequence[str],
        seed: int,
        metadata: Metadata = (),
    ) -> None:
        self.address = address
        self.metadata = metadata
        self.targets = list(targets)
        self.readable = list(readable)
        self.rng = random.Random(seed)
        self.archs = all_archs()
        self.outcome = Outcome()

    def run(self, until: float, timeout_s: float) -> None:
        names, weights = list(MIX), list(MIX.values())
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.LatencyEstimatorStub(channel)
            while time.monotonic() < until:
                method = self.rng.choices(names, weights)[0]
                self._call(stub, method, timeout_s)

    def _nb201(self, count: int) -> list[pb.Architecture]:
        return [
            pb.Architecture(search_space=NB201, arch=a) for a in self.rng.sample(self.archs, count)
        ]

    def _call(self, stub: pb_grpc.LatencyEstimatorStub, method: str, timeout_s: float) -> None:
        device, acked = self.rng.choice(self.targets), None
        if method == "Predict":
            device = self.rng.choice(self.readable)
            request: object = pb.PredictRequest(device=device, archs=self._nb201(PREDICT_ARCHS))
        elif method == "SuggestSamples":
            request = pb.SuggestSamplesRequest(
                device=device,
                count=SUGGEST_COUNT,
                candidates=self._nb201(SUGGEST_CANDIDATES),
                strategy=self.rng.choice(["active", "random"]),
                seed=self.rng.randrange(2**31),
            )
        else:
            acked = [self.rng.uniform(2.0, 50.0) for _ in range(ADD_BATCH)]
            measurements = [
                pb.Measurement(arch=a, latency_ms=x)
                for a, x in zip(self._nb201(ADD_BATCH), acked, strict=True)
            ]
            request = pb.AddMeasurementsRequest(device=device, measurements=measurements)
        started = time.perf_counter()
        try:
            getattr(stub, method)(request, timeout=timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            if not self._turned_away(method, exc):  # a refusal is no call served, nor timed
                self.outcome.latency_s[method].append(time.perf_counter() - started)
                self._failed(method, exc)
            return
        self.outcome.latency_s[method].append(time.perf_counter() - started)
        if acked is not None:
            self.outcome.acked[device].extend(acked)
            self.outcome.batches += 1

    def _turned_away(self, method: str, exc: grpc.RpcError) -> bool:
        """Counts a busy server's answer: a server as loaded as this test makes it turns
        suggestions away, as built to, and the client library retries them. They had failed
        the run (17 of 271 on a slow day)."""
        busy = is_busy_answer(exc.code().name, exc.details() or "")
        self.outcome.busy[method] += busy
        return busy

    def _failed(self, method: str, exc: grpc.RpcError) -> None:
        code, details = exc.code().name, exc.details() or ""
        key = f"{method} {code}"
        self.outcome.error_counts[key] += 1
        message = f"{key}: {details}"
        if message in self.outcome.errors or len(self.outcome.errors) < MESSAGES_KEPT:
            self.outcome.errors[message] += 1


class RssSampler(threading.Thread):
    """Samples a process's resident set size once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.process.memory_info().rss))
            except psutil.Error:
                return
            self.stop.wait(1.0)

    def first_and_last_medians(self, since: float, share: float) -> tuple[float, float]:
        """Median RSS over the first and over the last ``share`` of the samples taken from
        ``since`` on (at least one each; the last sample where none was taken since)."""
        after = [rss for t, rss in self.samples if t >= since] or [self.samples[-1][1]]
        count = max(1, round(share * len(after)))
        return float(np.median(after[:count])), float(np.median(after[-count:]))


# ---- the run -----------------------------------------------------------------------------------
def run_load(settings: LoadSettings) -> LoadReport:
    """Starts (or connects to) the server, drives it, checks the counts; see the module doc."""
    if problem := settings_problem(settings):
        raise ValueError(problem)
    with tempfile.TemporaryDirectory(prefix="latency-load-") as folder:
        server = None
        if settings.address is None:
            server = ServedCopy(served_store(settings), Path(folder))
            address = server.address
        else:
            address = settings.address
        try:
            wait_serving(address, settings.start_timeout_s, server)
            return _drive(settings, address, server)
        finally:
            if server is not None:
                server.stop()


def served_store(settings: LoadSettings) -> Path:
    """The store a run copies and serves: ``settings.store`` or the service's own."""
    return Path(settings.store or ServiceConfig.from_env().store_path)


def settings_problem(settings: LoadSettings) -> str | None:
    """Why ``settings`` cannot make a run, or None; checked before anything starts."""
    try:  # the service's own, which the served copy and the clients' token come from
        ServiceConfig.from_env()
    except ConfigError as exc:
        return str(exc)
    return _server_problem(settings) or _load_problem(settings)


def _server_problem(settings: LoadSettings) -> str | None:
    """Why the server ``settings`` name (a store to serve, or a running one) cannot be driven."""
    if settings.address is not None:
        if problem := address_problem(settings.address):
            return f"--address {problem}"
        if not is_loopback(settings.address):
            return f"the load test only drives loopback servers, not {settings.address}"
        return None
    store = served_store(settings)
    if not store.is_file():
        return f"no store at {store} (see --store; import-help builds one)"
    try:  # as serve does: copying another kind of file failed in a traceback
        check_header(store)
    except StoreError as exc:
        return str(exc)
    return None


def _load_problem(settings: LoadSettings) -> str | None:
    """Why the load ``settings`` describe (clients, durations, the RSS bound) makes no run."""
    if settings.clients < 1:
        return f"--clients {settings.clients}: at least one client is needed"
    if not (math.isfinite(settings.duration_s) and settings.duration_s > 0):
        return f"--duration {settings.duration_s:g}: expected a positive number of seconds"
    if not 0 <= settings.warmup_s < settings.duration_s:
        # No sample would fall in the baseline's window: it silently became the whole run's
        # median, and the RSS check compared the end with itself.
        return (
            f"--warmup {settings.warmup_s:g} must be shorter than --duration"
            f" {settings.duration_s:g} (and not negative)"
        )
    growth = settings.max_rss_growth
    if growth is not None and not (math.isfinite(growth) and growth >= 0):
        return f"--max-rss-growth {growth:g}: expected a fraction >= 0 (0.1 is 10%)"
    return None


class SetupRefusedError(Exception):
    """The server refused the test's setup (its devices and their preload), before any load."""


def _drive(settings: LoadSettings, address: str, server: ServedCopy | None) -> LoadReport:
    run = f"loadtest-{os.getpid()}-{int(time.time())}"
    metadata = auth_metadata()
    targets = [f"{run}-{k}" for k in range(TARGETS)]
    try:
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.LatencyEstimatorStub(channel)
            existing = [d.name for d in stub.ListDevices(pb.ListDevicesRequest()).devices]
            preloaded = {
                name: _preload(stub, name, settings.seed + k, metadata)
                for k, name in enumerate(targets)
            }
    except grpc.RpcError as exc:  # a write token this shell lacks, a smaller LATENCY_MAX_BATCH
        code, details = exc.code(), exc.details()  # type: ignore[attr-defined]
        raise SetupRefusedError(
            f"{address} refused the test's setup ({code.name}: {details})"
        ) from None
    readable = targets + existing[:8]
    sampler = RssSampler(server.pid) if server is not None else None
    if sampler is not None:
        sampler.start()
    clients = [
        Client(address, targets, readable, settings.seed * 1000 + i, metadata)
        for i in range(settings.clients)
    ]
    started = time.monotonic()
    until = started + settings.duration_s
    # Daemons: after Ctrl-C, the process ended only once every client had called until the
    # end of --duration (against the server stopped by then).
    threads = [
        threading.Thread(target=c.run, args=(until, settings.timeout_s), daemon=True)
        for c in clients
    ]
    logger.info("%d clients for %.0f s against %s", len(clients), settings.duration_s, address)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if sampler is not None:
        sampler.stop.set()
        sampler.join()
    report = _report(settings, clients, elapsed)
    report.preloaded_measurements = sum(len(v) for v in preloaded.values())
    report.acknowledged_measurements += report.preloaded_measurements
    if server is not None:
        report.server_codes = _server_codes(server.metrics_url)
    _check_counts(report, address, preloaded, clients, server)
    if sampler is not None and sampler.samples:
        _rss(report, sampler, started + settings.warmup_s, settings.max_rss_growth)
    return report


def _preload(
    stub: pb_grpc.LatencyEstimatorStub, name: str, seed: int, metadata: Metadata
) -> list[float]:
    """Registers a test device and stores PRELOAD measurements; returns their latencies."""
    stub.RegisterDevice(pb.RegisterDeviceRequest(name=name), metadata=metadata)
    # A stream of its own: a client seeded alike would otherwise draw the preloaded archs
    # as its candidates, every one of them measured.
    rng = random.Random(f"preload-{seed}")
    archs = rng.sample(all_archs(), PRELOAD)
    latencies = [rng.uniform(2.0, 50.0) for _ in archs]
    for start in range(0, PRELOAD, 500):
        measurements = [
            pb.Measurement(arch=pb.Architecture(search_space=NB201, arch=a), latency_ms=x)
            for a, x in zip(archs[start : start + 500], latencies[start : start + 500], strict=True)
        ]
        request = pb.AddMeasurementsRequest(device=name, measurements=measurements)
        stub.AddMeasurements(request, metadata=metadata)
    return latencies


def _report(settings: LoadSettings, clients: Sequence[Client], elapsed: float) -> LoadReport:
    latency: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for client in clients:
        for method, seconds in client.outcome.latency_s.items():
            latency[method].extend(seconds)
        errors.update(client.outcome.error_counts)
        busy.update(client.outcome.busy)
        messages.update(client.outcome.errors)
    rpcs = {}
    for method in MIX:
        if not latency.get(method):
            # NaN figures would make the --json report invalid JSON (and print "nan").
            # Failures are timed; refusals are not, and may be all there was.
            rpcs[method] = RpcStats(0, 0, busy[method], None, None, None, None)
            continue
        latency_ms = np.array(latency[method]) * 1e3
        failed = sum(n for key, n in errors.items() if key.startswith(f"{method} "))
        p50, p90, p99 = np.percentile(latency_ms, [50, 90, 99])
        figures = (p50, p90, p99, latency_ms.max())
        rpcs[method] = RpcStats(len(latency_ms), failed, busy[method], *figures)
    batches = sum(c.outcome.batches for c in clients)
    acked = sum(len(v) for c in clients for v in c.outcome.acked.values())
    return LoadReport(
        clients=settings.clients,
        duration_s=elapsed,
        rpcs=rpcs,
        # Each message once, with its count: one busy answer 17 times had filled the line.
        errors=[f"{m} ({n}x)" if n > 1 else m for m, n in messages.most_common(MESSAGES_KEPT)],
        acknowledged_batches=batches,
        acknowledged_measurements=acked,
        stored_measurements=0,
        counts_ok=False,
        count_problems=[],
    )


def _check_counts(
    report: LoadReport,
    address: str,
    preloaded: dict[str, list[float]],
    clients: Sequence[Client],
    server: ServedCopy | None,
) -> None:
    """Every acknowledged measurement stored once: via the API, then in the store file."""
    targets = list(preloaded)
    acked: dict[str, Counter[float]] = {name: Counter(v) for name, v in preloaded.items()}
    for client in clients:
        for device, values in client.outcome.acked.items():
            acked[device].update(values)
    problems = []
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.LatencyEstimatorStub(channel)
        for name in targets:
            count = stub.GetDevice(pb.GetDeviceRequest(name=name)).measurement_count
            expected = sum(acked[name].values())
            if count != expected:
                problems.append(f"{name}: the API reports {count}, {expected} were acknowledged")
            report.stored_measurements += count
    if server is not None:
        server.stop()  # a clean shutdown, then read what is on disk
        problems += _check_store_file(server.store, acked)
    report.count_problems = problems
    report.counts_ok = not problems


def _check_store_file(store: Path, acked: dict[str, Counter[float]]) -> list[str]:
    problems = []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        for name, expected in acked.items():
            rows = db.execute(
                "SELECT m.latency_ms FROM measurements m JOIN devices d ON d.id = m.device_id"
                " WHERE d.name = ?",
                (name,),
            ).fetchall()
            stored = Counter(float(r[0]) for r in rows)
            if stored != expected:
                missing = sum((expected - stored).values())
                extra = sum((stored - expected).values())
                problems.append(
                    f"{name}: {quantity(missing, 'acknowledged row')} missing,"
                    f" {quantity(extra, 'extra row')}"
                )
    return problems


def _server_codes(url: str) -> dict[str, float]:
    """Server-side RPC counts by status code, from the Prometheus endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return {}
    codes: defaultdict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "grpc_server_handled_total":
                codes[sample.labels["grpc_code"]] += sample.value
    return dict(codes)


def _rss(report: LoadReport, sampler: RssSampler, baseline_at: float, limit: float | None) -> None:
    """Growth of the median RSS from just after the warm-up to the end of the run (medians over
    a third of the samples after the warm-up each: RSS_WINDOW_SHARE)."""
    mb = 1024.0 * 1024.0
    values = [rss for _, rss in sampler.samples]
    base, end = sampler.first_and_last_medians(baseline_at, RSS_WINDOW_SHARE)
    report.rss_start_mb = values[0] / mb
    report.rss_after_warmup_mb = base / mb
    report.rss_end_mb = end / mb
    report.rss_max_mb = max(values) / mb
    report.rss_growth = (end - base) / base
    report.rss_samples_mb = [round(rss / mb, 1) for rss in values]
    report.rss_ok = limit is None or report.rss_growth <= limit


# ---- command line ------------------------------------------------------------------------------
def format_report(report: LoadReport) -> str:
    lines = [
        f"{quantity(report.clients, 'client')}, {report.duration_s:.1f} s,"
        f" {report.throughput:.1f} RPC/s",
        f"{'rpc':<16}{'calls':>8}{'errors':>8}{'busy':>8}"
        + "".join(f"{h:>10}" for h in ("p50 ms", "p90 ms", "p99 ms", "max ms")),
    ]
    for method, s in report.rpcs.items():
        figures = (s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms)
        lines.append(
            f"{method:<16}{s.calls:>8}{s.errors:>8}{s.busy:>8}"
            + "".join(f"{'-':>10}" if ms is None else f"{ms:>10.1f}" for ms in figures)
        )
    lines.append(
        f"measurements: {report.acknowledged_measurements} acknowledged"
        f" ({report.preloaded_measurements} preloaded, then"
        f" {quantity(report.acknowledged_batches, 'batch', 'batches')}),"
        f" {report.stored_measurements} stored:"
        f" {'OK' if report.counts_ok else 'MISMATCH ' + '; '.join(report.count_problems)}"
    )
    if report.rss_growth is not None:
        lines.append(
            f"server RSS: {report.rss_start_mb:.0f} MB at start,"
            f" {report.rss_after_warmup_mb:.0f} MB after warm-up,"
            f" {report.rss_end_mb:.0f} MB at the end (medians of the first and last third"
            f" after it; max {report.rss_max_mb:.0f}):"
            f" {report.rss_growth:+.1%} {'OK' if report.rss_ok else 'TOO MUCH'}"
        )
    if report.server_codes:
        lines.append(
            "server-side statuses: "
            + ", ".join(f"{k} {v:.0f}" for k, v in report.server_codes.items())
        )
    lines.append("errors: " + ("none" if not report.errors else "; ".join(report.errors)))
    if report.unserved:
        lines.append("no call served: " + ", ".join(report.unserved))
    lines.append("PASS" if report.ok else "FAIL")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service.loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--clients", type=int, default=32, help="concurrent clients, one thread each (default 32)"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the RSS baseline (default: a sixth of the run, at most 10)",
    )
    parser.add_argument(
        "--store", type=Path, help="store to copy and serve (default: the service's)"
    )
    parser.add_argument(
        "--address",
        help="drive this running loopback server instead (its four test devices and their"
        " random latencies stay in its store: use a test server; plaintext only, with the"
        " token of LATENCY_TOKEN_FILE or LATENCY_TOKEN where it needs one)",
    )
    parser.add_argument(
        "--max-rss-growth",
        type=float,
        default=0.10,
        help="the server's median RSS may grow by this fraction after the warm-up (default 0.10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the clients' calls (default 0)")
    parser.add_argument("--json", type=Path, help="write the report here")
    return parser


def _json_problem(path: Path | None) -> str | None:
    """Why the report could not be written to ``--json path``: found out only after the run,
    it lost the report to a traceback."""
    problem = output_path_problem(path) if path is not None else None
    return f"--json {problem}" if problem else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    warmup = args.warmup if args.warmup is not None else min(10.0, args.duration / 6)
    settings = LoadSettings(
        clients=args.clients,
        duration_s=args.duration,
        warmup_s=warmup,
        store=args.store,
        address=args.address,
        max_rss_growth=args.max_rss_growth,
        seed=args.seed,
    )
    if problem := settings_problem(settings) or _json_problem(args.json):
        # One line, before the store is copied or a server started; a traceback said it before.
        parser.exit(2, f"{parser.prog}: error: {problem}\n")
    try:
        # SIGTERM as Ctrl-C: its default ended Python without the cleanup, and the served
        # copy's server ran on (its parent gone) beside the copied store (`timeout`, a CI job
        # cancelled, `kill`; a review, 2026-12-06).
        with sigterm_as_interrupt():
            report = run_load(settings)
    except NotServingError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    except ConfigError as exc:  # the service's settings (a token file, LATENCY_MAX_BATCH)
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except SetupRefusedError as exc:  # a raw gRPC error and its traceback before
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    print(format_report(report))
    if args.json is not None:
        write_atomically(args.json, json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
