"""The lock a server holds beside its store (service.serving)."""

from __future__ import annotations

import errno
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
        assert_a_start_is_told_of(store, "second", caplog)
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
        assert_a_start_is_told_of(store, "first", caplog)
        assert first.held
    finally:
        first.release()


def test_a_start_that_may_only_read_another_user_s_lock_is_told_of_the_server_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another user's lock file (0644) cannot be opened for writing: read, it still tells
    whether that user's server runs."""
    store = tmp_path / "s.sqlite"
    store.touch()
    first = ServingLock(store, "first")
    opening = os.open

    def another_user_s(path: object, flags: int, *args: object) -> int:
        if flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return opening(path, flags, *args)

    monkeypatch.setattr(serving.os, "open", another_user_s)
    try:
        assert_a_start_is_told_of(store, "first", caplog)
    finally:
        first.release()


def test_a_start_that_may_only_read_a_lock_no_server_holds_says_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another user's server was killed: its lock file stays, held by no one."""
    store = tmp_path / "s.sqlite"
    store.touch()
    serving_lock_path(store).write_text("pid 4194303, 127.0.0.1:50051, port 50051\n")

    def another_user_s(path: object, flags: int, *args: object) -> int:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(serving.os, "open", another_user_s)
    with caplog.at_level(logging.WARNING, logger="service.serving"):
        lock = ServingLock(store, "second")
    assert not lock.held and not caplog.records


def test_of_two_starts_during_and_after_a_server_s_stop_only_one_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stopping server removes its lock file before it lets go of it: let go first, a
    start meanwhile took the lock of the file the stop then removed, and the next start found
    no lock and said nothing (two servers, each fitting its own model)."""
    store = tmp_path / "s.sqlite"
    store.touch()
    first = ServingLock(store, "first")
    during: list[ServingLock] = []
    removing = Path.unlink

    def start_meanwhile(path: Path, missing_ok: bool = False) -> None:
        if not during:
            during.append(ServingLock(store, "during"))
        removing(path, missing_ok=missing_ok)

    monkeypatch.setattr(serving.Path, "unlink", start_meanwhile)
    first.release()
    monkeypatch.undo()
    (second,) = during
    third = ServingLock(store, "after")
    try:
        # One holds the lock and the other was told; before, both held one, neither told.
        assert [second.held, third.held].count(True) == 1
        assert serving_lock_path(store).exists()
    finally:
        second.release()
        third.release()


def assert_a_start_is_told_of(store: Path, holder: str, caplog: pytest.LogCaptureFixture) -> None:
    """A lock taken on ``store`` now is not held, and its one warning names ``holder``."""
    with caplog.at_level(logging.WARNING, logger="service.serving"):
        later = ServingLock(store, "later")
    assert not later.held
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith(f"another server serves this store (pid {os.getpid()}, {holder},")


def test_a_server_whose_lock_file_was_removed_by_hand_leaves_the_next_server_s_lock_when_it_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its lock file deleted by hand, a second server took a new one: the first's stop removed
    the second's file, and a third start found no lock and said nothing."""
    store = tmp_path / "s.sqlite"
    store.touch()
    first = ServingLock(store, "first")
    serving_lock_path(store).unlink()
    second = ServingLock(store, "second")
    try:
        first.release()
        assert serving_lock_path(store).read_text() == f"pid {os.getpid()}, second\n"
        assert_a_start_is_told_of(store, "second", caplog)
    finally:
        second.release()
