"""The client's typed errors, apart from any server: their text and the status they carry."""

from __future__ import annotations

import grpc
import pytest

from client.errors import (
    GenericServiceError,
    NotFoundError,
    ResourceExhaustedError,
    ServerBusyError,
    from_rpc_error,
)
from service.wording import SERVER_BUSY


def test_an_error_reads_as_its_message_and_status_or_its_status_alone() -> None:
    """grpc may end a call with empty details: its error read " [NOT_FOUND]"."""
    assert str(NotFoundError("unknown device 'x'")) == "unknown device 'x' [NOT_FOUND]"
    assert str(NotFoundError("")) == "NOT_FOUND"


def test_an_rpc_error_without_a_status_is_unknown() -> None:
    """A bare ``grpc.RpcError`` (one not raised by a call) has no code() to read."""
    error = from_rpc_error(grpc.RpcError("channel closed"), method="Predict", target="h:1")
    assert type(error) is GenericServiceError
    assert (error.code, error.message, error.method) == ("UNKNOWN", "channel closed", "Predict")


class _Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("details", "busy"),
    [
        ("Concurrent RPC limit exceeded!", True),  # grpc's own, before the service saw it
        (f"{SERVER_BUSY}it is choosing 4 suggestions already", True),  # the service's
        ("candidates: 5 items, more than the batch limit 3", False),
        ("the server's disk is full: nothing was stored", False),
    ],
)
def test_only_a_busy_servers_resource_exhausted_is_server_busy(details: str, busy: bool) -> None:
    """Those two are retried; a request over the limits or a full disk fails alike each time."""
    error = from_rpc_error(_Failed(grpc.StatusCode.RESOURCE_EXHAUSTED, details))
    assert isinstance(error, ResourceExhaustedError)
    assert isinstance(error, ServerBusyError) is busy
