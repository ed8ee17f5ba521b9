"""Building and running the gRPC server: servicer, health checking, reflection, shutdown.

Start-up order: open the store (refusing a corrupt one), listen (health NOT_SERVING), then
import the dataset if the store is empty and a dataset is configured (or finish an import a
stop interrupted: ``<store>.importing`` marks one), fit or load the model, and report
SERVING. Model RPCs answer UNAVAILABLE until then, and RegisterDevice until the import is done;
the other device RPCs work at once.

Every unary RPC passes, outermost first, through telemetry (access log, metrics), the write
token check (when a token is configured) and the request guard (undecodable bytes, expired
deadlines); see :mod:`service.telemetry`, :mod:`service.auth`, :mod:`service.guard`. With a
certificate and key the port speaks TLS only.
"""

from __future__ import annotations

import errno
import gc
import ipaddress
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import MutableMapping
from concurrent import futures
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import FrameType

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gp.errors import DatasetError
from gp.estimator import LatencyEstimator
from service import DISTRIBUTION, installed_version
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.addresses import SOCKET_SCHEMES, split_address
from service.auth import TokenAuthInterceptor, load_token, warn_if_readable_by_others
from service.certificates import (
    PEM_CERTIFICATE,
    PEM_PRIVATE_KEY,
    certificates_problem,
    expiry_warning,
    private_key_problem,
    validity_problem,
)
from service.config import ENV_ADDRESS, ENV_TOKEN, ServiceConfig
from service.cpus import usable_cpus
from service.errors import ConfigError, DeviceExistsError, StoreError
from service.guard import RequestGuardInterceptor
from service.importer import import_marker, import_tables, is_import_help_mark, read_tables
from service.registry import Registry
from service.servicer import LatencyEstimatorServicer
from service.serving import ServingLock
from service.store import Store
from service.telemetry import Metrics, MetricsEndpoint, TelemetryInterceptor
from service.wording import quantity

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["LatencyEstimator"].full_name


