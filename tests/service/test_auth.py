"""The bearer token on the write RPCs: statuses, open reads, where it comes from, no leaks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from gp.spaces.nasbench201 import all_archs
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.auth import bearer_token, load_token
from service.config import ServiceConfig
from service.errors import ConfigError
from service.server import RunningServer
from tests.service.conftest import nb201, start_server

TOKEN = "s3cret-Token_0123456789abcdef"
Stub = pb_grpc.LatencyEstimatorStub
Metadata = list[tuple[str, str]] | None


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A token-protected server over an empty store (no model needed for these calls)."""
    store = tmp_path_factory.mktemp("auth") / "store.sqlite"
    running = start_server(store, {}, token=TOKEN)
    stub = pb_grpc.LatencyEstimatorStub(grpc.insecure_channel(f"127.0.0.1:{running.port}"))
    stub.RegisterDevice(pb.RegisterDeviceRequest(name="edge"), metadata=bearer(TOKEN))
    measured = [pb.Measurement(arch=nb201(arch), latency_ms=3.0) for arch in DELETABLE]
    request = pb.AddMeasurementsRequest(device="edge", measurements=measured)
    stub.AddMeasurements(request, metadata=bearer(TOKEN))
    yield running
    running.stop(grace=0)


@pytest.fixture
def stub(guarded: RunningServer) -> Iterator[Stub]:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        yield pb_grpc.LatencyEstimatorStub(channel)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def add(stub: Stub, metadata: Metadata) -> object:
    measurement = pb.Measurement(arch=nb201(all_archs()[0]), latency_ms=3.0)
    request = pb.AddMeasurementsRequest(device="edge", measurements=[measurement])
    return stub.AddMeasurements(request, metadata=metadata)


def register(stub: Stub, metadata: Metadata) -> object:
    name = f"dev-{len(stub.ListDevices(pb.ListDevicesRequest()).devices)}"
    return stub.RegisterDevice(pb.RegisterDeviceRequest(name=name), metadata=metadata)


#: Archs of edge measured at the start: each deletion asks for the next one, so that one let
#: through deletes something.
DELETABLE = all_archs()[1:40]
_to_delete = iter(DELETABLE)


def delete(stub: Stub, metadata: Metadata) -> object:
    request = pb.DeleteMeasurementsRequest(device="edge", archs=[nb201(next(_to_delete))])
    return stub.DeleteMeasurements(request, metadata=metadata)


WRITES: dict[str, Callable[[Stub, Metadata], object]] = {
    "add": add,
    "register": register,
    "delete": delete,
}
REFUSED = {
    "no metadata": (None, grpc.StatusCode.UNAUTHENTICATED),
    "other header": ([("x-token", TOKEN)], grpc.StatusCode.UNAUTHENTICATED),
    "basic scheme": ([("authorization", f"Basic {TOKEN}")], grpc.StatusCode.UNAUTHENTICATED),
    "empty bearer": ([("authorization", "Bearer ")], grpc.StatusCode.UNAUTHENTICATED),
    "wrong token": (bearer("not-the-token"), grpc.StatusCode.PERMISSION_DENIED),
    "token prefix": (bearer(TOKEN[:-1]), grpc.StatusCode.PERMISSION_DENIED),
    "token + suffix": (bearer(TOKEN + "x"), grpc.StatusCode.PERMISSION_DENIED),
}


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("write", list(WRITES))
def test_write_without_the_token_is_refused_and_changes_nothing(
    write: str, case: str, guarded: RunningServer, stub: Stub
) -> None:
    metadata, code = REFUSED[case]
    before = guarded.store.table_counts()
    with pytest.raises(grpc.RpcError) as info:
        WRITES[write](stub, metadata)
    assert info.value.code() == code
    assert TOKEN not in (info.value.details() or "")
    assert guarded.store.table_counts() == before


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
@pytest.mark.parametrize("write", list(WRITES))
def test_write_with_the_token_succeeds(
    write: str, scheme: str, guarded: RunningServer, stub: Stub
) -> None:
    before = guarded.store.table_counts()
    WRITES[write](stub, [("authorization", f"{scheme} {TOKEN}")])
    assert guarded.store.table_counts() != before


