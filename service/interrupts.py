"""SIGTERM handled as Ctrl-C, for the commands that clean up or report when stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the block, so that it cleans up as for Ctrl-C: a
    backup killed outright (a cron job's timeout, systemd stopping it) left its temporary
    copy beside OUT, the load test its served copy's server running on, and ``client
    measure`` its bars' hidden cursor, without saying what it had uploaded."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler; Python's default then stands
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
