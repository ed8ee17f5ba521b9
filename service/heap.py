"""Hands the C heap's free pages back to the operating system (glibc only).

A device posterior is a few MB of tensors (a 1,000 x 1,000 Cholesky factor is 8 MB), and glibc
keeps what an evicted one freed inside its heap for reuse, raising its threshold for mmap as it
goes, so that later ones land in the heap too: a registry queried for 192 devices in turn (in
process) rose +1,269 MB in RSS while 64 posteriors (591 MB of tensors) stayed live; with
``malloc_trim`` after each posterior built, +614 MB (2026-12-07). Not ``mallopt``'s fixed mmap
threshold instead: at 1 MiB it held a server queried for 384 devices flatter (mean +603 to +627
MiB against +693 to +722 with trims) but took 118-136 s for them against 84-101 s.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import math
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name)
        trim = library.malloc_trim
    except (OSError, AttributeError, TypeError):
        logger.debug("no malloc_trim in the C library %s: freed heap pages stay mapped", name)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


#: The least seconds between two trims. A trim locks each of glibc's arenas in turn and the
#: pages it returns are faulted in again by the next allocations: after every posterior built,
#: a load test of 32 clients (each upload a new posterior) ran at 21.1-22.7 RPC/s against
#: 24.1-26.3 without trims.
MIN_INTERVAL_S = 1.0


class HeapTrimmer:
    """Trims the heap at most once per ``min_interval_s``, one thread at a time (the registry
    holds one: the service keeps its mutable state there).

    A call refused as too soon is owed a trim: where no call trims for two intervals (the
    server has gone quiet), a timer makes it. Skipped for good, the last builds' free pages
    stayed mapped until the next one: a server queried for 384 devices in turn, then idle
    5 s, kept +773 and +782 MiB against +614 and +615 with the owed trim (2026-12-07). Under
    load the builds' own calls trim first, so the timer adds none there. A call that finds
    another thread trimming does not wait for it (a trim takes 60-110 ms on a heap of 0.25-1.2
    GiB): it leaves its request, which that thread answers once it lets go.
    """

    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._last = -math.inf
        self._trimming = threading.Lock()
        self._asked = False
        self._owed = False
        self._timer: threading.Timer | None = None

    def release_free_heap(self) -> bool:
        """Returns the heap's free pages to the system; False where this thread did not (too
        soon after the last trim, another thread trimming, or no ``malloc_trim``)."""
        trim = _malloc_trim()
        if trim is None:
            return False
        self._asked = True
        return self._answer(trim)

    def _answer(self, trim: Callable[[int], int]) -> bool:
        """Answers the requests left since the last answer, unless another thread holds the
        lock; after letting go it looks again, so that a request refused by the lock meanwhile
        (left before that refusal) is answered. Whether this thread trimmed."""
        trimmed = False
        while self._asked and self._trimming.acquire(blocking=False):
            try:
                self._asked = False
                if time.monotonic() - self._last < self.min_interval_s:
                    self._owed = True
                    self._follow_up()
                else:
                    self._trim(trim)
                    trimmed = True
            finally:
                self._trimming.release()
        return trimmed

    def _trim(self, trim: Callable[[int], int]) -> None:
        trim(0)
        self._last = time.monotonic()
        self._owed = False

    def _follow_up(self) -> None:
        """Starts the owed trim's timer, unless one runs (under ``_trimming``)."""
        if self._timer is None:
            self._timer = threading.Timer(2 * self.min_interval_s, self._pay)
            self._timer.daemon = True
            self._timer.name = "heap-trim"
            self._timer.start()

    def _pay(self) -> None:
        """The timer: trims where a call was refused and none trimmed for two intervals since,
        else waits again while calls are refused; then answers requests left meanwhile."""
        trim = _malloc_trim()
        if trim is None:  # no timer starts without it; for the type checker
            return
        with self._trimming:
            self._timer = None
            if self._owed and time.monotonic() - self._last >= 2 * self.min_interval_s:
                self._trim(trim)
            elif self._owed:
                self._follow_up()  # still busy: its calls trim
        self._answer(trim)
