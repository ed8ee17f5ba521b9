"""The hardware descriptor: psutil facts, cache sizes, perf counters, reference latencies."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from client.measure import timing as measure_timing
from client.measure.descriptor import (
    HELP_REFERENCE_ARCHS,
    REFERENCE_LATENCY_PREFIX,
    cache_facts,
    cpu_facts,
    hardware_descriptor,
    parse_size,
    reference_ms_key,
    settings_facts,
)
from client.measure.perf import _EXCLUDE_KERNEL as EXCLUDE_KERNEL
from client.measure.perf import EVENTS, CounterReading, count
from client.measure.perf import _open as perf_open
from client.measure.perf import _syscall_number as perf_syscall_number
from client.measure.timing import Timing, TimingSettings

TINY = TimingSettings(warmup=1, runs=3, attempts=1)


def test_descriptor_has_the_hardware_keys_and_the_reference_latencies() -> None:
    descriptor = hardware_descriptor(TINY)
    for key in (
        "cpu.logical_cores",
        "memory.total_bytes",
        "measure.batch_size",
        "perf.reference_ms",
    ):
        assert descriptor[key] > 0
    references = {k: v for k, v in descriptor.items() if k.startswith(REFERENCE_LATENCY_PREFIX)}
    assert len(references) == len(HELP_REFERENCE_ARCHS) == 10
    assert all(v > 0 for v in references.values())
    assert all(isinstance(v, float) for v in descriptor.values())


def test_descriptor_without_perf_or_references_is_quick_and_lean() -> None:
    descriptor = hardware_descriptor(TINY, perf=False, references=False)
    assert not any(k.startswith(("perf.", REFERENCE_LATENCY_PREFIX)) for k in descriptor)


def test_reference_archs_are_helps_hardware_embedding(help_dataset_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    to_index = torch.load(help_dataset_dir / "str_arch2idx.pt", weights_only=True)
    to_arch = {int(i): arch for arch, i in to_index.items()}
    indices = torch.load(help_dataset_dir / "hardware_embedding_index.pt", weights_only=True)
    assert tuple(to_arch[int(i)] for i in indices) == HELP_REFERENCE_ARCHS


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("48K", 49152),
        ("2048 KB", 2 * 1024**2),
        ("32M\n", 32 * 1024**2),
        ("2G", 2 * 1024**3),  # binary, as sysfs means it
        ("512 kB", 512 * 1024),  # a lower-case unit
        ("48KiB", 49152),  # lscpu's and some kernels' binary spelling
        ("32 MiB", 32 * 1024**2),
        ("?", None),
        ("0K", None),  # unknown, not a cache of 0 bytes: left out like a missing counter
    ],
)
def test_cache_sizes_parse(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_cache_sizes_from_sysfs_and_the_cpuinfo_fallback(tmp_path: Path) -> None:
    for name, level, kind, size in [
        ("index0", 1, "Data", "32K"),
        ("index1", 1, "Instruction", "64K"),
        ("index2", 2, "Unified", "1M"),
    ]:
        folder = tmp_path / "cache" / name
        folder.mkdir(parents=True)
        (folder / "level").write_text(f"{level}\n")
        (folder / "type").write_text(f"{kind}\n")
        (folder / "size").write_text(f"{size}\n")
    facts = cache_facts(tmp_path / "cache", tmp_path / "none")
    assert facts == {
        "cache.l1d_bytes": 32768.0,
        "cache.l1i_bytes": 65536.0,
        "cache.l2_bytes": 1024.0**2,
    }
    (tmp_path / "cpuinfo").write_text("model name\t: X\ncache size\t: 512 KB\n")
    assert cache_facts(tmp_path / "empty", tmp_path / "cpuinfo") == {"cache.llc_bytes": 524288.0}
    assert cache_facts(tmp_path / "cache", tmp_path / "cpuinfo") == facts  # only a fallback
    # An index folder that cannot be read is passed over, not the end of the list.
    (tmp_path / "cache" / "index1" / "size").unlink()
    without_l1i = cache_facts(tmp_path / "cache", tmp_path / "none")
    assert without_l1i == {"cache.l1d_bytes": 32768.0, "cache.l2_bytes": 1024.0**2}
    # AMD's is the per-core L2, which was called the last level (a review, 2026-12-06).
    for vendor in ("AuthenticAMD", "HygonGenuine"):  # Hygon's are AMD's design
        amd = f"vendor_id\t: {vendor}\ncache size\t: 1024 KB\n"
        (tmp_path / "cpuinfo").write_text(amd * 2)
        only_l2 = cache_facts(tmp_path / "empty", tmp_path / "cpuinfo")
        assert only_l2 == {"cache.l2_bytes": 1024.0**2}, vendor


def test_a_cpu_frequency_of_zero_is_absent_not_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """Some VMs report 0 MHz for the frequency they do not know."""
    unknown = SimpleNamespace(current=0.0, min=0.0, max=0.0)
    monkeypatch.setattr(psutil, "cpu_freq", lambda percpu: [unknown] * 2)
    facts = cpu_facts()
    assert "cpu.freq_max_mhz" not in facts and "cpu.freq_mhz" not in facts
    assert facts["memory.total_bytes"] > 0


def test_the_frequencies_are_the_fastest_core_s_and_the_online_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """psutil's overall figure averaged its CPUs: offline ones (0 MHz) halved the maximum of
    two online ones, and a hybrid CPU's efficient cores pulled its maximum below any core's."""
    online = SimpleNamespace(current=3000.0, min=800.0, max=3600.0)
    offline = SimpleNamespace(current=0.0, min=0.0, max=0.0)
    efficient = SimpleNamespace(current=2000.0, min=800.0, max=2400.0)
    # The efficient core first: the fastest is the largest maximum, not the first core's.
    monkeypatch.setattr(psutil, "cpu_freq", lambda percpu: [efficient, offline, online, offline])
    facts = cpu_facts()
    assert (facts["cpu.freq_max_mhz"], facts["cpu.freq_mhz"]) == (3600.0, 2500.0)


def test_the_cores_this_process_may_use_are_described_beside_the_machine_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container given 2 of a host's 64 CPUs was described by the host's 64 alone."""
    from client.measure import descriptor

    monkeypatch.setattr(descriptor, "usable_cpus", lambda: 2)
    facts = cpu_facts()
    assert facts["cpu.usable_cores"] == 2.0
    assert facts["cpu.logical_cores"] == psutil.cpu_count(logical=True)


