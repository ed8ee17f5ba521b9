"""Returning the C heap's free pages: glibc's malloc_trim where there is one, nothing elsewhere."""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Iterator

import pytest

from service import heap


@pytest.fixture(autouse=True)
def fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    heap._malloc_trim.cache_clear()
    yield
    monkeypatch.undo()  # a test's stand-in for the lookup first
    heap._malloc_trim.cache_clear()


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


@pytest.mark.parametrize("error", [OSError("no such library"), AttributeError("malloc_trim")])
def test_a_c_library_without_malloc_trim_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def refused(name: str | None) -> ctypes.CDLL:
        raise error

    monkeypatch.setattr(heap.ctypes, "CDLL", refused)
    assert heap.HeapTrimmer().release_free_heap() is False
