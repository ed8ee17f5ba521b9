"""Service configuration: defaults, environment variables and flags, in one place.

Imports nothing heavy at module level (``service.errors`` is grpc only, no torch), so the CLI
can read the defaults cheaply.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from service.addresses import address_problem, split_address
from service.errors import ConfigError

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
ENV_TLS_CERT = "LATENCY_TLS_CERT"
ENV_TLS_KEY = "LATENCY_TLS_KEY"
ENV_TLS_CA = "LATENCY_TLS_CA"
ENV_TOKEN_FILE = "LATENCY_TOKEN_FILE"
ENV_TOKEN = "LATENCY_TOKEN"
ENV_METRICS_ADDRESS = "LATENCY_METRICS_ADDRESS"
ENV_LOG_FORMAT = "LATENCY_LOG_FORMAT"
ENV_LOG_LEVEL = "LATENCY_LOG_LEVEL"


def default_store_path() -> Path:
    """``<user data dir>/nas-latency-estimator/store.sqlite`` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("nas-latency-estimator")) / "store.sqlite"


def store_path_from_env(given: Path | None = None) -> Path:
    """``given``, else ``$LATENCY_STORE``, else :func:`default_store_path`: for the commands
    that need only the store (:class:`ServiceConfig` also reads the fit's settings, which
    imports torch)."""
    if given is not None:
        return given
    return Path(os.environ[ENV_STORE]) if os.environ.get(ENV_STORE) else default_store_path()


def fit_settings_from_env() -> FitSettings:
    """Default fit settings, with ``LATENCY_FIT_ITERATIONS`` overriding the iteration count."""
    from gp.model import FitSettings  # torch: only where a fit is configured

    iterations = positive_int_from_env(ENV_FIT_ITERATIONS)
    return FitSettings(iterations=iterations) if iterations else FitSettings()


def positive_int_from_env(name: str) -> int | None:
    """The positive integer in environment variable ``name`` (None when unset or empty)."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}={value!r}: expected a positive whole number")
    return number


def parse_address(address: str, what: str = "address") -> tuple[str, int]:
    """:func:`~service.addresses.split_address`, raising ConfigError naming ``what`` the
    address is for."""
    try:
        return split_address(address)
    except ValueError as exc:
        raise ConfigError(f"{what} {exc}") from None


@dataclass
class ServiceConfig:
    """Everything ``serve`` needs.

    Attributes:
        address: ``host:port`` to listen on (port 0 picks a free one).
        store_path: the SQLite file; the model cache lives beside it.
        dataset: a HELP dataset directory imported at first start when the store is empty.
        max_batch: most archs/measurements/candidates one request may carry.
        max_workers: gRPC thread pool size; half of them (at least one) may choose
            suggestions at once (:attr:`suggestion_slots`).
        max_concurrent_rpcs: RPCs in flight (running or queued for a worker) before the server
            answers RESOURCE_EXHAUSTED; well above the expected clients, since grpc counts a
            call until its status is sent and a client's next call can arrive before that.
        grace_s: how long in-flight RPCs may finish on shutdown.
        max_conditioning: most distinct archs one device's posterior is conditioned on, each
            with all its measurements (an exact GP costs n^3; a source device has 15,625).
        fit: the source fit's settings.
        max_message_bytes: largest request or response; bigger ones get RESOURCE_EXHAUSTED.
        tls_cert: PEM server certificate (chain); with ``tls_key`` the server speaks TLS only.
        tls_key: PEM private key of ``tls_cert``.
        token_file: a file holding the bearer token the write RPCs require.
        token: the bearer token itself (from ``LATENCY_TOKEN``); kept out of ``repr``.
        metrics_address: ``host:port`` of the Prometheus endpoint (None: no endpoint).
    """

    address: str = DEFAULT_ADDRESS
    store_path: Path = field(default_factory=default_store_path)
    dataset: Path | None = None
    max_batch: int = DEFAULT_MAX_BATCH
    max_workers: int = 8
    max_concurrent_rpcs: int = 256
    grace_s: float = 5.0
    max_conditioning: int = 1000
    fit: FitSettings = field(default_factory=fit_settings_from_env)
    max_message_bytes: int = MESSAGE_LIMIT_BYTES
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token_file: Path | None = None
    token: str | None = field(default=None, repr=False)
    metrics_address: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(
                f"TLS needs both a certificate and its key (--tls-cert/{ENV_TLS_CERT} and"
                f" --tls-key/{ENV_TLS_KEY}); got only the "
                + ("certificate" if self.tls_key is None else "key")
            )
        if self.token_file is not None and self.token is not None:
            raise ConfigError(
                f"set the write token either in a file (--token-file/{ENV_TOKEN_FILE}) or in"
                f" {ENV_TOKEN}, not both"
            )
        if problem := address_problem(self.address):
            raise ConfigError(f"--address/{ENV_ADDRESS} {problem}")
        if self.metrics_address is not None:
            parse_address(self.metrics_address, f"--metrics-address/{ENV_METRICS_ADDRESS}")
        if self.max_batch < 1:
            raise ConfigError(
                f"the batch limit ({ENV_MAX_BATCH}) must be positive, got {self.max_batch}"
            )
        if self.dataset is not None:
            self._check_dataset(self.dataset)

    @property
    def suggestion_slots(self) -> int:
        """How many SuggestSamples may choose at once: an active pick of thousands takes
        hours, so without a bound a few such calls would hold every worker."""
        return max(1, self.max_workers // 2)

    @staticmethod
    def _check_dataset(path: Path) -> None:
        # Imported here: gp loads torch, which commands without a dataset (health) do without.
        from gp.data import help_device_stems
        from gp.errors import DatasetError

        try:
            help_device_stems(path)
        except DatasetError as exc:
            raise ConfigError(f"--dataset/{ENV_DATASET}: {exc}") from None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @classmethod
    def from_env(cls, **overrides: object) -> ServiceConfig:
        """Defaults < environment < explicit (non-None) overrides."""
        values: dict[str, object] = {}
        if os.environ.get(ENV_ADDRESS):
            values["address"] = os.environ[ENV_ADDRESS]
        values["store_path"] = store_path_from_env()
        if os.environ.get(ENV_DATASET):
            values["dataset"] = Path(os.environ[ENV_DATASET])
        if max_batch := positive_int_from_env(ENV_MAX_BATCH):
            values["max_batch"] = max_batch
        for name, key in ((ENV_TLS_CERT, "tls_cert"), (ENV_TLS_KEY, "tls_key")):
            if os.environ.get(name):
                values[key] = Path(os.environ[name])
        # Set but empty is refused, not taken for unset: `-e LATENCY_TOKEN=$TOKEN` with TOKEN
        # unset started a server with writes open (a review, 2026-12-06). An explicit token
        # source replaces both variables, instead of clashing: an empty one beside
        # --token-file stopped the start.
        given_token = any(overrides.get(key) is not None for key in ("token", "token_file"))
        if ENV_TOKEN_FILE in os.environ and not given_token:
            if not os.environ[ENV_TOKEN_FILE].strip():
                raise ConfigError(
                    f"{ENV_TOKEN_FILE} is empty: name the token file, or unset it (and"
                    f" {ENV_TOKEN}) to leave writes open"
                )
            values["token_file"] = Path(os.environ[ENV_TOKEN_FILE])
        if ENV_TOKEN in os.environ and not given_token:
            values["token"] = os.environ[ENV_TOKEN]
        if os.environ.get(ENV_METRICS_ADDRESS):
            values["metrics_address"] = os.environ[ENV_METRICS_ADDRESS]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
