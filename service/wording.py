"""How the tools word a count in a message ("1 arch", "2 archs", never "1 archs"), a surprising
latency measured before the upload that found it, and what they add to grpc's few words for a
plaintext call to a server that speaks TLS, or a TLS call to one that does not.

Imports only the standard library, so the client uses it without the server's modules.
"""

from __future__ import annotations

#: What the server's log line and the client's warning of a surprising latency measured before
#: the upload that found it start with.
MEASURED_BEFORE = "measured before this upload, "


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
