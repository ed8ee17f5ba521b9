"""Returning the C heap's free pages: glibc's malloc_trim where there is one, nothing elsewhere."""

from __future__ import annotations

import ctypes
import itertools
import platform
import threading
from collections.abc import Callable, Iterator

import pytest

from service import heap

#: Taken before any test's stand-in replaces it.
_REAL_TIMER = threading.Timer


@pytest.fixture(autouse=True)
def fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _stop_real_timers()
    heap._malloc_trim.cache_clear()
    yield
    monkeypatch.undo()  # a test's stand-in for the lookup first
    heap._malloc_trim.cache_clear()


def _stop_real_timers() -> None:
    """Cancels the owed-trim timers of earlier tests' servers, or waits for one that fires: one
    firing while a test's stand-ins were patched in read the test's clock and started one of
    its timers (a review, 2026-12-07)."""
    for thread in threading.enumerate():
        if isinstance(thread, _REAL_TIMER) and thread.name == "heap-trim":
            thread.cancel()
            thread.join()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_s_heap_is_trimmed() -> None:
    assert heap.HeapTrimmer().release_free_heap() is True


def test_trims_are_at_most_one_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load a posterior is built after each upload: a trim each time cost throughput."""
    trims: list[int] = []
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trims.append)
    clock = iter([100.0, 100.0, 100.5, 101.0, 101.0])
    monkeypatch.setattr(heap.time, "monotonic", lambda: next(clock))
    trimmer = heap.HeapTrimmer(min_interval_s=1.0)
    assert trimmer.release_free_heap() is True  # reads 100.0, then stamps 100.0
    assert trimmer.release_free_heap() is False  # 0.5 s later
    assert trimmer.release_free_heap() is True  # 1.0 s later
    assert trims == [0, 0]


@pytest.mark.parametrize(
    "error",
    [
        OSError("no such library"),
        AttributeError("malloc_trim"),
        # ctypes.CDLL(None), where find_library("c") finds nothing, raises it on Windows.
        TypeError("LoadLibrary() argument 1 must be str, not None"),
    ],
)
def test_a_c_library_without_malloc_trim_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def refused(name: str | None) -> ctypes.CDLL:
        raise error

    monkeypatch.setattr(heap.ctypes, "CDLL", refused)
    assert heap.HeapTrimmer().release_free_heap() is False


def test_a_trim_under_way_is_not_joined_by_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Posteriors finish building on several server threads at once: while one trims (glibc
    locks each arena in turn), another's call returns at once instead of trimming too."""
    trimmer = heap.HeapTrimmer()
    trims: list[int] = []
    others: list[bool] = []
    trim = _asked_by_another_thread_while_trimming(trimmer, trims, others)
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    assert trimmer.release_free_heap() is True
    assert (trims, others) == ([0], [False])


def _asked_by_another_thread_while_trimming(
    trimmer: heap.HeapTrimmer, trims: list[int], answers: list[bool]
) -> Callable[[int], int]:
    """A stand-in for malloc_trim that records each call in ``trims`` and, during its first,
    has another thread ask ``trimmer`` for a trim (a build finishing meanwhile), putting the
    answer in ``answers``."""
    calls = itertools.count()

    def trim(pad: int) -> int:
        trims.append(pad)
        if next(calls) == 0:
            other = threading.Thread(target=lambda: answers.append(trimmer.release_free_heap()))
            other.start()
            other.join()
        return 1

    return trim


