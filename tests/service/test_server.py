"""A server's life in-process (service.server): health from start to stop, the grace period,
the store closed at the stop, and a start that fails releasing its port."""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gp.spaces.nasbench201 import all_archs
from service.config import ServiceConfig
from service.errors import StoreError
from service.server import SERVICE_NAME, RunningServer, create_server
from tests.service.conftest import free_port, nb201

Status = health_pb2.HealthCheckResponse


def statuses(running: RunningServer) -> list[int]:
    """The health of the server as a whole and of the latency service, in that order."""
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        return [
            health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
            for name in ("", SERVICE_NAME)
        ]


def test_health_is_not_serving_until_warmed_up_and_after_the_stop(tmp_path: Path) -> None:
    """A load balancer or ``client wait`` must not send model calls before the model is ready,
    nor new calls to a server draining its in-flight ones."""
    running = create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite"))
    try:
        assert statuses(running) == [Status.NOT_SERVING] * 2
        running.warm_up()  # an empty store: nothing to fit
        assert statuses(running) == [Status.SERVING] * 2
    finally:
        running.stop(grace=0)
    for name in ("", SERVICE_NAME):
        request = health_pb2.HealthCheckRequest(service=name)
        assert running.health.Check(request, None).status == Status.NOT_SERVING


def test_an_upload_while_the_model_loads_is_stored_and_said_unchecked(tmp_path: Path) -> None:
    """Its empty list of surprising latencies read as "checked, all fine", while a slip among
    them dragged every prediction of the device (a user review)."""
    from client.api import LatencyClient
    from service.servicer import UNCHECKED_WHILE_LOADING

    running = create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite"))
    cells = [all_archs()[i] for i in range(5)]
    try:
        with LatencyClient(f"127.0.0.1:{running.port}") as latency:
            latency.register_device("early")
            loading = latency.add_measurements("early", [(cells[0], 5.0), (cells[1], 5000.0)])
            assert (loading.accepted, loading.warnings) == (2, (UNCHECKED_WHILE_LOADING,))
            running.warm_up()
            ready = latency.add_measurements("early", [(arch, 5.0) for arch in cells[2:]])
            assert UNCHECKED_WHILE_LOADING not in ready.warnings
    finally:
        running.stop(grace=0)


def test_an_upload_whose_check_fails_is_stored_and_said_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The check is advisory: its fault must neither lose the upload nor pass for a clean
    check."""
    from client.api import LatencyClient
    from service.servicer import UNCHECKED_AFTER_A_FAULT

    def failing(*args: object) -> None:
        raise RuntimeError("a bug in the check")

    running = create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite"))
    running.warm_up()
    monkeypatch.setattr(running.registry, "surprising", failing)
    try:
        with LatencyClient(f"127.0.0.1:{running.port}") as latency:
            latency.register_device("faulty")
            result = latency.add_measurements("faulty", [(all_archs()[0], 5.0)])
        assert (result.accepted, result.warnings) == (1, (UNCHECKED_AFTER_A_FAULT,))
        assert "device faulty: the check of its upload failed" in caplog.text
    finally:
        running.stop(grace=0)


def test_stop_closes_an_idle_store(tmp_path: Path) -> None:
    running = create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite"))
    running.stop(grace=0)
    with pytest.raises(sqlite3.ProgrammingError):
        running.store.list_devices()


class RecordingServer:
    """A grpc server that records the grace periods it is stopped with."""

    def __init__(self, server: grpc.Server) -> None:
        self.server = server
        self.graces: list[float | None] = []

    def stop(self, grace: float | None) -> object:
        self.graces.append(grace)
        return self.server.stop(grace)


@pytest.mark.parametrize(("grace", "expected"), [(None, 7.0), (0, 0)])
def test_stop_waits_the_grace_it_is_given_else_the_configured_one(
    grace: float | None, expected: float, tmp_path: Path
) -> None:
    config = ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite", grace_s=7.0)
    running = create_server(config)
    recorder = RecordingServer(running.server)
    running.server = recorder  # type: ignore[assignment]
    running.stop(grace=grace)
    assert recorder.graces == [expected]


def test_a_stop_past_the_grace_leaves_the_store_open_to_the_calls_still_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler past the grace period may hold the store's write lock for seconds: closing
    the store under it would wait for that lock, and serve() leaves at once instead."""
    running = create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite"))
    running.metrics.busy = lambda: 1  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="service.server"):
        running.stop(grace=0)
    assert "store left open to the RPCs still running" in caplog.text
    assert running.store.list_devices() == []  # still open
    running.store.close()


