"""Observability: one access-log line per RPC, Prometheus metrics over HTTP, JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gp.estimator import LatencyEstimator
from gp.spaces.nasbench201 import all_archs
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.config import ServiceConfig
from service.errors import ConfigError
from service.logs import JsonFormatter
from service.server import RunningServer, create_server
from service.telemetry import Metrics, TelemetryInterceptor, log_rpc
from tests.service.conftest import free_port, nb201, start_server

ARCHS = all_archs()
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def observed(store_path: Path, model_cache: dict[str, LatencyEstimator]) -> Iterator[RunningServer]:
    running = start_server(store_path, model_cache, metrics_address="127.0.0.1:0")
    yield running
    running.stop(grace=0)


def scrape(server: RunningServer) -> Samples:
    assert server.metrics_endpoint is not None
    url = f"http://127.0.0.1:{server.metrics_endpoint.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def exercise(server: RunningServer) -> float:
    """Two Predicts, a NOT_FOUND, a write and a refit of the written device; the seconds they
    took in all, which bound every duration recorded of them."""
    started = time.perf_counter()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.LatencyEstimatorStub(channel)
        for _ in range(2):
            stub.Predict(pb.PredictRequest(device="pi4", archs=[nb201(ARCHS[0])]))
        with pytest.raises(grpc.RpcError):
            stub.GetDevice(pb.GetDeviceRequest(name="nope"))
        measurement = pb.Measurement(arch=nb201(ARCHS[3]), latency_ms=2.0)
        stub.AddMeasurements(pb.AddMeasurementsRequest(device="pi4", measurements=[measurement]))
        stub.Predict(pb.PredictRequest(device="pi4", archs=[nb201(ARCHS[0])]))
    return time.perf_counter() - started


def test_metrics_on_the_grpc_port_are_refused_naming_it(tmp_path: Path) -> None:
    """The refusal said only "[Errno 98] Address already in use", not what held the port;
    nothing is left behind (no store)."""
    port = free_port()
    config = ServiceConfig(
        address=f"127.0.0.1:{port}",
        store_path=tmp_path / "store.sqlite",
        metrics_address=f"127.0.0.1:{port}",
    )
    with pytest.raises(ConfigError, match=r"in use; it is the gRPC port \(--address\)"):
        create_server(config, {})
    assert not (tmp_path / "store.sqlite").exists()


def test_metrics_endpoint_counts_statuses_latencies_and_fits(observed: RunningServer) -> None:
    elapsed = exercise(observed)
    samples = scrape(observed)
    rpc = {"grpc_service": "latency.v1.LatencyEstimator", "grpc_type": "unary"}
    handled = "grpc_server_handled_total"
    assert value(samples, handled, **rpc, grpc_method="Predict", grpc_code="OK") == 3
    assert value(samples, handled, **rpc, grpc_method="GetDevice", grpc_code="NOT_FOUND") == 1
    assert value(samples, handled, **rpc, grpc_method="AddMeasurements", grpc_code="OK") == 1
    assert value(samples, "grpc_server_started_total", **rpc, grpc_method="Predict") == 3
    histogram = "grpc_server_handling_seconds"
    assert value(samples, f"{histogram}_count", **rpc, grpc_method="Predict") == 3
    # In seconds: any other unit (ms) would exceed the calls' own wall time.
    assert 0 < value(samples, f"{histogram}_sum", **rpc, grpc_method="Predict") < elapsed
    assert value(samples, f"{histogram}_bucket", **rpc, grpc_method="Predict", le="+Inf") == 3
    assert value(samples, "grpc_server_in_flight") == 0
    assert value(samples, "latency_model_fit_seconds_count", stage="startup") == 1
    # pi4 was conditioned twice: before and after its new measurement (one refit each).
    assert value(samples, "latency_model_fit_seconds_count", stage="device") == 2
    assert 0 < value(samples, "latency_model_fit_seconds_sum", stage="device") < elapsed
    # The server's own memory (the README sizes hosts by it): its registry had none.
    assert value(samples, "process_resident_memory_bytes") > 10e6


def test_servers_in_one_process_keep_their_own_metrics(
    observed: RunningServer, tmp_path: Path
) -> None:
    other = start_server(tmp_path / "other.sqlite", {}, metrics_address="127.0.0.1:0")
    try:
        exercise(observed)
        samples = scrape(other)
    finally:
        other.stop(grace=0)
    assert not [key for key in samples if key[0] == "grpc_server_handled_total"]


def test_one_access_log_line_per_rpc(
    observed: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    elapsed = exercise(observed)
    lines = [r for r in caplog.records if r.name == "service.access"]
    assert [(r.rpc["method"], r.rpc["code"]) for r in lines] == [  # type: ignore[attr-defined]
        ("Predict", "OK"),
        ("Predict", "OK"),
        ("GetDevice", "NOT_FOUND"),
        ("AddMeasurements", "OK"),
        ("Predict", "OK"),
    ]
    text = lines[2].getMessage()
    assert text.startswith("rpc method=GetDevice code=NOT_FOUND duration_ms=")
    assert " peer=ipv4:127.0.0.1:" in text
    durations = [r.rpc["duration_ms"] for r in lines]  # type: ignore[attr-defined]
    assert all(0 <= ms < elapsed * 1000 for ms in durations), (durations, elapsed)


def test_json_formatter_puts_rpc_fields_on_one_line() -> None:
    record = logging.LogRecord("service.access", logging.INFO, __file__, 1, "rpc %s", ("x",), None)
    record.rpc = {"method": "Predict", "code": "OK", "duration_ms": 1.5, "peer": "ipv4:1"}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "rpc x" and entry["level"] == "INFO"
    # An ISO 8601 time with its offset (it had none), at the record's instant to the ms.
    logged = datetime.fromisoformat(entry["ts"])
    assert logged.utcoffset() is not None
    assert abs(logged.timestamp() - record.created) < 1e-3
    assert (entry["method"], entry["code"], entry["duration_ms"]) == ("Predict", "OK", 1.5)


class _AbandonedContext:
    """A call whose client stopped waiting while the handler ran."""

    def __init__(self, time_remaining: float | None = None) -> None:
        self.remaining = time_remaining
        self.address = "ipv4:127.0.0.1:1"

    def code(self) -> None:
        return None

    def time_remaining(self) -> float | None:
        return self.remaining

    def is_active(self) -> bool:
        return False

    def peer(self) -> str:
        return self.address

    def leave(self) -> str:
        """The handler's answer, given after its client left: grpc then tells no peer."""
        self.address = ""
        return "answer"


