"""Waits in slices: without a limit until success, with one no later than it, for a lock."""

from __future__ import annotations

import threading

from service.waiting import CHECK_EVERY_S, acquiring, never, wait_until


def test_a_wait_without_limit_by_no_call_goes_on_until_it_succeeds() -> None:
    """A wait of no call (the importer's, ``never`` ending): in test_store_locking the lock
    comes free within its first slice, so no second slice of one was reached there."""
    asked: list[float] = []

    def third_time_lucky(seconds: float) -> bool:
        asked.append(seconds)
        return len(asked) == 3

    assert wait_until(third_time_lucky, None, never, "device x") is True
    assert asked == [CHECK_EVERY_S] * 3


def test_a_wait_whose_time_is_up_asks_for_no_more() -> None:
    asked: list[float] = []

    def never_free(seconds: float) -> bool:
        asked.append(seconds)
        return False

    assert wait_until(never_free, 0.0, never, "device x") is False
    assert asked == [0.0]


def test_acquiring_waits_for_a_lock_another_thread_lets_go() -> None:
    lock = threading.Lock()
    lock.acquire()
    release = threading.Timer(0.05, lock.release)
    release.start()
    try:
        assert acquiring(lock)(30.0) is True
    finally:
        release.join()
