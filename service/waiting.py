"""Waiting for a lock on behalf of a call that its client may cancel meanwhile.

A call with a deadline stops waiting at the deadline. One without a deadline (a client that
sets no timeout) waited until the lock was free, even after its client had cancelled it,
holding one of the server's few workers all that while, and then did what its caller had
given up on. So waits go in slices, and between slices ask whether the call has ended. This
module knows no gRPC: the servicer hands in what tells it that the call is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from service.errors import CallEndedError

#: How often a waiting call looks whether it has ended: about the longest a cancelled call
#: keeps its worker.
CHECK_EVERY_S = 0.1

#: ``attempt(seconds)`` waits at most ``seconds`` for something and says whether it got it.
Attempt = Callable[[float], bool]
#: Says whether the call that waits has ended (its client cancelled it, or its deadline passed).
Ended = Callable[[], bool]


class Lock(Protocol):
    """What waits here take: a threading Lock, RLock or Semaphore."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


def acquiring(lock: Lock) -> Attempt:
    """The :data:`Attempt` at taking ``lock`` (a threading lock)."""
    return lambda seconds: lock.acquire(timeout=seconds)


def never() -> bool:
    """The :data:`Ended` of a caller that is no call (the importer, a test): it never ends."""
    return False


def wait_until(attempt: Attempt, timeout: float | None, ended: Ended, waiting_for: str) -> bool:
    """Repeats ``attempt`` in slices of at most CHECK_EVERY_S until it succeeds (True), or
    ``timeout`` seconds have passed (False; None: no limit).

    Raises:
        CallEndedError: ``ended()`` said between two slices that the call is over;
            ``waiting_for`` names what it waited for (``"device x"``).
    """
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    while True:
        left = CHECK_EVERY_S if deadline is None else deadline - time.monotonic()
        if attempt(min(max(left, 0.0), CHECK_EVERY_S)):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        if ended():
            raise CallEndedError(
                f"the call ended while it waited for {waiting_for}: nothing was done"
            )


@contextmanager
def holding(
    lock: Lock,
    timeout: float | None,
    ended: Ended,
    waiting_for: str,
    refusal: Callable[[], Exception],
) -> Iterator[None]:
    """Holds ``lock``, waiting for it as :func:`wait_until` does; raises ``refusal()`` where it
    stayed taken for ``timeout`` seconds, and CallEndedError where the call ended meanwhile."""
    if not wait_until(acquiring(lock), timeout, ended, waiting_for):
        raise refusal()
    try:
        yield
    finally:
        lock.release()