def test_the_concurrent_call_limit_refuses_the_call_past_it(tmp_path: Path) -> None:
    """Past ``max_concurrent_rpcs`` a call is refused RESOURCE_EXHAUSTED rather than queued
    behind the ones the workers hold. (Health's Watch holds no slot: grpc answers it by
    callback.) The held call here is an upload waiting for another process's write lock."""
    import threading

    from service._proto.latency.v1 import latency_pb2 as pb
    from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc

    store = tmp_path / "s.sqlite"
    config = ServiceConfig(address="127.0.0.1:0", store_path=store, max_concurrent_rpcs=1)
    running = create_server(config)
    other = None
    try:
        running.warm_up()
        # Registered in process: grpc frees a call's slot only after its answer is sent, so an
        # upload right after a RegisterDevice call could find the slot still taken.
        running.store.register_device("edge")
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.LatencyEstimatorStub(channel)
            other = sqlite3.connect(store, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            upload = pb.AddMeasurementsRequest(
                device="edge",
                measurements=[pb.Measurement(arch=nb201(all_archs()[0]), latency_ms=7.0)],
            )
            held = stub.AddMeasurements.future(upload, timeout=30)
            deadline = time.monotonic() + 15
            while running.metrics.busy() < 1:
                assert not held.done(), held.exception()
                assert time.monotonic() < deadline, "the upload never reached its handler"
                threading.Event().wait(0.01)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ListDevices(pb.ListDevicesRequest(), timeout=10)
            other.execute("ROLLBACK")
            assert held.result().accepted == 1  # the held one went on once the lock was free
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        if other is not None:
            other.close()
        running.stop(grace=0)


def test_a_start_that_fails_at_the_store_releases_its_port(tmp_path: Path) -> None:
    """The port is bound before the store is opened; a start the store refuses must not keep
    it, or a retry in the same process cannot listen there."""
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a SQLite database\n" * 100)
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(StoreError):
        create_server(ServiceConfig(address=address, store_path=corrupt))
    create_server(ServiceConfig(address=address, store_path=tmp_path / "s.sqlite")).stop(grace=0)


def test_a_second_server_on_a_store_says_which_server_serves_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two servers on one store each fit and hold a model of their own: the second said
    nothing of the first (an operator's review). Once the first stops, a start is quiet."""
    import os

    store = tmp_path / "s.sqlite"
    first = create_server(ServiceConfig(address="127.0.0.1:0", store_path=store))
    try:
        assert (tmp_path / "s.sqlite.lock").read_text() == (
            f"pid {os.getpid()}, 127.0.0.1:0, port {first.port}\n"
        )
        with caplog.at_level(logging.WARNING, logger="service.serving"):
            second = create_server(ServiceConfig(address="127.0.0.1:0", store_path=store))
        second.stop(grace=0)
        (said,) = [r.getMessage() for r in caplog.records if r.name == "service.serving"]
        assert said.startswith(
            f"another server serves this store (pid {os.getpid()}, 127.0.0.1:0, port"
            f" {first.port}, {tmp_path / 's.sqlite.lock'}): both answer from its data"
        )
        assert (tmp_path / "s.sqlite.lock").exists()  # the second stopped: the first holds it
    finally:
        first.stop(grace=0)
    assert not (tmp_path / "s.sqlite.lock").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="service.serving"):
        create_server(ServiceConfig(address="127.0.0.1:0", store_path=store)).stop(grace=0)
    assert not caplog.records


def test_a_start_that_fails_once_it_holds_the_store_s_lock_leaves_no_lock_file(
    tmp_path: Path,
) -> None:
    """The lock file names a server that serves the store: one that never started is none."""
    from service.config import ServiceConfig
    from service.server import create_server

    (tmp_path / "s.sqlite.importing").mkdir()  # read by the start, after the lock is taken
    with pytest.raises(OSError):
        create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite"))
    assert not (tmp_path / "s.sqlite.lock").exists()


def test_a_second_server_on_a_unix_socket_in_use_is_refused(tmp_path: Path) -> None:
    """grpc removes the socket file before it binds: a second server took the first's path,
    and removed it when it stopped, leaving the first unreachable (a review, 2026-12-06)."""
    from service.errors import ConfigError
    from service.server import _socket_answers

    path = tmp_path / "latency.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind(str(path))
        listening.listen()
        assert _socket_answers(f"unix:{path}") and _socket_answers(f"unix://{path}")
        with pytest.raises(ConfigError, match="another process listens there"):
            create_server(ServiceConfig(address=f"unix:{path}", store_path=tmp_path / "s.sqlite"))
    assert not _socket_answers(f"unix:{path}")  # a file no one listens on: grpc may take it
    assert not _socket_answers("127.0.0.1:50051")


def test_a_unix_socket_server_answers_there_and_logs_no_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """grpc gives a socket file's binding port 1, and the start-up line said 'port 1'."""
    address = f"unix:{tmp_path / 'latency.sock'}"
    with caplog.at_level(logging.INFO, logger="service.server"):
        running = create_server(ServiceConfig(address=address, store_path=tmp_path / "s.sqlite"))
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert answer.status in (Status.SERVING, Status.NOT_SERVING)
    finally:
        running.stop(grace=0)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("listening")]
    assert line.startswith(f"listening on {address} (plaintext, writes open)")


