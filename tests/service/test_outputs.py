"""Files the tools write: checked before the work, written whole."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import pytest

from service.outputs import (
    ABANDONED_AFTER_S,
    STREAM_ABANDONED_AFTER_S,
    output_path_problem,
    remove_abandoned_temporaries,
    replacing_atomically,
    write_atomically,
)
from tests.helpers import (
    REPO,
    assert_a_longest_name_is_written,
    assert_another_writers_temporary_file_is_left_alone,
)


def test_an_interrupted_write_leaves_the_previous_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, Ctrl-C or a full disk mid-write left ``<path>.tmp`` behind, cut off."""
    out = tmp_path / "load.json"
    out.write_text('{"previous": "run"}')
    write_text = Path.write_text

    def cut_off(self: Path, text: str, *args, **kwargs) -> int:
        write_text(self, text[:5], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut_off)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(out, '{"new": "run"}')
    monkeypatch.undo()
    assert out.read_text() == '{"previous": "run"}'
    assert [p.name for p in tmp_path.iterdir()] == ["load.json"]


def test_a_write_is_on_its_disk_before_the_move_and_the_move_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was flushed: a power cut after the move could leave an empty file in place of
    the one replaced (a review, 2026-12-06)."""
    flushed: list[tuple[str, bytes | None]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        flushed.append((target.name, target.read_bytes() if target.is_file() else None))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "holdout.csv"
    write_atomically(path, "arch,latency_ms\n")
    (file_name, content), (folder_name, nothing) = flushed
    assert file_name != path.name and content == b"arch,latency_ms\n"  # the temporary file
    assert (folder_name, nothing) == (tmp_path.name, None)


def test_a_file_rewritten_keeps_its_permissions(tmp_path: Path) -> None:
    """The new file had the umask's: a private hold-out CSV was readable by all once
    rewritten."""
    path = tmp_path / "holdout.csv"
    path.write_text("old\n")
    path.chmod(0o600)
    write_atomically(path, "new\n")
    assert path.read_text() == "new\n" and (path.stat().st_mode & 0o777) == 0o600


def test_a_write_through_a_symbolic_link_writes_the_file_it_leads_to(tmp_path: Path) -> None:
    """The link was replaced by a file: the file it led to kept its old content."""
    target_folder = tmp_path / "results"
    target_folder.mkdir()
    target = target_folder / "holdout.csv"
    target.write_text("old\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    write_atomically(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert sorted(p.name for p in target_folder.iterdir()) == ["holdout.csv"]


def test_a_symbolic_link_into_a_missing_folder_is_named_before_the_work(tmp_path: Path) -> None:
    link = tmp_path / "latest.csv"
    link.symlink_to(tmp_path / "gone" / "holdout.csv")
    assert "no folder" in (output_path_problem(link) or "")


def test_a_symbolic_link_is_kept_where_a_file_may_not_be_replaced(tmp_path: Path) -> None:
    target = tmp_path / "backup.sqlite"
    link = tmp_path / "latest.sqlite"
    link.symlink_to(target)
    with pytest.raises(FileExistsError), replacing_atomically(link, replace=False) as tmp:
        tmp.write_text("copy")
    assert link.is_symlink() and not target.exists()


def test_a_write_leaves_another_writers_temporary_file_of_the_same_path_alone(
    tmp_path: Path,
) -> None:
    """Every write went through ``<path>.tmp``: a second writer of the path meanwhile
    overwrote the first one's file there and moved it, half-written, into place."""
    assert_another_writers_temporary_file_is_left_alone(
        write_atomically, tmp_path / "model.pt.key", tmp_path / "model.pt.key.tmp"
    )


def test_a_file_name_as_long_as_a_name_may_be_is_written(tmp_path: Path) -> None:
    """The temporary file was named after the file plus a 37-character suffix: a name of
    244 characters, within the 255 a name may have, failed "File name too long"."""
    assert_a_longest_name_is_written(write_atomically, tmp_path)


def test_a_write_that_fills_the_disk_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write's own error names no file: client report --out on a full disk ended in an
    "OSError: [Errno 28] No space left on device" traceback, not a line naming the figure."""

    def disk_full(self: Path, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    out = tmp_path / "report.png"
    with pytest.raises(OSError) as failed:
        write_atomically(out, b"png")
    assert (failed.value.filename, failed.value.strerror) == (str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_file_is_named_before_the_work(tmp_path: Path) -> None:
    """os.access says yes to root there: the load test ran, then lost its report to a
    traceback."""
    problem = output_path_problem(Path("/proc/load.json"))
    assert problem is not None and problem.startswith("/proc/load.json: cannot write in /proc")
    assert output_path_problem(tmp_path / "load.json") is None
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind


def test_a_name_too_long_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    """``backup --store S /tmp/<300 characters>`` ended in OSError's traceback."""
    problem = output_path_problem(tmp_path / ("x" * 300))
    assert problem is not None and problem.endswith(": File name too long")