def test_a_call_whose_client_is_gone_is_logged_cancelled_not_ok(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, a handler that outlived the grace period was logged code=OK, though its client
    had been answered UNAVAILABLE."""
    metrics = Metrics()
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: context.leave())
    details = SimpleNamespace(method="/latency.v1.LatencyEstimator/SuggestSamples")
    observed = TelemetryInterceptor(metrics).wrap(handler, details)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        observed.unary_unary(None, _AbandonedContext())
    assert "method=SuggestSamples code=CANCELLED" in caplog.text


def test_a_call_that_ran_past_its_deadline_is_logged_deadline_exceeded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, it was logged and counted CANCELLED, though its client saw DEADLINE_EXCEEDED."""
    metrics = Metrics()
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: context.leave())
    details = SimpleNamespace(method="/latency.v1.LatencyEstimator/Predict")
    observed = TelemetryInterceptor(metrics).wrap(handler, details)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        observed.unary_unary(None, _AbandonedContext(time_remaining=-0.5))
    # The peer as the call began: it was logged empty ("peer="), its client being gone.
    assert "method=Predict code=DEADLINE_EXCEEDED" in caplog.text
    assert caplog.text.rstrip().endswith("peer=ipv4:127.0.0.1:1")
    labels = {"grpc_type": "unary", "grpc_service": "latency.v1.LatencyEstimator"}
    handled = {**labels, "grpc_method": "Predict", "grpc_code": "DEADLINE_EXCEEDED"}
    assert metrics.registry.get_sample_value("grpc_server_handled_total", handled) == 1


