"""The address rules at their edges: the last port, sockets, URIs whose path looks like a port."""

from __future__ import annotations

import pytest

from service.addresses import address_problem, split_address, target_problem


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
