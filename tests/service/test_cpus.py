"""The CPUs a process may use: affinity and a container's CPU quota (service.cpus)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import cpus


@pytest.fixture
def sixteen_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """An affinity of 16 CPUs: more than any quota of the fake trees pays for."""
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(16)))


def cgroup(root: Path, files: dict[str, bytes]) -> Path:
    """A fake cgroup file system at ``root`` holding ``files`` (paths under it)."""
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def usable_in(
    root: Path, files: dict[str, bytes], own: str = "", mountinfo: str | None = None
) -> int:
    """usable_cpus of 16 CPUs of affinity in a fake cgroup file system whose process is in
    the cgroups ``own`` names (``/proc/self/cgroup``'s lines), mounted where ``mountinfo``
    (``/proc/self/mountinfo``'s lines) says, or with no mountinfo to read where it is None."""
    own_cgroups = root.parent / f"{root.name}-own"
    own_cgroups.write_text(own)
    mounts = root.parent / f"{root.name}-mountinfo"
    if mountinfo is not None:
        mounts.write_text(mountinfo)
    return cpus.usable_cpus(cgroup(root, files), own_cgroups, mounts)


def mount(hierarchy_root: str, point: Path | str, fstype: str, super_options: str) -> str:
    """A line of mountinfo: the folder ``hierarchy_root`` of a cgroup hierarchy at ``point``."""
    mounted = f"32 31 0:29 {hierarchy_root} {point} rw,relatime shared:9"  # shared: optional
    return f"{mounted} - {fstype} cgroup {super_options}\n"


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
    tmp_path: Path, sixteen_cpus: None, files: dict[str, bytes], expected: int
) -> None:
    """Only the affinity was counted: in docker run --cpus 2 on a 16-core host, --threads 8
    ran without a warning, at a fraction of its speed."""
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
    tmp_path: Path, sixteen_cpus: None, files: dict[str, bytes]
) -> None:
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
    sixteen_cpus: None,
    own: str,
    files: dict[str, bytes],
    expected: int,
) -> None:
    """Only the root's quota was read: a server in a systemd unit with CPUQuota= (its own
    cgroup, below the root) ran torch on every core."""
    assert usable_in(tmp_path / "cgroup", files, own) == expected


def hybrid(root: Path) -> str:
    """mountinfo of the hybrid layout (this VM's): a tmpfs at ``root`` with v1's controllers
    each in a folder of it, and v2's hierarchy in ``root/unified``."""
    return (
        f"31 23 0:28 / {root} rw,relatime - tmpfs tmpfs rw,mode=755\n"
        + mount("/", root / "cpu", "cgroup", "rw,cpu")
        + mount("/", root / "memory", "cgroup", "rw,memory")
        + mount("/", root / "unified", "cgroup2", "rw")
    )


@pytest.mark.parametrize(
    "own, files, expected",
    [
        (
            "1:cpu:/\n0::/user.slice/job\n",
            {"unified/user.slice/job/cpu.max": b"200000 100000\n"},
            2,
        ),
        # An ancestor's quota holds for its children.
        ("1:cpu:/\n0::/a/b\n", {"unified/a/cpu.max": b"300000 100000\n"}, 3),
    ],
)
def test_cgroup_v2_is_read_where_mountinfo_says_it_is_mounted(
    tmp_path: Path,
    sixteen_cpus: None,
    own: str,
    files: dict[str, bytes],
    expected: int,
) -> None:
    """Only /sys/fs/cgroup was read for v2: in the hybrid layout, v2 at
    /sys/fs/cgroup/unified, its quota was missed."""
    assert usable_in(tmp_path, files, own, hybrid(tmp_path)) == expected


def test_a_v1_cpu_controller_mounted_under_another_name_is_read(
    tmp_path: Path, sixteen_cpus: None
) -> None:
    """Only /sys/fs/cgroup/cpu was read for v1: a mount at /sys/fs/cgroup/cpu,cpuacct without
    the ``cpu`` link beside it was missed."""
    mountinfo = mount("/", tmp_path / "cpu,cpuacct", "cgroup", "rw,cpu,cpuacct")
    files = {
        "cpu,cpuacct/batch/cpu.cfs_quota_us": b"300000\n",
        "cpu,cpuacct/batch/cpu.cfs_period_us": b"100000\n",
    }
    assert usable_in(tmp_path, files, "4:cpu,cpuacct:/batch\n", mountinfo) == 3