@dataclass
class RunningServer:
    """A started server and what it owns."""

    server: grpc.Server
    port: int
    store: Store
    registry: Registry
    health: health.HealthServicer
    config: ServiceConfig
    metrics: Metrics = field(default_factory=Metrics)
    metrics_endpoint: MetricsEndpoint | None = None
    #: Set from before the server listens until the dataset's import (if any) is done.
    importing: threading.Event = field(default_factory=threading.Event)
    #: The store's lock, which tells another server started on it that this one serves it.
    serving_lock: ServingLock | None = None

    def warm_up(self) -> None:
        """Imports the configured dataset into an empty store (or finishes an interrupted
        import), readies the model, SERVING."""
        self._import_dataset()
        self.registry.start()
        self._set_status(health_pb2.HealthCheckResponse.SERVING)

    def _import_dataset(self) -> None:
        try:
            self._import_into_store()
        finally:
            # An import left pending (interrupted, and no --dataset now to finish it) keeps
            # devices from registering, as during it (a review, 2026-12-06).
            if not import_marker(self.store.path).exists():
                self.importing.clear()

    def _import_into_store(self) -> None:
        # The marker outlives an import that is stopped or killed, so the next start finishes
        # it (the import is idempotent) instead of fitting on the tables it got to.
        marker = import_marker(self.store.path)
        dataset = self.config.dataset
        pending = marker.read_text().strip() if marker.exists() else None
        # import-help's is its own to finish: a start took it for its first import and
        # imported every table into a store of chosen ones (a review).
        if pending is not None and _left_to_another(pending, self.config):
            how = (
                "run import-help again"
                if is_import_help_mark(pending)
                else "serve with --dataset (or run import-help)"
            )
            logger.warning(
                "the import of %s into this store is not finished: if it was interrupted (not"
                " under way in another process), %s to finish it",
                pending,
                how,
            )
            return
        if dataset is None:
            return
        if pending is not None:
            logger.info("finishing the interrupted import of %s", dataset)
        elif devices := self.store.list_devices():
            # Said, since a dataset given to a store that holds devices is left unread.
            logger.info(
                "the store already holds %s: %s is imported only into an empty store"
                " (import-help adds tables to this one)",
                quantity(len(devices), "device"),
                dataset,
            )
            return
        else:
            logger.info("store is empty: importing %s", dataset)
        # Read and checked before the marker: a bad table had left one, and the next start
        # said the import was interrupted (a review, 2026-12-06).
        tables = read_tables(dataset)
        marker.write_text(f"{dataset}\n")
        import_tables(tables, self.store, progress=False)
        marker.unlink(missing_ok=True)  # a server started on the store at once finished too

    def _set_status(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, let in-flight RPCs finish for ``grace`` seconds, close the store."""
        self.health.enter_graceful_shutdown()
        self.server.stop(self.config.grace_s if grace is None else grace).wait()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()
        if self.metrics.busy():
            # A handler past the grace period may hold the store's write lock for seconds
            # (waiting for another process's): every acknowledged write is on disk already,
            # and serve() leaves at once.
            logger.info("store left open to the RPCs still running")
        else:
            self.store.close()
        if self.serving_lock is not None:
            self.serving_lock.release()
        logger.info("server stopped")


def create_server(
    config: ServiceConfig, model_cache: MutableMapping[str, LatencyEstimator] | None = None
) -> RunningServer:
    """Opens the store and starts listening; call :meth:`RunningServer.warm_up` next.

    Args:
        config: the service configuration.
        model_cache: fitted estimators by fit key shared between servers of one process.
    """
    token = load_token(config)
    credentials = _server_credentials(config)
    metrics = Metrics()
    with ExitStack() as undo:
        # Both ports are bound before the store is opened: a start that cannot listen leaves
        # no new, empty store behind.
        server, port = _bound_server(config, metrics, token, credentials)
        undo.callback(_release, server)
        endpoint = None
        if config.metrics_address:
            endpoint = MetricsEndpoint(metrics, config.metrics_address, port)
            undo.callback(endpoint.close)
        store = Store(config.store_path)
        undo.callback(store.close)
        lock = ServingLock(store.path, f"{config.address}{_port_named(config, port, before=', ')}")
        undo.callback(lock.release)
        running = _start(server, port, config, store, metrics, endpoint, model_cache)
        running.serving_lock = lock
        undo.pop_all()  # started: the running server closes them on stop
    _warn_if_exposed(config, token is not None)
    logger.info(
        "listening on %s (%s%s, writes %s), store %s",
        config.address,
        _port_named(config, running.port, after=", "),
        "TLS" if credentials is not None else "plaintext",
        "need a token" if token is not None else "open",
        config.store_path,
    )
    if running.store.created:
        _say_the_store_is_new(config)
    return running


def _port_named(config: ServiceConfig, port: int, before: str = "", after: str = "") -> str:
    """``port`` as "port N" between ``before`` and ``after``; "" for a socket file, whose
    binding grpc gives port 1: no port to name (a review)."""
    return "" if config.address.startswith(SOCKET_SCHEMES) else f"{before}port {port}{after}"


def _release(server: grpc.Server) -> None:
    """Frees the port of a server that never started. grpc unbinds a port only when a started
    server stops: stop() alone, or dropping the server, kept it bound for the rest of the
    process, and the next start there failed "cannot listen"."""
    server.start()
    server.stop(None).wait()


def _say_the_store_is_new(config: ServiceConfig) -> None:
    """A mistyped --store served a new, empty store, and only the fit's later note of 0
    source tables hinted at it."""
    if config.dataset is not None:  # a first start that imports: the expected case
        logger.info("no store at %s: created a new one for %s", config.store_path, config.dataset)
        return
    logger.warning(
        "no store at %s: created a new, empty one (check the path if you meant an existing"
        " store; import-help or --dataset loads the HELP tables)",
        config.store_path,
    )


def _socket_answers(address: str) -> bool:
    """Whether ``address`` is a ``unix:`` socket file another process listens on. grpc removes
    the file before it binds (no port reuse to refuse it), so a second server took the first's
    path, and removed it when it stopped: the first ran on unreachable (a review, 2026-12-06)."""
    if not address.startswith("unix:"):
        return False
    path = address.removeprefix("unix:")
    path = "/" + path.lstrip("/") if path.startswith("//") else path  # unix:///abs/path
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:  # refused: a file no server listens on, which grpc may replace
            return False
    return True


def _localhost_taken(address: str) -> str | None:
    """Which of localhost's two loopback addresses another process listens on at the port of
    ``address`` (``localhost:P``), or None. grpc binds both and starts where only one is free,
    saying so at INFO: clients dialling localhost then reached the other process (a review,
    2026-12-06)."""
    if address.startswith(SOCKET_SCHEMES):
        return None
    host, port = split_address(address)
    if host.lower() != "localhost" or port == 0:
        return None
    for family, loopback in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                # As grpc binds: a port left in TIME_WAIT by a server just stopped is free.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((loopback, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return loopback
            # No IPv6 (or IPv4) here: grpc binds the other alone, as it should.
    return None


def _bound_server(
    config: ServiceConfig,
    metrics: Metrics,
    token: str | None,
    credentials: grpc.ServerCredentials | None,
) -> tuple[grpc.Server, int]:
    """A grpc server (not started) listening on the configured address, and its port."""
    if _socket_answers(config.address):
        raise _cannot_listen(config, "another process listens there")
    if taken := _localhost_taken(config.address):
        raise _cannot_listen(
            config,
            f"another process listens on [{taken}]:{split_address(config.address)[1]}, which"
            " clients of localhost may reach",
        )
    interceptors: list[grpc.ServerInterceptor] = [TelemetryInterceptor(metrics)]
    if token is not None:
        interceptors.append(TokenAuthInterceptor(token))
    interceptors.append(RequestGuardInterceptor(config.max_message_bytes))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers),
        interceptors=interceptors,
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        options=[
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            # grpc shares a port with another server by default: both would answer, in turn.
            ("grpc.so_reuseport", 0),
        ],
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(config.address)
        else:
            port = server.add_secure_port(config.address, credentials)
    except RuntimeError:  # grpc's way of saying the address is taken or malformed
        port = 0
    if port == 0:
        raise _cannot_listen(
            config, "the port is taken, or the host is not one of this machine's addresses"
        )
    return server, port


def _cannot_listen(config: ServiceConfig, reason: str) -> ConfigError:
    """The refusal of the configured address, naming the setting as every start-up check does."""
    return ConfigError(f"cannot listen on {config.address} (--address/{ENV_ADDRESS}): {reason}")


def _start(
    server: grpc.Server,
    port: int,
    config: ServiceConfig,
    store: Store,
    metrics: Metrics,
    endpoint: MetricsEndpoint | None,
    model_cache: MutableMapping[str, LatencyEstimator] | None,
) -> RunningServer:
    registry = Registry(
        store,
        config.fit,
        config.max_conditioning,
        memory_cache=model_cache,
        on_fit=lambda stage, seconds: metrics.fit.labels(stage).observe(seconds),
    )
    importing = threading.Event()
    # Held from before the first call (see RegisterDevice), and while an import this server
    # does not finish is unfinished: interrupted, or another process's under way.
    marker = import_marker(store.path)
    awaited = marker if marker.exists() and _left_to_another(marker.read_text(), config) else None
    if config.dataset is not None or awaited is not None:
        importing.set()
    servicer = LatencyEstimatorServicer(
        store,
        registry,
        config.max_batch,
        importing,
        suggestion_slots=config.suggestion_slots,
        awaited_import=awaited,
    )
    pb_grpc.add_LatencyEstimatorServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    running = RunningServer(
        server, port, store, registry, health_servicer, config, metrics, endpoint, importing
    )
    running._set_status(health_pb2.HealthCheckResponse.NOT_SERVING)
    server.start()
    return running


def _left_to_another(pending: str, config: ServiceConfig) -> bool:
    """Whether the pending import the marker's text ``pending`` names is not this server's to
    finish (it has no --dataset, or the import is import-help's), so that its end elsewhere is
    watched for."""
    return config.dataset is None or is_import_help_mark(pending)


def _server_credentials(config: ServiceConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from the configured PEM files, checked to load and to match."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    unusable = f"cannot use TLS certificate {config.tls_cert} with key {config.tls_key}"
    try:
        cert, key = config.tls_cert.read_bytes(), config.tls_key.read_bytes()
        # ssl's own words for a file that is no PEM, or the two swapped, were "[SSL] PEM lib".
        if problem := certificates_problem(cert, config.tls_cert) or private_key_problem(
            key, config.tls_key
        ):
            swapped = PEM_PRIVATE_KEY.search(cert) and PEM_CERTIFICATE.search(key)
            raise ConfigError(
                f"{unusable}: {problem}"
                + ("; --tls-cert and --tls-key swapped?" if swapped else "")
            )
        # grpc only fails at the first handshake; ssl says at once what is wrong and where.
        # A password, so that ssl never asks for one on the terminal.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            config.tls_cert, config.tls_key, password=b""
        )
        if problem := validity_problem(config.tls_cert):
            raise ConfigError(f"{unusable}: {problem}")
        if soon := expiry_warning(config.tls_cert):
            logger.warning("TLS certificate %s", soon)
        # As of a token file: a key others can read lets them pose as this server.
        warn_if_readable_by_others(config.tls_key, "TLS key")
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{unusable}: {exc}") from None
    return grpc.ssl_server_credentials([(key, cert)])


def is_loopback(address: str) -> bool:
    """Whether ``host:port`` (or a ``unix:`` socket) only listens on this machine."""
    if address.startswith(SOCKET_SCHEMES):
        return True
    host = address.rpartition(":")[0].strip("[]") or address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_if_exposed(config: ServiceConfig, has_token: bool) -> None:
    if config.metrics_address and not is_loopback(config.metrics_address):
        # It holds no device names nor tokens, but it answers anyone, in plaintext, with a
        # thread per connection held open.
        logger.warning(
            "serving metrics on %s, reachable from other machines, unauthenticated and in"
            " plaintext; keep it on loopback unless a firewall guards the port",
            config.metrics_address,
        )
    if is_loopback(config.address):
        return
    if not config.tls:
        logger.warning(
            "serving plaintext on %s, reachable from other machines: anyone on the network can"
            " read the traffic%s; configure --tls-cert and --tls-key",
            config.address,
            ", including the write token" if has_token else " and, without a token, write",
        )
    elif not has_token:
        # TLS hides the traffic but checks no client: writes are as open as in plaintext.
        logger.warning(
            "serving TLS on %s, reachable from other machines, with no write token: anyone who"
            " can reach it can add measurements and register devices; configure --token-file"
            " (or %s)",
            config.address,
            ENV_TOKEN,
        )


def _freeze_start_up_heap() -> None:
    """Takes what start-up made (torch, gpytorch, grpc, the fitted model: it lives as long as
    the process) out of the cyclic garbage collector's scans. A Predict of all 15,625 NB201
    archs makes some 100,000 objects, so every third to fifth one ran a full collection over
    that heap: 190-260 ms in place of 60-70 ms, a third of the handlers' mean time."""
    gc.collect()  # the fit's cyclic garbage, which a frozen heap would keep for good
    gc.freeze()


def limit_torch_threads() -> None:
    """Runs torch on as many threads as this process has CPUs: its default counts the
    affinity's cores, which a container's CPU quota (``docker run --cpus 2`` on a 64-core host)
    does not shrink, and threads beyond the quota stall each other's parallel loops. An
    operator's ``OMP_NUM_THREADS`` is theirs to keep (torch reads it)."""
    if os.environ.get("OMP_NUM_THREADS"):  # set empty, torch ignores it too
        return
    cpus, threads = usable_cpus(), torch.get_num_threads()
    if threads > cpus:
        logger.info(
            "torch threads: %d, the CPUs this process may use (its default: %d)", cpus, threads
        )
        torch.set_num_threads(cpus)


def serve(config: ServiceConfig) -> int:
    """Runs the server until SIGTERM/SIGINT (SIGHUP is logged, not obeyed); returns the process
    exit code."""
    limit_torch_threads()
    logger.info("%s %s", DISTRIBUTION, installed_version())
    running = create_server(config)
    stop = threading.Event()
    failed, refused = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    def warm_up() -> None:
        try:
            running.warm_up()
        except (DatasetError, DeviceExistsError, StoreError) as exc:
            # What the operator must fix, in one line as the other start-up errors: a bad
            # dataset ended in a traceback and exit 1 (a review, 2026-12-06).
            logger.error("cannot start: %s", exc)
            refused.set()
            stop.set()
            return
        except Exception:
            if stop.is_set():
                # The stop closed the store under the import or the read of the sources: a
                # requested stop, not a failed start (it logged a traceback, and exited 1 when
                # this ran before the exit code was read).
                logger.info("start-up stopped before the model was ready")
                return
            logger.exception("start-up failed")
            failed.set()
            stop.set()
            return
        _freeze_start_up_heap()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        # SIGHUP's default action kills the process without the graceful stop, and
        # supervisors send it to "reload" (systemctl reload) or when a terminal closes.
        logger.warning(
            "received SIGHUP: nothing is reloaded, still serving (restart the server to refit"
            " the model or to read changed settings)"
        )

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    warm = threading.Thread(target=warm_up, name="warm-up", daemon=True)
    warm.start()
    stop.wait()
    running.stop()
    code = 2 if refused.is_set() else 1 if failed.is_set() else 0
    busy = running.metrics.busy()
    if warm.is_alive() or busy:
        # Stopped mid-fit (torch's worker threads cannot be joined), or handlers outlived the
        # grace period (their clients were answered UNAVAILABLE): the interpreter would wait
        # for them at exit, past a supervisor's kill timeout. Leave at once.
        if busy:
            logger.warning("%d RPCs still running after the grace period: abandoned", busy)
        logging.shutdown()
        os._exit(code)
    return code
