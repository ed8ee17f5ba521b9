"""The address rules at their edges: the last port, sockets, URIs whose path looks like a port."""

from __future__ import annotations

import pytest

from service.addresses import (
    address_problem,
    dialled_target_problem,
    split_address,
    target_problem,
)


def test_the_last_port_is_a_port() -> None:
    assert split_address("127.0.0.1:65535") == ("127.0.0.1", 65535)
    assert address_problem("127.0.0.1:65535") is None
    assert target_problem("gpu-box:65535") is None


@pytest.mark.parametrize("address", ["unix:/tmp/latency.sock", "unix-abstract:latency"])
def test_a_unix_socket_is_an_address_to_listen_on(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(
    "target",
    [
        "unix:70000",  # a socket file named 70000 in the working folder
        "UNIX:70000",  # grpc reads schemes in any case
        "unix-abstract:70000",
        "2001:db8::",  # an IPv6 address without brackets ending in "::": a host, no port
    ],
)
def test_a_target_whose_tail_only_looks_like_a_port_is_left_to_grpc(target: str) -> None:
    assert target_problem(target) is None


@pytest.mark.parametrize(
    ("address", "says"),
    [
        # grpc could not parse these, and serve blamed a taken port (a review, 2026-12-06).
        ("::1:50051", "an IPv6 host needs brackets"),
        ("[::1:50051", "an IPv6 host needs brackets"),
        ("[]:80", "an IPv6 host needs brackets"),
        ("[ ]:80", "the host is empty or has a space"),
        ("a b:80", "the host is empty or has a space"),
        # grpc bound an unnamed socket that no client could reach.
        ("unix:", "has no socket path"),
        ("unix-abstract:", "has no socket path"),
        ("[[::1]]:80", "an IPv6 host needs brackets"),  # a bracket inside the brackets
        # A web URL was called an IPv6 host without brackets (a review).
        ("http://127.0.0.1:50051", "drop the 'http://': give host:port"),
        ("HTTPS://gpu-box:443", "drop the 'HTTPS://': give host:port"),
    ],
)
def test_addresses_grpc_cannot_use_are_refused_with_the_reason(address: str, says: str) -> None:
    problem = address_problem(address)
    assert problem is not None and says in problem, problem


def test_an_ipv6_host_in_brackets_is_split_from_its_port() -> None:
    assert split_address("[::1]:50051") == ("::1", 50051)


@pytest.mark.parametrize(
    ("target", "refused"),
    [
        ("127.0.0.1:50051", False),
        ("unix:/run/latency.sock", False),
        ("dns:///localhost:50051", False),
        ("ipv4:127.0.0.1:50051", False),
        ("127.0.0.1", True),  # a host alone: dialled at 443
        ("host:", True),
        ("dns:///host:70000", False),  # a URI is grpc's to read, as the library leaves it
        ("DNS:///localhost:50051", False),  # in any case, as grpc reads its schemes
        ("http://127.0.0.1:50051", True),  # retried for seconds: 'misformatted domain name'
    ],
)
def test_what_a_client_dials_is_a_grpc_uri_or_a_host_and_port(target: str, refused: bool) -> None:
    assert (dialled_target_problem(target) is not None) is refused


@pytest.mark.parametrize("target", ["http://gpu-box:50051", "grpc://gpu-box:50051"])
def test_a_web_url_is_no_target_of_the_library_either(target: str) -> None:
    """The library leaves grpc URIs to grpc; one of a scheme grpc has no resolver for is
    refused at once (it was retried for seconds, then UNAVAILABLE)."""
    problem = target_problem(target)
    scheme = target.partition("//")[0] + "//"
    assert problem is not None and f"drop the {scheme!r}: give host:port" in problem
