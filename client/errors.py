"""The client's typed errors: one class per gRPC status a caller acts on itself; the ones
only an operator can fix (FAILED_PRECONDITION: the store moved; DATA_LOSS: it is corrupt)
and grpc's own (INTERNAL, UNKNOWN, ...) are :class:`GenericServiceError`, with its ``code``.

Every failed RPC surfaces as a :class:`LatencyServiceError` subclass carrying the status name
and the server's message, so callers never have to catch raw ``grpc.RpcError``. Mistakes in
the caller's own input that are caught before any RPC raise :class:`ClientInputError`. Both,
and the measurement harness's errors, are :class:`LatencyClientError`: a NAS loop that catches
it handles every error the library raises on purpose, and lets a bug's through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from service.wording import NOTHING_DONE_KEY, is_busy_answer

if TYPE_CHECKING:  # not loaded: the measurement harness's errors derive from this module's
    import grpc


class LatencyClientError(Exception):
    """Base of every error the client library raises on purpose: those of
    :class:`~client.api.LatencyClient` and of the measurement harness
    (:class:`~client.measure.errors.MeasureError`)."""


class ClientInputError(LatencyClientError, ValueError):
    """The caller's input cannot be sent (an unknown arch type, an unreadable file...), or the
    client it was given to is closed."""


class LatencyServiceError(LatencyClientError):
    """An RPC failed; ``code`` is the gRPC status name, ``message`` the server's explanation.

    Attributes:
        code: the status name, e.g. ``"NOT_FOUND"``.
        message: the server's message (for transport failures, gRPC's own description).
        method: the RPC that failed, e.g. ``"Predict"``.
        target: the server's address.
        request_id: of a failed upload or deletion, its id: to give again when repeating one
            that may have been carried out (``maybe_carried_out``); otherwise empty.
        maybe_carried_out: of a failed write (an upload, a deletion), whether the server may
            have carried it out all the same: an attempt waited out its deadline, or lost its
            connection once sent. False where every attempt was refused before it was sent
            (no connection made, a name that did not resolve) or by the service, which did
            nothing of it (busy, its model still loading, its store locked). grpc's own
            retries (a retry policy in the channel's options) can hide an attempt that was.
        nothing_done: the service said it did nothing of the call (in its trailing metadata).
    """

    code: str = "UNKNOWN"

    def __init__(
        self, message: str, code: str | None = None, method: str = "", target: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.target = target
        self.request_id = ""
        self.maybe_carried_out = False
        self.nothing_done = False
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]" if self.message else self.code


class InvalidArgumentError(LatencyServiceError, ValueError):
    """The server rejected a request field; the message names the item index and the reason."""

    code = "INVALID_ARGUMENT"


class NotFoundError(LatencyServiceError, LookupError):
    """No device has this name or alias."""

    code = "NOT_FOUND"


class AlreadyExistsError(LatencyServiceError):
    """A device name or alias is already taken."""

    code = "ALREADY_EXISTS"


class ResourceExhaustedError(LatencyServiceError):
    """Too many items in one request, or a request or answer over the message limit (64 MiB);
    :class:`ServerBusyError` when the server turned the call away busy."""

    code = "RESOURCE_EXHAUSTED"


class ServerBusyError(ResourceExhaustedError):
    """The server turned the call away busy: grpc, before the service saw it, when the
    server already had its limit of calls (256) running or queued; or the service, when half
    its workers were choosing suggestions (SuggestSamples). Retried with backoff, as nothing
    was done."""


class UnauthenticatedError(LatencyServiceError):
    """The call needs a valid bearer token (``token=`` / ``--token-file``)."""

    code = "UNAUTHENTICATED"


class PermissionDeniedError(LatencyServiceError):
    """The token is valid but may not make this call."""

    code = "PERMISSION_DENIED"


class UnavailableError(LatencyServiceError):
    """The server cannot be reached, or its model is still loading (retried with backoff)."""

    code = "UNAVAILABLE"


#: How grpc begins an UNAVAILABLE whose call never left this machine: no connection could be
#: made (refused, no route), or the target's name did not resolve (in grpc's older words too).
_NEVER_SENT = ("failed to connect to all addresses", "errors resolving", "DNS resolution failed")


def _may_have_been_carried_out(error: LatencyServiceError) -> bool:
    """Whether the call that failed with ``error`` may have reached the server and been carried
    out there: its deadline passed, or its connection failed other than before it was sent,
    and the service did not say it did nothing of it."""
    if error.nothing_done:
        return False
    if isinstance(error, DeadlineExceededError):
        return True
    return isinstance(error, UnavailableError) and not error.message.startswith(_NEVER_SENT)


def write_may_have_been_carried_out(
    final: LatencyServiceError, retried: list[LatencyServiceError]
) -> bool:
    """Whether a write whose attempts failed with ``retried`` and then ``final`` may have been
    carried out. Not where the service answered the last attempt with a refusal of the
    request itself: a repeat of a write it had carried out is answered with its result."""
    if isinstance(final, InvalidArgumentError | NotFoundError | AlreadyExistsError):
        return False
    return any(map(_may_have_been_carried_out, [*retried, final]))


class DeadlineExceededError(LatencyServiceError, TimeoutError):
    """The call did not finish within the client's deadline (``timeout_s``); its message says
    how long that was (grpc's "Deadline Exceeded" alone said nothing a caller could act on)."""

    code = "DEADLINE_EXCEEDED"
    #: The wait of each attempt and the number of attempts, where the client library timed
    #: them (its message then says so).
    waited: tuple[float, int] | None = None


#: The library's names of the settings a DeadlineExceededError's wait came from.
LIBRARY_SETTINGS = ("timeout_s", "retries")
#: How an UnauthenticatedError says to send the token: the server's words speak of metadata
#: (the CLI names its own options in their place).
LIBRARY_TOKEN_HINT = (
    "give the client the token: token=, or $LATENCY_TOKEN_FILE or $LATENCY_TOKEN read by"
    " LatencyClient.from_env()"
)


def no_answer_within(seconds: float, attempts: int, settings: tuple[str, str]) -> str:
    """What a DeadlineExceededError's message adds: the wait of each of ``attempts``, and the
    ``settings`` (timeout, retries) that set them. Retried, the call waited that many times
    as long (a review, 2026-12-06)."""
    if attempts == 1:
        return f" (no answer within {seconds:g} s: {settings[0]})"
    return f" (no answer within {seconds:g} s, {attempts} times: {', '.join(settings)})"


class GenericServiceError(LatencyServiceError):
    """Any other status (INTERNAL, FAILED_PRECONDITION, ...); ``code`` says which."""


_BY_CODE: dict[str, type[LatencyServiceError]] = {
    error.code: error
    for error in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        ResourceExhaustedError,
        UnauthenticatedError,
        PermissionDeniedError,
        UnavailableError,
        DeadlineExceededError,
    )
}


def from_rpc_error(error: grpc.RpcError, method: str = "", target: str = "") -> LatencyServiceError:
    """The typed error for a failed call (``grpc.Call`` errors carry code and details)."""
    status = error.code() if callable(getattr(error, "code", None)) else None
    code = getattr(status, "name", "UNKNOWN")  # a call's code() is None until it has one
    details = error.details() if callable(getattr(error, "details", None)) else str(error)
    details = details or ""  # grpc's may be None
    cls = _BY_CODE.get(code, GenericServiceError)
    if is_busy_answer(code, details):
        cls = ServerBusyError
    if cls is UnauthenticatedError:
        details += f"; {LIBRARY_TOKEN_HINT}"
    typed = cls(details, code=code, method=method, target=target)
    trailers = getattr(error, "trailing_metadata", None)
    typed.nothing_done = callable(trailers) and any(
        key == NOTHING_DONE_KEY and value == "1" for key, value in trailers() or ()
    )
    return typed


#: How the service names the item a rejection is about: ``arch 3: ...`` (counted from 0 within
#: the request), likewise ``measurement`` and ``candidate``.
_ITEM = re.compile(r"^(arch|measurement|candidate) (\d+): ")


def renamed(message: str, place: Callable[[int], str | None]) -> str:
    """``message`` with its leading ``arch N:`` as ``place(N):`` (where place knows N), e.g. its
    index in a larger input, or the file and line it came from."""
    match = _ITEM.match(message)
    where = None if match is None else place(int(match[2]))
    return message if match is None or where is None else f"{where}: {message[match.end() :]}"


def rename_item(error: LatencyServiceError, place: Callable[[int], str | None]) -> None:
    """Rewrites ``error``'s leading ``arch N:`` as :func:`renamed` does."""
    error.message = renamed(error.message, place)
