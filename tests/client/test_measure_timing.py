"""Timing: medians and spreads, re-measurement on a noisy machine, real networks."""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable

import pytest

from client.measure import timing as timing_module
from client.measure.errors import TimingError
from client.measure.networks import format_nb201
from client.measure.timing import (
    Reference,
    Repeatability,
    Timing,
    TimingSettings,
    percents,
    reference_latency,
    repeatability,
    summarise,
    time_arch,
    time_archs,
    time_callable,
)

FAST = TimingSettings(warmup=1, runs=5, attempts=2, max_spread=0.5)
CONV3 = format_nb201(["nor_conv_3x3"] * 6)
SKIP = format_nb201(["skip_connect"] * 6)


def scripted_clock(durations_ms: list[float]):
    """A clock whose consecutive start/stop pairs are ``durations_ms`` apart."""
    ticks = [0]
    for duration in durations_ms:
        ticks += [ticks[-1] + 1_000, ticks[-1] + 1_000 + int(duration * 1e6)]
    return iter(ticks[1:]).__next__


def test_summary_is_median_and_quartiles_not_the_mean() -> None:
    timing = summarise([1.0, 1.0, 1.0, 1.0, 100.0])
    assert timing.median_ms == 1.0
    assert timing.iqr_ms == 0.0 and not timing.noisy
    assert summarise([1.0, 2.0, 3.0, 4.0, 5.0]).spread == pytest.approx(2.0 / 3.0)
    # Skewed: the whole interquartile range (0.5 ms) counts, not twice its upper half (1 ms).
    skewed = summarise([10.0, 10.0, 10.0, 10.5, 11.0], max_spread=0.08)
    assert skewed.spread == pytest.approx(0.05) and not skewed.noisy


def test_the_default_settings_are_the_documented_ones() -> None:
    assert TimingSettings() == TimingSettings(
        warmup=10, runs=30, batch_size=1, threads=1, max_spread=0.10, attempts=3, clock="wall"
    )
    assert TimingSettings().max_spread == 0.10 and TimingSettings().passes == 1


def test_a_spread_at_the_threshold_is_not_noisy() -> None:
    """Noisy means the spread exceeds max_spread: quartiles 9.5 and 10.5 of a 10 ms median
    are a spread of exactly 0.1."""
    assert summarise([9.0, 10.0, 11.0], max_spread=0.1).spread == 0.1
    assert not summarise([9.0, 10.0, 11.0], max_spread=0.1).noisy
    assert summarise([9.0, 10.0, 11.0], max_spread=0.0999).noisy


def test_a_series_timed_at_zero_is_noisy_rather_than_a_crash() -> None:
    """A clock too coarse for the network reads 0 ms for every run: summarise counted that
    spread as infinite, but measuring again divided by the zero median (ZeroDivisionError)."""
    settings = TimingSettings(warmup=0, runs=3, attempts=2)
    timing = time_callable(lambda: None, settings, clock=scripted_clock([0.0] * 6))
    assert timing.noisy and timing.attempts == 2
    assert timing.spread == math.inf


def test_a_noisy_series_is_measured_again_and_the_quiet_one_kept() -> None:
    noisy, quiet = [1.0, 3.0, 1.0, 3.0, 2.0], [2.0, 2.0, 2.02, 2.0, 2.0]
    settings = TimingSettings(warmup=0, runs=5, attempts=3, max_spread=0.1)
    timing = time_callable(lambda: None, settings, clock=scripted_clock(noisy + quiet))
    assert timing.attempts == 2
    assert not timing.noisy
    assert timing.median_ms == pytest.approx(2.0)


def test_a_machine_that_stays_noisy_is_flagged_and_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    series = [1.0, 3.0, 1.0, 3.0, 2.0]
    settings = TimingSettings(warmup=0, runs=5, attempts=2, max_spread=0.1)
    with caplog.at_level(logging.WARNING):
        timing = time_callable(lambda: None, settings, clock=scripted_clock(series * 2))
    assert timing.noisy and timing.attempts == 2
    assert "noisy machine" in caplog.text


