"""How the tools word a count in a message ("1 arch", "2 archs", never "1 archs"), a surprising
latency measured before the upload that found it, a busy server, a call it did nothing of, and
what they add to grpc's few words for a plaintext call to a server that speaks TLS, or a TLS
call to one that does not, and what installs a missing module.

Imports only the standard library, so the client uses it without the server's modules.
"""

from __future__ import annotations

from collections.abc import Mapping

from service import DISTRIBUTION

#: What the server's log line and the client's warning of a surprising latency measured before
#: the upload that found it start with.
MEASURED_BEFORE = "measured before this upload, "
#: The heart of the warning that a device's predictions in a space are the prior's guesses
#: ("no fbnet measurements: these are ..."), which client measure leaves unsaid.
PRIOR_GUESSES = "measurements: these are the prior's guesses"

#: What the message of a call the server turned away for being busy starts with (status
#: RESOURCE_EXHAUSTED): nothing was done, and the client retries it after a pause, as it does
#: grpc's own "Concurrent RPC limit exceeded!". The service's other RESOURCE_EXHAUSTED (a
#: request over its limits, a full disk) fail alike every time and are not retried.
SERVER_BUSY = "server busy: "
#: What grpc's server answers, with RESOURCE_EXHAUSTED, to a call beyond its
#: ``maximum_concurrent_rpcs``.
CONCURRENCY_LIMIT_DETAILS = "Concurrent RPC limit exceeded!"

#: The trailing metadata key of a failed call the service did nothing of, though its status
#: alone (UNAVAILABLE) does not say so: a model still loading, a store locked by another
#: process. A client need not tell its user that such a write may have been stored.
NOTHING_DONE_KEY = "latency-nothing-done"


def is_busy_answer(code: str, details: str) -> bool:
    """Whether a failed call's status name and details are a busy server's: grpc's concurrency
    limit or the service's :data:`SERVER_BUSY`, the RESOURCE_EXHAUSTED worth repeating."""
    busy = details == CONCURRENCY_LIMIT_DETAILS or details.startswith(SERVER_BUSY)
    return code == "RESOURCE_EXHAUSTED" and busy


def quantity(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, in the plural (``plural``, else ``noun`` + "s") unless one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def tls_hint(details: str, options: str) -> str:
    """What to add to an UNAVAILABLE error of a plaintext call whose ``details`` are grpc's
    whole account of a server that speaks TLS ("Socket closed"), naming the ``options`` that
    connect by TLS; "" for other details."""
    if "Socket closed" not in details:
        return ""
    return (
        "; a server that speaks TLS closes plaintext connections: if it does, connect with"
        f" {options}"
    )


def no_tls_hint(details: str, options: str) -> str:
    """What to add to an UNAVAILABLE error of a TLS call whose ``details`` are grpc's account
    of a server that answered in plaintext (OpenSSL's WRONG_VERSION_NUMBER: its first bytes
    were no TLS record), naming the ``options`` that made the call TLS; "" for other details."""
    if "WRONG_VERSION_NUMBER" not in details:
        return ""
    return f"; the server does not seem to speak TLS: if it serves plaintext, drop {options}"


def missing_module_hint(error: ModuleNotFoundError, extra_of: Mapping[str, str]) -> str | None:
    """What to run where the module ``error`` names is not installed, where ``extra_of`` gives
    the extra of this distribution (pyproject.toml) that installs it: the client installs
    without the modelling stack, and a command that needs part of it ended in a traceback.
    None for any other module, whose traceback says more: a submodule of an installed package
    (torch.nn: a broken install, which the extra would not mend) or a core dependency."""
    module = error.name or ""
    extra = extra_of.get(module)
    if extra is None:
        return None
    return f"{module} is not installed: pip install '{DISTRIBUTION}[{extra}]' installs it"
