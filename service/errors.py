"""The service's typed errors and the one place they become gRPC status codes.

Servicer methods are wrapped in :func:`grpc_errors`; anything a caller can cause maps to a
precise status (never INTERNAL): ``gp`` input errors -> INVALID_ARGUMENT, unknown device ->
NOT_FOUND, name clash -> ALREADY_EXISTS, oversized request -> RESOURCE_EXHAUSTED, a store
another process has locked (SQLite's "database is locked") -> UNAVAILABLE, which clients retry,
a store found corrupt while serving -> DATA_LOSS.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from gp.errors import GPInputError, NotFittedError, SelectionStoppedError
from service.wording import NOTHING_DONE_KEY

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
#: Longest status message sent. Messages quote the client's input (a name, an arch), and grpc
#: drops a call whose trailers exceed 16 KiB (8 KiB sometimes), percent-encoding the message
#: at up to 12 bytes a character: the client got RESOURCE_EXHAUSTED ("Stream removed") instead.
MAX_DETAILS = 500


class ServiceError(Exception):
    """Base class of errors the service raises on purpose; ``code`` is the gRPC status, and
    ``nothing_done`` says (in the call's trailing metadata) that a retryable refusal did
    nothing of the request."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    nothing_done: bool = False


class InvalidRequestError(ServiceError, ValueError):
    """A request field is malformed (besides what ``gp`` validates)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeviceNotFoundError(ServiceError, KeyError):
    """No device has this name or alias."""

    code = grpc.StatusCode.NOT_FOUND

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DeviceExistsError(ServiceError):
    """A device name or alias is already taken."""

    code = grpc.StatusCode.ALREADY_EXISTS


class BatchTooLargeError(ServiceError):
    """A request holds more items than the configured batch limit."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ServerBusyError(ServiceError):
    """The server is doing as much of this kind of work as it allows at once: nothing was
    done, and a retry after a pause may succeed (its message starts with
    :data:`service.wording.SERVER_BUSY`, which the client retries on)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceededError(ServiceError):
    """The call's deadline passed before it could do its work (it waited for a device)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class CallEndedError(ServiceError):
    """The call ended while it waited for a lock (its client cancelled it, or its deadline
    passed): nothing was done. Its status is the call's own (:func:`ended_call_code`)."""


class NotReadyError(ServiceError):
    """The model is still being fitted or loaded."""

    code = grpc.StatusCode.UNAVAILABLE
    nothing_done = True


#: A call that ends this close to its deadline ended by it: its client gives up at the deadline,
#: and the server's copy of it is later by the request's transit, so health Watch streams that
#: every client saw end DEADLINE_EXCEEDED were mostly counted CANCELLED (9 of 12 at a 1 s
#: timeout; a review, 2026-12-06).
DEADLINE_SLACK_S = 0.05


def ended_call_code(context: grpc.ServicerContext) -> grpc.StatusCode:
    """The status of a call that ended before its handler answered: DEADLINE_EXCEEDED at (or
    within ``DEADLINE_SLACK_S`` of) its deadline, else CANCELLED (its client cancelled it, or
    the server stopped)."""
    remaining = context.time_remaining()
    past_deadline = remaining is not None and remaining <= DEADLINE_SLACK_S
    return grpc.StatusCode.DEADLINE_EXCEEDED if past_deadline else grpc.StatusCode.CANCELLED


def status_of(
    exc: BaseException, context: grpc.ServicerContext
) -> tuple[grpc.StatusCode, str] | None:
    """The status and message for an expected error raised in the call ``context``, or None
    for a bug."""
    if isinstance(exc, (SelectionStoppedError, CallEndedError)):  # the call's own status: a
        return ended_call_code(context), str(exc)  # cancelled one was DEADLINE_EXCEEDED
    if isinstance(exc, ServiceError):
        return exc.code, str(exc)
    if isinstance(exc, GPInputError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, NotFittedError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    return None


def grpc_errors(method: F) -> F:
    """Decorates a servicer method: expected errors abort with their status, bugs are logged."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            status = status_of(exc, context)
            if status is None:
                logger.exception("%s failed", method.__name__)
                status = (grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
            else:
                status = (status[0], bounded(status[1]))
                # The store's own faults (a full disk, lost access, corruption) are the
                # operator's to fix, not the caller's: at INFO, a log at WARNING kept none.
                operators = isinstance(exc, StoreError) and not isinstance(exc, StoreBusyError)
                level = logging.WARNING if operators else logging.INFO
                logger.log(level, "%s: %s %s", method.__name__, status[0].name, status[1])
                if getattr(exc, "nothing_done", False):
                    context.set_trailing_metadata(((NOTHING_DONE_KEY, "1"),))
            context.abort(*status)

    return wrapper  # type: ignore[return-value]


def bounded(message: str) -> str:
    """``message``, its middle elided beyond MAX_DETAILS characters: its start says which item,
    its end why (and an overlong quoted input is what gets cut)."""
    if len(message) <= MAX_DETAILS:
        return message
    half = (MAX_DETAILS - 5) // 2
    return f"{message[:half]} ... {message[-half:]}"


class StartupError(Exception):
    """The server cannot start; the message says what to fix (the CLI logs it, exits 2)."""


class ConfigError(StartupError, ValueError):
    """A setting, flag or environment variable is missing, inconsistent or unreadable."""


class StoreError(StartupError):
    """The store cannot be used as it is; the message names the file and what to do."""


class StoreCorruptError(StoreError, ServiceError):
    """The store file is truncated or corrupt; it is never silently recreated. In an RPC
    DATA_LOSS: a read found it so while serving, and the client was told only "internal
    error" (a review, 2026-12-06)."""

    code = grpc.StatusCode.DATA_LOSS


class StoreNotAFileError(StoreError):
    """The store's path is a directory, a pipe or a device, not a file."""


class StoreAccessError(StoreError, ServiceError):
    """The store cannot be read, or opened for writing: a read-only file system, or no
    permission. In an RPC UNAVAILABLE, as a failing disk: served again once an operator fixes
    it."""

    code = grpc.StatusCode.UNAVAILABLE


class StoreSchemaError(StoreError):
    """The file is a SQLite database, but its tables or columns are not this service's."""


class StoreBusyError(StoreError, ServiceError):
    """Another process (or a write queued before this one) held the store's write lock for
    longer than the busy timeout. Retryable: at start-up it is a StoreError, in an RPC
    UNAVAILABLE. Said to have done nothing (``nothing_done``) where a write transaction raised
    it: rolled back, or never begun; a read after a write's commit may raise it too."""

    code = grpc.StatusCode.UNAVAILABLE


class StoreFullError(StoreError, ServiceError):
    """The store's disk is full: the write stored nothing. At start-up it is a StoreError, in
    an RPC RESOURCE_EXHAUSTED (grpc's code for a file system out of space)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class StoreIOError(StoreError, ServiceError):
    """The store's disk failed a read or write (SQLite's "disk I/O error": a file system that
    went read-only after errors, a failing or detached disk). At start-up a StoreError, in an
    RPC UNAVAILABLE: the store cannot be served until an operator fixes the disk."""

    code = grpc.StatusCode.UNAVAILABLE


class StoreMovedError(StoreError, ServiceError):
    """The store's file was moved, deleted or replaced while the service had it open: SQLite
    writes on to the file it opened, so a write is refused, storing nothing. In an RPC
    FAILED_PRECONDITION: no retry helps until the file is back or the server restarts."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class BackupError(Exception):
    """A backup of the store cannot be made, and none was written; the message says why (the
    CLI logs it, exits 2)."""


class ServerExitedError(RuntimeError):
    """The server process ended while a caller waited for it to serve (service.probe)."""
