"""Service configuration: defaults, environment variables and flags, in one place.

Imports nothing heavy at module level, so the CLI can read the defaults cheaply.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gp.model import FitSettings

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_MAX_BATCH = 100_000
MESSAGE_LIMIT_BYTES = 64 * 1024 * 1024

ENV_ADDRESS = "LATENCY_ADDRESS"
ENV_STORE = "LATENCY_STORE"
ENV_DATASET = "LATENCY_DATASET"
ENV_FIT_ITERATIONS = "LATENCY_FIT_ITERATIONS"
ENV_MAX_BATCH = "LATENCY_MAX_BATCH"


def default_store_path() -> Path:
    """``<user data dir>/nas-latency-estimator/store.sqlite`` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("nas-latency-estimator")) / "store.sqlite"


def fit_settings_from_env() -> FitSettings:
    """Default fit settings, with ``LATENCY_FIT_ITERATIONS`` overriding the iteration count."""
    from gp.model import FitSettings  # torch: only where a fit is configured

    value = os.environ.get(ENV_FIT_ITERATIONS)
    return FitSettings(iterations=int(value)) if value else FitSettings()


@dataclass
class ServiceConfig:
    """Everything ``serve`` needs.

    Attributes:
        address: ``host:port`` to listen on (port 0 picks a free one).
        store_path: the SQLite file; the model cache lives beside it.
        dataset: a HELP dataset directory imported at first start when the store is empty.
        max_batch: most archs/measurements/candidates one request may carry.
        max_workers: gRPC thread pool size.
        max_concurrent_rpcs: RPCs in flight before the server answers RESOURCE_EXHAUSTED.
        grace_s: how long in-flight RPCs may finish on shutdown.
        max_conditioning: most measurements one device's posterior is conditioned on (an exact
            GP costs n^3; a source device has 15,625).
        fit: the source fit's settings.
    """

    address: str = DEFAULT_ADDRESS
    store_path: Path = field(default_factory=default_store_path)
    dataset: Path | None = None
    max_batch: int = DEFAULT_MAX_BATCH
    max_workers: int = 8
    max_concurrent_rpcs: int = 32
    grace_s: float = 5.0
    max_conditioning: int = 1000
    fit: FitSettings = field(default_factory=fit_settings_from_env)

    @classmethod
    def from_env(cls, **overrides: object) -> ServiceConfig:
        """Defaults < environment < explicit (non-None) overrides."""
        values: dict[str, object] = {}
        if os.environ.get(ENV_ADDRESS):
            values["address"] = os.environ[ENV_ADDRESS]
        if os.environ.get(ENV_STORE):
            values["store_path"] = Path(os.environ[ENV_STORE])
        if os.environ.get(ENV_DATASET):
            values["dataset"] = Path(os.environ[ENV_DATASET])
        if os.environ.get(ENV_MAX_BATCH):
            values["max_batch"] = int(os.environ[ENV_MAX_BATCH])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
