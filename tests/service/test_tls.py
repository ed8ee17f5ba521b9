"""TLS on request, loopback by default, and the security flags of ``python -m service serve``."""

from __future__ import annotations

import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from service import certificates
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.config import DEFAULT_ADDRESS, ServiceConfig
from service.errors import ConfigError
from service.server import RunningServer, create_server, is_loopback
from tests.service.conftest import REPO, ServerProcess, TlsFiles, make_tls_files, start_server

TOKEN = "tls-test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def tls_server(
    tls_files: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    store = tmp_path_factory.mktemp("tls-store") / "store.sqlite"
    running = start_server(store, {}, tls_cert=tls_files.cert, tls_key=tls_files.key)
    yield running
    running.stop(grace=0)


def test_a_client_that_trusts_the_ca_talks_tls(tls_server: RunningServer, tls_files: TlsFiles):
    address = f"127.0.0.1:{tls_server.port}"
    with grpc.secure_channel(address, tls_files.client_credentials()) as channel:
        stub = pb_grpc.LatencyEstimatorStub(channel)
        assert stub.RegisterDevice(pb.RegisterDeviceRequest(name="tls-dev")).name == "tls-dev"
        assert [d.name for d in stub.ListDevices(pb.ListDevicesRequest()).devices] == ["tls-dev"]


