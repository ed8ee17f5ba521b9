"""``client measure``: time architectures on this machine and teach the service about it.

torch, grpc and numpy are imported inside the command, so ``client --help`` stays fast.
"""

from __future__ import annotations

import csv
import io
import math
import shlex
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from client.cli import (
    SCORE_UNITS,
    DeviceOption,
    Strategy,
    app,
    check_output_path,
    connect,
    connection_words,
    decimal_at_least,
    flattery,
    milliseconds,
    output_console,
    print_json,
    require_archs,
    require_extra,
    surprising_hint,
    warn_if_source_device,
)
from client.measure.networks import MAX_BATCH_SIZE
from client.measure.timing import MAX_THREADS, MIN_REPEATS, STEADY_LIMIT, percents
from client.settings import SEED_MAX
from service.cpus import usable_cpus
from service.interrupts import sigterm_as_interrupt
from service.outputs import said_beside, write_atomically
from service.wording import MEASURED_BEFORE, quantity

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from client.api import DeviceInfo, LatencyClient, SurprisingMeasurement
    from client.errors import ClientInputError
    from client.measure.errors import MeasureError
    from client.measure.loop import RoundReport, SpeedCheck
    from client.measure.timing import Timing, TimingSettings

DEFAULT_SUGGESTED = 10
#: --reference's spelling of no reference.
NO_REFERENCE = "none"
#: Passes over each list of archs (see --passes): on the development VM, 200 held-out archs timed
#: twice ranked against the service's predictions at Spearman 0.92-0.98 by their quicker pass,
#: 0.79-0.93 by the first alone (three runs, 2026-12-05, docs/measuring-notes.md).
DEFAULT_PASSES = 2
#: Uploaded archs timed again after the held-out set (a few seconds on a CPU).
DEFAULT_RECHECK = 3
#: More timings of an upload the service finds surprising: with the first, a median of three.
DEFAULT_RETIME = 2
#: Longest wait for a server that is still fitting its model (all 27 HELP devices: ~1 min on
#: 2 cores; a slower machine or more devices take longer).
DEFAULT_WAIT_S = 600.0
#: The header of --save-holdout's CSV: ``client add`` and ``client report`` read the first two.
HOLDOUT_COLUMNS = ("arch", "latency_ms", "spread")