def test_an_escaped_space_in_a_mount_point_is_read_as_a_space(
    tmp_path: Path, sixteen_cpus: None
) -> None:
    mountinfo = mount("/", f"{tmp_path}/cgroup\\040v2", "cgroup2", "rw")
    assert usable_in(tmp_path, {"cgroup v2/cpu.max": b"200000 100000\n"}, "0::/\n", mountinfo) == 2


@pytest.mark.parametrize(
    "own, files, expected",
    [
        # Its own cgroup: the mount point itself
        ("0::/docker/abc\n", {"container/cpu.max": b"200000 100000\n"}, 2),
        (
            "0::/docker/abc/worker\n",
            {
                "container/cpu.max": b"200000 100000\n",
                "container/worker/cpu.max": b"100000 100000\n",
            },
            1,
        ),
    ],
)
def test_a_container_s_mount_of_its_own_subtree_is_read_from_the_mount_s_root(
    tmp_path: Path,
    sixteen_cpus: None,
    own: str,
    files: dict[str, bytes],
    expected: int,
) -> None:
    """A container's mount shows only its subtree of the hierarchy (mountinfo's root,
    /docker/abc), while /proc/self/cgroup names the path from the hierarchy's root: the
    folder was looked for at <mount point>/docker/abc, which is not there."""
    mountinfo = mount("/docker/abc", tmp_path / "container", "cgroup2", "rw")
    assert usable_in(tmp_path, files, own, mountinfo) == expected


@pytest.mark.parametrize(
    "hierarchy_root, own",
    [
        ("/docker/abc", "0::/docker/other\n"),
        ("/", "0::/../sibling\n"),  # a cgroup namespace's path of a cgroup outside it
    ],
)
def test_a_cgroup_no_mount_shows_says_nothing(
    tmp_path: Path, sixteen_cpus: None, hierarchy_root: str, own: str
) -> None:
    """The mount point's quota is another cgroup's, and ``..`` would climb out of the mount."""
    mountinfo = mount(hierarchy_root, tmp_path / "container", "cgroup2", "rw")
    files = {"container/cpu.max": b"100000 100000\n", "sibling/cpu.max": b"100000 100000\n"}
    assert usable_in(tmp_path, files, own, mountinfo) == 16


@pytest.mark.parametrize(
    "mountinfo",
    [
        None,  # none to read
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n",
        mount("/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory"),  # no cpu controller
        "not a mount\n",
    ],
)
def test_without_a_cgroup_mount_in_mountinfo_the_usual_places_are_read(
    tmp_path: Path, sixteen_cpus: None, mountinfo: str | None
) -> None:
    files = {
        "cpu.max": b"300000 100000\n",
        "cpu/batch/cpu.cfs_quota_us": b"200000\n",
        "cpu/batch/cpu.cfs_period_us": b"100000\n",
    }
    assert usable_in(tmp_path / "cgroup", files, "1:cpu:/batch\n", mountinfo) == 2


def test_this_machine_s_mounts_name_existing_cgroup_folders() -> None:
    """Every folder found through this machine's mountinfo exists: one joined wrongly (the
    mount's root or point ignored) would not."""
    if not cpus._cgroup_mounts(cpus.MOUNTINFO):
        pytest.skip("no cgroup mount in this machine's mountinfo")
    folders = cpus._cgroup_folders(cpus.CGROUP_ROOT, cpus.OWN_CGROUPS, cpus.MOUNTINFO)
    assert folders and all(folder.is_dir() for folder in folders)


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


def test_a_cgroup_of_the_same_path_in_the_other_version_s_hierarchy_says_nothing(
    tmp_path: Path, sixteen_cpus: None
) -> None:
    """In the hybrid layout the process's v2 cgroup is /user.slice/job, its v1 cpu cgroup the
    root: a v1 cgroup of the v2 path, which it is not in, sets no quota on it."""
    files = {
        "cpu/user.slice/job/cpu.cfs_quota_us": b"100000\n",
        "cpu/user.slice/job/cpu.cfs_period_us": b"100000\n",
    }
    assert usable_in(tmp_path, files, "1:cpu:/\n0::/user.slice/job\n", hybrid(tmp_path)) == 16