@pytest.mark.parametrize(("remaining", "code"), [(0.01, "DEADLINE_EXCEEDED"), (0.5, "CANCELLED")])
def test_a_call_ended_just_before_the_server_s_copy_of_its_deadline_ended_by_it(
    remaining: float, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its client gives up at the deadline, the server's copy of which is later by the
    request's transit: health Watch streams every client saw end DEADLINE_EXCEEDED were
    mostly counted CANCELLED."""
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: context.leave())
    details = SimpleNamespace(method="/latency.v1.LatencyEstimator/Predict")
    observed = TelemetryInterceptor(Metrics()).wrap(handler, details)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        observed.unary_unary(None, _AbandonedContext(time_remaining=remaining))
    assert f"method=Predict code={code}" in caplog.text


def test_health_probes_answered_ok_log_at_debug_only(
    observed: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A probe every 30 s (the image's HEALTHCHECK) would be 2,880 INFO lines a day."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    caplog.set_level(logging.DEBUG, logger="service.access")
    with grpc.insecure_channel(f"127.0.0.1:{observed.port}") as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    levels = [r.levelno for r in caplog.records if "Health/Check" in r.getMessage()]
    assert levels == [logging.DEBUG]


def test_streaming_rpcs_are_logged_and_counted_by_their_status(
    observed: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, only unary RPCs were observed: a health Watch or a reflection stream (grpcurl
    list) left no access-log line and no count."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    caplog.set_level(logging.INFO, logger="service.access")
    with grpc.insecure_channel(f"127.0.0.1:{observed.port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo
        assert list(reflect(iter([ask])))[0].list_services_response.service
    health = {"grpc_service": "grpc.health.v1.Health", "grpc_method": "Watch"}
    reflection = {
        "grpc_service": "grpc.reflection.v1alpha.ServerReflection",
        "grpc_method": "ServerReflectionInfo",
    }
    for _ in range(50):  # the cancelled Watch is recorded when grpc sees its end
        samples = scrape(observed)
        if value(
            samples,
            "grpc_server_handled_total",
            grpc_type="server_stream",
            **health,
            grpc_code="CANCELLED",
        ):
            break
        time.sleep(0.1)
    assert value(samples, "grpc_server_started_total", grpc_type="server_stream", **health) == 1
    assert (
        value(
            samples,
            "grpc_server_handled_total",
            grpc_type="server_stream",
            **health,
            grpc_code="CANCELLED",
        )
        == 1
    )
    assert (
        value(
            samples,
            "grpc_server_handled_total",
            grpc_type="bidi_stream",
            **reflection,
            grpc_code="OK",
        )
        == 1
    )
    assert (
        value(samples, "grpc_server_handling_seconds_count", grpc_type="bidi_stream", **reflection)
        == 1
    )
    assert value(samples, "grpc_server_in_flight") == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "service.access"]
    assert any("method=grpc.health.v1.Health/Watch code=CANCELLED" in line for line in lines)
    assert any(
        "method=grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo code=OK" in line
        for line in lines
    )


def test_the_metrics_url_logged_for_an_ipv6_host_is_a_url(caplog: pytest.LogCaptureFixture) -> None:
    """It was "http://::1:9464/metrics", which no browser or scraper config takes."""
    from service.telemetry import MetricsEndpoint

    caplog.set_level(logging.INFO, logger="service.telemetry")
    try:
        endpoint = MetricsEndpoint(Metrics(), "[::1]:0")
    except ConfigError:
        pytest.skip("no IPv6 loopback here")
    try:
        with urllib.request.urlopen(f"http://[::1]:{endpoint.port}/metrics", timeout=10) as reply:
            assert reply.status == 200
    finally:
        endpoint.close()
    assert f"metrics on http://[::1]:{endpoint.port}/metrics" in caplog.text


class _StreamContext:
    """A streaming call that runs to its end; ``end()`` runs what grpc runs when it ends."""

    def __init__(self) -> None:
        self.status: grpc.StatusCode | None = None
        self.callbacks: list[Callable[[], None]] = []

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self.callbacks.append(callback)
        return True

    def code(self) -> grpc.StatusCode | None:
        return self.status

    def time_remaining(self) -> float | None:
        return None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.status = code
        raise RuntimeError(details)

    def end(self) -> None:
        for callback in self.callbacks:
            callback()


def _observe_stream(
    handler: grpc.RpcMethodHandler, metrics: Metrics
) -> tuple[grpc.RpcMethodHandler, _StreamContext]:
    details = SimpleNamespace(method="/latency.v1.LatencyEstimator/Stream")
    observed = TelemetryInterceptor(metrics).intercept_service(lambda _: handler, details)  # type: ignore[arg-type]
    assert observed is not None
    return observed, _StreamContext()


def _handled(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {
        (s.labels["grpc_type"], s.labels["grpc_code"]): s.value
        for family in metrics.registry.collect()
        if family.name == "grpc_server_handled"
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_a_stream_that_ends_is_recorded_once_as_ok(caplog: pytest.LogCaptureFixture) -> None:
    """grpc runs a call's end callbacks after a stream's last answer too: had that end been
    recorded again, each finished stream would also have been logged and counted CANCELLED
    (the server test may scrape the metrics before that callback has run)."""
    metrics = Metrics()
    answers = grpc.unary_stream_rpc_method_handler(lambda request, context: iter([1, 2]))
    observed, context = _observe_stream(answers, metrics)
    with caplog.at_level(logging.INFO, logger="service.access"):
        assert list(observed.unary_stream(None, context)) == [1, 2]
        context.end()
    one = grpc.stream_unary_rpc_method_handler(lambda requests, context: sum(requests))
    observed, context = _observe_stream(one, metrics)
    with caplog.at_level(logging.INFO, logger="service.access"):
        assert observed.stream_unary(iter([1, 2]), context) == 3
        context.end()
    assert _handled(metrics) == {("server_stream", "OK"): 1, ("client_stream", "OK"): 1}
    assert [r.rpc["code"] for r in caplog.records] == ["OK", "OK"]  # type: ignore[attr-defined]


def test_a_stream_its_handler_aborts_is_recorded_with_the_abort_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not UNKNOWN, which reads as a server bug (a WARNING line)."""

    def refuse(request: object, context: _StreamContext) -> Iterator[int]:
        yield 1
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "not yours")

    metrics = Metrics()
    observed, context = _observe_stream(grpc.unary_stream_rpc_method_handler(refuse), metrics)
    with caplog.at_level(logging.INFO, logger="service.access"), pytest.raises(RuntimeError):
        list(observed.unary_stream(None, context))
    context.end()
    assert _handled(metrics) == {("server_stream", "PERMISSION_DENIED"): 1}
    assert "method=Stream code=PERMISSION_DENIED" in caplog.text


