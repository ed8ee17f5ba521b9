"""The client's typed errors, apart from any server: their text and the status they carry."""

from __future__ import annotations

import grpc

from client.errors import GenericServiceError, NotFoundError, from_rpc_error


def test_an_error_reads_as_its_message_and_status_or_its_status_alone() -> None:
    """grpc may end a call with empty details: its error read " [NOT_FOUND]"."""
    assert str(NotFoundError("unknown device 'x'")) == "unknown device 'x' [NOT_FOUND]"
    assert str(NotFoundError("")) == "NOT_FOUND"


def test_an_rpc_error_without_a_status_is_unknown() -> None:
    """A bare ``grpc.RpcError`` (one not raised by a call) has no code() to read."""
    error = from_rpc_error(grpc.RpcError("channel closed"), method="Predict", target="h:1")
    assert type(error) is GenericServiceError
    assert (error.code, error.message, error.method) == ("UNKNOWN", "channel closed", "Predict")
