"""Observability: one structured log line per RPC and Prometheus metrics.

Every RPC is logged by the ``service.access`` logger as
``rpc method=Predict code=OK duration_ms=12.3 peer=ipv4:127.0.0.1:50312`` (the same fields
ride on the record as ``record.rpc`` for :class:`service.logs.JsonFormatter`). Request
metadata is never logged: it carries the bearer token.

Metrics follow the go-grpc-prometheus names, so the usual dashboards work:
``grpc_server_started_total``, ``grpc_server_handled_total{grpc_code}`` and the
``grpc_server_handling_seconds`` histogram (labels ``grpc_type``, ``grpc_service``,
``grpc_method``), plus ``latency_model_fit_seconds{stage}``: the shared model's fit or load at
start-up (``stage="startup"``) and each device posterior refitted on new data
(``stage="device"``). Each server owns its :class:`prometheus_client.CollectorRegistry`, so
servers in one process (tests) do not clash.

Streaming RPCs (the health service's ``Watch``, reflection) are logged and counted too, with
``grpc_type`` ``server_stream`` or ``bidi_stream``, from their start to their status (a
``Watch`` ends when its client cancels it: code ``CANCELLED``). ``grpc_server_in_flight``
counts unary RPCs only: a ``Watch`` may stay open for days without holding a worker.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import start_http_server

from service.config import ENV_METRICS_ADDRESS, parse_address
from service.errors import ConfigError, ended_call_code
from service.guard import Continuation, UnaryInterceptor, wrap_unary

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("service.access")

#: Seconds; spans a cached lookup (~1 ms) to a whole-space active suggestion (~10 s).
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
FIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800)
_OWN_SERVICE = "latency.v1.LatencyEstimator"  # its methods are logged by bare name
_HEALTH = "grpc.health.v1.Health/"


class Metrics:
    """The server's Prometheus collectors, registered in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The process's memory, CPU and open files (as the default registry has them): the
        # README sizes hosts by the server's RSS, which its own registry left unscraped.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            [*labels, "grpc_code"],
            registry=self.registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC's handler to its status.",
            labels,
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "grpc_server_in_flight", "RPCs being handled now.", registry=self.registry
        )
        self.fit = Histogram(
            "latency_model_fit_seconds",
            "Model fit time: shared fit or cache load at start-up, device posterior refits.",
            ["stage"],
            buckets=FIT_BUCKETS,
            registry=self.registry,
        )

    def busy(self) -> int:
        """RPCs being handled now."""
        return int(self.registry.get_sample_value("grpc_server_in_flight") or 0)

    def observe_rpc(
        self, method: str, code: grpc.StatusCode, seconds: float, kind: str = "unary"
    ) -> None:
        service, name = split_method(method)
        self.handled.labels(kind, service, name, code.name).inc()
        self.handling.labels(kind, service, name).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def split_method(method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service, name


class TelemetryInterceptor(UnaryInterceptor):
    """Times every RPC, streams included; logs and counts it with its status code and peer."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return self.wrap(handler, handler_call_details)
        return _observed_stream(handler, handler_call_details.method, self.metrics)

    def wrap(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method = details.method
        behavior = handler.unary_unary

        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            service, name = split_method(method)
            self.metrics.started.labels("unary", service, name).inc()
            self.metrics.in_flight.inc()
            started = time.perf_counter()
            peer = context.peer()  # once its client is gone, grpc tells none
            code = grpc.StatusCode.UNKNOWN
            try:
                response = behavior(request, context)
                # A call whose client is gone (cancelled, past its deadline, or the server
                # stopping past its grace period) got no answer, whatever the handler did.
                code = context.code() or (
                    grpc.StatusCode.OK if context.is_active() else ended_call_code(context)
                )
                return response
            except Exception:
                # context.abort() records the status before raising; anything else is a bug.
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                seconds = time.perf_counter() - started
                self.metrics.in_flight.dec()
                self.metrics.observe_rpc(method, code, seconds)
                log_rpc(_logged_name(method), code, seconds, peer)

        return wrap_unary(handler, observed)


def _logged_name(method: str) -> str:
    service, name = split_method(method)
    return name if service == _OWN_SERVICE else f"{service}/{name}"


def _observed_stream(
    handler: grpc.RpcMethodHandler, method: str, metrics: Metrics
) -> grpc.RpcMethodHandler:
    """``handler`` (a streaming one) logged and counted from its start to its status.

    The status is known at one of three points: the handler raises, its responses end (an
    iterator's end, or ``None`` given to the callback of a non-blocking handler such as the
    health service's ``Watch``, which holds no thread while it waits), or the call ends
    without either: its client cancelled it, its deadline passed, or the server stopped.
    """
    kind, behavior, make_handler = _STREAM_KINDS[
        (handler.request_streaming, handler.response_streaming)
    ](handler)

    def observed(
        request: Any, context: grpc.ServicerContext, *send_response: Callable[[Any], None]
    ) -> Any:
        service, name = split_method(method)
        metrics.started.labels(kind, service, name).inc()
        started = time.perf_counter()
        peer = context.peer()  # once its client is gone, grpc tells none
        unfinished = threading.Lock()  # held once the call is recorded

        def finish(code: grpc.StatusCode | None) -> None:
            if not unfinished.acquire(blocking=False):
                return  # recorded already: the call's end follows its handler's
            code = context.code() or code or ended_call_code(context)
            seconds = time.perf_counter() - started
            metrics.observe_rpc(method, code, seconds, kind)
            log_rpc(_logged_name(method), code, seconds, peer)

        context.add_callback(lambda: finish(None))
        # A non-blocking handler is given grpc's callback for its responses as a third argument.
        sending = [functools.partial(_sent, send=send, finish=finish) for send in send_response]
        try:
            responses = behavior(request, context, *sending)
        except Exception:
            finish(grpc.StatusCode.UNKNOWN)
            raise
        if not handler.response_streaming:
            finish(grpc.StatusCode.OK)
            return responses
        return None if responses is None else _observed_responses(responses, finish)

    for name in ("experimental_non_blocking", "experimental_thread_pool"):
        if hasattr(behavior, name):  # how grpc tells a non-blocking handler
            setattr(observed, name, getattr(behavior, name))
    return make_handler(observed, handler.request_deserializer, handler.response_serializer)


#: (request streaming, response streaming) -> go-grpc-prometheus' grpc_type, the behaviour and
#: the handler factory.
_STREAM_KINDS: dict[tuple[bool, bool], Callable[[grpc.RpcMethodHandler], tuple[Any, ...]]] = {
    (False, True): lambda h: (
        "server_stream",
        h.unary_stream,
        grpc.unary_stream_rpc_method_handler,
    ),
    (True, False): lambda h: (
        "client_stream",
        h.stream_unary,
        grpc.stream_unary_rpc_method_handler,
    ),
    (True, True): lambda h: ("bidi_stream", h.stream_stream, grpc.stream_stream_rpc_method_handler),
}


def _sent(
    response: Any,
    send: Callable[[Any], None],
    finish: Callable[[grpc.StatusCode | None], None],
) -> None:
    if response is None:  # a non-blocking handler's way of ending the call; recorded first,
        finish(grpc.StatusCode.OK)  # since the call's end may be seen before send returns
    send(response)


def _observed_responses(
    responses: Iterator[Any], finish: Callable[[grpc.StatusCode | None], None]
) -> Iterator[Any]:
    try:
        yield from responses
    except Exception:
        finish(grpc.StatusCode.UNKNOWN)
        raise
    finish(grpc.StatusCode.OK)


def log_rpc(method: str, code: grpc.StatusCode, seconds: float, peer: str) -> None:
    """One access-log line; WARNING for codes that point at the server, DEBUG for a health
    probe answered OK, INFO otherwise."""
    fields = {"method": method, "code": code.name, "duration_ms": round(seconds * 1e3, 3)}
    fields["peer"] = peer
    level = logging.WARNING if code in _SERVER_FAULTS else logging.INFO
    if level == logging.INFO and code == grpc.StatusCode.OK and method.startswith(_HEALTH):
        # The image's HEALTHCHECK probes every 30 s (2,880 lines a day), orchestrators more often.
        level = logging.DEBUG
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    access_logger.log(level, "rpc %s", text, extra={"rpc": fields})


_SERVER_FAULTS = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
)


class MetricsEndpoint:
    """Serves :class:`Metrics` over HTTP (``GET /metrics``) on ``host:port``."""

    def __init__(self, metrics: Metrics, address: str, grpc_port: int | None = None) -> None:
        """``grpc_port``: the port the gRPC server is bound to, named if the two collide."""
        host, port = parse_address(address, "metrics address")
        try:
            self._httpd, self._thread = start_http_server(port, host, registry=metrics.registry)
        except OSError as exc:
            # "[Errno 98] Address already in use" alone did not say what holds the port.
            clash = (
                "; it is the gRPC port (--address): give the metrics another"
                if port == grpc_port
                else ""
            )
            raise ConfigError(
                f"cannot serve metrics on {address} (--metrics-address/{ENV_METRICS_ADDRESS}):"
                f" {exc}{clash}"
            ) from None
        self.port = int(self._httpd.server_port)
        self.host = host
        # An IPv6 host is bracketed in a URL: "http://::1:9464/metrics" was none.
        shown = f"[{host}]" if ":" in host else host
        logger.info("metrics on http://%s:%d/metrics", shown, self.port)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
