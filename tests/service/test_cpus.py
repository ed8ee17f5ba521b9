"""The CPUs a process may use: affinity and a container's CPU quota (service.cpus)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import cpus


def cgroup(root: Path, files: dict[str, bytes]) -> Path:
    """A fake cgroup file system at ``root`` holding ``files`` (paths under it)."""
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def usable_in(root: Path, files: dict[str, bytes], own: str = "") -> int:
    """usable_cpus of 16 CPUs of affinity in a fake cgroup file system whose process is in
    the cgroups ``own`` names (``/proc/self/cgroup``'s lines)."""
    own_cgroups = root.parent / f"{root.name}-own"
    own_cgroups.write_text(own)
    return cpus.usable_cpus(cgroup(root, files), own_cgroups)


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": b"200000 100000\n"}, 2),  # docker run --cpus 2
        ({"cpu.max": b"150000 100000\n"}, 1),  # 1.5 CPUs run one thread unthrottled, not two
        ({"cpu.max": b"50000 100000\n"}, 1),  # at least one
        ({"cpu/cpu.cfs_quota_us": b"300000\n", "cpu/cpu.cfs_period_us": b"100000\n"}, 3),
    ],
)
def test_a_containers_cpu_quota_limits_the_usable_cpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], expected: int
) -> None:
    """Only the affinity was counted: in docker run --cpus 2 on a 16-core host, --threads 8
    ran without a warning, at a fraction of its speed."""
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert usable_in(tmp_path, files) == expected


@pytest.mark.parametrize(
    "files",
    [
        {},  # no cgroup file system
        {"cpu.max": b"max 100000\n"},
        {"cpu/cpu.cfs_quota_us": b"-1\n", "cpu/cpu.cfs_period_us": b"100000\n"},
        {"cpu.max": b"2 CPUs\n"},
        {"cpu.max": b"200000\n"},
        {"cpu.max": b"0 100000\n"},
        {"cpu.max": b"\xff\xfe\n"},
        {"cpu/cpu.cfs_quota_us": b"200000\n"},  # no period
    ],
)
def test_no_quota_or_one_that_cannot_be_read_leaves_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]
) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert usable_in(tmp_path, files) == 16


def test_the_affinity_limits_the_usable_cpus_below_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    assert usable_in(tmp_path, {"cpu.max": b"800000 100000\n"}) == 2


@pytest.mark.parametrize(
    "own, files, expected",
    [
        # A systemd unit's CPUQuota=150% sits in its own cgroup, below the root.
        (
            "0::/system.slice/latency.service\n",
            {"system.slice/latency.service/cpu.max": b"150000 100000\n"},
            1,
        ),
        # An ancestor's quota holds for its children.
        ("0::/a/b\n", {"a/cpu.max": b"300000 100000\n", "a/b/cpu.max": b"max 100000\n"}, 3),
        # cgroup v1, the cpu controller mounted with cpuacct
        (
            "4:cpu,cpuacct:/batch\n",
            {"cpu/batch/cpu.cfs_quota_us": b"200000\n", "cpu/batch/cpu.cfs_period_us": b"100000\n"},
            2,
        ),
        # The least of two quotas; a controller of another name says nothing
        (
            "0::/a\n3:memory:/m\n",
            {
                "cpu.max": b"400000 100000\n",
                "a/cpu.max": b"500000 100000\n",
                "m/cpu.max": b"100000 100000\n",
            },
            4,
        ),
    ],
)
def test_the_quota_of_the_process_s_own_cgroup_and_its_ancestors_counts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own: str,
    files: dict[str, bytes],
    expected: int,
) -> None:
    """Only the root's quota was read: a server in a systemd unit with CPUQuota= (its own
    cgroup, below the root) ran torch on every core."""
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert usable_in(tmp_path / "cgroup", files, own) == expected


def test_a_real_cgroup_quota_is_found() -> None:
    """A child process in a cgroup (v1, where this machine lets the test make one) of one
    CPU's quota counts one usable CPU."""
    parent = Path("/sys/fs/cgroup/cpu")
    if not (parent / "cpu.cfs_quota_us").exists() or not os.access(parent, os.W_OK):
        pytest.skip("no writable cgroup v1 cpu hierarchy here")
    child = parent / f"latency-test-{os.getpid()}"
    try:
        child.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a cgroup here: {exc}")
    try:
        (child / "cpu.cfs_quota_us").write_text(str(int((child / "cpu.cfs_period_us").read_text())))
        script = "from service.cpus import usable_cpus; print(usable_cpus())"
        joined = f'echo $$ > {child}/cgroup.procs && exec "$0" -c "$1"'
        found = subprocess.run(
            ["sh", "-c", joined, sys.executable, script], capture_output=True, text=True
        )
        if found.returncode and "cgroup.procs" in found.stderr:
            pytest.skip(f"cannot join a cgroup here: {found.stderr.strip()}")
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip() == "1"
    finally:
        child.rmdir()
