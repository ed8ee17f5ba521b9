"""Building and running the gRPC server: servicer, health checking, reflection, shutdown.

Start-up order: open the store, listen (health NOT_SERVING), then import the dataset if the
store is empty and a dataset is configured, fit or load the model, and report SERVING. Model
RPCs answer UNAVAILABLE until then; device RPCs work at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import MutableMapping
from concurrent import futures
from dataclasses import dataclass
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gp.estimator import LatencyEstimator
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.config import MESSAGE_LIMIT_BYTES, ServiceConfig
from service.importer import import_help
from service.registry import Registry
from service.servicer import LatencyEstimatorServicer
from service.store import Store

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

    def warm_up(self) -> None:
        """Imports the configured dataset into an empty store, readies the model, SERVING."""
        if self.config.dataset is not None and not self.store.list_devices():
            logger.info("store is empty: importing %s", self.config.dataset)
            import_help(self.config.dataset, self.store, progress=False)
        self.registry.start()
        self._set_status(health_pb2.HealthCheckResponse.SERVING)

    def _set_status(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, let in-flight RPCs finish for ``grace`` seconds, close the store."""
        self.health.enter_graceful_shutdown()
        self.server.stop(self.config.grace_s if grace is None else grace).wait()
        self.store.close()
        logger.info("server stopped")


def create_server(
    config: ServiceConfig, model_cache: MutableMapping[str, LatencyEstimator] | None = None
) -> RunningServer:
    """Opens the store and starts listening; call :meth:`RunningServer.warm_up` next.

    Args:
        config: the service configuration.
        model_cache: fitted estimators by fit key shared between servers of one process.
    """
    store = Store(config.store_path)
    registry = Registry(store, config.fit, config.max_conditioning, memory_cache=model_cache)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers),
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        options=[
            ("grpc.max_send_message_length", MESSAGE_LIMIT_BYTES),
            ("grpc.max_receive_message_length", MESSAGE_LIMIT_BYTES),
        ],
    )
    servicer = LatencyEstimatorServicer(store, registry, config.max_batch)
    pb_grpc.add_LatencyEstimatorServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(config.address)
    if port == 0:
        store.close()
        raise OSError(f"cannot listen on {config.address}")
    running = RunningServer(server, port, store, registry, health_servicer, config)
    running._set_status(health_pb2.HealthCheckResponse.NOT_SERVING)
    server.start()
    logger.info("listening on %s (port %d), store %s", config.address, port, config.store_path)
    return running


def serve(config: ServiceConfig) -> int:
    """Runs the server until SIGTERM/SIGINT; returns the process exit code."""
    running = create_server(config)
    stop = threading.Event()
    failed = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    def warm_up() -> None:
        try:
            running.warm_up()
        except Exception:
            logger.exception("start-up failed")
            failed.set()
            stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    warm = threading.Thread(target=warm_up, name="warm-up", daemon=True)
    warm.start()
    stop.wait()
    running.stop()
    code = 1 if failed.is_set() else 0
    if warm.is_alive():
        # Stopped mid-fit: torch's worker threads cannot be joined, so leave at once.
        logging.shutdown()
        os._exit(code)
    return code
