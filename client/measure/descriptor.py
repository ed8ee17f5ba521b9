"""The hardware descriptor of the machine at hand: numeric facts a device is registered with.

Keys are stable, dotted and unit-suffixed, so descriptors of different machines line up:

- ``cpu.logical_cores``, ``cpu.physical_cores`` (the machine's), ``cpu.usable_cores`` (those
  this process may use at once: its affinity and cgroup quota, as ``--threads`` is checked
  against), ``cpu.freq_max_mhz``, ``cpu.freq_mhz``
- ``memory.total_bytes``
- ``cache.l1d_bytes``, ``cache.l1i_bytes``, ``cache.l2_bytes``, ``cache.l3_bytes`` (one
  instance, as cpu0 sees it); without sysfs, the one size /proc/cpuinfo states:
  ``cache.llc_bytes`` (Intel's), ``cache.l2_bytes`` on AMD and Hygon
- ``perf.<event>_per_s``: Linux perf counters over a short reference workload divided by its run
  time, as MAPLE-Edge describes devices (``perf.cpu_cycles_per_s``, ``perf.llc_load_misses_per_s``,
  ...), and ``perf.reference_ms``, that workload's run time
- ``measure.threads``, ``measure.batch_size``, ``measure.cpu_clock`` (1 when timed by thread CPU
  time): the settings the latencies were taken with
- ``measure.reference`` (1 when timed against a ``--reference`` arch, else 0) and
  ``measure.reference_ms:<arch>`` (an FBNet arch as block indices): that arch's latency (ms),
  timed at registration, which every later session scales its paired timings by. A device
  registered before these keys were recorded has neither
- ``latency:<nb201 arch>``: latencies (ms) of HELP's 10 reference architectures. The service
  conditions NB201 predictions on these like on measurements, which is what makes a freshly
  registered device predictable before any other measurement (HELP's "hardware embedding").

Facts the platform does not offer are absent, never zero: a zero would be a false measurement.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import psutil

from client.api import REFERENCE_LATENCY_PREFIX
from client.measure.networks import FBNET, FBNET_BLOCKS, canonical_arch, parse_fbnet, space_of_arch
from client.measure.perf import count
from client.measure.timing import (
    OnMeasured,
    TimingSettings,
    reference_latency,
    time_archs,
    torch_threads,
)
from service.cpus import usable_cpus

logger = logging.getLogger(__name__)

#: HELP's 10 reference architectures (``hardware_embedding_index.pt``, in that order), as arch
#: strings so the client needs no dataset: read once with torch.load(weights_only=True) and
#: mapped through ``str_arch2idx.pt``.
HELP_REFERENCE_ARCHS: tuple[str, ...] = (
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
    "|skip_connect~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|skip_connect~1|none~2|",
    "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|none~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_1x1~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
)  # fmt: skip

#: The perf reference workload: the heaviest NB201 cell, batch 1, a fixed number of passes.
REFERENCE_WORKLOAD_ARCH = HELP_REFERENCE_ARCHS[-1]
REFERENCE_WORKLOAD_PASSES = 20

#: 1 when a device's latencies are timed against a ``--reference`` arch, 0 when alone.
REFERENCE_KEY = "measure.reference"
#: Followed by the reference arch (:func:`reference_ms_key`): its latency (ms), recorded at
#: registration.
REFERENCE_MS_PREFIX = "measure.reference_ms:"

_SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def cpu_facts() -> dict[str, float]:
    """Core counts, frequency and memory from psutil."""
    facts: dict[str, float] = {}
    logical = psutil.cpu_count(logical=True)
    physical = psutil.cpu_count(logical=False)
    if logical:
        facts["cpu.logical_cores"] = float(logical)
    if physical:
        facts["cpu.physical_cores"] = float(physical)
    # A container given 2 of a 64-core host's CPUs was described by the host's 64 alone.
    facts["cpu.usable_cores"] = float(usable_cpus())
    facts.update(_frequency_facts())
    facts["memory.total_bytes"] = float(psutil.virtual_memory().total)
    return facts


def _frequency_facts() -> dict[str, float]:
    """The fastest core's maximum frequency and the online cores' mean current one (MHz).
    Per CPU: psutil's overall figure averages them, offline ones (0) and a hybrid CPU's slow
    cores included, into a maximum no core has (a review, 2026-12-06)."""
    try:
        per_cpu = psutil.cpu_freq(percpu=True) or []
    except (NotImplementedError, OSError, RuntimeError):  # absent on some VMs and platforms
        per_cpu = []
    facts: dict[str, float] = {}
    if maxima := [cpu.max for cpu in per_cpu if cpu.max > 0]:
        facts["cpu.freq_max_mhz"] = float(max(maxima))
    if current := [cpu.current for cpu in per_cpu if cpu.current > 0]:
        facts["cpu.freq_mhz"] = float(sum(current) / len(current))
    return facts


def parse_size(text: str) -> int | None:
    """Bytes of a cache size such as ``48K``, ``2048 KB`` or ``32M``; None if unreadable or
    zero (no cache has no bytes: a size the system does not know, which would be stored as a
    fact rather than left out)."""
    match = _SIZE.match(text)
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).upper()] or None


def cache_facts(
    root: Path = _SYSFS_CACHE, cpuinfo: Path = Path("/proc/cpuinfo")
) -> dict[str, float]:
    """Cache sizes from sysfs, or the one size /proc/cpuinfo states where sysfs has none."""
    facts: dict[str, float] = {}
    for index in sorted(root.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = parse_size((index / "size").read_text())
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        if size is not None:
            facts[f"cache.l{level}{suffix}_bytes"] = float(size)
    if not facts:
        facts.update(_cpuinfo_cache(cpuinfo))
    return facts


def _cpuinfo_cache(cpuinfo: Path) -> dict[str, float]:
    # x86 /proc/cpuinfo states one "cache size": Intel's last-level cache, but AMD's (and
    # Hygon's) per-core L2, which was called the last level (a review, 2026-12-06).
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:  # the first processor's (each states the same)
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    size = parse_size(fields.get("cache size", ""))
    if size is None:
        return {}
    level = "l2" if fields.get("vendor_id") in ("AuthenticAMD", "HygonGenuine") else "llc"
    return {f"cache.{level}_bytes": float(size)}


def _perf_key(event: str) -> str:
    return "perf." + event.lower().replace("-", "_") + "_per_s"


def perf_facts() -> dict[str, float]:
    """Perf counter rates over the reference workload (absent where the kernel refuses)."""
    import torch

    from client.measure.networks import build_network, example_input

    model = build_network(REFERENCE_WORKLOAD_ARCH)
    example = example_input(1)
    with torch_threads(1), torch.inference_mode():
        model(example)  # warm-up outside the counted region

        def workload() -> None:
            for _ in range(REFERENCE_WORKLOAD_PASSES):
                model(example)

        reading = count(workload)
    facts = {_perf_key(event): rate for event, rate in reading.rates().items()}
    facts["perf.reference_ms"] = 1000 * reading.seconds
    return facts


def reference_latencies(
    settings: TimingSettings, progress: OnMeasured | None = None
) -> dict[str, float]:
    """``latency:<arch>`` -> ms for HELP's reference archs, measured here with ``settings``."""
    timings = time_archs(HELP_REFERENCE_ARCHS, settings=settings, on_measured=progress)
    return {REFERENCE_LATENCY_PREFIX + arch: t.median_ms for arch, t in timings.items()}