def test_a_spread_just_above_the_threshold_is_shown_above_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It said "spread 10.0% after 3 series (threshold 10.0%)" of a spread of 10.04%."""
    series = [8.996, 10.0, 11.004]  # quartiles 9.498 and 10.502: a spread of 10.04%
    settings = TimingSettings(warmup=0, runs=3, attempts=3, max_spread=0.1)
    with caplog.at_level(logging.INFO):
        timing = time_callable(lambda: None, settings, clock=scripted_clock(series * 3))
    assert timing.noisy
    assert "series 1: spread 10.04% > 10.00%, measuring again" in caplog.text
    assert "spread 10.04% after 3 series (above the threshold, 10.00%)" in caplog.text


def test_percents_take_the_decimals_that_tell_a_value_from_its_limit() -> None:
    assert percents(0.25, 0.1) == ("25.0%", "10.0%")
    assert percents(0.10004, 0.1) == ("10.004%", "10.000%")
    assert percents(-0.0502, 0.05, signed=True) == ("-5.02%", "5.00%")
    assert percents(0.1, 0.1) == ("10.0%", "10.0%")  # no decimals tell them apart


def test_of_several_noisy_series_the_least_noisy_is_kept() -> None:
    """The first series (spread 50%) is quieter than the second (100%): its median is kept."""
    quieter, noisier = [1.0, 1.5, 2.0, 2.5, 3.0], [1.0, 2.0, 4.0, 6.0, 8.0]
    settings = TimingSettings(warmup=0, runs=5, attempts=2, max_spread=0.1)
    timing = time_callable(lambda: None, settings, clock=scripted_clock(quieter + noisier))
    assert timing.noisy and timing.attempts == 2
    assert timing.median_ms == pytest.approx(2.0)
    assert timing.runs_ms == pytest.approx(tuple(quieter))


def test_a_paired_reference_cancels_the_machine_changing_speed() -> None:
    """The arch costs 3 units and the reference 2; the machine runs at 1x, then at 2.5x."""
    durations = []
    for run, speed in enumerate([1.0] * 3 + [2.5] * 3):
        arch, ref = 3.0 * speed, 2.0 * speed
        durations += [arch, ref] if run % 2 else [ref, arch]  # the pair's order alternates
    settings = TimingSettings(warmup=0, runs=6, attempts=1, max_spread=0.05)
    reference = Reference(lambda: None, latency_ms=4.0)
    timing = time_callable(lambda: None, settings, scripted_clock(durations), reference)
    assert timing.runs_ms == pytest.approx((6.0,) * 6)
    assert not timing.noisy
    alone = time_callable(lambda: None, settings, scripted_clock([3.0] * 3 + [7.5] * 3))
    assert alone.noisy


def test_a_reference_run_timed_at_zero_is_a_timing_error_not_a_crash() -> None:
    """A clock too coarse for the reference network (Windows' thread clock ticks every 15.6
    ms) read one of its runs as 0 ms, and the run ratio divided by it (ZeroDivisionError)."""
    settings = TimingSettings(warmup=0, runs=2, attempts=1)
    reference = Reference(lambda: None, latency_ms=4.0)
    with pytest.raises(TimingError, match="--clock wall"):
        time_callable(lambda: None, settings, scripted_clock([0.0, 3.0]), reference)


def test_the_repeatability_of_medians_of_zero_is_infinite_not_a_crash() -> None:
    assert Repeatability((0.0, 0.0, 0.0)).spread == math.inf
    assert Repeatability((9.0, 10.0, 11.0)).spread == pytest.approx(0.2)
    # Of the medians' median, not their mean (11 ms here, and a spread of 0.27).
    assert Repeatability((10.0, 10.0, 13.0)).median_ms == 10.0
    assert Repeatability((10.0, 10.0, 13.0)).spread == pytest.approx(0.3)


def test_real_networks_timed_against_a_reference_keep_their_order() -> None:
    # Fifteen pairs: with five, a loaded machine slowed three of one network's runs and the
    # median ratio came out 3.3 (a review, 2026-12-07).
    settings = TimingSettings(warmup=1, runs=15, attempts=1, reference=SKIP)
    conv = time_arch(CONV3, settings=settings)
    skip = time_arch(SKIP, settings=settings)
    assert conv.median_ms > skip.median_ms > 0
    # Timed against itself an arch measures the reference's own latency, ratio ~1. (Against a
    # second timing of it alone, five runs of a sub-millisecond network each, the ratio fell
    # to 0.2 on a loaded machine.)
    _, reference_ms = timing_module._reference(settings)
    assert 0.5 < skip.median_ms / reference_ms < 2.0


def test_a_reference_of_the_other_space_paces_the_arch_in_its_own() -> None:
    """The descriptor's NB201 reference archs are timed against an FBNet --reference too;
    before, the FBNet reference was built as an NB201 cell and registering failed."""
    fbnet = ",".join(["skip"] * 22)
    settings = TimingSettings(warmup=1, runs=3, attempts=1, reference=fbnet)
    assert time_arch(SKIP, settings=settings).median_ms > 0


def recording_clock(events: list[str]) -> Callable[[], int]:
    """A clock that notes each of its reads in ``events`` ("t"), 1 ms apart."""

    def clock() -> int:
        events.append("t")
        return events.count("t") * 1_000_000

    return clock


def test_warmup_calls_are_not_timed() -> None:
    """Counting calls alone passed with the warm-up after the timed runs (a review,
    2026-12-06): the warm-up calls come before the clock's first read."""
    events: list[str] = []
    settings = TimingSettings(warmup=3, runs=4, attempts=1)
    timing = time_callable(lambda: events.append("call"), settings, clock=recording_clock(events))
    assert events == ["call"] * 3 + ["t", "call", "t"] * 4
    assert len(timing.runs_ms) == 4


