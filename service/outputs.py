"""Files the tools write: the one check that a path can take a file, made before the work
that fills it, and writing it whole.

Imports only the standard library, so the client uses it without the server's modules.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from service.wording import quantity

logger = logging.getLogger(__name__)

#: The age from which a temporary file of :func:`write_atomically` counts as abandoned: a write
#: takes seconds, but one killed outright (SIGKILL, a power cut) leaves its file (a model cache's
#: is 2-5 MB) for good.
ABANDONED_AFTER_S = 3600.0
_TEMPORARY_NAME = re.compile(r"\.[0-9a-f]{32}\.tmp")
#: The private folders of writes into a stream, in the temporary folder.
_STREAM_FOLDER_PREFIX = "latency-stream-"
#: The age from which such a folder counts as abandoned: a day, since its copy into a pipe
#: waits on the reader (``backup --force /dev/stdout | slow``), however long it takes.
STREAM_ABANDONED_AFTER_S = 86400.0
#: What link(2) says on a file system that makes no hard links (FAT, some network shares).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


def output_path_problem(path: Path) -> str | None:
    """Why ``path`` could not be written (a folder itself, its folder missing or read-only),
    or None."""
    if _is_stream(path):  # written into: its folder (/dev) need take no file
        return None
    try:
        if path.is_dir():
            return f"{path} is a folder: give a file name"
        folder = link_target(path).parent
        if not folder.is_dir():
            return f"{path}: no folder {folder}"
    except OSError as exc:  # a name too long, say: a traceback before (a review, 2026-12-06)
        return f"{path}: {exc.strerror or exc}"
    # A file made there, not os.access: that said no without a reason (a read-only mount, no
    # permission), and yes to root in a folder that takes no file (/proc).
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return f"{path}: cannot write in {folder} ({exc.strerror or exc})"


def _is_stream(path: Path) -> bool:
    """Whether ``path`` (through links, as the kernel reads /dev/stdout) is a device
    (``/dev/null``), a pipe, or the file stdout or stderr writes to: what is written into,
    not replaced."""
    status = _status(path)
    if status is None:
        return False
    device = stat.S_ISCHR(status.st_mode) or stat.S_ISFIFO(status.st_mode)
    return device or _standard_stream(status) is not None


def _standard_stream(status: os.stat_result) -> TextIO | None:
    """stdout or stderr where it writes to the file of ``status``, else None."""
    return next((s for s in (sys.stdout, sys.stderr) if _writes_to(s, status)), None)


def _writes_to(stream: TextIO, status: os.stat_result) -> bool:
    """Whether ``stream`` writes to the file of ``status``."""
    try:
        own = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed or None, or no file (captured)
        return False
    # An inode of 0 is none (Windows' consoles, pipes and NUL): NUL was stdout.
    return bool(own.st_ino) and (own.st_dev, own.st_ino) == (status.st_dev, status.st_ino)


def _status(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (OSError, ValueError):  # not there (yet), or no name a file can have
        return None


def is_log_stream(path: Path) -> bool:
    """Whether ``path`` is the file stderr, where the log goes, writes to: a copy written there
    would hold log lines too (`backup --force /dev/stderr 2> copy` made no database)."""
    status = _status(path)
    return status is not None and _writes_to(sys.stderr, status)


def said_beside(path: Path) -> TextIO:
    """Where a command says what it wrote to ``path``: stderr where ``path`` is stdout's
    file, which it would join (`backup --force /dev/stdout > copy` added the summary line
    to the copy; a review, 2026-12-06), else stdout. A device that keeps nothing (stdout on
    /dev/null) mixes nothing: what is said there goes where the user sent stdout."""
    status = _status(path)
    if status is None or not _writes_to(sys.stdout, status):
        return sys.stdout
    return sys.stdout if _keeps_nothing(status) else sys.stderr


def _keeps_nothing(status: os.stat_result) -> bool:
    """Whether the file of ``status`` is /dev/null: other devices keep what is written (a
    tape, the kernel log) or fail it (/dev/full; a review, 2026-12-07)."""
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(status.st_mode) and status.st_rdev == null.st_rdev


def _copy_into(source: Path, target: Path) -> None:
    """``source``'s bytes written into the stream ``target``: through stdout or stderr where
    it is theirs (opened anew, their file was truncated: `loadtest --json /dev/stdout > log`
    lost what was printed first; a review, 2026-12-06)."""
    stream = _standard_stream(target.stat())
    with source.open("rb") as read:
        if stream is None:
            with target.open("wb") as written:
                shutil.copyfileobj(read, written)
            return
        stream.flush()  # what was printed first; then its file, whatever wraps it (no .buffer)
        while chunk := read.read(1 << 16):
            view = memoryview(chunk)
            while view:
                view = view[os.write(stream.fileno(), view) :]


def write_atomically(path: Path, content: str | bytes, mode: int | None = None) -> None:
    """Writes ``content`` to ``path`` through a temporary file beside it: a failure (a full
    disk, Ctrl-C) leaves no half-written file. The file gets ``mode`` where given; else one
    it replaces keeps its permissions. A device or pipe is written into."""
    with replacing_atomically(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content)
        if mode is not None:
            tmp.chmod(mode)
        # The new file had the umask's: a hold-out CSV its owner had made private was
        # readable by all once rewritten (a review, 2026-12-06). Not a stream's (/dev/null's
        # 0666), whose bytes it holds in the temporary folder until they are copied.
        elif not _is_stream(path):
            with suppress(FileNotFoundError):
                tmp.chmod(stat.S_IMODE(path.stat().st_mode))


def owner_writable_like(path: Path) -> int:
    """``path``'s permissions, with its owner's read and write: of a file that holds what
    ``path`` does (a store's backup, its model cache), which only those who may read ``path``
    may read, and its owner rewrites."""
    return stat.S_IMODE(path.stat().st_mode) | stat.S_IRUSR | stat.S_IWUSR


@contextmanager
def replacing_atomically(path: Path, replace: bool = True) -> Iterator[Path]:
    """A temporary file's path beside ``path`` for the block to write; moved into place when
    the block ends, removed when it fails (a full disk, Ctrl-C), so that no half-written file
    is left under either name.

    Raises:
        FileExistsError: ``path`` exists when the block ends, unless ``replace``; the
            temporary file is removed and ``path`` left as it is.
    """
    # Named for this write alone: two writers of one path (two servers starting on one store
    # write its model's key file) shared "<path>.tmp", and one moved the other's half-written
    # file into place. Not named after the file either: a name of 244 bytes, which the file
    # takes, was too long with the suffix.
    # Where a file replaces, a symbolic link is written through, as open() would: the link
    # itself had been replaced by a file (a review, 2026-12-06). One that may not replace
    # keeps its link name, which is taken.
    written = link_target(path) if replace else path
    # A device or pipe is written into, as the kernel finds it through the path (/dev/stdout
    # resolves to no name): run as root, --save-holdout /dev/null made /dev/null a file (a
    # review, 2026-12-06). Its temporary file is a private one of the temporary folder's
    # (/dev takes none of a user's).
    streamed = replace and _is_stream(path)
    # A folder of its own (0700) for the temporary file, which the block creates: one made by
    # mkstemp already existed, and backup's exclusive create refused it (a review).
    private = _private_folder() if streamed else None
    if private is not None:
        tmp = private / "copy.tmp"
    else:
        tmp = written.parent / f".{uuid.uuid4().hex}.tmp"  # as _TEMPORARY_NAME matches
    try:
        yield tmp
        if streamed:
            _copy_into(tmp, path)
            return
        # On its disk before the move: a power cut after a move of unflushed data can leave
        # an empty file in place of the one replaced (a review, 2026-12-06).
        fsync_path(tmp)
        move_into_place(tmp, written, replace)
    except BaseException as exc:  # the temporary file was left behind, cut off
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            # A full disk fails the write itself, whose error names no file: client report
            # ended in a traceback ending "OSError: [Errno 28] No space left on device".
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
    # Some file systems cannot flush a folder (EINVAL); the file in place is whole either way.
    with suppress(OSError):
        fsync_path(written.parent)  # the move itself survives a power cut


def _private_folder() -> Path:
    """A new private (0700) folder in the temporary folder for a stream's copy; those of
    writes killed long ago, which no ``finally`` removed (SIGKILL), are removed first: each
    held a whole copy (a backup's: the store)."""
    with suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            if entry.name.startswith(_STREAM_FOLDER_PREFIX) and _abandoned_folder(entry):
                shutil.rmtree(entry.path, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=_STREAM_FOLDER_PREFIX))


def _abandoned_folder(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a folder of this user's untouched for STREAM_ABANDONED_AFTER_S."""
    try:
        status = entry.stat(follow_symlinks=False)
    except OSError:  # gone meanwhile
        return False
    mine = status.st_uid == os.getuid() if hasattr(os, "getuid") else True  # Windows: no uid
    return (
        mine
        and stat.S_ISDIR(status.st_mode)
        and status.st_mtime < time.time() - STREAM_ABANDONED_AFTER_S
    )


def beside_real_file(path: Path, suffix: str) -> Path:
    """The file ``<path><suffix>`` beside the file ``path`` names, through any link to it or to
    a folder on its way: two paths to one store find one lock or import mark (a review)."""
    return Path(f"{os.path.realpath(path)}{suffix}")


def link_target(path: Path) -> Path:
    """The file a symbolic link ``path`` leads to, through any chain of links; else ``path``
    (also where ``path`` cannot be looked at: the caller's own checks say why)."""
    try:
        linked = path.is_symlink()
    except OSError:  # a name too long, say
        return path
    return Path(os.path.realpath(path)) if linked else path


def fsync_path(path: Path) -> None:
    """Flushes the file or folder ``path`` to its disk."""
    # A file is opened for writing: Windows flushes only a handle with write access (os.fsync
    # of a read-only one fails there, EBADF). A folder cannot be, and POSIX needs no more.
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_into_place(tmp: Path, path: Path, replace: bool) -> None:
    """Moves the written file ``tmp`` to ``path``; unless ``replace``, only where no file has
    that name at the moment of the move."""
    if replace:
        tmp.replace(path)
        return
    try:
        # Not a check, then a rename: a file made at ``path`` between the two was replaced.
        # A link fails where the name is taken, in one step.
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, *_NO_HARD_LINKS):
            raise
        # Without hard links, checked, then renamed: the best this file system allows, though
        # a file made between the two is replaced.
        if exc.errno == errno.EEXIST or os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from exc
        tmp.replace(path)
        return
    tmp.unlink()


def remove_abandoned_temporaries(folder: Path) -> list[Path]:
    """Removes the temporary files of :func:`write_atomically` in ``folder`` older than
    :data:`ABANDONED_AFTER_S`, logs and returns them; one that cannot be removed is left."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    cutoff = time.time() - ABANDONED_AFTER_S
    for entry in entries:
        if not _TEMPORARY_NAME.fullmatch(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    if removed:
        logger.info(
            "removed %s that writes killed mid-way left in %s: %s",
            quantity(len(removed), "temporary file"),
            folder,
            ", ".join(p.name for p in removed),
        )
    return removed
