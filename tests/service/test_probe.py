"""Waiting for SERVING on the health service (service.probe), against an in-process server."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import NamedTuple

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from service.errors import ServerExitedError
from service.probe import wait_serving


class HealthServer(NamedTuple):
    """A grpc server of the health service alone, and a channel to it."""

    servicer: health.HealthServicer
    channel: grpc.Channel
    address: str


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    with grpc.insecure_channel(address) as channel:
        yield HealthServer(servicer, channel, address)
    server.stop(None)


def _reporting(health_server: HealthServer, status: int) -> grpc.Channel:
    """The channel to ``health_server``, whose health now says ``status``."""
    health_server.servicer.set("", status)
    return health_server.channel


def test_serving_ends_the_wait(health_server: HealthServer) -> None:
    wait_serving(_reporting(health_server, health_pb2.HealthCheckResponse.SERVING), timeout_s=30)


def test_a_server_that_never_serves_times_out(health_server: HealthServer) -> None:
    channel = _reporting(health_server, health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(TimeoutError, match="no SERVING within 1 s"):
        wait_serving(channel, timeout_s=1.0)


def test_a_server_of_unknown_health_is_not_serving(health_server: HealthServer) -> None:
    """Only SERVING is healthy: UNKNOWN, which another server may report, is not, to the
    wait nor to ``python -m service health`` (exit 1)."""
    from service.cli import main

    channel = _reporting(health_server, health_pb2.HealthCheckResponse.UNKNOWN)
    with pytest.raises(TimeoutError, match="no SERVING within 1 s"):
        wait_serving(channel, timeout_s=1.0)
    assert main(["health", "--address", health_server.address]) == 1


def test_an_exited_server_ends_the_wait_at_once(health_server: HealthServer) -> None:
    channel = _reporting(health_server, health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(ServerExitedError, match="exited before it reported SERVING"):
        wait_serving(channel, timeout_s=30, exited=lambda: True)


def test_each_check_asks_within_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check waited 2 s whatever was left: a server that accepts but never answers ran
    the wait up to 2 s past its timeout (a review, 2026-12-06)."""
    from service import probe

    asked: list[float] = []

    class Unanswering:
        def __init__(self, channel: object) -> None:
            pass

        def Check(self, request: object, timeout: float) -> None:  # noqa: N802 (grpc's name)
            asked.append(timeout)
            raise grpc.RpcError

    monkeypatch.setattr(probe.health_pb2_grpc, "HealthStub", Unanswering)
    with pytest.raises(TimeoutError, match="no SERVING within 0.3 s"):
        wait_serving(None, timeout_s=0.3)  # type: ignore[arg-type]
    assert asked and max(asked) <= 0.3
