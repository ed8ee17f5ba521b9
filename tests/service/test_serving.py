"""The lock a server holds beside its store (service.serving)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from service import serving
from service.serving import ServingLock, serving_lock_path


def test_a_lock_left_by_a_killed_server_is_taken_over_with_only_the_new_server_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "s.sqlite"
    store.touch()
    serving_lock_path(store).write_text("pid 4194303, 127.0.0.1:50051, port 50051, long gone\n")
    with caplog.at_level(logging.WARNING, logger="service.serving"):
        lock = ServingLock(store, "[::]:1")
    try:
        assert lock.held and not caplog.records
        assert serving_lock_path(store).read_text() == f"pid {os.getpid()}, [::]:1\n"
    finally:
        lock.release()


def test_a_server_that_opens_the_lock_as_the_last_one_stops_holds_the_lock_a_next_start_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The stopping server removes the file it held: locked after that, it was a file no later
    start opened, and a third server started without a word (and the second's stop removed
    the third's lock)."""
    store = tmp_path / "s.sqlite"
    store.touch()
    first = ServingLock(store, "first")
    opening = os.open

    def first_stops_meanwhile(*args: object, **kwargs: object) -> int:
        descriptor = opening(*args, **kwargs)
        first.release()
        return descriptor

    monkeypatch.setattr(serving.os, "open", first_stops_meanwhile)
    second = ServingLock(store, "second")
    monkeypatch.undo()
    try:
        assert second.held
        assert serving_lock_path(store).read_text() == f"pid {os.getpid()}, second\n"
        with caplog.at_level(logging.WARNING, logger="service.serving"):
            third = ServingLock(store, "third")
        assert not third.held
        (said,) = [r.getMessage() for r in caplog.records]
        assert said.startswith(f"another server serves this store (pid {os.getpid()}, second,")
    finally:
        second.release()


def test_a_server_started_through_a_link_to_the_store_finds_the_same_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each path had a lock of its own beside it, and neither server was told (a review)."""
    store = tmp_path / "s.sqlite"
    store.touch()
    (tmp_path / "link.sqlite").symlink_to(store)
    first = ServingLock(tmp_path / "link.sqlite", "first")
    try:
        assert serving_lock_path(tmp_path / "link.sqlite") == tmp_path / "s.sqlite.lock"
        with caplog.at_level(logging.WARNING, logger="service.serving"):
            second = ServingLock(store, "second")
        assert first.held and not second.held
        (said,) = [r.getMessage() for r in caplog.records]
        assert said.startswith(f"another server serves this store (pid {os.getpid()}, first,")
    finally:
        first.release()
