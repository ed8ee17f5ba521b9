"""The measurement loop: register this machine, measure what the service suggests, upload.

One round asks the service for the architectures whose measurement would teach it most about
this device (``SuggestSamples``), times each locally (:mod:`client.measure.timing`) and stores
the medians (``AddMeasurements``, all or nothing). A held-out evaluation times other random
architectures, asks for their prediction (``Predict``) and scores it with
:mod:`client.metrics`; held-out latencies are never uploaded, so the score is honest.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import shlex
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from client.api import AddResult, DeviceInfo, LatencyClient, new_request_id, request_limit
from client.errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    LatencyServiceError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)
from client.measure.descriptor import (
    HELP_REFERENCE_ARCHS,
    REFERENCE_KEY,
    REFERENCE_MS_PREFIX,
    hardware_descriptor,
    reference_ms_key,
    settings_facts,
)
from client.measure.errors import MeasureError, TimingError
from client.measure.networks import FBNET, NASBENCH201, canonical_arch, random_archs, space_of_arch
from client.measure.timing import (
    DEFAULT_REFERENCE,
    STEADY_LIMIT,
    OnMeasured,
    Timing,
    TimingSettings,
    time_archs,
)
from client.metrics import Scores, score
from service.wording import PRIOR_GUESSES, quantity

logger = logging.getLogger(__name__)

#: Random FBNet candidates offered to SuggestSamples (the space is too large to enumerate).
DEFAULT_FBNET_POOL = 2000


def count_noisy(timings: dict[str, Timing]) -> int:
    """How many of ``timings`` stayed noisy after their re-measurements."""
    return sum(t.noisy for t in timings.values())


@dataclass(frozen=True)
class Retiming:
    """Uploads the service found surprising, timed again and uploaded too.

    Attributes:
        medians_ms: per arch (canonical), the medians of its new timings.
        result: the service's answer to their upload; its ``surprising`` are the archs still
            off what the device's other measurements predict.
    """

    medians_ms: dict[str, list[float]]
    result: AddResult


@dataclass(frozen=True)
class RoundReport:
    """One round: what was timed and what the service stored."""

    timings: dict[str, Timing]
    result: AddResult
    retiming: Retiming | None = None

    @property
    def noisy(self) -> int:
        return count_noisy(self.timings)

    def uploaded_ms(self) -> dict[str, list[float]]:
        """Per arch timed this round, and per arch re-timed in it, the medians it uploaded."""
        uploaded = {arch: [timing.median_ms] for arch, timing in self.timings.items()}
        for arch, medians in (self.retiming.medians_ms if self.retiming else {}).items():
            uploaded.setdefault(arch, []).extend(medians)
        return uploaded


@dataclass(frozen=True)
class Evaluation:
    """How well the service predicts this machine on archs it has not seen measured."""

    scores: Scores
    timings: dict[str, Timing]

    @property
    def noisy(self) -> int:
        return count_noisy(self.timings)


def measure_archs(
    archs: Sequence[str],
    search_space: str,
    settings: TimingSettings,
    on_measured: OnMeasured | None = None,
) -> dict[str, Timing]:
    """:func:`time_archs`, warning of the archs whose kept timing stayed noisy."""
    timings = time_archs(archs, search_space, settings, on_measured)
    noisy = count_noisy(timings)
    if noisy:
        logger.warning(
            "%d of %s stayed noisy (spread above threshold)",
            noisy,
            quantity(len(timings), "measurement"),
        )
    return timings


def register(
    client: LatencyClient,
    device: str,
    settings: TimingSettings,
    description: str = "",
    on_reference: OnMeasured | None = None,
) -> DeviceInfo | None:
    """Registers ``device`` with this machine's descriptor (reference latencies included).

    Returns:
        The registered device, or None when the name was already taken (the existing
        registration and its descriptor are kept; measurements still go to it).
    """
    try:
        client.device(device)
    except NotFoundError:
        pass
    else:  # checked first: the descriptor costs seconds of timing
        logger.warning("device %r is already registered; keeping its descriptor", device)
        return None
    descriptor = hardware_descriptor(settings, progress=on_reference)
    try:
        return client.register_device(device, descriptor=descriptor, description=description)
    except AlreadyExistsError:
        logger.warning("device %r is already registered; keeping its descriptor", device)
        return None
    except (UnavailableError, DeadlineExceededError) as exc:  # the server gone, say
        # One line said nothing of the device; a refusal (a bad name) would meet a rerun too.
        exc.add_note(
            f"the registration of {device} failed: where 'client devices' does not list it, a"
            " rerun with --register times its reference archs again"
        )
        raise


def check_settings(device: DeviceInfo, settings: TimingSettings) -> None:
    """Raises :class:`MeasureError` when ``settings`` differ from those the device's latencies
    were taken with (its descriptor's ``measure.*`` keys): a batch of 8 is not a batch of 1,
    and mixing them in one device spoils its model. So does another ``--reference``, or none
    where one was recorded: the device's latencies are on that reference's scale."""
    recorded = device.descriptor
    differing = [
        (_as_option(key, recorded[key]), _as_option(key, value))
        for key, value in settings_facts(settings).items()
        if key in recorded and recorded[key] != value
    ]
    if REFERENCE_KEY in recorded:  # else registered before references were recorded
        was, now = _recorded_reference(recorded), _reference_key(settings)
        if was == REFERENCE_KEY and recorded[REFERENCE_KEY]:
            # Only a hand-made descriptor gets here: measure records both keys together.
            raise MeasureError(
                f"device {device.name!r} was measured with a --reference that its descriptor"
                " does not name, so the scale of its latencies is unknown and no reference can"
                " be matched to it: register another device for this machine"
                " (--device NEW_NAME --register)"
            )
        if was != now:
            differing.append((_as_option(was), _as_option(now)))
    if differing:
        was = " ".join(old for old, _ in differing)
        now = " ".join(new for _, new in differing)
        raise MeasureError(
            f"device {device.name!r} was measured with {was}, these settings give {now}:"
            " latencies taken both ways do not mix. Measure it with its own settings, or"
            " register another device for these (--device NEW_NAME --register)"
        )


def unchecked_settings(device: DeviceInfo, settings: TimingSettings) -> str | None:
    """Why :func:`check_settings` cannot check ``device`` (one with measurements whose
    descriptor records no timing settings: registered by hand, 'client register'), or None.
    A batch of 8 then joined a device measured at batch 1 without a word (a user review)."""
    if not device.measurement_count or set(settings_facts(settings)) & set(device.descriptor):
        return None
    return (
        f"device {device.name!r} records no timing settings (it was not registered by"
        " 'client measure --register'): its measurements cannot be checked to be taken with"
        " these; measure it with the same options every time, or register a device for this"
        " machine (--device NEW_NAME --register)"
    )


def with_recorded_reference(device: DeviceInfo, settings: TimingSettings) -> TimingSettings:
    """``settings`` scaled by the reference latency recorded when ``device`` was registered,
    so that every session's uploads share one scale. A device registered before it was
    recorded keeps the latency this process times, with a warning."""
    if settings.reference is None:
        return settings
    key = _reference_key(settings)
    if key in device.descriptor:
        return dataclasses.replace(settings, reference_ms=device.descriptor[key])
    logger.warning(
        "device %r has no --reference latency recorded (registered before they were, or not by"
        " client measure --register): this session times the reference itself, and its uploads"
        " are scaled apart from other sessions'",
        device.name,
    )
    return settings


def registered_reference(device: DeviceInfo | None) -> str | None:
    """The reference ``device``'s latencies are timed against when ``--reference`` is not
    given: the one recorded at its registration; none for a device registered without one, or
    by other means than ``client measure``; :data:`DEFAULT_REFERENCE` for a device not
    registered yet (None). A descriptor that says "timed against a reference" without naming
    it gives None too: :func:`check_settings` refuses it."""
    if device is None:
        return DEFAULT_REFERENCE
    recorded = _recorded_reference(device.descriptor)
    return None if recorded == REFERENCE_KEY else recorded.removeprefix(REFERENCE_MS_PREFIX)


def _reference_key(settings: TimingSettings) -> str:
    """The descriptor key naming the reference ``settings`` time with, or none."""
    return REFERENCE_KEY if settings.reference is None else reference_ms_key(settings.reference)


def _recorded_reference(descriptor: Mapping[str, float]) -> str:
    """The descriptor key naming the reference the device was registered with, or none."""
    return next((key for key in descriptor if key.startswith(REFERENCE_MS_PREFIX)), REFERENCE_KEY)


def _as_option(key: str, value: float = 0.0) -> str:
    """A ``measure.*`` descriptor value as the option that sets it (``measure.cpu_clock 1``:
    ``--clock cpu``): what the user types, rather than the descriptor's encoding. A reference
    is named by its key alone: ``measure.reference_ms:ARCH`` is ``--reference ARCH``, and
    ``measure.reference`` stands for none."""
    if key == "measure.cpu_clock":
        return f"--clock {'cpu' if value else 'wall'}"
    if key == REFERENCE_KEY:
        return "no --reference"
    if key.startswith(REFERENCE_MS_PREFIX):
        arch = key.removeprefix(REFERENCE_MS_PREFIX)
        return f"--reference '{canonical_arch(arch, space_of_arch(arch))}'"
    return f"--{key.removeprefix('measure.').replace('_', '-')} {value:g}"


def measured_archs(client: LatencyClient, device: str, search_space: str) -> set[str]:
    """Every arch ``device`` has measurements of in ``search_space`` (canonical); none from a
    server older than ListMeasurements, with a warning."""
    try:
        return {arch for arch, _ in client.measurements(device, search_space)}
    except LatencyServiceError as exc:
        if exc.code != "UNIMPLEMENTED":
            raise
    logger.warning(
        "the server cannot list %s's measurements (it predates ListMeasurements): held-out"
        " archs avoid only this run's uploads",
        device,
    )
    return set()


def conditioned_archs(client: LatencyClient, device: DeviceInfo, search_space: str) -> set[str]:
    """The archs the device's predictions in ``search_space`` are conditioned on: its
    measurements (:func:`measured_archs`) and, in NB201, its reference archs."""
    references = device.reference_archs if search_space == NASBENCH201 else frozenset()
    return measured_archs(client, device.name, search_space) | references


def upload(
    client: LatencyClient,
    device: str,
    timings: dict[str, Timing],
    search_space: str,
    connection: Sequence[str] = (),
) -> AddResult:
    """Stores the medians of ``timings`` as the device's measurements."""
    pairs = [(arch, t.median_ms) for arch, t in timings.items()]
    return _stored(client, device, pairs, search_space, connection)


def _stored(
    client: LatencyClient,
    device: str,
    pairs: list[tuple[str, float]],
    search_space: str,
    connection: Sequence[str] = (),
) -> AddResult:
    """``client.add_measurements``; where it fails or is interrupted, ``pairs`` are saved to a
    CSV file, and the error (or a warning, for Ctrl-C) gives the 'client add' command that
    uploads them: the timings were lost with it, minutes of them (a review, 2026-12-06)."""
    # Chosen here, not by the call: Ctrl-C carries no id, and an upload cut off in flight
    # may have been stored.
    request_id = new_request_id()
    try:
        return client.add_measurements(
            device, pairs, search_space=search_space, request_id=request_id
        )
    except LatencyServiceError as exc:
        # The id only where the upload may have been stored: the service refused one that was
        # not, and reusing the id for a split file was refused as another request's (a review).
        repeat_id = exc.request_id if exc.maybe_carried_out else ""
        limit = (
            request_limit(exc, "measurements") if isinstance(exc, ResourceExhaustedError) else None
        )
        exc.add_note(_saved_hint(device, pairs, repeat_id, limit, connection))
        raise
    except KeyboardInterrupt:
        hint = _saved_hint(device, pairs, request_id, None, connection)
        logger.warning("interrupted while uploading, which may have been stored: %s", hint)
        raise


def _saved_hint(
    device: str,
    pairs: list[tuple[str, float]],
    request_id: str,
    row_limit: int | None = None,
    connection: Sequence[str] = (),
) -> str:
    """Where ``pairs`` are saved, and the command that uploads them, once under
    ``request_id`` where one is given (a repeat of a stored upload stores nothing more), or
    each part of at most ``row_limit`` rows, where the server takes no more in one request;
    ``connection``: the ``client`` options that reach the server it was meant for (pasted
    without them, the command went to the default target: a review)."""
    carried = quantity(len(pairs), "measurement")
    saved = save_timings(pairs)
    if saved is None:
        return f"the timings it carried ({carried}) could not be saved"
    command = ["client", *connection, "add", "--device", device, "--file"]
    if row_limit is not None:  # the whole file would be refused the same way
        return (
            f"the timings it carried ({carried}) are saved in {saved}: split it into files of"
            f" at most {quantity(row_limit, 'row')}, and {shlex.join(command)} PART uploads each"
        )
    command += [saved, "--request-id", request_id] if request_id else [saved]
    return (
        f"the timings it carried ({carried}) are saved in {saved}:"
        f" {shlex.join(command)} uploads them"
    )


def save_timings(pairs: list[tuple[str, float]], prefix: str = "measured-") -> str | None:
    """Writes ``pairs`` as CSV (arch,latency_ms) to a new file ``prefix*.csv`` in the working
    folder, else in the temporary one; its path, or None where neither takes it."""
    from client.cli import write_measurements

    text = io.StringIO()
    write_measurements(text, pairs)
    for folder in (".", None):
        try:
            handle, path = tempfile.mkstemp(prefix=prefix, suffix=".csv", dir=folder)
            with os.fdopen(handle, "w") as file:
                file.write(text.getvalue())
            return path
        except OSError:
            continue
    return None


class _PriorGuesses(logging.Filter):
    """The service's warning that a device's predictions in a space are the prior's guesses,
    which ends "measure a few on it first (... or client measure --space S)": said to a user
    running that very command, about to measure them (a user review)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return PRIOR_GUESSES not in record.getMessage()


@contextmanager
def _prior_guesses_unsaid() -> Iterator[None]:
    """The client library's log, without :class:`_PriorGuesses`'s warning, while it lasts."""
    said = logging.getLogger("client.api")
    unsaid = _PriorGuesses()
    said.addFilter(unsaid)
    try:
        yield
    finally:
        said.removeFilter(unsaid)


def suggest(
    client: LatencyClient,
    device: str,
    count: int,
    search_space: str = NASBENCH201,
    strategy: str = "",
    seed: int = 0,
) -> list[str]:
    """The archs the service would have this device measure next."""
    candidates = None
    if search_space == FBNET:
        # Drawn outside the device's FBNet archs: a pool of one seed, less those measured in
        # earlier rounds and runs, ran out (30 archs of a server's limit after 3 rounds of 10).
        measured = measured_archs(client, device, FBNET)
        candidates = random_archs(DEFAULT_FBNET_POOL, FBNET, seed=seed, exclude=measured)

    def picked() -> list[str]:
        with _prior_guesses_unsaid():
            return client.suggest(
                device,
                count,
                candidates=candidates,
                strategy=strategy,
                search_space=search_space,
                seed=seed,
            ).archs

    try:
        return picked()
    except ResourceExhaustedError as error:
        # A server run with LATENCY_MAX_BATCH below the pool refused it, once the device had
        # been registered, and no option made the pool smaller (a review, 2026-12-06).
        limit = request_limit(error, "candidates")
        if candidates is None or limit is None:
            raise
        if limit < count:  # "give fewer" candidates, of which the user gave none
            error.message = (
                f"this server takes at most {limit} FBNet candidates a request"
                f" (LATENCY_MAX_BATCH), so at most {limit} suggestions: give --suggested {limit}"
                " or fewer"
            )
            raise
        candidates = candidates[:limit]
        return picked()


def measure_round(
    client: LatencyClient,
    device: str,
    archs: Sequence[str],
    search_space: str,
    settings: TimingSettings,
    on_measured: OnMeasured | None = None,
    retime: int = 0,
    on_uploaded: Callable[[RoundReport], None] | None = None,
    connection: Sequence[str] = (),
) -> RoundReport:
    """Times ``archs`` and uploads them; each one the service finds surprising is timed
    ``retime`` times more and uploaded again (see :func:`retime_surprising`).
    ``on_uploaded`` is told the round as uploaded, before any re-timing: a run interrupted
    while re-timing must still know what it stored."""
    timings = measure_archs(archs, search_space, settings, on_measured)
    result = upload(client, device, timings, search_space, connection)
    if on_uploaded is not None:
        on_uploaded(RoundReport(timings, result))
    retiming = retime_surprising(client, device, result, retime, search_space, settings, connection)
    return RoundReport(timings, result, retiming)


def retime_surprising(
    client: LatencyClient,
    device: str,
    result: AddResult,
    times: int,
    search_space: str,
    settings: TimingSettings,
    connection: Sequence[str] = (),
) -> Retiming | None:
    """Times each arch of ``result.surprising`` and ``result.surprising_before`` (this
    machine's earlier measurements) ``times`` more and uploads those timings: the service
    counts an arch at the median of its measurements, so two more outvote one series
    disturbed by the machine, and two that agree with it confirm it. None when there is
    nothing to re-time."""
    surprising = [*result.surprising, *result.surprising_before]
    if not surprising or not times:
        return None
    # Each the quickest of --passes, as every other list is timed: the upload outvoted was.
    medians = {
        surprise.arch: [
            time_archs([surprise.arch], search_space, settings)[surprise.arch].median_ms
            for _ in range(times)
        ]
        for surprise in surprising
    }
    pairs = [(arch, ms) for arch, values in medians.items() for ms in values]
    return Retiming(medians, _stored(client, device, pairs, search_space, connection))


def holdout_archs(
    count: int, search_space: str = NASBENCH201, seed: int = 1, exclude: set[str] | None = None
) -> list[str]:
    """``count`` random archs outside ``exclude`` and HELP's reference archs."""
    return random_archs(count, search_space, seed, set(exclude or ()) | set(HELP_REFERENCE_ARCHS))


def score_timings(
    client: LatencyClient, device: str, timings: dict[str, Timing], search_space: str
) -> Evaluation:
    """Predicts the archs of ``timings`` (timed, not uploaded) and scores the prediction."""
    import numpy as np

    names = list(timings)
    predicted = client.predict(device, names, search_space=search_space)
    measured = np.array([timings[a].median_ms for a in names])
    scores, _ = score(
        predicted.lower_ms, predicted.upper_ms, measured, median_ms=predicted.median_ms
    )
    return Evaluation(scores, timings)


@dataclass(frozen=True)
class SpeedCheck:
    """Uploaded archs timed again after the held-out set: did the machine's speed move?

    On a VM the speed can step by 5-15% for minutes while every series stays internally quiet,
    so no arch is flagged noisy; the held-out archs, timed minutes after the uploaded ones,
    then disagree with them by that step and the score blames the model.
    """

    before_ms: dict[str, float]
    after_ms: dict[str, float]

    @property
    def ratios(self) -> list[float]:
        """Per re-timed arch, its latency now over its uploaded latency."""
        return [self.after_ms[a] / self.before_ms[a] for a in self.after_ms]

    @property
    def drift(self) -> float:
        """Median relative change since the upload: positive when the machine got slower."""
        return statistics.median(self.ratios) - 1.0

    @property
    def steady(self) -> bool:
        return abs(self.drift) <= STEADY_LIMIT


def recheck_speed(
    uploaded_ms: dict[str, float],
    count: int,
    search_space: str,
    settings: TimingSettings,
    on_measured: OnMeasured | None = None,
) -> SpeedCheck:
    """Times the first ``count`` archs of ``uploaded_ms`` again and compares with their
    uploaded latency (of an arch re-timed, the median of its uploads, as the service counts
    it: its first timing alone, the one found surprising, made a speed change of none)."""
    archs = list(uploaded_ms)[:count]
    if not archs:
        raise TimingError("no uploaded archs to time again")
    again = measure_archs(archs, search_space, settings, on_measured)
    # Not logged when unsteady: the command says so with what it means (it was said twice).
    return SpeedCheck(
        {a: uploaded_ms[a] for a in archs}, {a: t.median_ms for a, t in again.items()}
    )
