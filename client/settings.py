"""Connection defaults and environment variable names, shared by the library and the CLI.

Imports nothing, so the CLI can read them without loading grpc.
"""

from __future__ import annotations

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3

ENV_TARGET = "LATENCY_TARGET"
ENV_TOKEN_FILE = "LATENCY_TOKEN_FILE"
ENV_TOKEN = "LATENCY_TOKEN"
ENV_CA_CERT = "LATENCY_CA_CERT"
ENV_TIMEOUT = "LATENCY_TIMEOUT"
