"""What the tools and the library that call a server (``client``, ``service health``) share
about grpc: its C core's own log lines, the longest deadline it takes, and the CA to trust.

grpc's C core writes to stderr itself: a failed TLS handshake printed an INFO line ("Handshake
failed with error ...") before the tool's one-line error. It reads ``GRPC_VERBOSITY`` once, when
grpc is imported, so a tool sets the default before anything imports grpc. ``serve`` keeps
grpc's default: there a handshake that failed is news to the operator.

Imports only the standard library, so the client uses it without the server's modules.
"""

from __future__ import annotations

import os

ENV_GRPC_VERBOSITY = "GRPC_VERBOSITY"
#: The client's CA certificate, which ``service health`` also trusts when not given its own.
ENV_CA_CERT = "LATENCY_CA_CERT"
#: The longest deadline given to grpc (about 31 years): it answers DEADLINE_EXCEEDED at once,
#: without asking the server, to one that ends past 2**63 ns after 1970 (a timeout above about
#: 7.4e9 s), so a longer timeout, meant as "wait as long as it takes", is cut to this.
MAX_DEADLINE_S = 1e9


def quiet_grpc_core() -> None:
    """Makes grpc's C core log errors only, unless the user set ``GRPC_VERBOSITY``. Has no
    effect once grpc is imported."""
    os.environ.setdefault(ENV_GRPC_VERBOSITY, "ERROR")
