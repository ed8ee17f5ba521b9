"""How many CPUs this process may use: its affinity, and its container's CPU quota.

``docker run --cpus 2`` (or a Kubernetes CPU limit) sets a cgroup bandwidth quota, not an
affinity: the host's every core stays visible to ``os.cpu_count`` and ``sched_getaffinity``, and
so to torch's default thread count. Threads beyond the quota take turns under the kernel's
throttling, which slows a parallel computation rather than speeding it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: Where Linux mounts the cgroup file system: a container sees its own cgroup there.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: This process's cgroups, one line per hierarchy: ``<id>:<controllers>:<path>``.
OWN_CGROUPS = Path("/proc/self/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT, own_cgroups: Path = OWN_CGROUPS) -> int:
    """The CPUs this process may use at once: the fewer of those it may run on (a taskset or
    cpuset may allow fewer than the machine has) and the whole CPUs its quota pays for (1.5
    runs one thread without throttling, not two), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS and Windows
        cpus = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root, own_cgroups)
    return cpus if quota is None else max(1, min(cpus, math.floor(quota)))


def cpu_quota(cgroup_root: Path = CGROUP_ROOT, own_cgroups: Path = OWN_CGROUPS) -> float | None:
    """The CPUs the quotas over this process pay for (quota over period; the least of its own
    cgroup's and its ancestors', each from cgroup v2's ``cpu.max`` or v1's
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``); None without a quota, or where those
    files cannot be read."""
    quotas = [q for q in map(_quota_in, _cgroup_folders(cgroup_root, own_cgroups)) if q]
    return min(quotas, default=None)


def _cgroup_folders(cgroup_root: Path, own_cgroups: Path) -> list[Path]:
    """The cgroup folders whose CPU quota holds for this process: its own and their ancestors
    (a systemd unit's ``CPUQuota=`` sits in its own, below the root), and the roots, which a
    container sees as its own cgroup while ``own_cgroups`` may name the host's path of it."""
    folders = [cgroup_root, cgroup_root / "cpu"]
    for line in (_read_cgroup(own_cgroups) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:  # v2's one hierarchy
            base = cgroup_root
        elif "cpu" in controllers.split(","):
            base = cgroup_root / "cpu"
        else:
            continue
        own = base / path.strip().lstrip("/")
        folders += [own, *[p for p in own.parents if p.is_relative_to(base) and p != base]]
    return folders


def _quota_in(folder: Path) -> float | None:
    """The CPUs the quota of one cgroup folder pays for; None where it sets none."""
    v2 = _read_cgroup(folder / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
    else:
        quota = _read_cgroup(folder / "cpu.cfs_quota_us") or ""
        period = _read_cgroup(folder / "cpu.cfs_period_us") or ""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # v2's "max": no quota; anything else is no quota we can read
        return None
    if quota_us <= 0 or period_us <= 0:  # v1's -1: no quota
        return None
    return quota_us / period_us


def _read_cgroup(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):  # absent outside a cgroup, or not ours to read
        return None