def test_a_tcp_server_logs_the_port_it_listens_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its address may say port 0: the line gives the one the system chose."""
    with caplog.at_level(logging.INFO, logger="service.server"):
        running = create_server(
            ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite")
        )
    running.stop(grace=0)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("listening")]
    assert line.startswith(f"listening on 127.0.0.1:0 (port {running.port}, plaintext, ")


@pytest.mark.parametrize(("family", "loopback"), [("AF_INET", "127.0.0.1"), ("AF_INET6", "::1")])
def test_localhost_is_refused_where_another_process_listens_on_either_loopback(
    family: str, loopback: str, tmp_path: Path
) -> None:
    """grpc binds localhost's two loopback addresses and started where one was taken: clients
    dialling localhost reached the other process (a review, 2026-12-06)."""

    from service.errors import ConfigError
    from service.server import _localhost_taken

    try:
        listening = socket.socket(getattr(socket, family), socket.SOCK_STREAM)
        listening.bind((loopback, 0))
    except OSError:
        pytest.skip(f"no {loopback} on this machine")
    with listening:
        listening.listen()
        port = listening.getsockname()[1]
        assert _localhost_taken(f"LOCALHOST:{port}") == loopback  # a host name's case is no matter
        config = ServiceConfig(address=f"localhost:{port}", store_path=tmp_path / "s.sqlite")
        with pytest.raises(ConfigError, match=rf"another process listens on \[{loopback}\]"):
            create_server(config)
    create_server(config).stop(grace=0)  # free again: both bound


def test_localhost_starts_where_the_kernel_has_no_ipv6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a port in use on a loopback address refuses the start: a kernel without IPv6
    (EAFNOSUPPORT for ::1) was taken for another process listening there."""
    from service import server as server_module

    class WithoutIPv6:
        """The socket module as service.server sees it, on a kernel without IPv6 (patched
        there alone: other threads keep the real module)."""

        def __getattr__(self, name: str) -> object:
            return getattr(socket, name)

        @staticmethod
        def socket(family: int = socket.AF_INET, *args: object) -> socket.socket:
            if family == socket.AF_INET6:
                raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
            return socket.socket(family, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(server_module, "socket", WithoutIPv6())
    address = f"localhost:{free_port()}"
    assert server_module._localhost_taken(address) is None