def test_a_trim_refused_as_too_soon_is_made_once_the_calls_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last posteriors built before a quiet spell freed ~100 MiB: refused as too soon, and
    no build after them, that stayed mapped while the server idled."""
    trims: list[int] = []
    paid = threading.Event()

    def trim(pad: int) -> int:
        trims.append(pad)
        if len(trims) == 2:
            paid.set()
        return 1

    now = [100.0]
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    monkeypatch.setattr(heap.time, "monotonic", lambda: now[0])
    trimmer = heap.HeapTrimmer(min_interval_s=0.05)
    assert trimmer.release_free_heap() is True
    now[0] = 100.01
    assert trimmer.release_free_heap() is False  # too soon, and then no more calls
    now[0] = 101.0
    assert paid.wait(timeout=10)
    assert trims == [0, 0]


class _ManualTimers:
    """Stands in for threading.Timer: the test fires the started timers when it chooses, on
    its own clock, so no test waits on real time."""

    def __init__(self) -> None:
        self.started: list[_ManualTimer] = []

    def __call__(self, interval: float, function: Callable[[], None]) -> _ManualTimer:
        return _ManualTimer(self, interval, function)

    def fire(self) -> None:
        due, self.started = self.started, []
        for timer in due:
            timer.function()


class _ManualTimer:
    def __init__(
        self, timers: _ManualTimers, interval: float, function: Callable[[], None]
    ) -> None:
        self.timers, self.interval, self.function = timers, interval, function
        self.daemon, self.name = False, ""

    def start(self) -> None:
        self.timers.started.append(self)


_Spell = tuple[heap.HeapTrimmer, list[float], list[int], _ManualTimers]


@pytest.fixture
def quiet_spell(monkeypatch: pytest.MonkeyPatch) -> _Spell:
    """A trimmer of 1 s intervals on a clock the test sets, its trims and its timers."""
    trims: list[int] = []
    now = [100.0]
    timers = _ManualTimers()
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trims.append)
    monkeypatch.setattr(heap.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(heap.threading, "Timer", timers)
    return heap.HeapTrimmer(min_interval_s=1.0), now, trims, timers


def _owing(spell: _Spell) -> _Spell:
    """The spell's trimmer after a trim at 100.0 and a call refused as too soon at 100.5."""
    trimmer, now, _, _ = spell
    assert trimmer.release_free_heap() is True
    now[0] = 100.5
    assert trimmer.release_free_heap() is False  # a trim owed
    return spell


def test_the_owed_trim_waits_while_the_server_is_still_busy(quiet_spell: _Spell) -> None:
    """Under load the builds' own calls trim once a second: the timer adds none there (none
    of a load run's 51 trims came from it)."""
    trimmer, now, trims, timers = _owing(quiet_spell)
    now[0] = 101.0
    assert trimmer.release_free_heap() is True
    now[0] = 101.2
    assert trimmer.release_free_heap() is False  # owed again
    now[0] = 102.5  # the timer: 1.5 s since the last trim, not two intervals
    timers.fire()
    assert trims == [0, 0]
    now[0] = 104.5  # quiet since: the timer, started again, trims
    timers.fire()
    assert trims == [0, 0, 0]


def test_no_trim_is_owed_once_a_call_has_trimmed_after_the_refused_one(quiet_spell: _Spell) -> None:
    """Nor does the timer, finding nothing owed, start another: started again, an idle server
    kept a thread waking every two intervals for good (a review's mutant, 2026-12-07)."""
    trimmer, now, trims, timers = _owing(quiet_spell)
    now[0] = 101.0
    assert trimmer.release_free_heap() is True  # the refused call's pages went with this one
    now[0] = 104.0
    timers.fire()
    assert (trims, timers.started) == ([0, 0], [])


def test_every_quiet_spell_after_a_refused_call_gets_its_trim(quiet_spell: _Spell) -> None:
    trimmer, now, trims, timers = _owing(quiet_spell)
    now[0] = 103.0
    timers.fire()
    assert trims == [0, 0]
    now[0] = 103.5  # one more build, refused as too soon after the timer's trim
    assert trimmer.release_free_heap() is False
    now[0] = 106.0
    timers.fire()
    assert trims == [0, 0, 0]


def test_a_burst_of_refused_calls_starts_one_timer(quiet_spell: _Spell) -> None:
    """Each build under load that is refused a trim would otherwise start a thread."""
    trimmer, now, trims, timers = quiet_spell
    assert trimmer.release_free_heap() is True
    for t in (100.2, 100.4, 100.6):
        now[0] = t
        assert trimmer.release_free_heap() is False
    assert len(timers.started) == 1


def test_a_call_refused_while_another_thread_trims_is_owed_a_trim(
    quiet_spell: _Spell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It returns at once, but its request stays: the trimming thread, once done, finds it
    too soon after its own trim and owes it one (its pages may have been freed after that
    trim had passed them). Dropped, the idle server kept them."""
    trimmer, now, trims, timers = quiet_spell
    refused: list[bool] = []
    trim = _asked_by_another_thread_while_trimming(trimmer, trims, refused)
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    assert trimmer.release_free_heap() is True
    assert refused == [False]
    now[0] = 102.0
    timers.fire()
    assert trims == [0, 0]


def test_a_call_refused_while_the_timer_trims_is_owed_a_trim(
    quiet_spell: _Spell, monkeypatch: pytest.MonkeyPatch
) -> None:
    trimmer, now, trims, timers = _owing(quiet_spell)
    refused: list[bool] = []
    trim = _asked_by_another_thread_while_trimming(trimmer, trims, refused)  # the timer's trim
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    now[0] = 102.0
    timers.fire()
    assert (trims, refused, len(timers.started)) == ([0, 0], [False], 1)