def _killed_write(out: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary file a write_atomically of ``out`` killed outright (SIGKILL: no cleanup
    ran) leaves behind."""
    before = set(out.parent.iterdir())
    with monkeypatch.context() as patched:
        # The move never happens, and nor does the cleanup: killed just before it.
        patched.setattr(Path, "replace", lambda self, target: None)
        write_atomically(out, b"half a model")
    (left,) = set(out.parent.iterdir()) - before - {out}
    return left


def test_temporary_files_of_writes_killed_long_ago_are_removed_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write killed mid-way left its hidden temporary file (a model cache's: 2-5 MB) for good."""
    old = _killed_write(tmp_path / "store.sqlite.model.pt", monkeypatch)
    in_flight = _killed_write(tmp_path / "store.sqlite.model.pt.key", monkeypatch)
    someone_elses = tmp_path / ".notes.tmp"
    someone_elses.write_text("not ours")
    long_ago = time.time() - ABANDONED_AFTER_S - 60
    for path in (old, someone_elses):
        os.utime(path, (long_ago, long_ago))
    assert remove_abandoned_temporaries(tmp_path) == [old]
    assert sorted(tmp_path.iterdir()) == sorted([in_flight, someone_elses])
    assert remove_abandoned_temporaries(tmp_path / "absent") == []


def _said_on_stderr(stdout: int | IO[str], named: str) -> bool:
    """Whether a process whose stdout is ``stdout`` says what it wrote to ``named`` on stderr."""
    code = (
        "import sys; from pathlib import Path; from service.outputs import said_beside;"
        "print(said_beside(Path(sys.argv[1])) is sys.stderr, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, named],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        check=True,
    )
    return {"True": True, "False": False}[done.stderr.strip()]


def test_what_is_written_to_stdout_s_file_is_said_on_stderr_unless_it_keeps_nothing(
    tmp_path: Path,
) -> None:
    """Said on stdout, a summary joined a copy written to stdout's file or pipe; on /dev/null
    it mixes with nothing, and stays where the user sent stdout (a review, 2026-12-07). Other
    devices keep what is written (a tape, the kernel log): only /dev/null is such a sink."""
    with (tmp_path / "out").open("w") as file:
        assert _said_on_stderr(file, str(tmp_path / "out"))
    assert _said_on_stderr(subprocess.PIPE, "/dev/stdout")
    with open(os.devnull, "w") as null:
        assert not _said_on_stderr(null, os.devnull)
    if Path("/dev/full").exists():  # a device that is no sink: it fails every write
        with open("/dev/full", "w") as full:
            assert _said_on_stderr(full, "/dev/full")


def test_private_folders_of_stream_writes_killed_long_ago_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write into a stream killed outright (SIGKILL) left its private folder, a whole copy
    in it (a backup's: the store), in the temporary folder for good (a review, 2026-12-06)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed, recent = tmp_path / "latency-stream-killed", tmp_path / "latency-stream-running"
    someone_elses = tmp_path / "other-stream-old"
    for folder in (killed, recent, someone_elses):
        folder.mkdir()
        (folder / "copy.tmp").write_bytes(b"a store's copy")
    long_ago = time.time() - STREAM_ABANDONED_AFTER_S - 60
    for folder in (killed, someone_elses):
        os.utime(folder, (long_ago, long_ago))
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with open(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK), "rb") as reader:
        write_atomically(pipe, b"report")
        assert reader.read() == b"report"
    assert sorted(tmp_path.iterdir()) == sorted([recent, someone_elses, pipe])


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_file_made_at_the_path_during_a_write_is_kept_unless_replacing(
    hard_links: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the path is not to be replaced, a file made there meanwhile is kept, also on a
    file system that makes no hard links (FAT: link(2) fails EPERM)."""
    if not hard_links:

        def no_link(source: Path, target: Path) -> None:
            raise PermissionError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr("service.outputs.os.link", no_link)
    kept, out = tmp_path / "kept.json", tmp_path / "out.json"
    with pytest.raises(FileExistsError) as refused:
        with replacing_atomically(kept, replace=False) as tmp:
            tmp.write_text("new")
            kept.write_text("another writer's")
    assert refused.value.filename == str(kept)
    with replacing_atomically(out, replace=False) as tmp:
        tmp.write_text("new")
    assert kept.read_text() == "another writer's" and out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "out.json"]


def test_a_pipe_is_written_into_not_replaced(tmp_path: Path) -> None:
    """Run as root, ``--save-holdout /dev/null`` (or /dev/full) made the device a file: it was
    replaced as a file is (a review, 2026-12-06). A pipe stands in for a device here."""
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_text()))
    reader.start()
    assert output_path_problem(pipe) is None
    write_atomically(pipe, "arch,latency_ms\n")
    reader.join(timeout=10)
    assert read == ["arch,latency_ms\n"]
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert sorted(tmp_path.iterdir()) == [pipe]


def test_the_file_stdout_writes_to_is_written_after_what_was_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``loadtest --json /dev/stdout > log`` replaced the log, and the report printed into it
    first was lost (a review, 2026-12-06)."""
    import sys

    log = tmp_path / "log.txt"
    with log.open("w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        print("printed first")
        assert output_path_problem(log) is None
        write_atomically(log, '{"json": 1}\n')
    assert log.read_text() == 'printed first\n{"json": 1}\n'
    assert sorted(tmp_path.iterdir()) == [log]


def test_stdout_without_a_buffer_is_written_through_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrapper with a file but no .buffer (codecs' writer, a notebook's stream) raised
    AttributeError and lost the output (a review, 2026-12-06)."""
    import sys

    log = tmp_path / "log.txt"
    with log.open("w") as file:

        class Wrapped:
            def fileno(self) -> int:
                return file.fileno()

            def flush(self) -> None:
                file.flush()

        monkeypatch.setattr(sys, "stdout", Wrapped())
        write_atomically(log, "report\n")
    assert log.read_text() == "report\n"


def test_a_temporary_file_half_an_hour_old_is_a_write_still_running(tmp_path: Path) -> None:
    """A backup of a large store, or a copy onto a slow disk, takes minutes: only a file left
    untouched for hours is abandoned."""
    running, abandoned = tmp_path / f".{'a' * 32}.tmp", tmp_path / f".{'b' * 32}.tmp"
    for path, age_s in ((running, 30 * 60), (abandoned, 2 * 3600)):
        path.write_bytes(b"part of a copy")
        os.utime(path, (time.time() - age_s, time.time() - age_s))
    assert remove_abandoned_temporaries(tmp_path) == [abandoned]
    assert running.exists()