def test_plaintext_client_is_not_served(tls_server: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{tls_server.port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.LatencyEstimatorStub(channel).ListDevices(pb.ListDevicesRequest(), timeout=3)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Another CA and a certificate of its own."""
    return make_tls_files(tmp_path_factory.mktemp("other-ca"))


def test_a_client_that_trusts_another_ca_refuses_the_server(
    tls_server: RunningServer, stranger: TlsFiles
) -> None:
    address = f"127.0.0.1:{tls_server.port}"
    with grpc.secure_channel(address, stranger.client_credentials()) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.LatencyEstimatorStub(channel).ListDevices(pb.ListDevicesRequest(), timeout=3)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_without_key_is_a_config_error(tls_files: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both a certificate and its key"):
        ServiceConfig(store_path=tmp_path / "s.sqlite", tls_cert=tls_files.cert)
    with pytest.raises(ConfigError, match="got only the key"):
        ServiceConfig(store_path=tmp_path / "s.sqlite", tls_key=tls_files.key)


@pytest.mark.parametrize("problem", ["missing key", "key of another cert", "garbage cert"])
def test_unusable_tls_files_are_named_at_start_up(
    problem: str, tls_files: TlsFiles, stranger: TlsFiles, tmp_path: Path
) -> None:
    cert, key = tls_files.cert, tls_files.key
    if problem == "missing key":
        key = tmp_path / "nope.key"
    elif problem == "key of another cert":
        key = stranger.key
    else:
        cert = tmp_path / "garbage.pem"
        cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    config = ServiceConfig(
        address="127.0.0.1:0", store_path=tmp_path / "s.sqlite", tls_cert=cert, tls_key=key
    )
    with pytest.raises(ConfigError, match="cannot use TLS certificate") as info:
        create_server(config, {})
    assert str(cert) in str(info.value)
    assert not (tmp_path / "s.sqlite").exists()  # failed before touching the store


def test_tls_files_that_are_no_pem_or_swapped_are_named_at_start_up(
    tls_files: TlsFiles, tmp_path: Path
) -> None:
    """ssl refused them with "[SSL] PEM lib (_ssl.c:3905)", which said neither file nor why."""
    der = tmp_path / "server.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(tls_files.cert.read_text()))
    cert, key = tls_files.cert, tls_files.key
    cases = [
        (der, key, f"no PEM certificate (-----BEGIN CERTIFICATE-----) in {der}: convert a DER"
                   f" file with openssl x509 -inform der -in {der} -out {tmp_path / 'server.pem'}"),
        (key, cert, f"no PEM certificate (-----BEGIN CERTIFICATE-----) in {key}: it holds a"
                    " private key, not a certificate; --tls-cert and --tls-key swapped?"),
        (cert, cert, f"no PEM private key (-----BEGIN PRIVATE KEY-----) in {cert}: it holds a"
                     " certificate, not a key"),
    ]  # fmt: skip
    for cert, key, problem in cases:
        config = ServiceConfig(
            address="127.0.0.1:0", store_path=tmp_path / "s.sqlite", tls_cert=cert, tls_key=key
        )
        with pytest.raises(ConfigError) as info:
            create_server(config, {})
        assert str(info.value) == f"cannot use TLS certificate {cert} with key {key}: {problem}"
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("form", [("pkcs8", "-topk8"), ("ec", "-aes256")])
def test_an_encrypted_key_is_named_at_start_up(
    form: tuple[str, str], tls_files: TlsFiles, tmp_path: Path
) -> None:
    """ssl asked for its passphrase on the terminal ("Enter PEM pass phrase:"), and without
    one the start failed with "[Errno 22] Invalid argument"; grpc takes no passphrase."""
    key = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", *form, "-in", str(tls_files.key), "-out", str(key), "-passout", "pass:pw"],
        check=True,
        capture_output=True,
    )
    config = ServiceConfig(
        address="127.0.0.1:0",
        store_path=tmp_path / "s.sqlite",
        tls_cert=tls_files.cert,
        tls_key=key,
    )
    with pytest.raises(ConfigError) as info:
        create_server(config, {})
    assert str(info.value) == (
        f"cannot use TLS certificate {tls_files.cert} with key {key}: the private key in {key}"
        " is encrypted, and grpc takes no passphrase: decrypt it with openssl pkey -in"
        f" {key} -out {tmp_path / 'encrypted-decrypted.key'}"
    )
    assert not (tmp_path / "s.sqlite").exists()


def test_a_certificate_is_checked_to_be_valid_now(tls_files: TlsFiles) -> None:
    assert certificates.validity_problem(tls_files.cert) is None
    expired = certificates.validity_problem(tls_files.cert, now=time_in_years(50))
    assert expired is not None and expired.startswith(f"{tls_files.cert} expired on ")
    early = certificates.validity_problem(tls_files.cert, now=0.0)
    assert early is not None and "is not valid before" in early
    validity = certificates._validity(tls_files.cert)
    assert validity is not None
    (starts, not_before), (ends, _) = validity
    # At its bounds, to the second: valid from its first second to its last.
    assert certificates.validity_problem(tls_files.cert, now=starts - 1) == (
        f"{tls_files.cert} is not valid before {not_before} (is this machine's clock right?)"
    )
    assert certificates.validity_problem(tls_files.cert, now=starts) is None
    assert certificates.validity_problem(tls_files.cert, now=ends) is None
    assert certificates.validity_problem(tls_files.cert, now=ends + 1) is not None


def test_a_certificate_expiring_within_two_weeks_is_warned_of(tls_files: TlsFiles) -> None:
    """Read at start, a certificate that expired while serving failed every client with nothing
    in the server's log (a review, 2026-12-06): a start close to its end says so."""
    validity = certificates._validity(tls_files.cert)
    assert validity is not None
    (_, _), (ends, not_after) = validity
    soon = certificates.expiry_warning(tls_files.cert, now=ends - 3 * 86_400)
    assert soon == (
        f"{tls_files.cert} expires on {not_after}, in 3.0 days: renew it and restart the"
        " service (it is read at start)"
    )
    hours = certificates.expiry_warning(tls_files.cert, now=ends - 3_600)
    assert hours is not None and ", in 1.0 hours: renew it" in hours  # was "in 0.0 days"
    assert certificates.expiry_warning(tls_files.cert, now=ends - 15 * 86_400) is None
    assert certificates.expiry_warning(tls_files.cert, now=ends + 1) is None  # refused instead


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o640, True), (0o644, True)])
def test_a_tls_key_others_can_read_is_warned_about(
    mode: int, warned: bool, tls_files: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As a token file is: a key others can read lets them pose as the server, and nothing said
    so (an operator's review)."""
    from service.server import _server_credentials

    key = tmp_path / "server.key"
    key.write_bytes(tls_files.key.read_bytes())
    key.chmod(mode)
    config = ServiceConfig(store_path=tmp_path / "s.sqlite", tls_cert=tls_files.cert, tls_key=key)
    with caplog.at_level(logging.WARNING, logger="service.auth"):
        assert _server_credentials(config) is not None
    said = f"TLS key {key} is readable by other users (chmod 600 it)"
    assert (said in caplog.text) is warned


@pytest.mark.skipif(os.geteuid() != 0, reason="gives the key to another user")
@pytest.mark.parametrize(("mode", "warned"), [(0o640, False), (0o644, True)])
def test_a_tls_key_of_another_user_is_warned_about_only_where_anyone_may_read_it(
    mode: int, warned: bool, tls_files: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key the server reads through its group (root:ssl-cert 0640) is the usual set-up; its
    'chmod 600 it' would lock the server out of its own key."""
    from service.server import _server_credentials

    key = tmp_path / "server.key"
    key.write_bytes(tls_files.key.read_bytes())
    key.chmod(mode)
    os.chown(key, 65534, os.getgid())
    config = ServiceConfig(store_path=tmp_path / "s.sqlite", tls_cert=tls_files.cert, tls_key=key)
    with caplog.at_level(logging.WARNING, logger="service.auth"):
        assert _server_credentials(config) is not None
    assert (f"TLS key {key} is readable" in caplog.text) is warned


def test_an_expired_server_certificate_is_refused_at_start_up(
    tls_files: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It passed every check, and each client's handshake failed with "Socket closed"."""
    later = time_in_years(50)
    monkeypatch.setattr(
        certificates, "time", type("Clock", (), {"time": staticmethod(lambda: later)})
    )
    config = ServiceConfig(
        address="127.0.0.1:0",
        store_path=tmp_path / "s.sqlite",
        tls_cert=tls_files.cert,
        tls_key=tls_files.key,
    )
    with pytest.raises(ConfigError, match="cannot use TLS certificate") as info:
        create_server(config, {})
    assert f": {tls_files.cert} expired on " in str(info.value)
    assert not (tmp_path / "s.sqlite").exists()


def time_in_years(years: float) -> float:
    return time.time() + years * 365.25 * 86400


def test_health_over_tls_fails_in_one_line(tls_server: RunningServer, stranger: TlsFiles) -> None:
    """``health`` defaults GRPC_VERBOSITY to ERROR, as the client CLI does: grpc's C core
    printed its own "Handshake failed" line before the verdict."""
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    address = f"127.0.0.1:{tls_server.port}"
    health = ["health", "--address", address, "--ca", str(stranger.ca)]
    # The main parser's options may come before the command.
    for argv in (health, ["--log-level", "INFO", *health]):
        result = subprocess.run(
            [sys.executable, "-m", "service", *argv],
            cwd=REPO, capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert result.returncode == 1
        assert result.stderr.startswith(f"{address}: unhealthy: UNAVAILABLE (")
        assert result.stderr.count("\n") == 1


def test_health_in_plaintext_of_a_tls_server_says_how_to_connect(
    tls_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed only "unhealthy: UNAVAILABLE", where the client CLI adds the same hint."""
    from service.cli import main

    address = f"127.0.0.1:{tls_server.port}"
    assert main(["health", "--address", address]) == 1
    assert capsys.readouterr().err == (
        f"{address}: unhealthy: UNAVAILABLE; a server that speaks TLS closes plaintext"
        " connections: if it does, connect with --ca\n"
    )


def test_health_trusts_the_clients_ca_variable_unless_given_its_own(
    tls_server: RunningServer,
    tls_files: TlsFiles,
    stranger: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, health read LATENCY_TLS_CA only: a user who had set the client's LATENCY_CA_CERT
    found a TLS server unhealthy (UNAVAILABLE)."""
    from service.cli import main

    address = f"127.0.0.1:{tls_server.port}"
    monkeypatch.setenv("LATENCY_CA_CERT", str(tls_files.ca))
    monkeypatch.setenv("LATENCY_TLS_CA", "")  # empty: unset
    assert main(["health", "--address", address]) == 0
    assert capsys.readouterr().out == f"{address}: SERVING\n"
    monkeypatch.setenv("LATENCY_TLS_CA", str(stranger.ca))  # the service's variable wins
    assert main(["health", "--address", address]) == 1
    assert main(["health", "--address", address, "--ca", str(tls_files.ca)]) == 0  # and --ca


def test_health_over_tls_of_a_plaintext_server_says_to_drop_the_ca(
    tls_files: TlsFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed only "unhealthy: UNAVAILABLE"; grpc's details say "WRONG_VERSION_NUMBER"."""
    from service.cli import main

    plaintext = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), plaintext)
    address = f"127.0.0.1:{plaintext.add_insecure_port('127.0.0.1:0')}"
    plaintext.start()
    try:
        assert main(["health", "--address", address, "--ca", str(tls_files.ca)]) == 1
    finally:
        plaintext.stop(None)
    assert capsys.readouterr().err == (
        f"{address}: unhealthy: UNAVAILABLE; the server does not seem to speak TLS: if it"
        " serves plaintext, drop --ca/$LATENCY_TLS_CA/$LATENCY_CA_CERT\n"
    )


def test_default_address_is_loopback() -> None:
    assert DEFAULT_ADDRESS.startswith("127.0.0.1:")
    assert is_loopback(DEFAULT_ADDRESS) and is_loopback("[::1]:1") and is_loopback("localhost:1")
    assert not is_loopback("0.0.0.0:50051") and not is_loopback("[::]:50051")
    assert not is_loopback("example.org:50051")


def test_a_unix_socket_is_loopback() -> None:
    """Only this machine can reach it: no warning of what anyone on the network can do."""
    assert is_loopback("unix:/run/latency.sock") and is_loopback("unix-abstract:latency")


@pytest.mark.parametrize(
    ("tls", "token", "warned"),
    [
        (
            True,
            None,
            "serving TLS on 0.0.0.0:0, reachable from other machines, with no write token:"
            " anyone who can reach it can add measurements and register devices; configure"
            " --token-file (or LATENCY_TOKEN)",
        ),
        (True, TOKEN, None),
        (
            False,
            None,
            "serving plaintext on 0.0.0.0:0, reachable from other machines: anyone on the"
            " network can read the traffic and, without a token, write; configure --tls-cert"
            " and --tls-key",
        ),
        (
            False,
            TOKEN,
            "serving plaintext on 0.0.0.0:0, reachable from other machines: anyone on the"
            " network can read the traffic, including the write token; configure --tls-cert"
            " and --tls-key",
        ),
    ],
)
def test_a_server_off_loopback_warns_of_what_anyone_can_do(
    tls: bool,
    token: str | None,
    warned: str | None,
    tls_files: TlsFiles,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, only plaintext was warned of: a TLS server on 0.0.0.0 with no token took
    anyone's AddMeasurements and RegisterDevice without a word."""
    files = {"tls_cert": tls_files.cert, "tls_key": tls_files.key} if tls else {}
    config = ServiceConfig(
        address="0.0.0.0:0", store_path=tmp_path / "store.sqlite", token=token, **files
    )
    with caplog.at_level(logging.WARNING, logger="service.server"):
        create_server(config, {}).stop(grace=0)
    lines = [r.getMessage() for r in caplog.records if "reachable from other" in r.getMessage()]
    assert lines == ([] if warned is None else [warned])


def test_a_loopback_tls_server_is_not_called_reachable_and_its_nearing_end_is_logged(
    tls_files: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On loopback no token is needed; the test certificate's two days are within the
    two weeks a start warns of (in the log, where an operator sees it)."""
    config = ServiceConfig(
        address="127.0.0.1:0",
        store_path=tmp_path / "store.sqlite",
        tls_cert=tls_files.cert,
        tls_key=tls_files.key,
    )
    with caplog.at_level(logging.WARNING, logger="service.server"):
        create_server(config, {}).stop(grace=0)
    warnings = [r.getMessage() for r in caplog.records]
    assert not [line for line in warnings if "reachable from other machines" in line]
    expiring = f"TLS certificate {tls_files.cert} expires on "
    assert len([line for line in warnings if line.startswith(expiring)]) == 1, warnings


@pytest.mark.parametrize("metrics", ["0.0.0.0:0", "127.0.0.1:0"])
def test_metrics_off_loopback_are_warned_of(
    metrics: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the gRPC address was checked: metrics on 0.0.0.0, unauthenticated and plaintext,
    started without a word."""
    config = ServiceConfig(
        address="127.0.0.1:0", store_path=tmp_path / "store.sqlite", metrics_address=metrics
    )
    with caplog.at_level(logging.WARNING, logger="service.server"):
        create_server(config, {}).stop(grace=0)
    lines = [r.getMessage() for r in caplog.records if "reachable from other" in r.getMessage()]
    exposed = [
        f"serving metrics on {metrics}, reachable from other machines, unauthenticated and in"
        " plaintext; keep it on loopback unless a firewall guards the port"
    ]
    assert lines == (exposed if metrics.startswith("0.0.0.0") else [])


def test_serve_flags_tls_and_token_file_end_to_end(tls_files: TlsFiles, tmp_path: Path) -> None:
    """The CLI: TLS from flags, token from a file, health --ca; the token never logged."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    flags = ["--tls-cert", str(tls_files.cert), "--tls-key", str(tls_files.key)]
    server = ServerProcess(tmp_path / "store.sqlite", [*flags, "--token-file", str(token_file)])
    credentials = tls_files.client_credentials()
    server.wait_serving(credentials=credentials)
    try:
        with server.channel(credentials) as channel:
            stub = pb_grpc.LatencyEstimatorStub(channel)
            request = pb.RegisterDeviceRequest(name="cli-dev")
            with pytest.raises(grpc.RpcError) as missing:
                stub.RegisterDevice(request)
            with pytest.raises(grpc.RpcError) as wrong:
                stub.RegisterDevice(request, metadata=[("authorization", "Bearer nope")])
            device = stub.RegisterDevice(request, metadata=[("authorization", f"Bearer {TOKEN}")])
        health = subprocess.run(
            [sys.executable, "-m", "service", "health", "--address", server.address,
             "--ca", str(tls_files.ca)],
            cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert device.name == "cli-dev"
    assert health.returncode == 0 and "SERVING" in health.stdout, health.stderr
    log = server.output()
    assert "TLS, writes need a token" in log and "code=PERMISSION_DENIED" in log
    assert TOKEN not in log


def test_serve_with_half_the_tls_settings_exits_with_a_clear_error(
    tls_files: TlsFiles, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "store.sqlite", env={"LATENCY_TLS_CERT": str(tls_files.cert)})
    assert server.process.wait(timeout=60) == 2
    assert "cannot start: TLS needs both a certificate and its key" in server.output()
