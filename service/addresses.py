"""What a ``host:port`` address may be: the one check of the address ``serve`` listens on,
``health`` asks and the client CLI's ``--target`` dials.

Imports only the standard library, so the client uses it without the server's modules
(``service.config`` reaches ``gp`` through ``service.errors``). grpc itself takes much that is
wrong: an empty address (every call then failed UNKNOWN), ``host:`` (it dialled port 443) and
a port beyond 65535 (it used the port modulo 65536).
"""

from __future__ import annotations

MAX_PORT = 65535
#: grpc's unix-domain socket addresses, which have no port.
SOCKET_SCHEMES = ("unix:", "unix-abstract:")


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port), the port within 0-65535 (0: any free
    one).

    Raises:
        ValueError: saying what is wrong, the address quoted.
    """
    host, sep, port = address.rpartition(":")
    # isascii: str.isdigit() is true of "²", which int() refuses.
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise ValueError(f"{address!r} is not host:port")
    if int(port) > MAX_PORT:
        raise ValueError(f"{address!r}: port {port} is beyond {MAX_PORT}")
    return host.strip("[]"), int(port)


def address_problem(address: str) -> str | None:
    """Why ``address`` is neither ``host:port`` (:func:`split_address`) nor a unix socket,
    or None."""
    if address.startswith(SOCKET_SCHEMES):
        return None
    try:
        split_address(address)
    except ValueError as exc:
        return str(exc)
    return None
