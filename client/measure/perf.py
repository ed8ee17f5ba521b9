"""Linux hardware performance counters of a workload, through ``perf_event_open(2)``.

Counters are opened on the calling thread (and threads it starts later). Each counts kernel
work too where the kernel allows it; where ``/proc/sys/kernel/perf_event_paranoid`` forbids
that, a hardware counter falls back to user space only, which any unprivileged process may
count at level 2. Events that happen only in the kernel (a migration) would then always read
zero, so they are left out instead.
A counter the kernel or the hardware refuses (virtual machines often expose no PMU) is left
out of the result rather than reported as zero, since zero would be a false measurement.

The events are those MAPLE-Edge describes a device by (Nair et al., "MAPLE-Edge: A Runtime
Latency Predictor for Edge Devices", CVPR workshops 2022).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import struct
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# perf_event_attr.type
_HARDWARE, _SOFTWARE, _HW_CACHE = 0, 1, 3
# Cache events: id | (op << 8) | (result << 16).
_L1D, _LL = 0, 2
_READ, _WRITE = 0, 1
_ACCESS, _MISS = 0, 1


def _cache(cache: int, op: int, result: int) -> int:
    return cache | (op << 8) | (result << 16)


#: perf's event name -> (type, config).
EVENTS: dict[str, tuple[int, int]] = {
    "cpu-cycles": (_HARDWARE, 0),
    "instructions": (_HARDWARE, 1),
    "cache-references": (_HARDWARE, 2),
    "cache-misses": (_HARDWARE, 3),
    "L1-dcache-loads": (_HW_CACHE, _cache(_L1D, _READ, _ACCESS)),
    "L1-dcache-load-misses": (_HW_CACHE, _cache(_L1D, _READ, _MISS)),
    "LLC-loads": (_HW_CACHE, _cache(_LL, _READ, _ACCESS)),
    "LLC-load-misses": (_HW_CACHE, _cache(_LL, _READ, _MISS)),
    "LLC-stores": (_HW_CACHE, _cache(_LL, _WRITE, _ACCESS)),
    "LLC-store-misses": (_HW_CACHE, _cache(_LL, _WRITE, _MISS)),
    "cpu-migrations": (_SOFTWARE, 4),
}

#: Events only the kernel's side of a thread has: counted in user space only they read zero.
_KERNEL_EVENTS = frozenset({"cpu-migrations"})
_SYSCALL_NUMBERS = {"x86_64": 298, "amd64": 298, "aarch64": 241, "arm64": 241}
_ATTR_SIZE = 64  # PERF_ATTR_SIZE_VER0: every field we set lies in the first 64 bytes
_DISABLED, _INHERIT, _EXCLUDE_KERNEL, _EXCLUDE_HV = 1 << 0, 1 << 1, 1 << 5, 1 << 6
_FORMAT_TIMES = 1 | 2  # TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING, to undo multiplexing
_IOC_ENABLE, _IOC_DISABLE, _IOC_RESET = 0x2400, 0x2401, 0x2403


@dataclass(frozen=True)
class CounterReading:
    """Counts of one workload run: event name -> count (scaled for multiplexing), seconds."""

    counts: dict[str, float]
    seconds: float

    def rates(self) -> dict[str, float]:
        """Counts per second of run time, so devices are comparable whatever the workload."""
        return {name: count / self.seconds for name, count in self.counts.items()}


def paranoid_level() -> int | None:
    """``/proc/sys/kernel/perf_event_paranoid``, or None where there is no such file."""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as file:
            return int(file.read().strip())
    except (OSError, ValueError):
        return None


def _syscall_number() -> int | None:
    if platform.system() != "Linux":
        return None
    return _SYSCALL_NUMBERS.get(platform.machine().lower())


def _attr(event_type: int, config: int, user_only: bool) -> bytes:
    flags = _DISABLED | _INHERIT | (_EXCLUDE_KERNEL | _EXCLUDE_HV if user_only else 0)
    # type, size, config, sample_period, sample_type, read_format, flags, wakeup, bp_type, config1
    return struct.pack(
        "=IIQQQQQIIQ", event_type, _ATTR_SIZE, config, 0, 0, _FORMAT_TIMES, flags, 0, 0, 0
    )


def _open(libc: ctypes.CDLL, number: int, name: str) -> int | None:
    event_type, config = EVENTS[name]
    for user_only in (False,) if name in _KERNEL_EVENTS else (False, True):
        attr = ctypes.create_string_buffer(_attr(event_type, config, user_only), _ATTR_SIZE)
        # pid 0, cpu -1: this thread on any CPU; no group, no flags.
        fd = libc.syscall(number, attr, 0, -1, -1, 0)
        if fd >= 0:
            return fd
        error = ctypes.get_errno()
        if error not in (errno.EACCES, errno.EPERM):  # only a permission refusal is worth a retry
            break
    logger.debug("perf counter %s unavailable: %s", name, os.strerror(error))
    return None


def _read(fd: int) -> float | None:
    value, enabled, running = struct.unpack("=QQQ", os.read(fd, 24))
    if running == 0:  # never scheduled on the PMU: no information, not zero events
        return None
    return value * enabled / running


def count(workload: Callable[[], object], events: list[str] | None = None) -> CounterReading:
    """Runs ``workload`` once under every available counter.

    Args:
        workload: the code to count.
        events: names from :data:`EVENTS`; all of them by default.

    Returns:
        The counts of the counters that could be opened and were scheduled, and the run time.
        With none available the workload still runs and the counts are empty.
    """
    names = list(EVENTS) if events is None else events
    number = _syscall_number()
    libc = ctypes.CDLL(None, use_errno=True) if number is not None else None
    with ExitStack() as stack:
        fds: dict[str, int] = {}
        if libc is not None and number is not None:
            for name in names:
                fd = _open(libc, number, name)
                if fd is not None:
                    stack.callback(os.close, fd)
                    fds[name] = fd
        for fd in fds.values():
            libc.ioctl(fd, _IOC_RESET, 0)  # type: ignore[union-attr]
            libc.ioctl(fd, _IOC_ENABLE, 0)  # type: ignore[union-attr]
        start = time.perf_counter()
        workload()
        seconds = time.perf_counter() - start
        for fd in fds.values():
            libc.ioctl(fd, _IOC_DISABLE, 0)  # type: ignore[union-attr]
        counts = {name: _read(fd) for name, fd in fds.items()}
    return CounterReading({n: c for n, c in counts.items() if c is not None}, seconds)