def test_perf_counters_are_absent_rather_than_zero_when_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its check ran only without perf_event_paranoid, so never on Linux: refused counters
    reported as 0 passed (a review, 2026-12-06). Here half of them are refused."""
    from client.measure import perf

    refused = set(list(EVENTS)[::2])
    real_open = perf._open

    def open_some(libc: object, number: int, name: str) -> int | None:
        return None if name in refused else real_open(libc, number, name)  # type: ignore[arg-type]

    monkeypatch.setattr(perf, "_open", open_some)
    reading = count(lambda: sum(range(100_000)))
    assert reading.seconds > 0
    assert set(reading.counts) <= set(EVENTS) - refused
    assert set(reading.rates()) == set(reading.counts)
    monkeypatch.setattr(perf, "_open", lambda libc, number, name: None)
    assert count(lambda: None).counts == {}


@pytest.mark.parametrize("refusal", [errno.EACCES, errno.EPERM])
def test_a_kernel_event_is_not_counted_in_user_space_only(refusal: int) -> None:
    """Where perf_event_paranoid refuses kernel counting, a user-only migration counter would
    read zero; it is left out instead, while hardware events still retry user-only. Kernels
    refuse with EACCES or, some of them, EPERM."""
    attempts: list[tuple[str, bool]] = []

    class RefusingLibc:
        """perf_event_open that refuses every attempt with EACCES, recording its flags."""

        def __init__(self, name: str) -> None:
            self.name = name

        def syscall(self, number: int, attr: ctypes.Array, *args: int) -> int:
            flags = struct.unpack_from("=Q", attr.raw, 40)[0]  # after type..read_format
            attempts.append((self.name, bool(flags & EXCLUDE_KERNEL)))
            ctypes.set_errno(refusal)
            return -1

    for name in ("cpu-migrations", "cpu-cycles"):
        assert perf_open(RefusingLibc(name), 298, name) is None  # type: ignore[arg-type]
    assert attempts == [("cpu-migrations", False), ("cpu-cycles", False), ("cpu-cycles", True)]


def test_a_physical_core_count_psutil_does_not_know_is_absent_not_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """psutil gives None for the physical cores where the platform does not say."""
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 4 if logical else None)
    facts = cpu_facts()
    assert facts["cpu.logical_cores"] == 4.0 and "cpu.physical_cores" not in facts


@pytest.mark.skipif(perf_syscall_number() is None, reason="perf_event_open is Linux-only")
def test_an_unscheduled_counter_is_absent_and_a_multiplexed_one_scaled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A counter the PMU never ran (time running 0) has no count, not a count of zero; one that
    ran a quarter of the time counts four times what it read. Pipes stand in for the counters'
    file descriptors: each holds the (value, time enabled, time running) the kernel would give."""
    from client.measure import perf

    # A counter that ran and counted nothing counted zero: that one is kept.
    readings = {"cpu-cycles": (100, 8, 2), "cache-misses": (0, 8, 0), "cpu-migrations": (0, 8, 8)}

    def opened(libc: ctypes.CDLL, number: int, name: str) -> int:
        read_end, write_end = os.pipe()
        os.write(write_end, struct.pack("=QQQ", *readings[name]))
        os.close(write_end)
        return read_end

    monkeypatch.setattr(perf, "_open", opened)
    reading = count(lambda: None, list(readings))
    assert reading.counts == {"cpu-cycles": 400.0, "cpu-migrations": 0.0}


