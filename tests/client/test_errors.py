"""The client's typed errors, apart from any server: their text and the status they carry."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest

import client
from client.errors import (
    GenericServiceError,
    LatencyClientError,
    NotFoundError,
    ResourceExhaustedError,
    ServerBusyError,
    from_rpc_error,
)
from client.measure.errors import ArchitectureError, MeasureError, TimingError
from service.wording import SERVER_BUSY
from tests.helpers import FakeRpcError


def test_an_error_reads_as_its_message_and_status_or_its_status_alone() -> None:
    """grpc may end a call with empty details: its error read " [NOT_FOUND]"."""
    assert str(NotFoundError("unknown device 'x'")) == "unknown device 'x' [NOT_FOUND]"
    assert str(NotFoundError("")) == "NOT_FOUND"


@pytest.mark.parametrize("name", [n for n in client.__all__ if n.endswith("Error")])
def test_every_error_the_library_exports_is_a_latency_client_error(name: str) -> None:
    """One except clause handles them all: two unrelated roots needed a tuple, and a loop
    that caught one of them let the other end it."""
    assert issubclass(getattr(client, name), LatencyClientError)


def test_an_rpc_error_without_a_status_is_unknown() -> None:
    """A bare ``grpc.RpcError`` (one not raised by a call) has no code() to read."""
    error = from_rpc_error(grpc.RpcError("channel closed"), method="Predict", target="h:1")
    assert type(error) is GenericServiceError
    assert (error.code, error.message, error.method) == ("UNKNOWN", "channel closed", "Predict")


def test_an_rpc_error_whose_code_is_none_is_unknown() -> None:
    """grpc's ``Call.code()`` is None while the call has no status: reading ``.name`` of it
    raised AttributeError in place of the typed error."""
    error = from_rpc_error(FakeRpcError(None, "stream reset"))
    assert type(error) is GenericServiceError
    assert (error.code, error.message) == ("UNKNOWN", "stream reset")


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
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, details))
    assert isinstance(error, ResourceExhaustedError)
    assert isinstance(error, ServerBusyError) is busy


def test_a_resource_exhausted_without_details_is_no_crash() -> None:
    """grpc's details may be None: the busy check's startswith raised AttributeError."""
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, None))
    assert type(error) is ResourceExhaustedError and error.message == ""


def test_a_deadline_error_names_the_wait_the_number_of_attempts_and_the_settings() -> None:
    from client.errors import no_answer_within

    settings = ("--timeout", "--retries")
    assert no_answer_within(5, 1, settings) == " (no answer within 5 s: --timeout)"
    assert no_answer_within(5, 2, settings) == (
        " (no answer within 5 s, 2 times: --timeout, --retries)"
    )
    assert no_answer_within(0.25, 4, settings).startswith(" (no answer within 0.25 s, 4 times")


@pytest.mark.parametrize(("value", "said"), [("1", True), ("0", False), (None, False)])
def test_a_call_the_service_did_nothing_of_says_so_in_its_trailing_metadata(
    value: str | None, said: bool
) -> None:
    from service.wording import NOTHING_DONE_KEY

    class Refused(FakeRpcError):
        def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
            return () if value is None else (("other", "1"), (NOTHING_DONE_KEY, value))

    error = from_rpc_error(Refused(grpc.StatusCode.UNAVAILABLE, "store s.sqlite is busy"))
    assert error.nothing_done is said


@pytest.mark.parametrize(
    ("message", "renamed_as"),
    [
        ("arch 1: not an NB201 cell", "archs.txt line 3: not an NB201 cell"),
        ("measurement 0: latency -1", "archs.txt line 2: latency -1"),
        ("arch 7: not an NB201 cell", "arch 7: not an NB201 cell"),  # a place it cannot name
        ("device 'pi4' is unknown", "device 'pi4' is unknown"),
    ],
)
def test_a_rejected_item_is_named_by_its_place_where_the_place_is_known(
    message: str, renamed_as: str
) -> None:
    from client.errors import renamed

    lines = ["archs.txt line 2", "archs.txt line 3"]
    assert renamed(message, lambda n: lines[n] if n < len(lines) else None) == renamed_as


def test_the_base_of_every_error_is_importable_from_the_package() -> None:
    """The README's `except LatencyClientError`, imported as the other errors are."""
    assert client.LatencyClientError is LatencyClientError


@pytest.mark.parametrize("error", [ArchitectureError("bad arch"), TimingError("no runs")])
def test_the_measurement_harness_errors_are_latency_client_errors(error: MeasureError) -> None:
    """A loop that measures and queries catches both with one clause; the harness's errors
    stood apart."""
    with pytest.raises(LatencyClientError):
        raise error


def test_the_harness_errors_load_no_grpc() -> None:
    """client.measure's errors derive from client.errors, which loads no grpc for them: the
    harness times networks with no server in sight, and its imports are kept light."""
    code = "import sys, client.measure.errors; print('grpc' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False", loaded.stderr


@pytest.mark.parametrize("details", ["Concurrent RPC limit exceeded!", f"{SERVER_BUSY}upstream"])
def test_busy_wording_under_another_status_is_not_server_busy(details: str) -> None:
    """Only RESOURCE_EXHAUSTED is a busy server's answer (retried on; the load test counts it
    apart): an INTERNAL error that reads alike keeps its own class and fails."""
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.INTERNAL, details))
    assert type(error) is GenericServiceError