class _Bar:
    """A rich progress task that the loop advances once per timing (``passes`` per arch),
    counting the archs whose kept timing stayed noisy."""

    def __init__(self, progress: Progress, label: str, archs: int, passes: int) -> None:
        self.progress = progress
        self.task = _add_task(progress, label, archs * passes)
        self.archs, self.passes = archs, passes
        self.timings = 0
        self.kept: dict[str, Timing] = {}

    def __call__(self, arch: str, timing: Timing) -> None:
        from client.measure.timing import keep_quicker

        self.progress.advance(self.task)
        self.timings += 1
        keep_quicker(self.kept, arch, timing)

    @property
    def noisy(self) -> int:
        return sum(timing.noisy for timing in self.kept.values())

    def cut_short(self) -> str:
        """How far the timing got, for a run cut short: archs go in order, pass by pass."""
        timed = f"{len(self.kept)} of {self.archs} archs timed"
        if self.passes == 1:
            return timed
        current = min(self.timings // self.archs + 1, self.passes)
        return f"{timed}, cut short in pass {current} of {self.passes}"


@app.command()
def measure(
    ctx: typer.Context,
    device: DeviceOption,
    register: Annotated[
        bool,
        typer.Option(
            "--register",
            help="Register the device first, with this machine's descriptor and its latencies"
            " on HELP's 10 reference archs (zero-shot prior). A device of that name is kept;"
            " an alias of another device, or a source device, is refused.",
        ),
    ] = False,
    archs: Annotated[
        Path | None,
        typer.Option("--archs", help="Measure and upload these archs (one per line; - is stdin)."),
    ] = None,
    suggested: Annotated[
        int | None,
        typer.Option(
            "--suggested",
            "-n",
            min=0,
            help=f"Archs the service suggests, per round (default {DEFAULT_SUGGESTED} without"
            " --archs, else 0).",
            show_default=False,
        ),
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Suggest-measure rounds.")] = 1,
    holdout: Annotated[
        int,
        typer.Option(
            "--holdout",
            min=0,
            help="Random other archs to measure (not upload) and score, after the rounds"
            " (with neither --archs nor --suggested, one round of"
            f" {DEFAULT_SUGGESTED} is uploaded first: -n 0 scores alone).",
        ),
    ] = 0,
    eval_archs: Annotated[
        Path | None,
        typer.Option(
            "--eval-archs",
            help="Score on these archs (one per line) instead of --holdout's random ones (as"
            " with --holdout: with neither --archs nor --suggested, one round is uploaded"
            " first; -n 0 scores alone).",
        ),
    ] = None,
    space: Annotated[
        str, typer.Option("--space", help="Search space: nasbench201 or fbnet.")
    ] = "nasbench201",
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, max=MAX_BATCH_SIZE, help="Batch.")
    ] = 1,
    threads: Annotated[
        int, typer.Option("--threads", "-t", min=1, max=MAX_THREADS, help="Torch threads.")
    ] = 1,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs per arch.")] = 30,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 10,
    passes: Annotated[
        int,
        typer.Option(
            "--passes",
            min=1,
            help="Time each list of archs this many times over, each arch kept at its quickest"
            " pass: a second or two of a slowed machine, steady within a series, costs one"
            " pass, not the arch's latency.",
        ),
    ] = DEFAULT_PASSES,
    max_spread: Annotated[
        float,
        typer.Option(
            "--max-spread",
            parser=decimal_at_least(0.001),
            help="IQR/median above which an arch is timed again (at least 0.001).",
        ),
    ] = 0.10,
    clock: Annotated[
        str,
        typer.Option(
            "--clock",
            help="'wall' time, or 'cpu': the timing thread's CPU time, steady on a machine"
            " shared with other work (needs --threads 1).",
        ),
    ] = "wall",
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Time every run back to back with this arch and scale by its latency (recorded"
            " at --register, reused by every later run): cancels drift of the machine's speed"
            " (turbo, throttling, a busy VM host). Default: the one the device was registered"
            " with; a new device gets the all-nor_conv_1x1 NB201 cell. 'none' times each"
            " network alone (and takes half the time).",
        ),
    ] = None,
    strategy: Annotated[
        Strategy | None,
        typer.Option(
            "--strategy",
            help="Suggestions: active (default: half at random, half by expected gain), greedy"
            " (all by gain) or random.",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=SEED_MAX, help="Seeds suggestions and held-out archs."),
    ] = 0,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeatability",
            min=0,
            help=f"Also time one arch this many times (at least {MIN_REPEATS}; 0: skip): spread"
            " of medians (after the rounds, as --holdout: -n 0 for this alone).",
        ),
    ] = 0,
    recheck: Annotated[
        int,
        typer.Option(
            "--recheck",
            min=0,
            help="After the held-out set, time this many uploaded archs again and report how far"
            " the machine's speed moved since the upload (0: skip).",
        ),
    ] = DEFAULT_RECHECK,
    retime: Annotated[
        int,
        typer.Option(
            "--retime",
            min=0,
            help="Time each upload the service finds surprising (far from what the device's"
            " other measurements predict), and each such arch measured before, this many times"
            " more, and upload those too: an arch counts at the median of its measurements"
            " (0: only warn).",
        ),
    ] = DEFAULT_RETIME,
    save_holdout: Annotated[
        Path | None,
        typer.Option(
            "--save-holdout",
            help=f"Write the held-out measurements (CSV: {','.join(HOLDOUT_COLUMNS)};"
            " spread: IQR/median).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON summary (the text one, with its warnings, on stderr); its scores'"
            f" {SCORE_UNITS}.",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            parser=decimal_at_least(0),
            help="Seconds to wait for a server still loading its model before timing anything"
            " (one not listening yet: 30 s at most; 0 or more).",
        ),
    ] = DEFAULT_WAIT_S,
) -> None:
    """Measure latencies on this machine, upload them, and score the service's predictions.

    Needs the measure extra (pip install 'nas-latency-estimator\\[measure]').

    Examples:

      client measure --device laptop --register --suggested 10 --holdout 200

      client measure --device laptop --archs mine.txt

      client measure --device laptop-b8 --register --archs mine.txt --threads 4 --batch-size 8

      client measure --device laptop --suggested 5 --rounds 3
    """
    require_extra("measure")
    from client.measure.timing import TimingSettings

    # Every option and input is checked before the first network is timed or anything is
    # registered: a typo should not cost a long run, nor leave a half-set-up device behind.
    _check_space(space)
    if register:
        _check_new_name(device)
    _check_counts(suggested, holdout, space)
    if 0 < repeat < MIN_REPEATS:  # refused by repeatability() only after the whole run
        raise typer.BadParameter(
            f"at least {MIN_REPEATS} timings to compare, or 0 to skip", param_hint="--repeatability"
        )
    with _measure_error_as(_as_option_error):
        settings = TimingSettings(
            warmup=warmup,
            runs=runs,
            batch_size=batch_size,
            threads=threads,
            max_spread=max_spread,
            clock=clock,
            reference=_named_reference(reference),
            passes=passes,
        )
    _warn_oversubscribed(threads)
    if holdout and eval_archs is not None:  # one scored set: --holdout was silently ignored
        raise typer.BadParameter(
            "choose one of --holdout N and --eval-archs FILE", param_hint="--holdout"
        )
    _check_save_holdout(save_holdout, holdout, eval_archs, as_json)
    if _is_stdin(archs) and _is_stdin(eval_archs):  # the second read found it empty, and said so
        raise typer.BadParameter(
            "stdin can feed one of --archs - and --eval-archs -", param_hint="--eval-archs"
        )
    with _measure_error_as(_input_error):  # a malformed arch: the user's input, one line
        given, held_out = _read_inputs(archs, eval_archs, settings.reference, space)
    plan = _Plan(
        device=device,
        register=register,
        given=given,
        per_round=_per_round(suggested, given),
        rounds=rounds,
        holdout=holdout,
        eval_archs=held_out or None,
        space=space,
        strategy=strategy.value if strategy is not None else "",
        seed=seed,
        repeat=repeat,
        recheck=recheck,
        retime=retime,
        save_holdout=save_holdout,
        reference_given=reference is not None,
        connection=tuple(connection_words(ctx)),
    )
    _require_work(plan)
    with _measure_error_as(_input_error):  # e.g. a network that cannot run here
        summary = _run_when_ready(ctx, plan, settings, wait)
    _print_summary(summary, as_json, _is_stdout(save_holdout), plan.connection)