def test_an_empty_upload_checks_the_token_and_stores_nothing(
    guarded: RunningServer, stub: Stub
) -> None:
    """Clients send one before hours of measuring, to learn now that their token is wrong."""
    empty = pb.AddMeasurementsRequest(device="edge")
    with pytest.raises(grpc.RpcError) as info:
        stub.AddMeasurements(empty)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    before = guarded.store.table_counts()
    assert stub.AddMeasurements(empty, metadata=bearer(TOKEN)).accepted == 0
    assert guarded.store.table_counts() == before


def test_reads_need_no_token(stub: Stub) -> None:
    assert "edge" in [d.name for d in stub.ListDevices(pb.ListDevicesRequest()).devices]
    assert stub.GetDevice(pb.GetDeviceRequest(name="edge")).name == "edge"
    reply = stub.Predict(pb.PredictRequest(device="edge", archs=[nb201(all_archs()[1])]))
    assert len(reply.predictions) == 1


def test_without_a_token_writes_are_open(tmp_path: Path) -> None:
    running = start_server(tmp_path / "store.sqlite", {})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.LatencyEstimatorStub(channel)
            assert stub.RegisterDevice(pb.RegisterDeviceRequest(name="open")).name == "open"
    finally:
        running.stop(grace=0)


def test_token_never_reaches_logs_metrics_or_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "s.sqlite", token=TOKEN)
    assert TOKEN not in repr(config)
    running = start_server(tmp_path / "s.sqlite", {}, token=TOKEN)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.LatencyEstimatorStub(channel)
            for metadata in (bearer(TOKEN), bearer(TOKEN + "-wrong"), None):
                try:
                    stub.RegisterDevice(pb.RegisterDeviceRequest(name="d"), metadata=metadata)
                except grpc.RpcError:
                    pass
        metrics = running.metrics.exposition().decode()
    finally:
        running.stop(grace=0)
    assert "code=UNAUTHENTICATED" in caplog.text and "code=PERMISSION_DENIED" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in metrics and 'grpc_code="PERMISSION_DENIED"' in metrics