def test_an_access_line_gives_milliseconds_and_warns_of_server_faults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        log_rpc("Predict", grpc.StatusCode.OK, 0.0123, "ipv4:1")
        log_rpc("Predict", grpc.StatusCode.INTERNAL, 0.5, "ipv4:1")
        log_rpc("Predict", grpc.StatusCode.NOT_FOUND, 0.5, "ipv4:1")
        log_rpc("AddMeasurements", grpc.StatusCode.DATA_LOSS, 0.5, "ipv4:1")  # a corrupt store
        log_rpc("Predict", grpc.StatusCode.UNKNOWN, 0.5, "ipv4:1")
        log_rpc("Predict", grpc.StatusCode.UNAVAILABLE, 0.5, "ipv4:1")  # busy: the client retries
    assert (
        caplog.records[0].getMessage() == "rpc method=Predict code=OK duration_ms=12.3 peer=ipv4:1"
    )
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.INFO, logging.WARNING, logging.INFO] + [logging.WARNING] * 2 + [
        logging.INFO
    ]


def test_json_formatter_keeps_the_traceback() -> None:
    try:
        raise ValueError("broken fit")
    except ValueError:
        record = logging.LogRecord(
            "service", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exc"].startswith("Traceback") and "ValueError: broken fit" in entry["exc"]