def _is_stdin(path: Path | None) -> bool:
    """Whether ``path`` names stdin: ``-``, or the names Linux gives it."""
    return str(path) in ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0")


def _as_option_error(exc: MeasureError) -> typer.BadParameter:
    """A MeasureError as the misused option's error (exit 2), naming the option where a
    TimingError names one setting: ``--clock cpu --threads 2`` named none (a review, 2026-12-06)."""
    setting = getattr(exc, "setting", None)
    option = f"--{setting.replace('_', '-')}" if setting else None
    return typer.BadParameter(str(exc), param_hint=option)


@contextmanager
def _measure_error_as(error: Callable[[MeasureError], Exception]) -> Iterator[None]:
    """Re-raises a MeasureError as the exception ``error`` makes of it: the user's mistake is
    one line, not a traceback."""
    from client.measure.errors import MeasureError

    try:
        yield
    except MeasureError as exc:
        raise error(exc) from None


def _input_error(exc: MeasureError) -> ClientInputError:
    """A MeasureError as the user's input at fault (a malformed arch, a network that cannot
    run here): its message alone."""
    from client.errors import ClientInputError

    return ClientInputError(str(exc))


def _check_space(space: str) -> None:
    from client.measure.networks import SEARCH_SPACES

    if space not in SEARCH_SPACES:
        raise typer.BadParameter(
            f"expected one of {', '.join(SEARCH_SPACES)}, not {space!r}", param_hint="--space"
        )


def _check_new_name(device: str) -> None:
    """The service's rules for a device's name: RegisterDevice applies them only after the
    reference archs were timed for its descriptor."""
    from service.names import name_problem

    problem = name_problem("device name", device)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="--device")


def _warn_oversubscribed(threads: int | None) -> None:
    """Warns, before anything is timed, of more threads than CPUs to run them: they take
    turns, and the latencies then time that contention rather than the network."""
    cpus = usable_cpus()
    if threads is not None and threads > cpus:
        typer.echo(
            f"warning: --threads {threads} on {quantity(cpus, 'CPU')} this process may use:"
            " threads beyond them take turns, so the latencies time that contention; give"
            f" at most --threads {cpus}",
            err=True,
        )


def _check_counts(suggested: int | None, holdout: int, space: str) -> None:
    """More suggestions or held-out archs than the space offers: the service, or the held-out
    draw, refused them only after the device was registered and the rounds were timed."""
    from client.measure.loop import DEFAULT_FBNET_POOL
    from client.measure.networks import FBNET, NB201_SIZE

    if space == FBNET:  # suggested from a random pool; held-out draws are not distinct
        _at_most("--suggested", suggested, DEFAULT_FBNET_POOL, "the FBNet pool offered")
        return
    _at_most("--suggested", suggested, NB201_SIZE, "the NB201 space's archs")
    # The held-out draw always avoids HELP's reference archs.
    _at_most("--holdout", holdout, _holdout_room(set()), "the NB201 archs held-out draws offer")


def _holdout_room(excluded: set[str], uploads: int = 0) -> int:
    """How many NB201 archs a held-out draw can take: those outside ``excluded``, HELP's
    reference archs and ``uploads`` more archs (suggestions, never measured before)."""
    from client.measure.descriptor import HELP_REFERENCE_ARCHS
    from client.measure.networks import NB201_SIZE

    return NB201_SIZE - len(excluded | set(HELP_REFERENCE_ARCHS)) - uploads


def _check_holdout_room(plan: _Plan, known: set[str]) -> None:
    """Before the rounds: the held-out draw, made after them, has room for ``--holdout``;
    it refused only once the rounds were timed and uploaded."""
    from client.errors import ClientInputError
    from client.measure.networks import NASBENCH201

    if not plan.holdout or plan.eval_archs or plan.space != NASBENCH201:
        return
    room = _holdout_room(known | set(plan.given), plan.per_round * plan.rounds)
    if plan.holdout > room:
        raise ClientInputError(
            f"--holdout {plan.holdout}: only {room} NB201 archs are left to hold out outside"
            f" those {plan.device} has measured or will upload in this run, and HELP's"
            " reference archs"
        )


def _at_most(option: str, given: int | None, most: int, what: str) -> None:
    if given is not None and given > most:
        raise typer.BadParameter(f"at most {most} ({what}), got {given}", param_hint=option)


def _check_save_holdout(
    save_holdout: Path | None, holdout: int, eval_archs: Path | None, as_json: bool
) -> None:
    if save_holdout is None:
        return
    if not (holdout or eval_archs):
        raise typer.BadParameter(
            "there is no held-out set to save: add --holdout N or --eval-archs FILE",
            param_hint="--save-holdout",
        )
    if as_json and _is_stdout(save_holdout):  # one stream, two documents: neither readable
        raise typer.BadParameter(
            f"{save_holdout} is stdout, where --json prints: save the held-out timings to a file",
            param_hint="--save-holdout",
        )
    check_output_path(save_holdout, "--save-holdout")


def _is_stdout(path: Path | None) -> bool:
    """Whether ``path`` is the file stdout writes to (``--save-holdout /dev/stdout``)."""
    return path is not None and said_beside(path) is sys.stderr


def _named_reference(reference: str | None) -> str | None:
    """--reference's arch; None for none, in any case (``None`` is no NB201 arch)."""
    if reference is not None and reference.strip().casefold() == NO_REFERENCE:
        return None
    return reference