def test_the_perf_workload_is_the_heaviest_cell_run_21_times_on_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counter rates and ``perf.reference_ms`` compare across machines only when every
    machine counts the same work: the all-``nor_conv_3x3`` cell, one warm-up pass outside the
    count and 20 counted, on one thread whatever torch's own count."""
    import torch

    from client.measure import descriptor, networks

    built: list[str] = []
    threads_seen: list[int] = []

    class Recorded(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            threads_seen.append(torch.get_num_threads())
            return x

    def build(arch: str, search_space: str = "nasbench201") -> torch.nn.Module:
        built.append(arch)
        return Recorded()

    def run_and_count(workload):
        passes_before = len(threads_seen)
        workload()
        counted.append(len(threads_seen) - passes_before)
        return CounterReading({}, seconds=0.001)

    counted: list[int] = []
    monkeypatch.setattr(networks, "build_network", build)
    monkeypatch.setattr(descriptor, "count", run_and_count)
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    try:
        facts = descriptor.perf_facts()
    finally:
        torch.set_num_threads(before)
    assert built == [networks.format_nb201(["nor_conv_3x3"] * 6)]
    assert counted == [20] and threads_seen == [1] * 21
    assert facts == {"perf.reference_ms": 1.0}


def test_unknown_threads_are_absent_from_the_settings_facts() -> None:
    facts = settings_facts(TimingSettings(threads=None))
    assert "measure.threads" not in facts and facts["measure.batch_size"] == 1.0


def test_perf_rates_are_per_second_and_reference_latencies_are_medians(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from client.measure import descriptor

    reading = CounterReading({"cpu-cycles": 3e6}, seconds=0.002)
    monkeypatch.setattr(descriptor, "count", lambda workload: reading)
    facts = descriptor.perf_facts()
    assert facts == {"perf.cpu_cycles_per_s": 1.5e9, "perf.reference_ms": 2.0}
    timing = Timing(median_ms=2.0, q1_ms=1.0, q3_ms=5.0, runs_ms=(1.0, 2.0, 5.0))
    monkeypatch.setattr(measure_timing, "time_arch", lambda *args: timing)
    latencies = descriptor.reference_latencies(TINY)
    assert list(latencies.values()) == [2.0] * len(HELP_REFERENCE_ARCHS)


def test_every_reference_arch_makes_a_key_the_service_takes() -> None:
    """By block names the longest FBNet arch's key was 218 characters: RegisterDevice, after
    the reference archs were timed, refused it."""
    from service.servicer import MAX_DESCRIPTOR_KEY_LENGTH

    longest_fbnet = ",".join(["k5_e1_g2"] * 22)
    longest_nb201 = HELP_REFERENCE_ARCHS[-1].replace("nor_conv_3x3", "avg_pool_3x3")
    for arch in (longest_fbnet, longest_nb201):
        assert len(reference_ms_key(arch)) <= MAX_DESCRIPTOR_KEY_LENGTH
    # One key per network, however it is spelled.
    assert reference_ms_key(longest_fbnet) == reference_ms_key(" 5, " * 21 + "5")
