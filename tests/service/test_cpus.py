"""The CPUs a process may use: affinity and a container's CPU quota (service.cpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import cpus


def cgroup(root: Path, files: dict[str, bytes]) -> Path:
    """A fake cgroup file system at ``root`` holding ``files`` (paths under it)."""
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


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
    assert cpus.usable_cpus(cgroup(tmp_path, files)) == expected


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
    assert cpus.usable_cpus(cgroup(tmp_path, files)) == 16


def test_the_affinity_limits_the_usable_cpus_below_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpus.usable_cpus(cgroup(tmp_path, {"cpu.max": b"800000 100000\n"})) == 2
