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
ENV_TLS = "LATENCY_TLS"
#: The values an on/off variable may take: click's, so that ``$LATENCY_TLS`` reads the same in
#: the library and for the CLI's ``--tls``.
SWITCH_ON = frozenset({"1", "true", "t", "yes", "y", "on"})
SWITCH_OFF = frozenset({"0", "false", "f", "no", "n", "off"})
ENV_TIMEOUT = "LATENCY_TIMEOUT"

#: The counts SuggestSamples' ``int32`` carries and the seeds the service takes (its ``int64``,
#: not negative): protobuf raises a bare ValueError beyond the wire's range. The CLI's options
#: are bounded by them too, so that their names, not the library's arguments, are refused.
COUNT_MAX = 2**31 - 1
SEED_MAX = 2**63 - 1