def _read_inputs(
    archs: Path | None, eval_archs: Path | None, reference: str | None, space: str
) -> tuple[list[str], list[str]]:
    """The archs to upload and those to score on, read from their files; the reference arch
    checked too."""
    from client.measure.errors import ArchitectureError
    from client.measure.networks import check_archs, space_of_arch

    given = _read_archs(archs, "--archs", space)
    held_out = _read_archs(eval_archs, "--eval-archs", space)
    if reference is not None:  # '' too: it would fail only when the first network is timed
        # The reference may be of either space; one that looks like neither ('', a word) is
        # checked as --space's, not called "an FBNet arch" of 0 or 1 blocks.
        looks_like = reference.strip().startswith("|") or "," in reference
        try:
            check_archs([reference], space_of_arch(reference) if looks_like else space)
        except ArchitectureError as exc:  # a misused option (exit 2), as a bad --clock is
            problem = str(exc).removeprefix("arch 1: ")
            raise typer.BadParameter(problem, param_hint="--reference") from None
    return given, held_out


def _per_round(suggested: int | None, given: list[str]) -> int:
    """Suggestions per round: --suggested, else none when archs are given, else the default."""
    if suggested is not None:
        return suggested
    return 0 if given else DEFAULT_SUGGESTED


def _require_work(plan: _Plan) -> None:
    if not plan.has_work:
        raise typer.BadParameter(
            "nothing to do: give --register, --archs, --suggested N, --holdout N, --eval-archs"
            " or --repeatability N",
            param_hint="--suggested 0",
        )
    if plan.rounds > 1 and not plan.per_round:  # else silently one pass over --archs
        raise typer.BadParameter(
            "rounds of suggestions need --suggested N (0 by default with --archs)",
            param_hint="--rounds",
        )


def _run_when_ready(
    ctx: typer.Context, plan: _Plan, settings: TimingSettings, wait: float
) -> dict[str, Any]:
    """Connects, waits for the server's model, then runs ``plan`` under progress bars."""
    with connect(ctx) as latency:
        # A fresh server fits for up to a minute; timing first would fail only afterwards.
        latency.wait_until_ready(wait, on_wait=lambda message: typer.echo(message, err=True))
        summary: dict[str, Any] = {"device": plan.device, "rounds": []}
        uploaded: dict[str, list[float]] = {}
        try:
            with sigterm_as_interrupt(), _progress() as progress:
                _run(latency, plan, settings, progress, summary, uploaded)
        except BaseException:  # Ctrl-C, or a failure (the server gone) partway
            # Once the bars have stopped: on a terminal their last redraw erased a line
            # printed under them (a review, 2026-12-06).
            _say_interrupted(plan, summary, uploaded)
            raise
        return summary


def _read_archs(path: Path | None, option: str, space: str) -> list[str]:
    """The archs listed in ``path`` (none without it), each checked: the error names the file
    and line. A file that lists none is an error too."""
    if path is None:
        return []
    from client.measure.networks import check_archs

    archs, places = require_archs(path, option)
    return check_archs(archs, space, places)


@dataclass(frozen=True)
class _Plan:
    """What one ``client measure`` call does (its options, parsed)."""

    device: str
    register: bool
    given: list[str]
    per_round: int
    rounds: int
    holdout: int
    eval_archs: list[str] | None
    space: str
    strategy: str
    seed: int
    repeat: int
    recheck: int
    retime: int
    save_holdout: Path | None
    #: Whether --reference was given; else the device's registered one is used.
    reference_given: bool
    #: The ``client`` options that reach this server, for the commands printed to paste.
    connection: tuple[str, ...] = ()

    @property
    def has_work(self) -> bool:
        """Whether anything is registered, timed or uploaded."""
        return self.register or self.uses_device or bool(self.repeat)

    @property
    def uses_device(self) -> bool:
        """Whether anything is uploaded to the device or predicted for it."""
        return bool(self.given or self.per_round or self.holdout or self.eval_archs)


def _run(
    latency: LatencyClient,
    plan: _Plan,
    settings: TimingSettings,
    progress: Progress,
    summary: dict[str, Any],
    uploaded: dict[str, list[float]],
) -> None:
    """Register, measure the given archs, run the suggestion rounds, evaluate; recorded in
    ``summary`` as it goes, and the medians uploaded per arch in ``uploaded``, so that a run
    cut short can say what it had stored."""
    from client.measure import loop

    existing, settings = _check_device(latency, plan, settings)
    summary["settings"] = asdict(settings)
    registered = None
    if existing is None:
        # A new device has measured nothing: checked before its reference archs are timed
        # and it is registered (it stayed registered, with no measurement, a review found).
        _check_holdout_room(plan, set())
    if plan.register:
        # A registered device keeps its descriptor: no bar for archs that are not timed.
        bar = _Bar(progress, "reference archs", 10, settings.passes) if existing is None else None
        registered = loop.register(latency, plan.device, settings, on_reference=bar)
        summary["registered"] = registered is not None
        summary["reference_noisy"] = bar.noisy if bar is not None else 0
    device = registered or existing
    if device is None and plan.register:
        # Registered by another session since _check_device: its settings and recorded
        # reference rule this session's uploads too (they went unchecked and scaled apart).
        device = latency.device(plan.device)
        loop.check_settings(device, settings)
    if device is not None:  # every session scales by the reference latency registered
        settings = loop.with_recorded_reference(device, settings)
        summary["settings"] = asdict(settings)
    # Asked before anything is timed: what the device was conditioned on before this run.
    scored = plan.holdout or plan.eval_archs
    known = loop.conditioned_archs(latency, device, plan.space) if scored and device else set()
    _check_holdout_room(plan, known)
    if existing is not None and (problem := loop.unchecked_settings(existing, settings)):
        typer.echo(f"warning: {problem}", err=True)  # once every check has passed
    _measure_rounds(latency, plan, settings, progress, summary["rounds"], uploaded, existing)
    # Held-out archs avoid everything the device has measured, so the score is out of sample.
    targets = plan.eval_archs or (
        loop.holdout_archs(plan.holdout, plan.space, plan.seed + 1, known | set(uploaded))
        if plan.holdout
        else []
    )
    if targets:
        summary["evaluation"] = _evaluate(latency, plan, settings, progress, targets, summary)
        # Random held-out archs avoid these; --eval-archs are the user's and may not.
        conditioned = len(set(targets) & (known | set(uploaded)))
        summary["evaluation"]["conditioned"] = conditioned
        if plan.recheck and uploaded:  # a step of its own: Ctrl-C in it keeps the score above
            summary["speed_check"] = _recheck_speed(plan, settings, progress, uploaded)
    if plan.repeat:
        summary["repeatability"] = _repeatability(plan.repeat, plan.space, settings, progress)


