"""Wall-clock latency of a network's forward pass: warm-up, repeated runs, median and spread.

A latency is the median of ``runs`` timed forward passes of a fixed-shape input under
``torch.inference_mode``, after ``warmup`` untimed passes (allocator, caches, oneDNN kernel
selection). The spread is the interquartile range relative to the median. A machine shared with
other work shows up as a wide spread: the whole series is then measured again, up to
``attempts`` times, and the series with the smallest spread is kept; if even that one is too
wide it is flagged ``noisy`` and a warning is logged. The median is reported, never the mean,
which one preempted run can drag arbitrarily far.

Two clocks: ``wall`` (monotonic wall time, the latency a user sees) and ``cpu`` (the calling
thread's CPU time). On a machine shared with other work the wall clock also counts the time
the scheduler gives to other processes; with one torch thread the forward pass runs entirely
on the calling thread, so its CPU time is the latency it would have on an idle core and stays
steady under contention. ``cpu`` therefore requires ``threads=1``.

Neither clock helps when the machine itself changes speed (turbo and thermal limits, a VM whose
host moves it between busier and idler cores): a forward pass then takes 60% longer for
minutes at a time, on both clocks. With a ``reference`` architecture each timed run is paired
back to back with a run of the reference network (the order alternating), and the run's value is
the ratio of the two times times the reference's latency. Drift that slows both alike cancels:
the ratio stays within a few percent while raw medians jump. That latency is recorded when a
device is registered (``reference_ms``) and reused by every later session, so all of them share
one scale; timed anew per session, a moment of load at its start shifted all it uploaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from client.measure.errors import TimingError
from client.measure.networks import MAX_BATCH_SIZE

if TYPE_CHECKING:
    from torch import Tensor, nn

logger = logging.getLogger(__name__)

#: How far two timings of one arch may drift apart on a steady machine (the measurement
#: issue's repeatability bound); beyond it a held-out score also measures the machine.
STEADY_LIMIT = 0.05

#: Fewest timings of one arch whose medians have a spread.
MIN_REPEATS = 2

#: Most intra-op threads: ``torch.set_num_threads`` takes a C int, and a larger count raised a
#: bare "Overflow when unpacking long" once the first network was timed.
MAX_THREADS = 2**31 - 1

#: The reference ``client measure`` pairs a new device's timings with: the all-``nor_conv_1x1``
#: NB201 cell, a mid-cost network. On the development VM, whose speed steps for seconds to
#: minutes, every NB201 run paired with it ranked 200 held-out archs at Spearman 0.975-0.997,
#: where runs timed alone ranked them at 0.645-0.993 (docs/measuring-notes.md, to 2026-12-06;
#: FBNet runs paired with it, 0.79-0.93, timed alone 0.648 and 0.064).
DEFAULT_REFERENCE = (
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+"
    "|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|"
)

#: Clock name -> nanosecond counter.
CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}


def percents(value: float, limit: float, signed: bool = False) -> tuple[str, str]:
    """``value`` and the ``limit`` it is compared with as percentages, with the fewest decimals
    (one to four) that tell them apart: a spread just above a 10% threshold read "10.0%", equal
    to it. ``signed``: ``value`` with its sign (the limit bounds its size)."""
    sign = "+" if signed else ""
    pairs = [(f"{100 * value:{sign}.{d}f}%", f"{100 * limit:.{d}f}%") for d in range(1, 5)]
    return next((p for p in pairs if p[0].lstrip("+-") != p[1]), pairs[0])


@dataclass(frozen=True)
class TimingSettings:
    """How to time one network.

    Attributes:
        warmup: untimed forward passes before each series.
        runs: timed forward passes per series.
        batch_size: input batch (the input is ``batch_size x 3 x 32 x 32``).
        threads: intra-op threads torch may use; ``None`` leaves torch's setting alone.
        max_spread: relative IQR (IQR / median) above which a series counts as noisy.
        attempts: series to try at most before accepting a noisy one.
        clock: ``"wall"`` or ``"cpu"`` (calling thread's CPU time; needs ``threads=1``).
        reference: an architecture (NB201 or FBNet, whatever is measured) to pair every run
            with, cancelling drift of the machine's speed; None times runs alone.
        reference_ms: the reference's latency that run ratios are scaled by, as recorded when
            the device was registered; None times it at its first use in this process.
        passes: times :func:`time_archs` goes over a list, each arch kept at its quickest
            pass (least median). A VM can run at half speed for a second or two with every
            series in it steady: a single pass then reports the archs timed in it twice too
            slow, and a later pass seldom hits them again.
    """

    warmup: int = 10
    runs: int = 30
    batch_size: int = 1
    threads: int | None = 1
    max_spread: float = 0.10
    attempts: int = 3
    clock: str = "wall"
    reference: str | None = None
    reference_ms: float | None = None
    passes: int = 1

    def __post_init__(self) -> None:
        if (
            self.runs < 1
            or self.warmup < 0
            or self.attempts < 1
            or self.batch_size < 1
            or self.passes < 1
        ):
            raise TimingError(
                "need runs >= 1, warmup >= 0, attempts >= 1, batch_size >= 1 and passes >= 1,"
                f" got {self}"
            )
        if self.batch_size > MAX_BATCH_SIZE:
            raise TimingError(
                f"batch_size must be at most {MAX_BATCH_SIZE}, got {self.batch_size}",
                setting="batch_size",
            )
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise TimingError(
                f"threads must be from 1 to {MAX_THREADS}, got {self.threads}", setting="threads"
            )
        if not 0 < self.max_spread < math.inf:  # NaN or infinity: no series would be noisy
            raise TimingError(
                f"max_spread must be positive and finite, got {self.max_spread}",
                setting="max_spread",
            )
        if self.clock not in CLOCKS:
            raise TimingError(
                f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}", setting="clock"
            )
        if self.clock == "cpu" and self.threads != 1:
            # Other intra-op threads' work would be missing from the calling thread's CPU time.
            raise TimingError(
                f"the cpu clock needs threads=1, got threads={self.threads}", setting="clock"
            )
        if self.reference_ms is not None and not (
            self.reference is not None and 0 < self.reference_ms < math.inf
        ):
            raise TimingError(
                f"reference_ms needs a reference and must be positive and finite, got {self}"
            )


@dataclass(frozen=True)
class Timing:
    """One architecture's latency.

    Attributes:
        median_ms: median of the kept series' runs: the latency to report.
        q1_ms, q3_ms: its quartiles.
        runs_ms: every timed run of the kept series, in run order.
        attempts: series measured (1 when the first was quiet enough).
        noisy: the kept series' spread still exceeds the threshold.
    """

    median_ms: float
    q1_ms: float
    q3_ms: float
    runs_ms: tuple[float, ...] = field(repr=False)
    attempts: int = 1
    noisy: bool = False

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median; infinite for a median of 0 (a clock
        too coarse for the network), which no threshold accepts."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else math.inf


#: Called after each architecture is timed, with its timing (progress bars, noisy counts).
OnMeasured = Callable[[str, Timing], None]


def summarise(runs_ms: list[float], attempts: int = 1, max_spread: float = 0.10) -> Timing:
    """A :class:`Timing` of one series of run times (ms)."""
    if not runs_ms:
        raise TimingError("no runs to summarise")
    if len(runs_ms) == 1:
        q1 = median = q3 = runs_ms[0]
    else:
        q1, median, q3 = statistics.quantiles(runs_ms, n=4, method="inclusive")
    timing = Timing(median, q1, q3, tuple(runs_ms), attempts)
    return dataclasses.replace(timing, noisy=timing.spread > max_spread)


@dataclass(frozen=True)
class Reference:
    """A network timed back to back with every run of the measured one.

    Attributes:
        forward: one forward pass of the reference network.
        latency_ms: its latency, measured once, that run ratios are scaled by.
    """

    forward: Callable[[], object]
    latency_ms: float


def time_series(
    forward: Callable[[], object],
    warmup: int,
    runs: int,
    clock: Callable[[], int] = time.perf_counter_ns,
    reference: Reference | None = None,
) -> list[float]:
    """Milliseconds of ``runs`` calls of ``forward`` after ``warmup`` untimed ones; with a
    ``reference``, each run's time over the paired reference run's, times its latency.

    ``clock`` returns nanoseconds (monotonic); replaceable so tests can script run times.
    """
    for _ in range(warmup):
        forward()
        if reference is not None:
            reference.forward()
    times = []
    for run in range(runs):
        if reference is None:
            times.append(_elapsed_ms(forward, clock))
            continue
        # Alternating the order keeps cache effects of going first out of the ratio.
        if run % 2:
            own = _elapsed_ms(forward, clock)
            other = _elapsed_ms(reference.forward, clock)
        else:
            other = _elapsed_ms(reference.forward, clock)
            own = _elapsed_ms(forward, clock)
        if other <= 0:  # the ratio is undefined, and any other value a guess
            raise TimingError(
                "the clock read 0 ms for a run of the reference network: too coarse to pair"
                " runs with it (Windows' thread clock ticks every 15.6 ms); time with the wall"
                " clock (--clock wall), or without --reference"
            )
        times.append(own / other * reference.latency_ms)
    return times


def _elapsed_ms(forward: Callable[[], object], clock: Callable[[], int]) -> float:
    start = clock()
    forward()
    return (clock() - start) / 1e6


def time_callable(
    forward: Callable[[], object],
    settings: TimingSettings,
    clock: Callable[[], int] | None = None,
    reference: Reference | None = None,
) -> Timing:
    """Times ``forward``, re-measuring while the spread is too wide (see module docstring).

    ``clock`` overrides ``settings.clock`` (tests script run times with it).
    """
    clock = clock or CLOCKS[settings.clock]
    best: Timing | None = None
    for attempt in range(1, settings.attempts + 1):
        # Warm up every series: after a preemption the caches are cold again.
        runs = time_series(forward, settings.warmup, settings.runs, clock, reference)
        timing = summarise(runs, attempt, settings.max_spread)
        if best is None or timing.spread < best.spread:
            best = timing
        if not timing.noisy:
            break
        spread, limit = percents(timing.spread, settings.max_spread)
        logger.info("series %d: spread %s > %s, measuring again", attempt, spread, limit)
    assert best is not None  # attempts >= 1
    best = Timing(best.median_ms, best.q1_ms, best.q3_ms, best.runs_ms, attempt, best.noisy)
    if best.noisy:
        spread, limit = percents(best.spread, settings.max_spread)
        logger.warning(
            "noisy machine: spread %s after %d series (above the threshold, %s); median %.3f ms",
            spread,
            attempt,
            limit,
            best.median_ms,
        )
    return best


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Sets torch's intra-op thread count for the block and restores it after."""
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_network(
    model: nn.Module,
    example: Tensor,
    settings: TimingSettings,
    reference_model: nn.Module | None = None,
    reference_ms: float = 0.0,
) -> Timing:
    """Latency of ``model`` (in eval mode) on ``example`` under inference mode; paired with
    ``reference_model`` of latency ``reference_ms`` when given."""
    import torch

    model.eval()
    reference = None
    if reference_model is not None:
        reference = Reference(lambda: reference_model(example), reference_ms)
    with torch_threads(settings.threads), torch.inference_mode():
        return time_callable(lambda: model(example), settings, reference=reference)


def time_arch(
    arch: str, search_space: str = "nasbench201", settings: TimingSettings | None = None
) -> Timing:
    """Builds ``arch`` and times it with a fixed ``batch_size x 3 x 32 x 32`` input."""
    from client.measure.networks import build_network, example_input

    settings = settings or TimingSettings()
    with _memory_named(settings):
        model = build_network(arch, search_space)
        example = example_input(settings.batch_size)
        if settings.reference is None:
            return time_network(model, example, settings)
        reference_model, reference_ms = _reference(settings)
        return time_network(model, example, settings, reference_model, reference_ms)


def time_archs(
    archs: Sequence[str],
    search_space: str = "nasbench201",
    settings: TimingSettings | None = None,
    on_measured: OnMeasured | None = None,
) -> dict[str, Timing]:
    """Times every arch (duplicates once), in order, ``settings.passes`` times over the list;
    each keeps its quickest pass (:func:`keep_quicker`). ``on_measured`` hears every timing,
    ``passes`` per arch."""
    settings = settings or TimingSettings()
    distinct = list(dict.fromkeys(archs))
    timings: dict[str, Timing] = {}
    for _ in range(settings.passes):
        for arch in distinct:
            timing = time_arch(arch, search_space, settings)
            keep_quicker(timings, arch, timing)
            if on_measured is not None:
                on_measured(arch, timing)
    return timings


def keep_quicker(kept: dict[str, Timing], arch: str, timing: Timing) -> None:
    """Keeps ``timing`` as ``arch``'s in ``kept`` unless a pass timed it quicker: a slowdown
    of the machine only ever adds time, so the least median is the one it spared."""
    if arch not in kept or timing.median_ms < kept[arch].median_ms:
        kept[arch] = timing


@contextlib.contextmanager
def _memory_named(settings: TimingSettings) -> Iterator[None]:
    """Turns torch's failure to allocate (a batch too large for this machine) into a
    TimingError naming the batch size: it ended ``client measure`` in a RuntimeError
    traceback."""
    try:
        yield
    except RuntimeError as exc:
        if "can't allocate memory" not in str(exc) and "out of memory" not in str(exc):
            raise
        raise TimingError(
            f"batch size {settings.batch_size}: the network and its input do not fit in this"
            " machine's memory; give a smaller --batch-size"
        ) from None


_REFERENCES: dict[TimingSettings, tuple[nn.Module, float]] = {}
#: A busy machine's reference is slow, and every latency of the session is scaled by it: with
#: ``--register`` every later one of the device too (2.4 times too slow, in a review's run).
NOISY_REFERENCE = (
    "the reference cell's %.3f ms was timed on a noisy machine: every latency of this session is"
    " scaled by it, and a device registered now keeps it for good. If the machine was busy,"
    " stop (Ctrl-C) and measure when it is quiet, registering under another name if it is done"
)


def reference_latency(settings: TimingSettings) -> float:
    """The latency that ``settings.reference`` scales run ratios by (see :func:`_reference`)."""
    return _reference(settings)[1]


def _reference(settings: TimingSettings) -> tuple[nn.Module, float]:
    """The reference network and its latency: ``settings.reference_ms``, else measured at its
    first use in this process. It is built in its own space: an FBNet reference also paces
    NB201 archs (the descriptor's)."""
    from client.measure.networks import build_network, example_input, space_of_arch

    if settings not in _REFERENCES:
        assert settings.reference is not None
        model = build_network(settings.reference, space_of_arch(settings.reference))
        latency = settings.reference_ms
        if latency is None:
            # Quickest of the passes, as time_archs keeps each arch: every later timing of the
            # device is scaled by this one, and a half-speed moment would slow them all.
            alone = dataclasses.replace(settings, reference=None)
            # Named here too: a device's registration times the reference before any arch.
            with _memory_named(settings):
                example = example_input(settings.batch_size)
                passes = [time_network(model, example, alone) for _ in range(settings.passes)]
            quickest = min(passes, key=lambda timing: timing.median_ms)
            if quickest.noisy:
                logger.warning(NOISY_REFERENCE, quickest.median_ms)
            latency = quickest.median_ms
        _REFERENCES[settings] = (model, latency)
    return _REFERENCES[settings]


@dataclass(frozen=True)
class Repeatability:
    """Medians of one architecture measured several times, each with a freshly built network.

    ``spread`` is (max - min) / median of those medians: how far apart two measurements of the
    same architecture can land on this machine.
    """

    medians_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.medians_ms)

    @property
    def spread(self) -> float:
        """Infinite for a median of 0, as :attr:`Timing.spread` is."""
        if self.median_ms <= 0:
            return math.inf
        return (max(self.medians_ms) - min(self.medians_ms)) / self.median_ms


def repeatability(
    arch: str,
    repeats: int,
    search_space: str = "nasbench201",
    settings: TimingSettings | None = None,
) -> Repeatability:
    """Measures ``arch`` ``repeats`` times, each as an upload is (:func:`time_archs`, its
    ``passes``)."""
    if repeats < MIN_REPEATS:
        raise TimingError(f"repeatability needs at least {MIN_REPEATS} repeats, got {repeats}")
    medians = tuple(
        time_archs([arch], search_space, settings)[arch].median_ms for _ in range(repeats)
    )
    return Repeatability(medians)