def settings_facts(settings: TimingSettings) -> dict[str, float]:
    """The ``measure.*`` keys: how a device's latencies are taken. Latencies taken with other
    settings (a larger batch, more threads) are another device's."""
    facts = {"measure.batch_size": float(settings.batch_size)}
    if settings.threads is not None:
        facts["measure.threads"] = float(settings.threads)
    facts["measure.cpu_clock"] = float(settings.clock == "cpu")
    return facts


def reference_ms_key(arch: str) -> str:
    """The descriptor key of ``arch``'s latency as a reference: an NB201 arch canonical, an
    FBNet arch as block indices (its names made keys of up to 218 characters; the service
    takes 200)."""
    if space_of_arch(arch) == FBNET:
        spelled = ",".join(str(FBNET_BLOCKS.index(block)) for block in parse_fbnet(arch))
    else:
        spelled = canonical_arch(arch)
    return REFERENCE_MS_PREFIX + spelled


def reference_facts(settings: TimingSettings) -> dict[str, float]:
    """``measure.reference`` and, with a reference, its latency (timed now unless
    ``settings.reference_ms`` gives it): later sessions scale by it rather than by their own
    timing of it."""
    if settings.reference is None:
        return {REFERENCE_KEY: 0.0}
    return {REFERENCE_KEY: 1.0, reference_ms_key(settings.reference): reference_latency(settings)}


def hardware_descriptor(
    settings: TimingSettings | None = None,
    perf: bool = True,
    references: bool = True,
    progress: OnMeasured | None = None,
) -> dict[str, float]:
    """The machine's descriptor (see the module docstring for its keys).

    Args:
        settings: how reference latencies are timed; also recorded as ``measure.*``, with the
            ``--reference`` arch's latency.
        perf: count perf events over the reference workload.
        references: measure HELP's reference archs (``latency:<arch>`` keys).
        progress: called with each reference arch and its timing once it is measured.
    """
    settings = settings or TimingSettings()
    descriptor = cpu_facts() | cache_facts()
    if perf:
        descriptor |= perf_facts()
    descriptor |= settings_facts(settings) | reference_facts(settings)
    if references:
        descriptor |= reference_latencies(settings, progress)
    logger.debug("descriptor: %s", descriptor)
    return descriptor
