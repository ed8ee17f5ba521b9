"""Waits in slices: without a limit until success, with one no later than it, for a lock."""

from __future__ import annotations

import threading

import pytest

from service.errors import CallEndedError
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


def test_a_wait_with_a_distant_limit_still_looks_each_slice_whether_its_call_ended() -> None:
    """A call with a deadline an hour away whose client cancelled it gives its worker back
    after one slice, not at the deadline or when the lock comes free, and does nothing."""
    asked: list[float] = []

    def free_at_the_tenth_time(seconds: float) -> bool:
        asked.append(seconds)
        return len(asked) == 10

    with pytest.raises(CallEndedError, match="while it waited for device x: nothing was done"):
        wait_until(free_at_the_tenth_time, 3600.0, lambda: True, "device x")
    assert asked == [CHECK_EVERY_S]