def test_every_series_is_warmed_up_again() -> None:
    """A series measured again follows a preemption that left the caches cold: each series
    starts with its warm-up, untimed."""
    events: list[str] = []
    series = [1.0, 3.0, 1.0, 3.0, 2.0]  # a spread beyond max_spread: a second series
    scripted = scripted_clock(series * 2)

    def clock() -> int:
        events.append("t")
        return scripted()

    settings = TimingSettings(warmup=3, runs=5, attempts=2, max_spread=0.1)
    timing = time_callable(lambda: events.append("call"), settings, clock=clock)
    assert timing.attempts == 2
    assert events == (["call"] * 3 + ["t", "call", "t"] * 5) * 2


@pytest.mark.parametrize(
    "bad",
    [
        {"runs": 0},
        {"warmup": -1},
        {"attempts": 0},  # no series would be timed, none kept
        {"batch_size": 0},
        {"threads": 0},
        {"max_spread": 0},
        {"max_spread": float("nan")},
        {"max_spread": float("inf")},
        {"clock": "sundial"},
        {"clock": "cpu", "threads": 2},
        {"clock": "cpu", "threads": None},  # torch's own count: other threads go unclocked
        # A recorded reference latency scales nothing without a reference; one of 0 or less
        # would make every upload one the service refuses, after the timing.
        {"reference_ms": 4.0},
        {"reference": SKIP, "reference_ms": 0.0},
        {"reference": SKIP, "reference_ms": float("nan")},
        {"reference": SKIP, "reference_ms": float("inf")},  # every latency would be infinite
    ],
)
def test_impossible_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(TimingError):
        TimingSettings(**bad)


def test_real_networks_have_positive_latencies_and_convs_cost_more_than_skips() -> None:
    settings = TimingSettings(warmup=2, runs=7, threads=1, attempts=2)
    conv = time_arch(CONV3, settings=settings)
    skip = time_arch(SKIP, settings=settings)
    assert conv.median_ms > 0 and skip.median_ms > 0
    assert conv.median_ms > skip.median_ms
    fbnet = time_arch(",".join(["k3_e1"] * 22), "fbnet", FAST)
    assert fbnet.median_ms > 0


