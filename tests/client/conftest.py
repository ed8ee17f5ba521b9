"""Fixtures for the client tests: the service tests' real server, plus a client connected to it.

The server fixtures (a small real store with four HELP devices, raspi4 alias pi4, on a free
loopback port) come from tests/conftest.py, shared with the service tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from client.api import LatencyClient
from service.server import RunningServer

#: Two NB201 cells, the lightest and a conv-heavy one.
LIGHT = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
HEAVY = "+".join(
    "|" + "|".join(f"nor_conv_3x3~{j}" for j in range(node)) + "|" for node in (1, 2, 3)
)


def assert_one_line_error(result, *fragments: str, code: int = 1) -> str:
    """Checks that a CLI run failed with ``code`` and one line ``error: ...`` holding each of
    ``fragments`` on stderr, and nothing else; returns the line."""
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()  # not stripped: a blank line above it is one too many
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def target(server: RunningServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def latency(target: str) -> Iterator[LatencyClient]:
    with LatencyClient(target, timeout_s=60, retries=0) as client:
        yield client


@pytest.fixture
def health_only() -> Iterator[tuple[str, health.HealthServicer]]:
    """A server with nothing but the health service, NOT_SERVING: one still loading."""
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None)
