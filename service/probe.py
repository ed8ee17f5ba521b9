"""Waiting for a server to report SERVING on the gRPC health service."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.errors import ServerExitedError


def wait_serving(
    channel: grpc.Channel, timeout_s: float, exited: Callable[[], bool] = lambda: False
) -> None:
    """Polls the health service over ``channel`` until it answers SERVING.

    Args:
        channel: a channel to the server (plain or TLS).
        timeout_s: how long to wait.
        exited: says whether the server process has ended (then waiting is pointless).

    Raises:
        ServerExitedError: ``exited()`` became true first.
        TimeoutError: no SERVING within ``timeout_s``.
    """
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited():
            raise ServerExitedError("the server exited before it reported SERVING")
        try:
            # Each check within the time left: a server that accepts but never answers ran
            # the wait up to 2 s past its timeout.
            left = max(0.05, min(2.0, deadline - time.monotonic()))
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=left)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass  # not listening yet, or still starting
        time.sleep(0.2)
    raise TimeoutError(f"no SERVING within {timeout_s:g} s")