def _measure_rounds(
    latency: LatencyClient,
    plan: _Plan,
    settings: TimingSettings,
    progress: Progress,
    rounds: list[dict[str, Any]],
    uploaded: dict[str, list[float]],
    existing: DeviceInfo | None,
) -> None:
    """Times and uploads the given archs, then each round of suggestions; appends each
    round's summary to ``rounds`` and, per arch uploaded, the medians of its timings uploaded
    (the first, then any re-timings) to ``uploaded``. ``existing``: the device as it was
    before this run (None when registered now), for the source-device warning."""
    from client.measure import loop

    batches = ([plan.given] if plan.given else []) + [[]] * (plan.rounds if plan.per_round else 0)
    for batch in batches:
        picks = batch or loop.suggest(
            latency, plan.device, plan.per_round, plan.space, plan.strategy, plan.seed
        )
        if existing is not None and not rounds:
            # Once the first archs are known, before they are timed: the suggestions may be
            # refused (a complete table has none), and then nothing joins the table.
            warn_if_source_device(existing, [plan.space])
        # A repeated pick is timed once a pass.
        bar = _Bar(progress, f"round {len(rounds) + 1}", len(set(picks)), settings.passes)
        # Recorded as uploaded before its re-timing: Ctrl-C then left a stored round out
        # of what the run said it had uploaded (a review, 2026-12-06).
        stored = _StoredRound(rounds, uploaded)
        report = loop.measure_round(
            latency,
            plan.device,
            picks,
            plan.space,
            settings,
            bar,
            plan.retime,
            stored.add,
            plan.connection,
        )
        stored.complete(report)


class _StoredRound:
    """Records a round in ``rounds`` and its medians in ``uploaded`` once it is uploaded
    (:meth:`add`), then once re-timed (:meth:`complete`)."""

    def __init__(self, rounds: list[dict[str, Any]], uploaded: dict[str, list[float]]) -> None:
        self.rounds, self.uploaded = rounds, uploaded
        self.added: RoundReport | None = None

    def add(self, report: RoundReport) -> None:
        self._record(report.uploaded_ms(), report)
        self.rounds.append(_round_dict(report))
        self.added = report

    def complete(self, report: RoundReport) -> None:
        if self.added is None:
            self.add(report)
            return
        self._record(report.retiming.medians_ms if report.retiming else {}, report)
        self.rounds[-1] = _round_dict(report)

    def _record(self, medians_by_arch: dict[str, list[float]], report: RoundReport) -> None:
        for arch, medians in medians_by_arch.items():
            # Of the archs re-timed, those measured before this run count at medians this
            # run does not know.
            if arch in report.timings or arch in self.uploaded:
                self.uploaded.setdefault(arch, []).extend(medians)


def _say_interrupted(
    plan: _Plan, summary: dict[str, Any], uploaded: dict[str, list[float]]
) -> None:
    """What a run cut short had stored: a rerun would register or measure it again."""
    stored = []
    if summary.get("registered"):  # said nothing, though the device stays (a review)
        noisy = summary.get("reference_noisy", 0)
        stayed_noisy = f" ({noisy} of its reference archs stayed noisy)" if noisy else ""
        stored.append(f"{plan.device} was registered{stayed_noisy}")
    if uploaded:
        rounds = quantity(len(summary["rounds"]), "round")
        stored.append(
            f"{rounds} ({quantity(len(uploaded), 'arch')}) had been uploaded to {plan.device}"
        )
    if "held_out_kept" in summary:  # minutes of timing, lost before (a review)
        stored.append(f"held-out set: {summary['held_out_kept']}")
    if "evaluation" in summary:  # scored before a later step was cut short (a user review)
        from client.metrics import scores_line

        evaluation = summary["evaluation"]
        stored.append(f"held-out {quantity(evaluation['n'], 'arch')}: {scores_line(evaluation)}")
    if not stored:
        return
    typer.echo(f"interrupted: {'; '.join(stored)}", err=True)
    # And which of them the service found surprising, with the hint that deletes each:
    # only the summary said so, and an interrupted run prints none (a review, 2026-12-06).
    console = output_console(stderr=True)
    for round_summary in summary["rounds"]:
        _print_surprising(console, round_summary, plan.device, plan.connection)


