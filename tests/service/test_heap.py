"""Returning the C heap's free pages: glibc's malloc_trim where there is one, nothing elsewhere."""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Iterator

import pytest

from service import heap


@pytest.fixture(autouse=True)
def fresh_lookup() -> Iterator[None]:
    heap._malloc_trim.cache_clear()
    yield
    heap._malloc_trim.cache_clear()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_s_heap_is_trimmed() -> None:
    assert heap.release_free_heap() is True


@pytest.mark.parametrize("error", [OSError("no such library"), AttributeError("malloc_trim")])
def test_a_c_library_without_malloc_trim_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def refused(name: str | None) -> ctypes.CDLL:
        raise error

    monkeypatch.setattr(heap.ctypes, "CDLL", refused)
    assert heap.release_free_heap() is False
