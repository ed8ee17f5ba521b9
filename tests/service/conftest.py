"""Fixtures for the service tests: stubs, subprocess servers, TLS files.

The session store (four HELP tables: three sources plus raspi4, alias pi4, and a model fitted
with 5 iterations, built once and copied per test) and the ``store_path``/``server`` fixtures
live in tests/conftest.py, shared with the client tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import grpc
import pytest

from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.loadtest import free_port, free_ports  # noqa: F401 - free_port: for the tests
from service.probe import ServerExitedError, wait_serving
from service.server import RunningServer
from tests.helpers import (  # noqa: F401 - also imported from here by the tests
    DATASET,
    FIT_ITERATIONS,
    REPO,
    STORE_NAME,
    TEST_DEVICES,
    copy_store,
    fit_settings,
    mount_namespace,
    start_server,
)

#: Runs "$@" with the folder "$0" mounted read-only, for that command only: a bind mount in
#: private user and mount namespaces, which (unlike chmod) holds for root too.
READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


@pytest.fixture(scope="module")
def read_only_mount() -> list[str]:
    """Runs READ_ONLY in private namespaces, once this machine is seen to allow it."""
    return mount_namespace(READ_ONLY, REPO)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as chan:
        yield chan


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.LatencyEstimatorStub:
    return pb_grpc.LatencyEstimatorStub(channel)


def nb201(arch: str) -> pb.Architecture:
    return pb.Architecture(search_space="nasbench201", arch=arch)


class ServerProcess:
    """``python -m service serve`` in a subprocess on a free port, killed after its test
    at the latest (:func:`no_server_process_outlives_its_test`)."""

    #: Those started and not yet killed: a test that failed part-way had left its own running.
    started: ClassVar[list[ServerProcess]] = []

    def __init__(
        self,
        store: Path,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        metrics: bool = False,
    ) -> None:
        port, metrics_port = free_ports(2)  # together: one closed may be handed out again
        self.address = f"127.0.0.1:{port}"
        #: Where its metrics are served (``metrics``), else None.
        self.metrics_address = f"127.0.0.1:{metrics_port}" if metrics else None
        if self.metrics_address is not None:
            extra = [*(extra or []), "--metrics-address", self.metrics_address]
        env = {
            **os.environ,
            "LATENCY_FIT_ITERATIONS": str(FIT_ITERATIONS),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        command = [sys.executable, "-m", "service", "serve", "--address", self.address]
        self.log = store.parent / f"server-{time.time_ns()}.log"
        self.process = subprocess.Popen(
            [*command, "--store", str(store), *(extra or [])],
            cwd=REPO,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        ServerProcess.started.append(self)

    def channel(self, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
        if credentials is None:
            return grpc.insecure_channel(self.address)
        return grpc.secure_channel(self.address, credentials)

    def wait_serving(
        self, timeout_s: float = 120.0, credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        """Polls the health service until SERVING (fails with the server log otherwise)."""
        with self.channel(credentials) as chan:
            try:
                wait_serving(chan, timeout_s, lambda: self.process.poll() is not None)
            except (ServerExitedError, TimeoutError) as exc:
                pytest.fail(f"{exc}:\n{self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture(autouse=True)
def no_server_process_outlives_its_test() -> Iterator[None]:
    yield
    while ServerProcess.started:
        ServerProcess.started.pop().kill()


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate it signed (for 127.0.0.1 and localhost)."""

    ca: Path
    cert: Path
    key: Path

    def client_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls_files(folder: Path) -> TlsFiles:
    """Generates a CA and a server key and certificate under ``folder`` (never committed)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    days = ("-days", "2")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")  # fast keys
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
             "-subj", "/CN=latency test CA", *days, cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-extfile", "san.ext", *days,
             cwd=folder)  # fmt: skip
    return TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))