@pytest.mark.parametrize(
    "message",
    [
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate"
        " memory: you tried to allocate 1228800000000 bytes. Error code 12",
        "CUDA out of memory. Tried to allocate 1144.41 GiB",  # an accelerator's wording
    ],
)
def test_a_batch_too_large_for_memory_is_a_timing_error_naming_the_batch_size(
    monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    """torch's failure to allocate ended ``client measure`` in a RuntimeError traceback. (Its
    message is given here rather than provoked: with memory overcommitted a real attempt
    could wake the kernel's OOM killer instead.)"""
    from client.measure import networks

    def too_large(batch_size: int) -> None:
        raise RuntimeError(message)

    monkeypatch.setattr(networks, "example_input", too_large)
    with pytest.raises(TimingError, match="batch size 100000000: .* give a smaller --batch-size"):
        time_arch(CONV3, settings=TimingSettings(batch_size=10**8, runs=3, warmup=0))
    # A device's registration times its reference alone first: that ended in the traceback.
    paired = TimingSettings(batch_size=10**8, runs=3, warmup=0, reference=SKIP)
    with pytest.raises(TimingError, match="batch size 100000000: .* give a smaller --batch-size"):
        reference_latency(paired)


def test_other_runtime_errors_are_not_taken_for_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from client.measure import networks

    def broken(batch_size: int) -> None:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(networks, "example_input", broken)
    with pytest.raises(RuntimeError, match="shapes"):
        time_arch(CONV3, settings=FAST)


def test_repeatability_reports_every_median() -> None:
    result = repeatability(SKIP, 2, settings=FAST)
    assert len(result.medians_ms) == 2 and min(result.medians_ms) > 0
    low, high = sorted(result.medians_ms)
    assert result.spread == pytest.approx((high - low) / ((low + high) / 2))
    with pytest.raises(TimingError):
        repeatability(SKIP, 1)


def test_the_cpu_clock_times_the_calling_thread() -> None:
    # A sleeping thread uses no CPU: the cpu clock sees ~0, the wall clock the whole sleep.
    settings = TimingSettings(warmup=0, runs=3, attempts=1, clock="cpu")
    asleep = time_callable(lambda: time.sleep(0.01), settings)
    assert asleep.median_ms < 5
    awake = time_arch(SKIP, settings=TimingSettings(warmup=1, runs=3, clock="cpu"))
    assert awake.median_ms > 0


def test_every_warmup_pass_also_runs_the_reference() -> None:
    """Without its warm-up the reference's first paired run is cold, and the first ratio low."""
    arch_calls, reference_calls = itertools.count(), itertools.count()
    settings = TimingSettings(warmup=3, runs=4, attempts=1)
    reference = Reference(lambda: next(reference_calls), latency_ms=1.0)
    time_callable(lambda: next(arch_calls), settings, reference=reference)
    assert next(arch_calls) == next(reference_calls) == 7


def test_networks_run_in_eval_and_inference_mode_with_the_threads_asked_for() -> None:
    """Training mode would time batch norm's statistics updates, and autograd's bookkeeping
    without inference mode. A library user's torch thread count is theirs again after."""
    import torch

    from client.measure.timing import time_network

    class ModesSeen(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[tuple[int, bool, bool]] = set()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.add(
                (torch.get_num_threads(), self.training, torch.is_inference_mode_enabled())
            )
            return x

    before = torch.get_num_threads()
    wanted = before + 1  # neither torch's count nor 1, the default: either would pass unasked
    model = ModesSeen()
    time_network(model, torch.zeros(1), TimingSettings(warmup=1, runs=2, threads=wanted))
    assert model.seen == {(wanted, False, True)}
    assert torch.get_num_threads() == before


def test_a_recorded_reference_latency_is_used_without_timing_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every session of a device scales by the latency recorded at its registration; timed
    anew, a moment of load at a session's start shifted all it uploaded."""

    def not_timed(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference was timed")

    monkeypatch.setattr(timing_module, "_REFERENCES", {})
    monkeypatch.setattr(timing_module, "time_network", not_timed)
    settings = TimingSettings(reference=SKIP, reference_ms=4.0)
    assert timing_module.reference_latency(settings) == 4.0


def test_a_reference_timed_here_keeps_its_quickest_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timed once, a half-speed moment at registration slowed the scale of every later timing
    of the device."""
    medians = iter([9.0, 4.0, 5.0])

    def timed_alone(*args: object, **kwargs: object) -> Timing:
        median = next(medians)
        return Timing(median, median, median, (median,))

    monkeypatch.setattr(timing_module, "_REFERENCES", {})
    monkeypatch.setattr(timing_module, "time_network", timed_alone)
    assert timing_module.reference_latency(TimingSettings(reference=SKIP, passes=3)) == 4.0


def test_the_batch_size_sizes_the_input_of_the_arch_and_of_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--batch-size reached neither network: both were timed on one image."""
    from client.measure import networks

    sizes: list[int] = []

    def recorded(batch_size: int = 1):
        sizes.append(batch_size)
        return real_example_input(batch_size)

    real_example_input = networks.example_input
    monkeypatch.setattr(networks, "example_input", recorded)
    monkeypatch.setattr(timing_module, "_REFERENCES", {})
    time_arch(SKIP, settings=TimingSettings(warmup=0, runs=1, attempts=1, batch_size=3))
    assert sizes == [3]
    settings = TimingSettings(warmup=0, runs=1, attempts=1, batch_size=3, reference=SKIP)
    time_arch(SKIP, settings=settings)
    assert sizes == [3, 3, 3]  # the arch's input and the reference's own latency


def scripted_time_arch(
    monkeypatch: pytest.MonkeyPatch, medians_ms: dict[str, list[float]]
) -> list[str]:
    """``time_arch`` gives each arch its next scripted median (quiet series); returns the
    archs in the order they were timed."""
    timed: list[str] = []

    def fake_time_arch(arch: str, space: str, settings: TimingSettings) -> Timing:
        ms = medians_ms[arch][sum(a == arch for a in timed)]
        timed.append(arch)
        return Timing(ms, 0.99 * ms, 1.01 * ms, (ms,))

    monkeypatch.setattr(timing_module, "time_arch", fake_time_arch)
    return timed


def test_passes_go_over_the_list_and_keep_each_arch_s_quickest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second or two at half speed, steady within each series, doubled the medians of the
    archs timed in it; a second pass over the list, later, keeps what the slowdown spared."""
    timed = scripted_time_arch(monkeypatch, {"a": [20.0, 10.0, 20.0], "b": [10.0, 30.0]})
    heard: list[tuple[str, float]] = []
    settings = TimingSettings(passes=2)
    timings = time_archs(
        ["a", "b", "a"], settings=settings, on_measured=lambda a, t: heard.append((a, t.median_ms))
    )
    assert timed == ["a", "b", "a", "b"]  # pass by pass, a repeated arch once a pass
    assert {arch: t.median_ms for arch, t in timings.items()} == {"a": 10.0, "b": 10.0}
    assert heard == [("a", 20.0), ("b", 10.0), ("a", 10.0), ("b", 30.0)]  # every timing
    one_pass = time_archs(["a"], settings=TimingSettings())
    assert list(timed[4:]) == ["a"] and one_pass["a"].median_ms == 20.0


def test_repeatability_times_each_repeat_as_an_upload_is(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_time_arch(monkeypatch, {"a": [10.0, 20.0, 21.0, 10.5]})
    result = repeatability("a", 2, settings=TimingSettings(passes=2))
    assert result.medians_ms == (10.0, 10.5)


def test_the_reference_is_timed_once_for_every_arch_of_a_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every arch is scaled by one reference latency; timed anew per arch, each would be
    scaled by a different one."""
    alone: list[bool] = []

    def fake_time_network(model: object, example: object, settings: TimingSettings, *paired):
        alone.append(not paired)
        return Timing(4.0, 4.0, 4.0, (4.0,))

    monkeypatch.setattr(timing_module, "_REFERENCES", {})
    monkeypatch.setattr(timing_module, "time_network", fake_time_network)
    settings = TimingSettings(reference=SKIP)
    for arch in (SKIP, CONV3, SKIP):
        time_arch(arch, settings=settings)
    assert alone == [True, False, False, False]


def test_passes_must_be_at_least_one() -> None:
    with pytest.raises(TimingError, match="passes >= 1"):
        TimingSettings(passes=0)


@pytest.mark.parametrize(("noisy", "warned"), [((True, True), True), ((False, True), False)])
def test_a_noisy_reference_says_that_every_later_latency_is_scaled_by_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, noisy: tuple, warned: bool
) -> None:
    """Timed under load at registration, the reference scaled every later upload of the
    device (2.4 times too slow) with only the generic noisy-machine line to say so. A quiet
    quickest pass says nothing more."""
    passes = iter(zip([4.0, 5.0], noisy, strict=True))

    def timed_alone(*args: object, **kwargs: object) -> Timing:
        median, is_noisy = next(passes)
        return Timing(median, median, median, (median,), noisy=is_noisy)

    monkeypatch.setattr(timing_module, "_REFERENCES", {})
    monkeypatch.setattr(timing_module, "time_network", timed_alone)
    assert timing_module.reference_latency(TimingSettings(reference=SKIP, passes=2)) == 4.0
    said = "the reference cell's 4.000 ms was timed on a noisy machine" in caplog.text
    assert said == warned
