"""How many CPUs this process may use: its affinity, and its container's CPU quota.

``docker run --cpus 2`` (or a Kubernetes CPU limit) sets a cgroup bandwidth quota, not an
affinity: the host's every core stays visible to ``os.cpu_count`` and ``sched_getaffinity``, and
so to torch's default thread count. Threads beyond the quota take turns under the kernel's
throttling, which slows a parallel computation rather than speeding it.

The cgroup folders are found where ``/proc/self/mountinfo`` says the hierarchies are mounted
(cgroup v2 may sit at ``/sys/fs/cgroup/unified`` beside v1's controllers, and v1's ``cpu`` at
``/sys/fs/cgroup/cpu,cpuacct``), and below a mount's root: a container's mount may show only its
own subtree of the hierarchy, while ``/proc/self/cgroup`` names the path from the hierarchy's
root. Without mountinfo, or with neither of these mounted in it, the usual places are read.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Where the cgroup file system is usually mounted: read where mountinfo lists no mount of it.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: This process's cgroups, one line per hierarchy: ``<id>:<controllers>:<path>``.
OWN_CGROUPS = Path("/proc/self/cgroup")
#: This process's mounts, one line each; ``man 5 proc`` gives its fields.
MOUNTINFO = Path("/proc/self/mountinfo")
#: The folder of a hierarchy that its usual mount, outside a container, shows.
_WHOLE_HIERARCHY = PurePosixPath("/")
#: mountinfo writes a space, tab, newline and backslash in a path as octal escapes: ``\\040``.
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class _CgroupMount:
    """Where a cgroup hierarchy holding the CPU controller (or v2's one) is mounted."""

    version: int  # 1 or 2
    hierarchy_root: PurePosixPath  # the folder of the hierarchy shown at the mount point
    mount_point: Path


def usable_cpus(
    cgroup_root: Path = CGROUP_ROOT, own_cgroups: Path = OWN_CGROUPS, mountinfo: Path = MOUNTINFO
) -> int:
    """The CPUs this process may use at once: the fewer of those it may run on (a taskset or
    cpuset may allow fewer than the machine has) and the whole CPUs its quota pays for (1.5
    runs one thread without throttling, not two), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS and Windows
        cpus = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root, own_cgroups, mountinfo)
    return cpus if quota is None else max(1, min(cpus, math.floor(quota)))


def cpu_quota(
    cgroup_root: Path = CGROUP_ROOT, own_cgroups: Path = OWN_CGROUPS, mountinfo: Path = MOUNTINFO
) -> float | None:
    """The CPUs the quotas over this process pay for (quota over period; the least of its own
    cgroup's and its ancestors', each from cgroup v2's ``cpu.max`` or v1's
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``); None without a quota, or where those
    files cannot be read."""
    folders = _cgroup_folders(cgroup_root, own_cgroups, mountinfo)
    quotas = [q for q in map(_quota_in, folders) if q]
    return min(quotas, default=None)


def _cgroup_folders(cgroup_root: Path, own_cgroups: Path, mountinfo: Path) -> list[Path]:
    """The cgroup folders whose CPU quota holds for this process: its own and their ancestors
    up to the mount point (a systemd unit's ``CPUQuota=`` sits in its own, below the root)."""
    mounts = _cgroup_mounts(mountinfo)
    folders: list[Path] = []
    if not mounts:
        mounts = [
            _CgroupMount(2, _WHOLE_HIERARCHY, cgroup_root),
            _CgroupMount(1, _WHOLE_HIERARCHY, cgroup_root / "cpu"),
        ]
        # Without mountinfo a container's mount root is unknown: it sees its own cgroup at the
        # mount point while own_cgroups may name the host's path of it.
        folders += [mount.mount_point for mount in mounts]
    for line in (_read_cgroup(own_cgroups) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:  # v2's one hierarchy
            version = 2
        elif "cpu" in controllers.split(","):
            version = 1
        else:
            continue
        own = PurePosixPath(path.strip())
        if ".." in own.parts:  # a cgroup outside this cgroup namespace: no folder here shows it
            continue
        for mount in mounts:
            if mount.version == version and own.is_relative_to(mount.hierarchy_root):
                folders += _folder_and_ancestors(mount, own)
    return folders


def _cgroup_mounts(mountinfo: Path) -> list[_CgroupMount]:
    """The cgroup v2 mounts and v1's mounts of the ``cpu`` controller that ``mountinfo``
    lists; none where it cannot be read."""
    mounts: list[_CgroupMount] = []
    for line in (_read_cgroup(mountinfo) or "").splitlines():
        # <id> <parent> <major:minor> <root> <mount point> <options> [optional...] - <fstype>
        # <source> <super options>
        mount, _, filesystem = line.partition(" - ")
        fields, described = mount.split(), filesystem.split()
        if len(fields) < 5 or len(described) < 3:
            continue
        fstype, super_options = described[0], described[2].split(",")
        if fstype == "cgroup2":
            version = 2
        elif fstype == "cgroup" and "cpu" in super_options:
            version = 1
        else:
            continue
        root, point = (_unescape(field) for field in fields[3:5])
        mounts.append(_CgroupMount(version, PurePosixPath(root), Path(point)))
    return mounts


def _folder_and_ancestors(mount: _CgroupMount, own: PurePosixPath) -> list[Path]:
    """The folder of cgroup ``own`` (a path from its hierarchy's root) under ``mount``, and its
    ancestors up to the mount point, which shows the hierarchy's folder ``mount.hierarchy_root``."""
    folder = mount.mount_point / own.relative_to(mount.hierarchy_root)
    return [folder, *[p for p in folder.parents if p.is_relative_to(mount.mount_point)]]


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda escape: chr(int(escape.group(1), 8)), field)


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
