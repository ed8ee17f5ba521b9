"""What a ``host:port`` address may be: the one check of the address ``serve`` listens on,
``health`` asks and the client CLI's ``--target`` dials, and of the ports of the client
library's targets (which may be any grpc target).

Imports only the standard library, so the client uses it without the server's modules
(``service.config`` reaches ``gp`` through ``service.errors``). grpc itself takes much that is
wrong: an empty address (every call then failed UNKNOWN), ``host:`` (it dialled port 443) and
a port beyond 65535 (it used the port modulo 65536).
"""

from __future__ import annotations

MAX_PORT = 65535
#: grpc's unix-domain socket addresses, which have no port.
SOCKET_SCHEMES = ("unix:", "unix-abstract:")
#: The schemes of grpc's name resolvers (its doc/naming.md): a target starting with one is a
#: URI grpc reads itself; any other is a host and port, dialled as ``dns:///<target>``.
GRPC_SCHEMES = ("dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock", "xds", "google-c2p")


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port), the port within 0-65535 (0: any free
    one).

    Raises:
        ValueError: saying what is wrong, the address quoted.
    """
    if problem := _web_url_problem(address):
        raise ValueError(problem)
    host, sep, port = address.rpartition(":")
    if not sep or not host or not _is_number(port):
        raise ValueError(f"{address!r} is not host:port")
    if problem := _port_range_problem(address, port):
        raise ValueError(problem)
    # grpc could not parse these, and serve blamed a taken port (a review, 2026-12-06).
    if ":" in host or "[" in host or "]" in host:
        inner = host[1:-1]
        if not (host.startswith("[") and host.endswith("]")) or not inner or "[" in inner:
            raise ValueError(f"{address!r}: an IPv6 host needs brackets, as [::1]:50051")
        host = inner
    if any(c.isspace() for c in host):  # not empty: checked above
        raise ValueError(f"{address!r}: the host is empty or has a space")
    return host, int(port)


def target_problem(target: str) -> str | None:
    """Why ``target``, any grpc target, has a port grpc would dial elsewhere without a word, or
    None: an empty one (``host:`` was dialled at 443) or one beyond 65535 (dialled modulo
    65536). Only a target without a grpc scheme is a host and port; the rest of what grpc takes
    is left to it: a URI (``dns:///host:port``, ``unix:path``), a bare host (dialled at 443),
    an IPv6 address without brackets (``::1``, a host), a port by name (``host:https``)."""
    if target.partition(":")[0].lower() in GRPC_SCHEMES:  # grpc reads "DNS:" as "dns:"
        return None
    if problem := _web_url_problem(target):
        return problem
    host, sep, port = target.rpartition(":")
    if not sep or (":" in host and not host.endswith("]")):
        return None  # a bare host, or an IPv6 address without brackets: no port
    if not port:
        return f"{target!r} has an empty port (grpc would dial 443)"
    return _port_range_problem(target, port)


def _web_url_problem(address: str) -> str | None:
    """Why ``address`` is a URL of a scheme grpc has no resolver for (``http://host:port``),
    or None: it was called an IPv6 host without brackets, and the library retried it for
    seconds as 'misformatted domain name' (a review)."""
    scheme, sep, _ = address.partition("://")
    if sep and scheme.lower() not in GRPC_SCHEMES:
        return f"{address!r}: drop the {scheme + sep!r}: give host:port"
    return None


def _is_number(port: str) -> bool:
    # isascii: str.isdigit() is true of "²", which int() refuses.
    return port.isascii() and port.isdigit()


def _port_range_problem(address: str, port: str) -> str | None:
    """Why the number ``port`` of ``address`` is beyond MAX_PORT, or None."""
    if _is_number(port) and int(port) > MAX_PORT:
        return f"{address!r}: port {port} is beyond {MAX_PORT}"
    return None


def address_problem(address: str) -> str | None:
    """Why ``address`` is neither ``host:port`` (:func:`split_address`) nor a unix socket,
    or None."""
    if address.startswith(SOCKET_SCHEMES):
        # Nothing after the scheme: grpc bound an unnamed socket no client could reach.
        if not address.partition(":")[2]:
            return f"{address!r} has no socket path (as unix:/run/latency.sock)"
        return None
    try:
        split_address(address)
    except ValueError as exc:
        return str(exc)
    return None


def dialled_target_problem(target: str) -> str | None:
    """Why ``target``, given to a client (``--target``, ``$LATENCY_TARGET``), cannot be dialled
    as meant, or None: a grpc URI (``dns:///host:port``) as :func:`target_problem` checks it,
    anything else as a host and port or socket (:func:`address_problem`): a host alone was
    dialled at port 443."""
    if target.partition(":")[0].lower() in GRPC_SCHEMES:
        return target_problem(target)
    return address_problem(target)