def _check_device(
    latency: LatencyClient, plan: _Plan, settings: TimingSettings
) -> tuple[DeviceInfo | None, TimingSettings]:
    """Before anything is timed: the device exists (unless registered now), its latencies
    were taken with these settings, and this client may write. Returns the device as it was
    (None if it was not yet) and the settings, with the reference it was registered with
    unless --reference names one."""
    from client.errors import NotFoundError
    from client.measure.loop import check_settings, registered_reference

    device: DeviceInfo | None = None
    try:
        device = latency.device(plan.device)
    except NotFoundError as exc:
        if plan.uses_device and not plan.register:
            exc.message += "; add --register to register it with this machine's descriptor"
            raise
    if plan.register and device is not None:
        _check_registered_as_asked(device, plan.device)
    if not plan.reference_given:
        settings = replace(settings, reference=registered_reference(device))
    if device is not None:
        check_settings(device, settings)
    _check_write_access(latency, plan)
    return device, settings


def _check_registered_as_asked(device: DeviceInfo, name: str) -> None:
    """Raises ClientInputError where --register names another's device: a source device of
    the service's model, or a device of which ``name`` is an alias. Timed on, this machine's
    latencies joined HELP's raspi4 table by its alias pi4 (a review, 2026-12-06)."""
    from client.errors import ClientInputError
    from service.names import composed

    taken = f"--register: {name!r} is already taken"
    if device.name != composed(name):  # as the store keeps names: "café" typed decomposed
        raise ClientInputError(
            f"{taken}, as an alias of device {device.name!r}: choose a new name for this"
            " machine, or leave out --register to add to that device"
        )
    if device.source:
        raise ClientInputError(
            f"{taken} by a source device of the service's model (a whole NB201 table): choose"
            " a new name for this machine (its latencies would join that table)"
        )


def _check_write_access(latency: LatencyClient, plan: _Plan) -> None:
    """An empty upload stores nothing but is refused without the server's token: found out
    now, not after the timing."""
    from client.errors import NotFoundError

    if not (plan.register or plan.given or plan.per_round):
        return
    try:
        latency.add_measurements(plan.device, [])
    except NotFoundError:
        pass  # authorised; the device is registered later in this run