def test_token_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    for name in ("LATENCY_TOKEN", "LATENCY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert load_token(ServiceConfig.from_env()) is None
    monkeypatch.setenv("LATENCY_TOKEN_FILE", str(path))
    assert load_token(ServiceConfig.from_env()) == TOKEN
    monkeypatch.delenv("LATENCY_TOKEN_FILE")
    monkeypatch.setenv("LATENCY_TOKEN", f" {TOKEN} ")
    assert load_token(ServiceConfig.from_env()) == TOKEN
    # An explicit --token-file replaces the environment's token instead of clashing with it.
    assert ServiceConfig.from_env(token_file=path).token is None
    # And an explicit token replaces the environment's token file.
    monkeypatch.setenv("LATENCY_TOKEN_FILE", str(path))
    assert ServiceConfig.from_env(token=TOKEN).token_file is None


@pytest.mark.parametrize("name", ["LATENCY_TOKEN", "LATENCY_TOKEN_FILE"])
def test_a_token_variable_set_empty_is_refused_not_taken_for_unset(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-e LATENCY_TOKEN=$TOKEN` with TOKEN unset started a server with writes open."""
    for variable in ("LATENCY_TOKEN", "LATENCY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(name, "")
    with pytest.raises(ConfigError, match=f"^{name} is empty"):
        load_token(ServiceConfig.from_env())


@pytest.mark.parametrize("name", ["LATENCY_TOKEN", "LATENCY_TOKEN_FILE"])
def test_an_explicit_token_file_replaces_a_token_variable_set_empty(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty LATENCY_TOKEN_FILE stopped a start given --token-file, which replaces the
    environment's token everywhere else (a review, 2026-12-06)."""
    for variable in ("LATENCY_TOKEN", "LATENCY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(name, "")
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    assert load_token(ServiceConfig.from_env(token_file=path)) == TOKEN


def test_a_token_given_as_the_token_file_is_not_printed() -> None:
    """``LATENCY_TOKEN_FILE=$TOKEN`` by mistake printed the token as the file's path; one too
    long for a file name (a JWT) was a traceback that printed it too."""
    for token in ("Zq8s3cretTOKENvalue123", "Zq8s3cret" * 40):
        config = ServiceConfig.from_env(token_file=Path(token))
        with pytest.raises(ConfigError) as refused:
            load_token(config)
        assert "s3cret" not in str(refused.value)
        assert str(refused.value).startswith("cannot read the token file (its path")


@pytest.mark.parametrize(
    "settings, fragment",
    [
        # Named like the other settings: "(LATENCY_TOKEN_FILE)" alone after --token-file.
        (
            {"token_file": "missing"},
            "cannot read token file .* \\(--token-file/LATENCY_TOKEN_FILE\\)",
        ),
        ({"token_file": "empty"}, "is empty"),
        ({"token": "two words"}, "printable ASCII without spaces"),
        ({"token": "caf\u00e9-latte-token"}, "printable ASCII"),
        ({"token": TOKEN, "token_file": "empty"}, "not both"),
    ],
)
def test_bad_token_settings_are_clear_errors(
    settings: dict[str, str], fragment: str, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("\n")
    values: dict[str, object] = dict(settings)
    if "token_file" in values:
        values["token_file"] = tmp_path / str(values["token_file"])
    with pytest.raises(ConfigError, match=fragment) as info:
        load_token(ServiceConfig(store_path=tmp_path / "s.sqlite", **values))  # type: ignore[arg-type]
    assert "two words" not in str(info.value) and "latte" not in str(info.value)


@pytest.mark.parametrize(
    "metadata, token",
    [
        ((("authorization", "Bearer abc"),), "abc"),
        ((("Authorization", "bearer  abc "),), "abc"),
        ((("authorization", "Bearer abc"), ("authorization", "Bearer abc")), None),
        ((("authorization", "Token abc"),), None),
        ((), None),
        (None, None),
    ],
)
def test_bearer_token_parsing(metadata: object, token: str | None) -> None:
    assert bearer_token(metadata) == token


@pytest.mark.parametrize(
    ("token", "warned"),
    [("short-token", True), ("x" * 15, True), ("x" * 16, False), (TOKEN, False)],
)
def test_only_a_short_token_is_warned_about(
    token: str, warned: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.auth"):
        assert load_token(ServiceConfig(store_path=tmp_path / "s.sqlite", token=token)) == token
    assert ("the write token is short" in caplog.text) is warned


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o640, True), (0o604, True)])
def test_a_token_file_others_can_read_is_warned_about(
    mode: int, warned: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its group reading it is a leak too, not only everyone."""
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="service.auth"):
        assert load_token(ServiceConfig(store_path=tmp_path / "s.sqlite", token_file=path)) == TOKEN
    assert ("is readable by other users" in caplog.text) is warned


def test_a_token_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    """The error quoted the decoder's message: a byte of the token and where it lies."""
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe" + TOKEN.encode("utf-16-le"))  # saved as UTF-16
    with pytest.raises(ConfigError) as refused:
        load_token(ServiceConfig(store_path=tmp_path / "s.sqlite", token_file=path))
    said = str(refused.value)
    assert said == f"token file {path} (--token-file/LATENCY_TOKEN_FILE) is not text", said


def test_a_refused_write_is_not_parsed() -> None:
    """A 64 MiB upload without the token was parsed whole before its refusal: 2.5 s and
    1.6 GB of the server's (a review, 2026-12-06)."""
    from types import SimpleNamespace

    from service.auth import TokenAuthInterceptor

    def parsed(data: bytes) -> object:
        raise AssertionError("the refused request was parsed")

    handler = grpc.unary_unary_rpc_method_handler(lambda r, c: r, request_deserializer=parsed)
    method = "/latency.v1.LatencyEstimator/AddMeasurements"
    for metadata in [(), (("authorization", "Bearer wrong-token-of-16-chars"),)]:
        details = SimpleNamespace(method=method, invocation_metadata=metadata)
        refusal = TokenAuthInterceptor(TOKEN).wrap(handler, details)  # type: ignore[arg-type]
        assert refusal.request_deserializer(b"\x12\x00" * 1000) == b""
    accepted = SimpleNamespace(
        method=method, invocation_metadata=(("authorization", f"Bearer {TOKEN}"),)
    )
    assert TokenAuthInterceptor(TOKEN).wrap(handler, accepted).request_deserializer is parsed  # type: ignore[arg-type]
