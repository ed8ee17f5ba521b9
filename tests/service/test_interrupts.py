"""SIGTERM as Ctrl-C inside the block, and the handler before it restored after."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from service.interrupts import sigterm_as_interrupt


def test_sigterm_in_the_block_is_a_keyboard_interrupt_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in it
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_block_outside_the_main_thread_runs_with_the_handler_unchanged() -> None:
    """Only the main thread may set a handler: signal.signal raised ValueError there."""
    seen: list[object] = []

    def run() -> None:
        with sigterm_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == [before] and signal.getsignal(signal.SIGTERM) == before