def _evaluate(
    latency: LatencyClient,
    plan: _Plan,
    settings: TimingSettings,
    progress: Progress,
    targets: list[str],
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Times ``targets`` and scores the service on them: the summary's "evaluation". The
    timings are kept before the service is asked (--save-holdout, else a file named where
    the prediction fails): a server gone by then lost minutes of them (a user review). Cut
    short while timing, the run keeps those taken so far, and says where in the summary's
    "held_out_kept"."""
    from client.errors import LatencyServiceError
    from client.measure import loop

    # A repeated arch is timed once a pass.
    bar = _Bar(progress, "held-out", len(set(targets)), settings.passes)
    try:
        timings = loop.measure_archs(targets, plan.space, settings, bar)
    except KeyboardInterrupt:
        if bar.kept:
            saved = _save_holdout(plan.save_holdout, bar.kept)
            kept = _held_out_kept(plan.device, bar.kept, saved, plan.connection)
            summary["held_out_kept"] = f"{bar.cut_short()}; {kept}"
        raise
    saved = _save_holdout(plan.save_holdout, timings)
    try:
        evaluation = loop.score_timings(latency, plan.device, timings, plan.space)
    except LatencyServiceError as exc:
        exc.add_note(_held_out_kept(plan.device, timings, saved, plan.connection))
        raise
    except KeyboardInterrupt:
        summary["held_out_kept"] = _held_out_kept(plan.device, timings, saved, plan.connection)
        raise
    return {**evaluation.scores.as_dict(), "noisy": evaluation.noisy}


def _save_holdout(path: Path | None, timings: dict[str, Timing]) -> str | None:
    """Writes the held-out ``timings`` to ``path`` (--save-holdout); the path written, or None
    where none is given or it cannot be written (warned of: the scores still follow)."""
    if path is None:
        return None
    try:
        _write_csv(path, timings)
    except OSError as exc:  # a full disk, its folder removed
        # Through sys.stderr, which rich stands in for under the bars: click's line was
        # glued to a bar's (a review, 2026-12-06).
        print(
            f"warning: --save-holdout {path}: {exc.strerror or exc}; the held-out timings were"
            " not saved",
            file=sys.stderr,
        )
        return None
    return str(path)


def _held_out_kept(
    device: str,
    timings: dict[str, Timing],
    saved: str | None,
    connection: tuple[str, ...] = (),
) -> str:
    """Where the held-out ``timings`` are kept (``saved``, else a new file), and the command
    that scores them once the service answers."""
    from client.measure import loop

    if saved is None:
        saved = loop.save_timings([(a, t.median_ms) for a, t in timings.items()], "holdout-")
    if saved is None:
        return "the held-out timings could not be saved"
    command = shlex.join(["client", *connection, "report", "--device", device, "--measured", saved])
    return f"the held-out timings are saved in {saved}: {command} scores them"


def _recheck_speed(
    plan: _Plan, settings: TimingSettings, progress: Progress, uploaded: dict[str, list[float]]
) -> dict[str, Any]:
    """Whether the machine's speed moved since ``uploaded`` were timed: the summary's
    "speed_check"."""
    from client.measure import loop

    bar = _Bar(progress, "speed check", min(plan.recheck, len(uploaded)), settings.passes)
    uploaded_ms = {arch: statistics.median(ms) for arch, ms in uploaded.items()}
    check = loop.recheck_speed(uploaded_ms, plan.recheck, plan.space, settings, bar)
    return _speed_check_dict(check)


@contextmanager
def _progress() -> Iterator[Progress]:
    """Progress bars on stderr (so --json output on stdout stays parseable), drawn from the
    first task on (:func:`_add_task`): started at once, rich wrote a blank line at the end
    even of a run that failed before timing anything, above its one-line error."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    try:
        yield progress
    finally:
        if progress.live.is_started:  # off a terminal, rich's stop writes a newline regardless
            progress.stop()


def _add_task(progress: Progress, label: str, total: int) -> TaskID:
    """A new task of ``progress``, its display started if this is the first."""
    progress.start()  # rich starts a started display no second time
    return progress.add_task(label, total=total)


def _round_dict(report: RoundReport) -> dict[str, Any]:
    medians = sorted(t.median_ms for t in report.timings.values())
    return {
        "measured": len(report.timings),
        "accepted": report.result.accepted,
        # After its re-timing's upload too: the line said 30 where the device then held 32.
        "device_total": (report.retiming or report).result.device_total,
        "model_version": (report.retiming or report).result.model_version,
        "noisy": report.noisy,
        "min_ms": medians[0] if medians else None,
        "max_ms": medians[-1] if medians else None,
        "worst_spread": max((t.spread for t in report.timings.values()), default=None),
        "surprising": [asdict(measurement) for measurement in report.result.surprising],
        "surprising_before": [asdict(m) for m in report.result.surprising_before],
        "retimed_ms": report.retiming.medians_ms if report.retiming else {},
        "still_surprising": [m.arch for m in report.retiming.result.surprising]
        if report.retiming
        else [],
    }


def _speed_check_dict(check: SpeedCheck) -> dict[str, Any]:
    return {
        "archs": list(check.after_ms),
        "uploaded_ms": list(check.before_ms.values()),
        "now_ms": list(check.after_ms.values()),
        "drift": check.drift,
        "steady": check.steady,
    }


def _repeatability(
    repeats: int, space: str, settings: TimingSettings, progress: Progress
) -> dict[str, Any]:
    from client.measure.descriptor import HELP_REFERENCE_ARCHS
    from client.measure.networks import FBNET, random_archs
    from client.measure.timing import repeatability

    arch = random_archs(1, FBNET, seed=0)[0] if space == FBNET else HELP_REFERENCE_ARCHS[-1]
    task = _add_task(progress, "repeatability", 1)
    result = repeatability(arch, repeats, space, settings)
    progress.advance(task)
    return {
        "arch": arch,
        "medians_ms": list(result.medians_ms),
        "spread": result.spread,
    }


def _write_csv(path: Path, timings: dict[str, Timing]) -> None:
    """The held-out timings as CSV, whole or not at all (an interrupted write left a part)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HOLDOUT_COLUMNS)
    for arch, timing in timings.items():
        writer.writerow([arch, repr(timing.median_ms), f"{timing.spread:.4f}"])
    write_atomically(path, text.getvalue())


def _print_summary(
    summary: dict[str, Any], as_json: bool, holdout_on_stdout: bool, connection: tuple[str, ...]
) -> None:
    if as_json:
        print_json(summary)
    # Beside JSON the text goes to stderr, with the progress bars: its warnings (a busy machine,
    # a surprising upload, a flattered score) were printed nowhere with --json. So it does
    # beside the held-out CSV, which it had joined (a review, 2026-12-06).
    console = output_console(stderr=as_json or holdout_on_stdout)
    _print_reference(console, summary["settings"])
    _print_measured(console, summary, connection)
    _print_noisy_warning(console, summary)
    if "speed_check" in summary:
        _print_speed_check(console, summary["speed_check"], summary["settings"])
    if "repeatability" in summary:
        _print_repeatability(console, summary["repeatability"], summary["settings"])


def _print_reference(console: Console, settings: dict[str, Any]) -> None:
    """The reference every timing was paired with: by default no option names it."""
    from rich.text import Text

    from client.measure.networks import canonical_arch, space_of_arch

    reference = settings["reference"]
    if reference is None:
        return
    recorded = settings["reference_ms"]
    scale = f" ({recorded:.3f} ms, as recorded at registration)" if recorded else ""
    # By block name, as its errors and the option give it: a recorded FBNet reference is
    # block indices (a user review).
    named = canonical_arch(reference, space_of_arch(reference))
    console.print(Text(f"timed against the reference {named}{scale}"))


def _print_measured(console: Console, summary: dict[str, Any], connection: tuple[str, ...]) -> None:
    """The registration, each round, and the held-out score."""
    from rich.text import Text

    from client.metrics import scores_line

    device = summary["device"]
    if "registered" in summary:
        state = "registered" if summary["registered"] else "was already registered (kept)"
        noisy = summary.get("reference_noisy", 0)
        state += f" ({quantity(noisy, 'reference arch')} stayed noisy)" if noisy else ""
        console.print(f"{device} {state}")
    for number, r in enumerate(summary["rounds"], 1):
        noisy = f", {r['noisy']} noisy" if r["noisy"] else ""
        console.print(
            f"round {number}: measured {quantity(r['measured'], 'arch')}"
            f" ({milliseconds(r['min_ms'])}-{milliseconds(r['max_ms'])}"
            f" ms, worst spread {r['worst_spread']:.1%}{noisy}); device now has"
            f" {quantity(r['device_total'], 'measurement')}"
        )
        _print_surprising(console, r, device, connection)
    if "evaluation" in summary:
        evaluation = summary["evaluation"]
        console.print(f"held-out {quantity(evaluation['n'], 'arch')}: {scores_line(evaluation)}")
        if evaluation["conditioned"]:
            warning = flattery(evaluation["conditioned"], evaluation["n"], device)
            console.print(Text(f"warning: {warning}", style="yellow"))


def _print_surprising(
    console: Console, round_summary: dict[str, Any], device: str, connection: tuple[str, ...]
) -> None:
    """A round's surprising uploads, what timing them again found, and the surprising
    measurements stored before it."""
    from rich.text import Text

    from client.api import SurprisingMeasurement

    found = [("", f) for f in round_summary["surprising"]] + [
        (MEASURED_BEFORE, f) for f in round_summary["surprising_before"]
    ]
    for when, fields in found:  # Text: an arch string is not rich markup
        measurement = SurprisingMeasurement(**fields)
        retimed = round_summary["retimed_ms"].get(measurement.arch)
        if retimed is None:
            outcome = surprising_hint(device, measurement, connection=connection)
        elif measurement.arch in round_summary["still_surprising"] and _agree_with_prediction(
            retimed, measurement
        ):
            # --retime 1 after one slip, or a slip stored twice: the new timings tie or lose
            # the median, which is no sign that the slip is true of the machine.
            outcome = (
                f"timed again: {_ms_list(retimed)}, near the {measurement.expected_ms:.4g} ms"
                " predicted, but still off: the arch's earlier measurements outvote these;"
                " time it again (an arch counts at the median of its measurements)"
            )
        elif measurement.arch in round_summary["still_surprising"]:
            outcome = f"timed again: {_ms_list(retimed)}, still off: it seems true of this machine"
        else:
            outcome = (
                f"timed again: {_ms_list(retimed)}; the service now counts it at the median of"
                " its measurements"
            )
        line = f"warning: {when}{measurement.describe()}; {outcome}"
        console.print(Text(line, style="yellow"))


def _agree_with_prediction(retimed: list[float], measurement: SurprisingMeasurement) -> bool:
    """Whether the median of the new timings lies nearer (in ratio) the latency the device's
    other measurements predict than the surprising one."""
    middle = statistics.median(retimed)
    return abs(math.log(middle / measurement.expected_ms)) < abs(
        math.log(middle / measurement.latency_ms)
    )


def _ms_list(values: list[float]) -> str:
    return ", ".join(f"{value:.4g}" for value in values) + " ms"


def _print_noisy_warning(console: Console, summary: dict[str, Any]) -> None:
    noisy = sum(r["noisy"] for r in summary["rounds"])
    noisy += summary.get("evaluation", {}).get("noisy", 0) + summary.get("reference_noisy", 0)
    if noisy:
        # The clock is the device's: this device refuses --clock cpu (a review, 2026-12-06).
        hint = (
            ", or as a new device timed with --clock cpu --threads 1"
            if summary["settings"]["clock"] == "wall"
            else ""
        )
        console.print(
            f"warning: {quantity(noisy, 'measurement')} stayed noisy after"
            f" {summary['settings']['attempts']} series: the machine is busy; measure again at a"
            f" quieter moment{hint}",
            style="yellow",
        )


def _print_speed_check(console: Console, check: dict[str, Any], settings: dict[str, Any]) -> None:
    changes = ", ".join(
        f"{now / then - 1:+.1%}"
        for then, now in zip(check["uploaded_ms"], check["now_ms"], strict=True)
    )
    console.print(
        f"speed check: {quantity(len(check['archs']), 'uploaded arch')} timed again after the"
        f" held-out set: {check['drift']:+.1%} (median; {changes})"
    )
    if not check["steady"]:
        drift, limit = percents(check["drift"], STEADY_LIMIT, signed=True)
        _warn_unsteady(
            console,
            settings,
            f"moved by {drift} since the upload, beyond {limit}",
            "the held-out score above measures the machine as much as the model",
        )


def _print_repeatability(
    console: Console, repeat: dict[str, Any], settings: dict[str, Any]
) -> None:
    medians = ", ".join(f"{m:.3f}" for m in repeat["medians_ms"])
    console.print(
        f"repeatability: {quantity(len(repeat['medians_ms']), 'median')} {medians} ms;"
        f" spread {repeat['spread']:.1%} (max-min)/median"
    )
    if repeat["spread"] > STEADY_LIMIT:
        spread, limit = percents(repeat["spread"], STEADY_LIMIT)
        _warn_unsteady(
            console, settings, f"varied by {spread} between timings of one arch, beyond {limit}"
        )


def _warn_unsteady(
    console: Console, settings: dict[str, Any], how: str, consequence: str = ""
) -> None:
    consequence = f"{consequence}; " if consequence else ""
    hint = "" if settings["reference"] else ", or as a device timed with --reference"
    console.print(
        f"warning: this machine's speed {how}: {consequence}measure again at a quieter"
        f" moment{hint}",
        style="yellow",
    )
