"""``client measure`` end to end against a real server, and the loop underneath it."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from client.api import LatencyClient, SurprisingMeasurement
from client.cli import app
from client.errors import UnavailableError
from client.measure import command, loop, timing
from client.measure.command import HOLDOUT_COLUMNS
from client.measure.descriptor import HELP_REFERENCE_ARCHS, REFERENCE_LATENCY_PREFIX
from client.measure.networks import format_nb201
from client.measure.timing import DEFAULT_REFERENCE, Timing, TimingSettings
from tests.client.conftest import assert_one_line_error
from tests.helpers import start_server

TINY = TimingSettings(warmup=1, runs=3, attempts=1)
FAST_FLAGS = [
    *("--runs", "3", "--warmup", "1", "--threads", "1", "--batch-size", "1", "--passes", "1")
]
#: The measure.* keys of a device registered with FAST_FLAGS' batch, threads and clock.
RECORDED_SETTINGS = {"measure.batch_size": 1.0, "measure.threads": 1.0, "measure.cpu_clock": 0.0}
SKIP = format_nb201(["skip_connect"] * 6)
CONV3 = format_nb201(["nor_conv_3x3"] * 6)
#: A steady 5 ms timing (spread 4%), the fake timings' default.
STEADY_5MS = Timing(5.0, 4.9, 5.1, (5.0,))


def invoke(target: str, *args: str):
    result = CliRunner().invoke(app, ["--target", target, "--timeout", "120", *args])
    return result


def test_measure_registers_suggests_uploads_and_scores(target: str, tmp_path: Path) -> None:
    holdout_csv = tmp_path / "holdout.csv"
    args = ["measure", "--device", "here", "--register", "--suggested", "3", "--holdout", "5"]
    result = invoke(
        target,
        *args,
        *FAST_FLAGS,
        "--save-holdout",
        str(holdout_csv),
        "--repeatability",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["registered"] is True
    (only_round,) = summary["rounds"]
    assert only_round["measured"] == only_round["accepted"] == 3
    assert only_round["min_ms"] > 0
    scores = summary["evaluation"]
    assert scores["n"] == 5
    assert 0 <= scores["coverage90"] <= 1 and math.isfinite(scores["spearman"])
    assert len(summary["repeatability"]["medians_ms"]) == 2
    header, *rows = holdout_csv.read_text().splitlines()
    assert tuple(header.split(",")) == HOLDOUT_COLUMNS and len(rows) == 5
    # report (and add: the same reader) takes the file as it is, the spread column ignored.
    report = ["report", "-d", "here", "--measured", str(holdout_csv), "--json"]
    reported = invoke(target, *report, "--out", str(tmp_path / "report.svg"))
    assert reported.exit_code == 0, reported.output
    assert json.loads(reported.stdout)["n"] == 5
    check = summary["speed_check"]  # every uploaded arch timed again (3, the default)
    assert len(check["archs"]) == 3 and min(check["now_ms"]) > 0
    assert math.isfinite(check["drift"]) and isinstance(check["steady"], bool)

    with LatencyClient(target) as latency:
        device = latency.device("here")
    assert device.measurement_count == 3
    references = [k for k in device.descriptor if k.startswith(REFERENCE_LATENCY_PREFIX)]
    assert len(references) == len(HELP_REFERENCE_ARCHS)
    assert device.descriptor["cpu.logical_cores"] >= 1


def test_measure_given_archs_on_an_existing_device_prints_a_summary(
    target: str, tmp_path: Path
) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(
        "# two cells\n"
        + format_nb201(["skip_connect"] * 6)
        + "\n"
        + format_nb201(["none"] * 6)
        + "\n"
    )
    with LatencyClient(target) as latency:
        latency.register_device("mine")
    result = invoke(target, "measure", "-d", "mine", "--archs", str(archs), *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert "round 1: measured 2 archs" in result.stdout
    assert "held-out" not in result.stdout
    # Not a terminal: each line whole (it was wrapped at 80 columns, mid-sentence).
    whole = r"^round 1: measured 2 archs \(.*\); device now has \d+ measurements$"
    assert re.search(whole, result.stdout, re.MULTILINE), result.stdout


def test_scoring_on_measured_archs_warns_that_it_flatters(target: str, tmp_path: Path) -> None:
    """Before, --eval-archs naming archs the device was conditioned on (uploaded in this run or
    before) printed a held-out score without a word, where ``client report`` warns."""
    skip, none = format_nb201(["skip_connect"] * 6), format_nb201(["none"] * 6)
    archs = tmp_path / "archs.txt"
    archs.write_text(f"{skip}\n")
    scored = tmp_path / "scored.txt"
    scored.write_text(f"{skip}\n{none}\n")
    with LatencyClient(target) as latency:
        latency.register_device("flattered")
    args = ["measure", "-d", "flattered", "--archs", str(archs), "--eval-archs", str(scored)]
    result = invoke(target, *args, "--recheck", "0", *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert "warning: 1 of the 2 archs is among flattered's measurements" in result.stdout
    summary = json.loads(invoke(target, *args, "--recheck", "0", "--json", *FAST_FLAGS).stdout)
    assert summary["evaluation"]["conditioned"] == 1
    held_out = ["measure", "-d", "flattered", "--eval-archs", str(archs), "--suggested", "0"]
    assert "warning" in invoke(target, *held_out, *FAST_FLAGS).stdout  # uploaded before


def measure_listed(
    target: str, folder: Path, device: str, archs: list[str], *extra: str
) -> tuple[list[str], Any]:
    """``measure --archs FILE --json`` of ``archs`` on ``device``, registered first: the
    arguments (less FAST_FLAGS and ``extra``) and the result."""
    listed = folder / "archs.txt"
    listed.write_text("".join(f"{arch}\n" for arch in archs))
    with LatencyClient(target) as latency:
        latency.register_device(device)
    args = ["measure", "-d", device, "--archs", str(listed), "--json"]
    return args, invoke(target, *args, *FAST_FLAGS, *extra)


def test_each_arch_is_uploaded_at_its_quickest_pass(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Timed once, an arch a slowdown hit was uploaded at twice its latency; the first pass's
    noisy series count no more once a later pass timed the arch quietly."""
    passes: dict[str, int] = {}

    def slowed_first(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
        passes[arch] = passes.get(arch, 0) + 1
        if passes[arch] == 1:
            return Timing(20.0, 10.0, 30.0, (20.0,), noisy=True)
        return Timing(10.0, 9.9, 10.1, (10.0,))

    monkeypatch.setattr(timing, "time_arch", slowed_first)
    args, result = measure_listed(target, tmp_path, "two-passes", [SKIP, CONV3], "--passes", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["settings"]["passes"] == 2 and passes == {SKIP: 2, CONV3: 2}
    assert summary["rounds"][0]["noisy"] == 0 and summary["rounds"][0]["max_ms"] == 10.0
    with LatencyClient(target) as latency:
        assert sorted(ms for _, ms in latency.measurements("two-passes")) == [10.0, 10.0]
    refused = invoke(target, *args, "--passes", "0")
    assert refused.exit_code == 2 and "--passes" in refused.output


def test_scoring_on_reference_archs_warns_that_it_flatters(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Reference latencies condition the device's predictions like measurements, but only
    measured archs were counted as conditioned on: --eval-archs naming the device's reference
    archs, registered before or in this run, printed a held-out score without a warning."""

    def quick_time_arch(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
        return Timing(10.0, 9.9, 10.1, (10.0,))

    monkeypatch.setattr(timing, "time_arch", quick_time_arch)
    none = format_nb201(["none"] * 6)
    scored = tmp_path / "scored.txt"
    scored.write_text(f"{HELP_REFERENCE_ARCHS[0]}\n{none}\n")
    with LatencyClient(target) as latency:
        latency.register_device(
            "referenced", descriptor={f"{REFERENCE_LATENCY_PREFIX}{HELP_REFERENCE_ARCHS[0]}": 5.0}
        )
    for device, register in (("referenced", []), ("referenced-now", ["--register"])):
        args = ["measure", "-d", device, *register, "--eval-archs", str(scored), "-n", "0"]
        result = invoke(target, *args, "--json", *FAST_FLAGS)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["evaluation"]["conditioned"] == 1, device
    text = invoke(target, *args, *FAST_FLAGS)
    assert "warning: 1 of the 2 archs is among referenced-now's measurements or" in " ".join(
        text.stdout.split()
    )


def test_an_arch_listed_twice_is_timed_once_and_the_bars_end_full(
    target: str, tmp_path: Path
) -> None:
    """Before, the bars counted lines, not archs: a repeated arch is timed once, so they
    ended at "2/3" as if the run had stopped short."""
    archs = tmp_path / "archs.txt"
    light, other = format_nb201(["none"] * 6), format_nb201(["skip_connect"] + ["none"] * 5)
    archs.write_text(f"{light}\n{light}\n{other}\n")
    args = ["measure", "-d", "pi4-twice", "--register", "--archs", str(archs)]
    result = invoke(target, *args, "--eval-archs", str(archs), "--recheck", "0", *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert "round 1: measured 2 archs" in result.stdout
    rounds = [line for line in result.stderr.splitlines() if line.startswith(("round", "held"))]
    assert len(rounds) == 2 and all("2/2" in line for line in rounds), result.stderr


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("pi4", ", as an alias of device 'raspi4'"),
        # It offered to add to the table without --register, which the README advises against.
        (
            "raspi4",
            " by a source device of the service's model (a whole NB201 table): choose a"
            " new name for this machine (its latencies would join that table)",
        ),
    ],
)
def test_register_refuses_a_name_taken_by_another_s_device_before_timing(
    target: str, monkeypatch: pytest.MonkeyPatch, name: str, fragment: str
) -> None:
    """`measure -d pi4 --register` kept raspi4 (pi4 is its alias) and timed on: this
    machine's latencies joined a HELP table, refitted at the next start (a review,
    2026-12-06)."""

    refuse_timing(monkeypatch, "the name was checked")
    with LatencyClient(target) as latency:
        before = latency.device("raspi4").measurement_count
    result = invoke(target, "measure", "-d", name, "--register", "-n", "1", *FAST_FLAGS)
    assert_one_line_error(result, f"--register: {name!r} is already taken{fragment}")
    with LatencyClient(target) as latency:
        assert latency.device("raspi4").measurement_count == before


def test_register_keeps_a_device_whose_name_was_typed_decomposed() -> None:
    """The store keeps names composed (NFC): "café" typed decomposed was taken for an alias of
    another device, its own (a review, 2026-12-06)."""
    import unicodedata

    from client.api import DeviceInfo
    from client.measure.command import _check_registered_as_asked

    typed = unicodedata.normalize("NFD", "café")
    _check_registered_as_asked(DeviceInfo(unicodedata.normalize("NFC", "café")), typed)


def test_a_malformed_arch_file_is_one_error_line(target: str, tmp_path: Path) -> None:
    archs = tmp_path / "bad.txt"
    archs.write_text("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    result = invoke(target, "measure", "-d", "pi4", "--archs", str(archs), *FAST_FLAGS)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {archs} line 1: ") and "'conv~0'" in result.output


def test_a_bad_arch_is_named_by_its_line_in_the_file(target: str, tmp_path: Path) -> None:
    """Blank lines and comments count as lines: the message points where an editor does."""
    archs = tmp_path / "mine.txt"
    good = format_nb201(["skip_connect"] * 6)
    archs.write_text(f"# my archs\n{good}\n\n{good.replace('skip_connect', 'skip', 1)}\n")
    result = invoke(target, "measure", "-d", "pi4", "--archs", str(archs), *FAST_FLAGS)
    assert result.exit_code == 1 and result.output.startswith(f"error: {archs} line 4: ")


@pytest.mark.parametrize(
    ("space", "line", "hint"),
    [
        ([], ",".join(["k3_e1"] * 22), "(an arch of fbnet: give --space fbnet)"),
        (["--space", "fbnet"], SKIP, "(an arch of nasbench201: give --space nasbench201)"),
    ],
)
def test_an_arch_of_the_other_space_says_which_space_to_give(
    target: str, tmp_path: Path, space: list[str], line: str, hint: str
) -> None:
    """An FBNet file without --space fbnet was "expected 3 '+'-separated groups in NB201
    arch", where add, predict and report tell the space from each arch (a review)."""
    archs = tmp_path / "mine.txt"
    archs.write_text(f"{line}\n")
    result = invoke(target, "measure", "-d", "pi4", "--archs", str(archs), *space, *FAST_FLAGS)
    assert_one_line_error(result, f"{archs} line 1: ", hint)


def test_measure_against_a_reference_uploads_paired_timings(target: str, tmp_path: Path) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(format_nb201(["nor_conv_3x3"] * 6) + "\n")
    skip = format_nb201(["skip_connect"] * 6)
    args = ["measure", "-d", "paired", "--register", "--archs", str(archs), "--json"]
    result = invoke(target, *args, *FAST_FLAGS, "--reference", skip)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["settings"]["reference"] == skip
    assert summary["rounds"][0]["accepted"] == 1 and summary["rounds"][0]["min_ms"] > 0


@pytest.mark.parametrize("reference", ["|conv~0|", "", "nor_conv_1x1"])
def test_a_malformed_reference_is_refused_before_timing(target: str, reference: str) -> None:
    """Before, an empty --reference passed the check and failed only when the first network
    was timed, as "an FBNet arch has 22 blocks, got 0", naming no option; then it named the
    option but still called '' (or a word) an FBNet arch, measuring NB201. A misused option
    exits 2, as the README says (it exited 1)."""
    result = invoke(target, "measure", "-d", "pi4", "--reference", reference, *FAST_FLAGS)
    assert result.exit_code == 2
    assert result.output.startswith("error: Invalid value for --reference: ")
    assert "FBNet" not in result.output and "NB201 arch" in result.output


def test_an_fbnet_reference_is_checked_as_fbnet(target: str) -> None:
    result = invoke(target, "measure", "-d", "pi4", "--reference", "k3_e1,skip", *FAST_FLAGS)
    assert result.exit_code == 2 and "an FBNet arch has 22 blocks, got 2" in result.output


def test_loop_evaluation_scores_out_of_sample_archs(latency: LatencyClient) -> None:
    latency.register_device("fresh")
    picks = loop.suggest(latency, "fresh", 2)
    report = loop.measure_round(latency, "fresh", picks, "nasbench201", TINY)
    assert report.result.accepted == 2
    held_out = loop.holdout_archs(4, exclude=set(picks))
    assert not set(held_out) & (set(picks) | set(HELP_REFERENCE_ARCHS))
    timings = loop.measure_archs(held_out, "nasbench201", TINY)
    evaluation = loop.score_timings(latency, "fresh", timings, "nasbench201")
    assert evaluation.scores.n == 4
    assert all(t.median_ms > 0 for t in evaluation.timings.values())


def test_register_on_a_registered_device_times_no_reference_archs(
    target: str, tmp_path: Path
) -> None:
    """The device keeps its descriptor, yet an empty "reference archs 0/10" bar was shown."""
    with LatencyClient(target) as latency:
        latency.register_device("kept")
    archs = tmp_path / "archs.txt"
    archs.write_text(format_nb201(["skip_connect"] * 6) + "\n")
    args = ["measure", "-d", "kept", "--register", "--archs", str(archs), *FAST_FLAGS, "--json"]
    result = invoke(target, *args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["registered"] is False
    assert "reference archs" not in result.output


def test_registering_a_taken_name_keeps_the_device(latency: LatencyClient) -> None:
    settings = TimingSettings(warmup=0, runs=1, attempts=1)
    assert loop.register(latency, "pi4", settings) is None


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--space", "vector"], "--space"),
        (["--space", "cifar"], "--space"),
        (["--strategy", "bogus"], "'bogus' is not one of 'active', 'greedy', 'random'"),
        (["--clock", "bogus"], "for --clock: clock must be one of wall, cpu"),
        # It named no option (a review, 2026-12-06).
        (["--clock", "cpu", "--threads", "2"], "for --clock: the cpu clock needs threads=1"),
        (["--suggested", "20000"], "at most 15625 (the NB201 space's archs)"),
        (["--holdout", "20000"], "at most 15615 (the NB201 archs held-out draws offer)"),
        # Accepted before, though the draw avoids HELP's 10 reference archs: it failed after
        # the reference archs and the round were timed and uploaded.
        (["--holdout", "15620"], "at most 15615 (the NB201 archs held-out draws offer)"),
        (["--space", "fbnet", "--suggested", "2001"], "at most 2000 (the FBNet pool offered)"),
        (["--repeatability", "1"], "at least 2 timings to compare, or 0"),
        # The second read found stdin empty and blamed --eval-archs (a review, 2026-12-06).
        (["--archs", "-", "--eval-archs", "-"], "stdin can feed one of --archs - and"),
        (["--archs", "/dev/stdin", "--eval-archs", "-"], "stdin can feed one of --archs - and"),
        (["--seed", "-1"], "--seed"),
        # Beyond the service's int64 seed: refused only by the first suggestion, once the
        # reference archs were timed and the device registered ("seed must be ...", exit 1).
        (["--seed", str(2**63)], "'--seed'"),
        # Beyond the C int torch takes: a ValueError traceback at the first network timed.
        (["--threads", str(2**31)], "'--threads'"),
        # An input whose size overflows torch's int64 byte count: a RuntimeError traceback,
        # where a batch merely too large for the memory is a one-line error.
        (["--batch-size", str(2**62)], "'--batch-size'"),
        (["--suggested", "0", "--rounds", "3", "--holdout", "2"], "rounds of suggestions need"),
        # --rounds 2 too (only 3 was tested): without suggestions no round would run.
        (["--suggested", "0", "--rounds", "2", "--holdout", "2"], "rounds of suggestions need"),
        # Either made no series noisy, ever. Click's range check passed NaN (it compares false
        # with the bound; typer 0.29's refuses it), and infinity passes both.
        (["--max-spread", "nan"], "'--max-spread'"),
        (["--max-spread", "inf"], "'--max-spread': inf is not a finite number"),
        # Refused by the library after parsing, as "timeout_s must be a number of seconds".
        (["--wait", "nan"], "'--wait'"),
        (["--wait", "inf"], "'--wait': inf is not a finite number"),
        # float() took "1_0" as 10 (a review, 2026-12-06); the range outlived its parser.
        (["--max-spread", "1_0"], "'--max-spread': '1_0' is no number"),
        (["--max-spread", "0"], "'--max-spread': 0 is not in the range x>=0.001"),
        (["--wait", "-1"], "'--wait': -1 is not in the range x>=0"),
    ],
)
def test_misused_options_are_usage_errors_before_anything_is_registered(
    target: str, option: list[str], fragment: str
) -> None:
    """Before, --strategy bogus timed the reference archs and registered the device, then
    failed on the first suggestion; a rerun found the device "already registered"."""
    args = ["measure", "-d", "half-set-up", "--register", *FAST_FLAGS]
    result = invoke(target, *args, *option)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    with LatencyClient(target) as latency:
        assert "half-set-up" not in {d.name for d in latency.devices()}


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("padded ", "'padded ' has leading or trailing whitespace"),
        ("a\x1bb", "has a control or format character"),
        ("n" * 201, "longer than 200 characters"),
    ],
    ids=["whitespace", "escape", "too-long"],
)
def test_a_name_the_service_refuses_is_refused_before_timing(
    target: str, monkeypatch: pytest.MonkeyPatch, name: str, fragment: str
) -> None:
    """Before, --register timed the ten reference archs and only then did RegisterDevice
    refuse the name."""

    timed: list[str] = []

    def counted_time_arch(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
        timed.append(arch)
        return Timing(10.0, 9.9, 10.1, (10.0,))

    monkeypatch.setattr(timing, "time_arch", counted_time_arch)
    result = invoke(target, "measure", "-d", name, "--register", "-n", "0", *FAST_FLAGS)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "--device" in result.output
    assert timed == []


def test_a_holdout_the_space_has_no_room_for_is_refused_before_timing(target: str) -> None:
    """Before, the held-out draw, made after the rounds, refused it only once the suggestions
    had been timed and uploaded."""
    with LatencyClient(target) as latency:
        latency.register_device("roomless")
    args = ["measure", "-d", "roomless", "--suggested", "3", "--holdout", "15613", *FAST_FLAGS]
    result = invoke(target, *args)
    assert_one_line_error(result, "--holdout 15613: only 15612 NB201 archs are left")
    with LatencyClient(target) as latency:
        assert latency.device("roomless").measurement_count == 0


#: SKIP, uploaded at 500 ms, which its device's other measurements put at 5 ms.
_SKIP_SLIP = SurprisingMeasurement(SKIP, "nasbench201", 500.0, 5.0, 4.0, 6.0, 1e-6)


def _timed_at_5_ms(archs: list[str], *args: object) -> dict[str, Timing]:
    """A stand-in for time_archs and measure_archs: every arch at 5 ms."""
    return {arch: Timing(5.0, 5.0, 5.0, (5.0,)) for arch in archs}


def test_timings_a_re_timing_failed_to_upload_are_saved_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The re-timings of a surprising arch go through the same upload as a round's, and its
    command carries the options that reach the run's server."""
    from client.api import AddResult
    from client.errors import ResourceExhaustedError

    class Refusing:
        def add_measurements(self, device: str, pairs: list, **kwargs: object) -> None:
            raise ResourceExhaustedError("2 measurements exceed the limit")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loop, "time_archs", _timed_at_5_ms)
    result = AddResult(1, 1, "v-1", surprising=(_SKIP_SLIP,))
    with pytest.raises(ResourceExhaustedError) as refused:
        loop.retime_surprising(Refusing(), "d", result, 2, "nasbench201", TINY, ("--tls",))  # type: ignore[arg-type]
    (saved,) = tmp_path.glob("measured-*.csv")
    note = refused.value.__notes__[0]
    assert f"the timings it carried (2 measurements) are saved in {saved}" in note
    assert note.endswith(f": client --tls add --device d --file {saved} uploads them")
    assert saved.read_text() == f"arch,latency_ms\n{SKIP},5.0\n{SKIP},5.0\n"


def test_a_rounds_re_timings_that_failed_to_upload_name_the_runs_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The round passes its connection options on to the re-timings' upload as to its own."""
    from client.api import AddResult
    from client.errors import ResourceExhaustedError

    class RefusingTheSecond:
        def add_measurements(self, device: str, pairs: list, **kwargs: object) -> AddResult:
            if len(pairs) == 1:  # the round's upload; then its re-timings
                return AddResult(1, 1, "v-1", surprising=(_SKIP_SLIP,))
            raise ResourceExhaustedError("2 measurements exceed the limit")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loop, "time_archs", _timed_at_5_ms)
    monkeypatch.setattr(loop, "measure_archs", _timed_at_5_ms)
    with pytest.raises(ResourceExhaustedError) as refused:
        loop.measure_round(
            RefusingTheSecond(),  # type: ignore[arg-type]
            "d",
            [SKIP],
            "nasbench201",
            TINY,
            retime=2,
            connection=("--tls",),
        )
    assert ": client --tls add --device d --file " in refused.value.__notes__[0]


def test_a_holdout_a_new_device_has_no_room_for_is_refused_before_registering(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was refused once the reference archs had been timed and the device registered, which
    stayed registered with no measurement (a review, 2026-12-06)."""

    refuse_timing(monkeypatch, "the held-out room was checked")
    args = ["measure", "-d", "roomless-new", "--register", "-n", "10", "--holdout", "15610"]
    result = invoke(target, *args, *FAST_FLAGS)
    assert_one_line_error(result, "--holdout 15610: only 15605 NB201 archs are left")
    with LatencyClient(target) as latency:
        assert "roomless-new" not in {device.name for device in latency.devices()}


def _measure_failing_its_upload(
    target: str, monkeypatch: pytest.MonkeyPatch, folder: Path, device: str, error: Exception
) -> tuple[str, Path]:
    """``measure`` of two archs on a new ``device`` whose upload raises ``error`` (the empty
    one that checks the token passes), run in ``folder``: the error line, and the CSV file
    the timings were saved in."""

    def failed(self: LatencyClient, device: str, pairs: list, **kwargs: object) -> None:
        if pairs:
            raise error

    monkeypatch.chdir(folder)
    monkeypatch.setattr(LatencyClient, "add_measurements", failed)
    with LatencyClient(target) as latency:
        latency.register_device(device)
    listed = folder / "archs.txt"
    listed.write_text(f"{SKIP}\n{CONV3}\n")
    result = invoke(target, "measure", "-d", device, "--archs", str(listed), *FAST_FLAGS)
    assert result.exit_code == 1, result.output
    (saved,) = folder.glob("measured-*.csv")
    monkeypatch.undo()
    return result.stderr.splitlines()[-1], saved


def test_timings_an_upload_failed_to_store_are_saved_for_client_add(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A refused or lost upload lost the round's timings, and the error's hint to repeat it
    with 'client add' had no file to give it (a review, 2026-12-06)."""
    from client.errors import ResourceExhaustedError

    refused = ResourceExhaustedError("server busy")
    refused.request_id = "abc-123"  # as add_measurements says: refused, so not carried out
    error, saved = _measure_failing_its_upload(
        target, monkeypatch, tmp_path, "refused-upload", refused
    )
    assert error.startswith("error: server busy")
    assert error.endswith(  # no --request-id: the id of a refused upload is no use repeated
        f"; the timings it carried (2 measurements) are saved in {saved}: client --target"
        f" {target} add --device refused-upload --file {saved} uploads them"
    )
    added = invoke(target, "add", "-d", "refused-upload", "--file", str(saved))
    assert added.exit_code == 0, added.output
    with LatencyClient(target) as latency:
        assert {arch for arch, _ in latency.measurements("refused-upload")} == {SKIP, CONV3}


def test_timings_of_an_upload_over_the_servers_limit_are_saved_to_be_split(
    store_path: Path, model_cache: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The saved file's command repeated the refused upload whole, under its request id, which
    the service then refused for each part of a split file as another request's (a review)."""
    running = start_server(store_path, model_cache, max_batch=1)
    monkeypatch.chdir(tmp_path)
    listed = tmp_path / "archs.txt"
    listed.write_text(f"{SKIP}\n{CONV3}\n")
    try:
        target = f"127.0.0.1:{running.port}"
        with LatencyClient(target) as latency:
            latency.register_device("tight")
        result = invoke(target, "measure", "-d", "tight", "--archs", str(listed), *FAST_FLAGS)
        assert result.exit_code == 1, result.output
        (saved,) = tmp_path.glob("measured-*.csv")
        error = result.stderr.splitlines()[-1]
        assert error.startswith("error: 2 measurements in one request exceed the limit of 1")
        assert error.endswith(
            f"are saved in {saved}: split it into files of at most 1 row, and client --target"
            f" {target} add --device tight --file PART uploads each"
        )
        header, *rows = saved.read_text().splitlines()
        for number, row in enumerate(rows):
            part = tmp_path / f"part{number}.csv"
            part.write_text(f"{header}\n{row}\n")
            added = invoke(target, "add", "-d", "tight", "--file", str(part))
            assert added.exit_code == 0, added.output
        with LatencyClient(target) as latency:
            assert {arch for arch, _ in latency.measurements("tight")} == {SKIP, CONV3}
    finally:
        running.stop(grace=0)


def test_timings_of_an_upload_whose_answer_was_lost_are_saved_with_its_request_id(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The saved file's command had no --request-id: the lost upload may have been stored, and
    the command stored it twice; a device name with a space was not quoted (a review)."""
    from client.errors import DeadlineExceededError

    lost = DeadlineExceededError("Deadline Exceeded")
    lost.request_id, lost.maybe_carried_out = "abc-123", True  # as add_measurements says
    error, saved = _measure_failing_its_upload(target, monkeypatch, tmp_path, "my laptop", lost)
    assert "(no answer within --timeout); the upload may have been stored all the same" in error
    assert error.endswith(
        f"[DEADLINE_EXCEEDED]; the timings it carried (2 measurements) are saved in {saved}: client"
        f" --target {target} add --device 'my laptop' --file {saved} --request-id abc-123"
        " uploads them"
    )


def test_a_held_out_file_that_cannot_be_written_leaves_the_scores_printed(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Its folder removed during the run (or a full disk): the error named a hidden temporary
    file, and the scores, already computed, were not printed (a review, 2026-12-06)."""
    import errno

    def full_disk(path: Path, evaluation: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(command, "_write_csv", full_disk)
    with LatencyClient(target) as latency:
        latency.register_device("unsaved")
        latency.add_measurements("unsaved", [(SKIP, 2.0), (CONV3, 9.0)])
    saved = tmp_path / "held.csv"
    args = ["measure", "-d", "unsaved", "-n", "0", "--holdout", "2", "--save-holdout", str(saved)]
    result = invoke(target, *args, "--recheck", "0", *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert "held-out 2 archs: Spearman" in result.stdout
    warning = f"warning: --save-holdout {saved}: No space left on device; the held-out timings"
    assert warning in " ".join(result.stderr.split())


def test_holdout_with_eval_archs_is_a_usage_error(target: str, tmp_path: Path) -> None:
    """Before, --holdout N was silently ignored beside --eval-archs: the score was on the
    file's archs alone, and the summary did not say so."""
    scored = tmp_path / "scored.txt"
    scored.write_text(format_nb201(["none"] * 6) + "\n")
    args = ["measure", "-d", "pi4", "-n", "0", "--holdout", "5", "--eval-archs", str(scored)]
    result = invoke(target, *args, *FAST_FLAGS)
    assert result.exit_code == 2, result.output
    assert "choose one of --holdout N and --eval-archs FILE" in result.output


def test_nothing_to_do_is_a_usage_error(target: str) -> None:
    result = invoke(target, "measure", "-d", "pi4", "--suggested", "0", *FAST_FLAGS)
    assert result.exit_code == 2 and "nothing to do" in result.output


def test_an_arch_file_without_archs_is_an_error_not_a_default_round(
    target: str, tmp_path: Path
) -> None:
    """Before, an empty --archs file fell back to 10 suggestions, timed and uploaded them."""
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing yet\n")
    result = invoke(target, "measure", "-d", "pi4", "--archs", str(empty), *FAST_FLAGS)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: --archs {empty}: no archs in it")


@pytest.mark.parametrize(
    ("place", "message"),
    [
        # Before, the path was opened after the held-out set was timed, and the scores were lost.
        ("nodir/holdout.csv", "no folder {tmp}/nodir"),
        # Before, a folder passed the check, and opening it after the held-out set was timed
        # failed ("Is a directory"): the uploads were made and the scores lost.
        ("", "{tmp} is a folder"),
    ],
)
def test_an_unwritable_holdout_file_is_refused_before_timing(
    target: str, tmp_path: Path, place: str, message: str
) -> None:
    with LatencyClient(target) as latency:
        before = latency.device("pi4").measurement_count
    args = ["measure", "-d", "pi4", "--holdout", "2", "--save-holdout", str(tmp_path / place)]
    result = invoke(target, *args, *FAST_FLAGS)
    assert result.exit_code == 2 and message.format(tmp=tmp_path) in result.output
    with LatencyClient(target) as latency:
        assert latency.device("pi4").measurement_count == before


def measure_into_stdout_file(target: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    """``client measure ARGS`` in a process of its own, stdout redirected to ``out``."""
    env = {**os.environ, "LATENCY_TARGET": target, "LATENCY_TIMEOUT": "120"}
    with out.open("w") as stdout:
        return subprocess.run(
            [sys.executable, "-m", "client", "measure", *args, *FAST_FLAGS],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=300,
        )


def test_holdout_timings_saved_to_stdout_are_all_that_stdout_holds(
    target: str, tmp_path: Path
) -> None:
    """``--save-holdout /dev/stdout > saved.csv`` put the summary's lines in the CSV (a review,
    2026-12-06): they go to stderr, and with --json, which prints on stdout too, it is refused."""
    with LatencyClient(target) as latency:
        latency.register_device("piped")
        latency.add_measurements("piped", [(SKIP, 2.0), (CONV3, 9.0)])
    args = ["-d", "piped", "-n", "0", "--holdout", "2", "--save-holdout", "/dev/stdout"]
    saved = tmp_path / "saved.csv"
    done = measure_into_stdout_file(target, saved, *args)
    assert done.returncode == 0, done.stderr
    lines = saved.read_text().splitlines()
    assert lines[0] == ",".join(HOLDOUT_COLUMNS) and len(lines) == 3
    assert "held-out 2 archs: Spearman" in done.stderr
    refused = measure_into_stdout_file(target, tmp_path / "both.out", *args, "--json")
    assert refused.returncode == 2 and "is stdout, where --json prints" in refused.stderr
    assert (tmp_path / "both.out").read_text() == ""


def test_other_settings_than_the_devices_are_refused_before_timing(target: str) -> None:
    """Before, a batch of 8 joined a device measured at batch 1: the held-out MAPE went from
    5.6% to 59%."""
    with LatencyClient(target) as latency:
        latency.register_device("batch1", descriptor=RECORDED_SETTINGS)
    args = ["measure", "-d", "batch1", "--suggested", "2", "--runs", "3", "--warmup", "1"]
    result = invoke(target, *args, "--batch-size", "8", "--threads", "2")
    assert result.exit_code == 1, result.output
    # Named as the options that set them: the descriptor's keys meant nothing to the user.
    assert "measured with --batch-size 1 --threads 1" in result.output
    assert "these settings give --batch-size 8 --threads 2" in result.output
    assert "round 1" not in result.output
    with LatencyClient(target) as latency:
        assert latency.device("batch1").measurement_count == 0


@pytest.mark.parametrize("threads, warned", [("2", False), ("3", True)])
def test_more_threads_than_usable_cpus_is_warned_before_timing(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: str, warned: bool
) -> None:
    monkeypatch.setattr(command, "usable_cpus", lambda: 2)
    archs = tmp_path / "archs.txt"
    archs.write_text(SKIP + "\n")
    with LatencyClient(target) as latency:
        latency.register_device("busy")
    flags = ["--runs", "3", "--warmup", "1", "--threads", threads]
    result = invoke(target, "measure", "-d", "busy", "--archs", str(archs), *flags)
    assert result.exit_code == 0, result.output
    warning = f"warning: --threads {threads} on 2 CPUs this process may use"
    assert (warning in result.stderr) is warned
    assert result.stderr.startswith(warning) is warned  # before anything is timed


def test_another_clock_is_named_by_its_option(target: str) -> None:
    """Before: "measured with cpu_clock 0, these settings give cpu_clock 1"."""
    with LatencyClient(target) as latency:
        latency.register_device("wallclock", descriptor=RECORDED_SETTINGS)
    args = ["measure", "-d", "wallclock", "--suggested", "2", "--runs", "3", "--warmup", "1"]
    result = invoke(target, *args, "--clock", "cpu")
    assert result.exit_code == 1, result.output
    assert "measured with --clock wall, these settings give --clock cpu" in result.output


def reference_timed_at(monkeypatch: pytest.MonkeyPatch, ms: float) -> None:
    """A new process in which the reference, timed alone, takes ``ms``, and every arch paired
    with it runs twice as long as it: uploads are twice the reference latency scaled by."""

    def fake_time_network(model, example, settings, reference_model=None, reference_ms=0.0):
        latency = ms if reference_model is None else 2 * reference_ms
        return Timing(latency, latency, latency, (latency,))

    monkeypatch.setattr(timing, "time_network", fake_time_network)
    monkeypatch.setattr(timing, "_REFERENCES", {})


def test_every_session_scales_by_the_reference_latency_recorded_at_registration(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each session timed the reference anew and scaled all it uploaded by that timing: a
    moment of load at one session's start gave a held-out bias of -38%, the next +26%."""
    archs = tmp_path / "archs.txt"
    archs.write_text(CONV3 + "\n")
    args = ["measure", "-d", "paced", "--archs", str(archs), "--reference", SKIP, "--json"]
    reference_timed_at(monkeypatch, 4.0)
    first = invoke(target, *args, *FAST_FLAGS, "--register")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["rounds"][0]["min_ms"] == 8.0
    with LatencyClient(target) as latency:
        device = latency.device("paced")
    assert device.descriptor["measure.reference"] == 1.0
    assert device.descriptor[f"measure.reference_ms:{SKIP}"] == 4.0
    assert device.reference_archs == set(HELP_REFERENCE_ARCHS)  # a plain value, not latency:
    reference_timed_at(monkeypatch, 6.0)  # the next session starts at a busy moment
    second = invoke(target, *args, *FAST_FLAGS)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["rounds"][0]["min_ms"] == 8.0


def test_a_new_device_is_timed_against_the_default_reference_and_keeps_it(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, timings were alone by default: runs on a VM whose speed stepped for minutes
    ranked held-out archs at Spearman 0.72. Later sessions need not type the reference."""
    archs = tmp_path / "archs.txt"
    archs.write_text(CONV3 + "\n")
    args = ["measure", "-d", "paired", "--archs", str(archs), "--json", *FAST_FLAGS]
    reference_timed_at(monkeypatch, 4.0)
    first = invoke(target, *args, "--register")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["rounds"][0]["min_ms"] == 8.0
    assert f"timed against the reference {DEFAULT_REFERENCE} (4.000 ms" in first.stderr
    with LatencyClient(target) as latency:
        descriptor = latency.device("paired").descriptor
    assert descriptor[f"measure.reference_ms:{DEFAULT_REFERENCE}"] == 4.0
    reference_timed_at(monkeypatch, 6.0)
    second = invoke(target, *args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["settings"]["reference"] == DEFAULT_REFERENCE
    assert json.loads(second.stdout)["rounds"][0]["min_ms"] == 8.0
    alone = invoke(target, *args, "--reference", "none")
    assert alone.exit_code == 1
    assert "these settings give no --reference" in alone.output


def test_an_fbnet_reference_given_by_block_indices_is_named_by_its_blocks(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later sessions printed the recorded indices ("6,1,1,7,0,..."), where its errors and
    the option name the blocks (a user review)."""
    archs = tmp_path / "archs.txt"
    archs.write_text(CONV3 + "\n")
    indices = ",".join(["6"] + ["0"] * 21)
    blocks = ",".join(["k5_e3"] + ["k3_e1"] * 21)
    reference_timed_at(monkeypatch, 4.0)
    args = ["measure", "-d", "fb-referenced", "--archs", str(archs), *FAST_FLAGS]
    first = invoke(target, *args, "--register", "--reference", indices)
    assert first.exit_code == 0, first.output
    second = invoke(target, *args)
    assert second.exit_code == 0, second.output
    assert f"timed against the reference {blocks} (4.000 ms" in second.stdout


def test_a_repeatability_check_of_no_device_says_it_was_paired(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its summary was made before the default reference was settled: it said no reference,
    and the unsteady warning suggested one."""
    reference_timed_at(monkeypatch, 4.0)
    args = ["measure", "-d", "nowhere", "-n", "0", "--repeatability", "2", "--json", *FAST_FLAGS]
    result = invoke(target, *args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["reference"] == DEFAULT_REFERENCE
    assert f"timed against the reference {DEFAULT_REFERENCE}" in result.stderr


def test_reference_none_registers_a_device_timed_alone_and_keeps_it(
    target: str, tmp_path: Path
) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(SKIP + "\n")
    args = ["measure", "-d", "alone", "--archs", str(archs), "--json", *FAST_FLAGS]
    first = invoke(target, *args, "--register", "--reference", "none")
    assert first.exit_code == 0, first.output
    assert "timed against" not in first.stderr
    with LatencyClient(target) as latency:
        descriptor = latency.device("alone").descriptor
    assert descriptor["measure.reference"] == 0.0
    assert not any(key.startswith("measure.reference_ms:") for key in descriptor)
    second = invoke(target, *args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["settings"]["reference"] is None
    spelt = invoke(target, *args, "--reference", "None")  # not taken for an NB201 arch
    assert spelt.exit_code == 0, spelt.output


@pytest.mark.parametrize("reference", [(), ("--reference", DEFAULT_REFERENCE)])
def test_a_device_whose_descriptor_names_no_reference_is_sent_to_a_new_name(
    target: str, reference: tuple[str, ...]
) -> None:
    """A hand-made descriptor that says "timed against a reference" without naming it: no
    session can tell the scale, with --reference or without, so the advice is a new device
    rather than an option that is refused in turn."""
    with LatencyClient(target) as latency:
        latency.register_device("unnamed", descriptor=RECORDED_SETTINGS | {"measure.reference": 1})
    result = invoke(target, "measure", "-d", "unnamed", "--suggested", "2", *reference, *FAST_FLAGS)
    assert_one_line_error(result, "does not name")
    assert "--device NEW_NAME --register" in result.output


def registration_lost_to_another_session(
    monkeypatch: pytest.MonkeyPatch, reference: str, reference_ms: float
) -> None:
    """``--register`` finds the device new, but another session registers it first (with
    ``reference`` timed at ``reference_ms``): loop.register answers None, as on
    AlreadyExistsError."""
    recorded = RECORDED_SETTINGS | {
        "measure.reference": 1.0,
        f"measure.reference_ms:{reference}": reference_ms,
    }

    def registered_first_by_another(client: LatencyClient, device: str, *args, **kwargs):
        client.register_device(device, descriptor=recorded)

    monkeypatch.setattr(loop, "register", registered_first_by_another)


def test_a_session_that_lost_the_registration_uses_the_recorded_reference(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first sessions of one new device: the one whose --register lost the race scaled
    its uploads by its own timing of the reference (12 ms here, not 8)."""
    registration_lost_to_another_session(monkeypatch, SKIP, 4.0)
    reference_timed_at(monkeypatch, 6.0)
    archs = tmp_path / "archs.txt"
    archs.write_text(CONV3 + "\n")
    args = ["measure", "-d", "raced", "--register", "--archs", str(archs), "--json"]
    result = invoke(target, *args, "--reference", SKIP, *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rounds"][0]["min_ms"] == 8.0


def test_a_session_that_lost_the_registration_is_held_to_the_devices_settings(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session whose --register lost the race uploaded latencies paced by another
    reference than the device's, unchecked."""
    registration_lost_to_another_session(monkeypatch, CONV3, 4.0)
    reference_timed_at(monkeypatch, 6.0)
    archs = tmp_path / "archs.txt"
    archs.write_text(SKIP + "\n")
    args = ["measure", "-d", "raced-other", "--register", "--archs", str(archs)]
    result = invoke(target, *args, "--reference", SKIP, *FAST_FLAGS)
    assert result.exit_code == 1, result.output
    assert f"measured with --reference '{CONV3}'" in " ".join(result.output.split())
    with LatencyClient(target) as latency:
        assert latency.device("raced-other").measurement_count == 0


# The longest FBNet arch: by block names its key was 218 characters, beyond the service's 200.
FBNET_K5 = ",".join(["k5_e1_g2"] * 22)


@pytest.mark.parametrize(
    ("recorded", "options", "was", "now"),
    [
        ({f"measure.reference_ms:{SKIP}": 4.0}, ["--reference", CONV3], SKIP, f"'{CONV3}'"),
        ({f"measure.reference_ms:{SKIP}": 4.0}, ["--reference", "none"], SKIP, "no --reference"),
        ({}, ["--reference", SKIP], "no --reference", f"'{SKIP}'"),
        (
            {"measure.reference_ms:" + ",".join(["5"] * 22): 4.0},
            ["--reference", ",".join(["skip"] * 22)],
            FBNET_K5,
            "skip,skip",
        ),
    ],
    ids=["another", "none", "one-where-none", "fbnet"],
)
def test_another_reference_than_the_devices_is_refused_before_timing(
    target: str, recorded: dict[str, float], options: list[str], was: str, now: str
) -> None:
    """Latencies paced by another reference, or by none, are on another scale; they joined
    the device unremarked."""
    paced = float(bool(recorded))
    descriptor = RECORDED_SETTINGS | {"measure.reference": paced} | recorded
    with LatencyClient(target) as latency:
        device = latency.register_device("refpaced", descriptor=descriptor)
    assert device.reference_archs == frozenset()  # the reference's key is a plain value
    args = ["measure", "-d", "refpaced", "--suggested", "2", *FAST_FLAGS, *options]
    result = invoke(target, *args)
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    expected = was if was == "no --reference" else f"--reference '{was}'"
    assert f"measured with {expected}, these settings give" in message
    assert now in message.split("these settings give")[1]
    assert "round 1" not in result.output


def test_a_device_registered_before_references_were_recorded_times_its_own(
    target: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No recorded latency to share (the device predates it): the session scales by its own
    timing of the reference, as before, and says so."""
    with LatencyClient(target) as latency:
        latency.register_device("unpaced-before", descriptor=RECORDED_SETTINGS)
    reference_timed_at(monkeypatch, 5.0)
    args = ["measure", "-d", "unpaced-before", "--suggested", "1", "--json", *FAST_FLAGS]
    result = invoke(target, *args, "--reference", SKIP)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rounds"][0]["min_ms"] == 10.0
    assert "no --reference latency recorded" in caplog.text
    assert "scaled apart from other sessions'" in caplog.text


def test_measuring_into_a_source_device_warns_first(target: str, tmp_path: Path) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(format_nb201(["skip_connect"] * 6) + "\n")
    result = invoke(target, "measure", "-d", "pi4", "--archs", str(archs), *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert "warning: raspi4 is a source device of the shared model" in result.output


def test_suggestions_refused_on_a_source_device_do_not_warn_that_they_join_it(
    target: str,
) -> None:
    """raspi4's table is complete, so the service has nothing to suggest; the warning that
    this run's measurements join the table came first all the same, above that error."""
    result = invoke(target, "measure", "-d", "pi4", "--suggested", "2", *FAST_FLAGS)
    assert result.exit_code == 1 and "nothing is left" in result.output
    assert "source device" not in result.output


def test_the_readme_names_the_columns_of_a_saved_holdout() -> None:
    """The README said held_out.csv, as --save-holdout writes it, has the columns
    arch,latency_ms; it has a spread column too."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"`{','.join(HOLDOUT_COLUMNS)}`" in readme


def test_an_unknown_device_is_refused_before_timing(target: str, tmp_path: Path) -> None:
    """Before, --archs were timed and then the upload found no such device."""
    archs = tmp_path / "archs.txt"
    archs.write_text(format_nb201(["nor_conv_3x3"] * 6) + "\n")
    result = invoke(target, "measure", "-d", "nobody", "--archs", str(archs), *FAST_FLAGS)
    line = assert_one_line_error(result, "unknown device 'nobody'", "add --register")
    assert "round 1" not in line


def test_a_missing_token_is_found_before_timing(
    store_path: Path, model_cache: dict, tmp_path: Path
) -> None:
    """Before, the reference archs and --archs were timed and then the first write failed."""
    guarded = start_server(store_path, model_cache, token="measure-test-token-0123456789")
    archs = tmp_path / "archs.txt"
    archs.write_text(format_nb201(["nor_conv_3x3"] * 6) + "\n")
    try:
        result = invoke(
            f"127.0.0.1:{guarded.port}",
            "measure",
            "-d",
            "new",
            "--register",
            "--archs",
            str(archs),
            *FAST_FLAGS,
        )
    finally:
        guarded.stop(grace=0)
    assert result.exit_code == 1 and "token" in result.output
    assert "reference archs" not in result.output and "round 1" not in result.output


def test_held_out_archs_avoid_what_the_device_measured_before(target: str, tmp_path: Path) -> None:
    """Before, only this run's uploads were avoided: archs uploaded earlier were scored as if
    held out (the held-out draw is the same every run)."""
    usual = loop.holdout_archs(6, seed=1)  # what --holdout 6 draws with the default seed
    with LatencyClient(target) as latency:
        latency.register_device("returning")
        latency.add_measurements("returning", [(arch, 5.0) for arch in usual[:3]])
    saved = tmp_path / "held_out.csv"
    args = ["measure", "-d", "returning", "--holdout", "6", "--save-holdout", str(saved)]
    result = invoke(target, *args, *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    held_out = [line.split(",")[0] for line in saved.read_text().splitlines()[1:]]
    assert len(held_out) == 6 and not set(held_out) & set(usual[:3])


@pytest.mark.parametrize(
    "stop",
    [KeyboardInterrupt(), UnavailableError("server gone", target="t")],
    ids=["ctrl-c", "server-gone"],
)
def test_an_interrupted_run_says_what_it_had_uploaded(
    target: str, monkeypatch: pytest.MonkeyPatch, stop: BaseException
) -> None:
    """Before, only Ctrl-C said so: a server that went away in round 2 ended the run with its
    error alone, and the user could not tell that round 1 had been uploaded."""
    stop_in_the_second_round(monkeypatch, stop)
    assert_interrupted_after_one_round(target, "stopped", "--rounds", "3")
    with LatencyClient(target) as latency:
        assert latency.device("stopped").measurement_count == 2


def test_a_run_interrupted_while_re_timing_says_what_it_had_uploaded(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round was recorded only once re-timed: Ctrl-C while re-timing its surprising
    uploads, already stored, said nothing, and a rerun with --archs uploaded them twice."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "retime_surprising", interrupted)
    upload = loop.upload

    def flagged(*args, **kwargs):  # as the service flags a slip: the first arch
        result = upload(*args, **kwargs)
        arch = next(iter(args[2]))
        slip = SurprisingMeasurement(arch, "nasbench201", 500.0, 5.0, 4.0, 6.0, 1e-6)
        return dataclasses.replace(result, surprising=(slip,))

    monkeypatch.setattr(loop, "upload", flagged)
    output = assert_interrupted_after_one_round(target, "stopped-retiming")
    # Which upload was surprising, with the command that deletes it: only the summary,
    # which an interrupted run never prints, had said so.
    assert "at 500 ms" in output
    assert f"client --target {target} delete --device stopped-retiming" in output


def test_a_run_interrupted_in_the_held_out_set_says_what_it_had_uploaded(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before, Ctrl-C in the held-out set (the longest part of a run) said nothing: the rounds'
    lines are printed only with the summary, and a rerun uploaded --archs twice. Cut short
    once they are timed, the held-out timings are kept too."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loop, "score_timings", interrupted)
    said = assert_interrupted_after_one_round(target, "stopped-late", "--holdout", "3")
    kept = next(tmp_path.glob("holdout-*.csv"))
    saved_in = f"the held-out timings are saved in {kept}: client --target {target} report"
    assert f"; held-out set: {saved_in}" in said


@pytest.mark.parametrize(
    ("passes", "timed", "said"),
    [
        (1, 2, "2 of 4 archs timed"),
        (2, 6, "4 of 4 archs timed, cut short in pass 2 of 2"),
        # Every pass timed, cut short before the list came back: no pass 3 of 2.
        (2, 8, "4 of 4 archs timed, cut short in pass 2 of 2"),
    ],
)
def test_a_run_interrupted_while_timing_the_held_out_set_keeps_the_timings_taken(
    passes: int,
    timed: int,
    said: str,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Ctrl-C part way through the held-out set (minutes of timing) kept none of it: the
    timings were written once the whole list was timed (a review)."""
    monkeypatch.chdir(tmp_path)
    held_out_cut_short(monkeypatch, timed)
    device = f"cut-short-{passes}-{timed}"
    with LatencyClient(target) as latency:
        latency.register_device(device)
    flags = [*FAST_FLAGS[:-1], str(passes)]
    result = invoke(target, "measure", "-d", device, "-n", "2", "--holdout", "4", *flags)
    assert result.exit_code != 0
    kept = next(tmp_path.glob("holdout-*.csv"))
    assert (
        f"; held-out set: {said}; the held-out timings are saved in {kept}: client --target"
        f" {target} report" in " ".join(result.output.split())
    )
    report = invoke(target, "report", "-d", device, "--measured", str(kept), "--json")
    assert report.exit_code == 0 and json.loads(report.stdout)["n"] == min(timed, 4), report.output


def test_a_run_interrupted_before_any_held_out_timing_names_no_held_out_file(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nothing timed, nothing to keep: a file of no timings, named as the one to score, would
    send the user to a report that has nothing to score."""
    monkeypatch.chdir(tmp_path)
    held_out_cut_short(monkeypatch, 0)
    with LatencyClient(target) as latency:
        latency.register_device("cut-short-0")
    args = ["-d", "cut-short-0", "-n", "2", "--holdout", "4", *FAST_FLAGS]
    result = invoke(target, "measure", *args)
    assert result.exit_code != 0
    assert "interrupted: 1 round (2 archs) had been uploaded to cut-short-0" in result.output
    assert "held-out set" not in result.output
    assert not list(tmp_path.glob("holdout-*.csv"))


def test_a_run_interrupted_while_timing_the_held_out_set_keeps_the_timings_in_save_holdout(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where --save-holdout names a file, the timings taken so far go there, not to a file of
    a name of its own."""
    monkeypatch.chdir(tmp_path)
    held_out_cut_short(monkeypatch, 2)
    with LatencyClient(target) as latency:
        latency.register_device("cut-short-saved")
    saved = tmp_path / "saved.csv"
    args = ["-d", "cut-short-saved", "-n", "2", "--holdout", "4", "--save-holdout", str(saved)]
    result = invoke(target, "measure", *args, *FAST_FLAGS)
    assert result.exit_code != 0
    assert f"held-out set: 2 of 4 archs timed; the held-out timings are saved in {saved}:" in (
        " ".join(result.output.split())
    )
    assert len(saved.read_text().splitlines()) == 3  # the header and the two timed
    assert not list(tmp_path.glob("holdout-*.csv"))


def held_out_cut_short(monkeypatch: pytest.MonkeyPatch, timings: int) -> None:
    """Makes the timing of the held-out set (a list of 4 archs) stop as Ctrl-C does after
    ``timings`` timings, pass after pass; the round's archs are timed as usual."""
    measure_archs = loop.measure_archs

    def cut_short(archs, space, settings, on_measured=None):
        if len(archs) != 4:  # the round's archs
            return measure_archs(archs, space, settings, on_measured)
        for arch in [*archs, *archs][:timings]:
            on_measured(arch, Timing(10.0, 9.9, 10.1, (10.0,)))
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "measure_archs", cut_short)


def test_a_device_registered_by_hand_is_warned_of_as_unchecked_once_it_has_measurements(
    target: str, tmp_path: Path
) -> None:
    """Its descriptor records no timing settings: a batch of 8 joined its batch-1 latencies
    without a word (a user review)."""
    with LatencyClient(target) as latency:
        latency.register_device("by-hand")
    listed = tmp_path / "archs.txt"
    listed.write_text(f"{SKIP}\n")
    args = ["measure", "-d", "by-hand", "--archs", str(listed), *FAST_FLAGS]
    first = invoke(target, *args)
    assert first.exit_code == 0 and "records no timing settings" not in first.stderr
    second = invoke(target, *args, "--batch-size", "2")
    assert second.exit_code == 0, second.output
    assert second.stderr.startswith(
        "warning: device 'by-hand' records no timing settings (it was not registered by 'client"
        " measure --register'): its measurements cannot be checked to be taken with these"
    )
    registered = ["measure", "-d", "by-measure", "--register", "--archs", str(listed)]
    assert invoke(target, *registered, *FAST_FLAGS).exit_code == 0
    again = invoke(target, *registered[:3], *registered[4:], *FAST_FLAGS)
    assert again.exit_code == 0 and "records no timing settings" not in again.stderr


def test_a_run_interrupted_in_the_speed_check_keeps_the_held_out_score(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The score, computed from minutes of timing, was printed only with the summary, and
    Ctrl-C in the short speed check after it threw it away (a user review)."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "recheck_speed", interrupted)
    said = assert_interrupted_after_one_round(target, "stopped-checking", "--holdout", "3")
    assert "had been uploaded to stopped-checking; held-out 3 archs: Spearman" in said


@pytest.mark.parametrize("save", [False, True])
def test_held_out_timings_are_kept_when_the_service_fails_to_predict_them(
    save: bool, target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server gone during the held-out set lost every timing of it, --save-holdout's too:
    it was written with the scores (a user review)."""

    def gone(*args, **kwargs):
        raise UnavailableError("Connection refused", target=target)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loop, "score_timings", gone)
    saved = tmp_path / "held.csv"
    options = ["--holdout", "3", *(["--save-holdout", str(saved)] if save else [])]
    with LatencyClient(target) as latency:
        latency.register_device("gone-early")
    result = invoke(target, "measure", "-d", "gone-early", "-n", "2", *options, *FAST_FLAGS)
    assert result.exit_code == 1, result.output
    kept = saved if save else next(tmp_path.glob("holdout-*.csv"))
    assert result.stderr.splitlines()[-1].endswith(
        f"; the held-out timings are saved in {kept}: client --target {target} report --device"
        f" gone-early --measured {kept} scores them"
    )
    assert len(kept.read_text().splitlines()) == 1 + 3  # a header and each arch
    report = invoke(target, "report", "-d", "gone-early", "--measured", str(kept), "--json")
    assert report.exit_code == 0 and json.loads(report.stdout)["n"] == 3, report.output


def stop_in_the_second_round(
    monkeypatch: pytest.MonkeyPatch, stop: BaseException | Callable[[], object]
) -> None:
    """Makes a run's second round raise ``stop``, or call it (to send a signal) and go on."""
    measure_round = loop.measure_round
    calls: list[int] = []

    def stopped_second_round(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            if isinstance(stop, BaseException):
                raise stop
            stop()
        return measure_round(*args, **kwargs)

    monkeypatch.setattr(loop, "measure_round", stopped_second_round)


def assert_interrupted_after_one_round(target: str, device: str, *options: str) -> str:
    """Registers ``device`` and runs ``measure --suggested 2 OPTIONS`` on it, which must fail
    saying that its first round, 2 archs, had been uploaded."""
    with LatencyClient(target) as latency:
        latency.register_device(device)
    result = invoke(target, "measure", "-d", device, "--suggested", "2", *options, *FAST_FLAGS)
    assert result.exit_code != 0
    assert f"interrupted: 1 round (2 archs) had been uploaded to {device}" in result.output
    return " ".join(result.output.split())


def test_a_registration_that_fails_after_the_reference_timings_says_what_to_rerun(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server gone once the reference archs were timed: one 'unavailable' line said
    nothing of the device (a user review)."""

    def gone(*args: object, **kwargs: object) -> None:
        raise UnavailableError("Connection refused", target=target)

    monkeypatch.setattr(loop, "hardware_descriptor", lambda *args, **kwargs: {})
    monkeypatch.setattr(LatencyClient, "register_device", gone)
    result = invoke(target, "measure", "-d", "never-there", "--register", "-n", "1", *FAST_FLAGS)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1].endswith(
        "; the registration of never-there failed: where 'client devices' does not list it, a"
        " rerun with --register times its reference archs again"
    )


def test_a_run_interrupted_after_registering_says_the_device_stays_registered(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped before its first upload, a run said nothing, though the device it had
    registered, with this machine's descriptor, stays (a review, 2026-12-06)."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "measure_round", interrupted)
    args = ["measure", "-d", "stopped-new", "--register", "-n", "2", *FAST_FLAGS]
    result = invoke(target, *args)
    assert result.exit_code != 0
    assert "interrupted: stopped-new was registered" in result.output
    assert "uploaded" not in result.output


def test_sigterm_stops_a_run_as_ctrl_c_does(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (timeout, systemd, a cancelled CI job) ended the run at once: no word of what it
    had uploaded, and on a terminal the bars' cursor stayed hidden (a review, 2026-12-06)."""
    before = signal.getsignal(signal.SIGTERM)
    stop_in_the_second_round(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert_interrupted_after_one_round(target, "terminated", "--rounds", "3")
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_interrupted_line_outlives_the_bars_on_a_terminal(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was printed under the running bars, and their last redraw erased it: on a terminal
    the user saw no "interrupted" line (a review, 2026-12-06)."""
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws as on a terminal
    stop_in_the_second_round(monkeypatch, KeyboardInterrupt())
    with LatencyClient(target) as latency:
        latency.register_device("stopped-on-a-terminal")
    options = ["--suggested", "2", "--rounds", "3", *FAST_FLAGS]
    result = invoke(target, "measure", "-d", "stopped-on-a-terminal", *options)
    line_erased = "\x1b[2K"
    said = result.stderr.rfind("interrupted: 1 round (2 archs) had been uploaded")
    assert line_erased in result.stderr and said > result.stderr.rfind(line_erased)


def test_an_upload_interrupted_in_flight_saves_its_timings_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C during the upload: it may have been stored, and the timings were lost with the
    run; now they are saved, with the id that stores them once (a review, 2026-12-06)."""
    sent: list[str] = []

    class Cut:
        def add_measurements(self, device: str, pairs: list, **kwargs: str) -> None:
            sent.append(kwargs["request_id"])
            raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    timings = {SKIP: Timing(5.0, 5.0, 5.0, (5.0,))}
    with pytest.raises(KeyboardInterrupt):
        loop.upload(Cut(), "d", timings, "nasbench201", ("--target", "h:1"))  # type: ignore[arg-type]
    (saved,) = tmp_path.glob("measured-*.csv")
    assert saved.read_text() == f"arch,latency_ms\n{SKIP},5.0\n"
    command = f"client --target h:1 add --device d --file {saved} --request-id {sent[0]}"
    assert command in caplog.text


def test_a_server_without_list_measurements_still_scores_a_held_out_set(
    target: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A server older than ListMeasurements answers UNIMPLEMENTED; the review saw measure
    fail after timing its rounds."""
    from client.errors import GenericServiceError

    def unimplemented(self, device: str, search_space: str = "nasbench201"):
        raise GenericServiceError("Method not found!", code="UNIMPLEMENTED")

    monkeypatch.setattr(LatencyClient, "measurements", unimplemented)
    with LatencyClient(target) as latency:
        latency.register_device("older-server")
    args = ["measure", "-d", "older-server", "--suggested", "1", "--holdout", "2", "--json"]
    result = invoke(target, *args, *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["evaluation"]["n"] == 2
    assert "predates ListMeasurements" in caplog.text


def test_saving_a_held_out_set_that_is_not_measured_is_a_usage_error(
    target: str, tmp_path: Path
) -> None:
    saved = tmp_path / "held_out.csv"
    args = ["measure", "-d", "pi4", "--repeatability", "2", "--save-holdout", str(saved)]
    result = invoke(target, *args, *FAST_FLAGS)
    assert result.exit_code == 2 and "no held-out set to save" in result.output


def test_measure_waits_for_a_loading_server_before_timing(health_only) -> None:
    target, _ = health_only  # NOT_SERVING throughout
    result = invoke(target, "measure", "--device", "here", "--register", "--wait", "0.3")
    assert result.exit_code != 0
    assert "still loading its model" in result.output
    assert "reference archs" not in result.output  # nothing was timed
    # Named once: "the latency service at T is unavailable: the latency service at T is ..."
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert error.count(target) == 1, error


def refuse_timing(monkeypatch: pytest.MonkeyPatch, checked: str) -> None:
    """Fails the test where anything is timed (the descriptor's reference archs included)
    before ``checked``: a refusal must come first."""

    def timed(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"timed before {checked}")

    monkeypatch.setattr(loop, "measure_archs", timed)
    monkeypatch.setattr(loop, "hardware_descriptor", timed)


def slowing_machine(monkeypatch: pytest.MonkeyPatch, step: float) -> list[str]:
    """Every timed arch takes 10 ms, times (1 + step) per arch timed before it: a machine
    slowing down steadily while each series stays quiet. Returns the timed archs."""
    timed: list[str] = []

    def fake_time_arch(arch: str, space: str, settings: TimingSettings) -> Timing:
        timed.append(arch)
        ms = 10.0 * (1 + step) ** (len(timed) - 1)
        return Timing(ms, 0.99 * ms, 1.01 * ms, (ms,))

    monkeypatch.setattr(timing, "time_arch", fake_time_arch)  # lists and --repeatability
    return timed


def test_the_speed_check_times_uploaded_archs_again_and_measures_the_drift(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timed = slowing_machine(monkeypatch, 0.01)
    uploaded = loop.measure_archs(["a", "b", "c", "d"], "nasbench201", TINY)
    loop.measure_archs([f"held-out {i}" for i in range(6)], "nasbench201", TINY)
    uploaded_ms = {arch: timing.median_ms for arch, timing in uploaded.items()}
    check = loop.recheck_speed(uploaded_ms, 2, "nasbench201", TINY)
    assert timed[-2:] == ["a", "b"]  # the first uploaded ones, timed last
    # a was timed 1st and 11th, b 2nd and 12th: both 1.01^10 slower.
    assert check.drift == pytest.approx(1.01**10 - 1)
    assert not check.steady  # 10.5% > 5%
    steady = loop.SpeedCheck({"a": 10.0, "b": 10.0}, {"a": 10.3, "b": 9.9})
    assert steady.drift == pytest.approx(0.01) and steady.steady


def test_measure_warns_when_the_machine_slowed_during_the_run(
    target: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slowing_machine(monkeypatch, 0.02)  # 3 uploaded, 4 held out: re-timed 7 archs later
    args = ["measure", "-d", "drifting", "--suggested", "3", "--holdout", "4", *FAST_FLAGS]
    with LatencyClient(target) as latency:
        latency.register_device("drifting")
    result = invoke(target, *args)
    assert result.exit_code == 0, result.output
    assert "speed check: 3 uploaded archs timed again" in result.stdout
    assert "speed moved by +14.9% since the upload" in " ".join(result.stdout.split())
    assert "moved by" not in caplog.text  # said once, not also logged (a user review)
    quiet = invoke(target, *args, "--recheck", "0")
    assert quiet.exit_code == 0 and "speed check" not in quiet.stdout
    slowing_machine(monkeypatch, 0.1)
    once = ["--passes", "1"]  # each repeat one timing, on the slowing machine's 10% steps
    repeated = invoke(target, "measure", "-d", "drifting", "-n", "0", "--repeatability", "2", *once)
    assert repeated.exit_code == 0, repeated.output
    warning = " ".join(repeated.stdout.split())
    assert "speed varied by 9.5% between timings of one arch" in warning
    assert "or as a device timed with --reference" in warning
    slowing_machine(monkeypatch, 0.1)
    skip = format_nb201(["skip_connect"] * 6)
    args = [
        "measure",
        "-d",
        "drifting",
        "-n",
        "0",
        "--repeatability",
        "2",
        *once,
        "--reference",
        skip,
    ]
    paired = invoke(target, *args)
    assert paired.exit_code == 0, paired.output
    assert "speed varied" in paired.stdout and "--reference" not in paired.stdout


def test_json_leaves_the_warnings_on_stderr(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --json the text summary was printed nowhere, and its warnings with it: a
    repeatability of 9.5%, beyond the 5% target, went unsaid."""
    slowing_machine(monkeypatch, 0.1)
    with LatencyClient(target) as latency:
        latency.register_device("drifting-json")
    args = ["measure", "-d", "drifting-json", "-n", "0", "--repeatability", "2", "--json"]
    args += ["--passes", "1"]
    result = invoke(target, *args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["repeatability"]["spread"] == pytest.approx(0.095, abs=1e-3)
    warning = " ".join(result.stderr.split())
    assert "speed varied by 9.5% between timings of one arch" in warning


def test_noisy_reference_archs_count_in_the_summary(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference archs timed for --register are measurements too: a warning about noisy
    measurements counts them, as the log did."""

    def noisy_time_arch(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
        return Timing(10.0, 8.0, 12.0, (10.0,), attempts=3, noisy=True)

    monkeypatch.setattr(timing, "time_arch", noisy_time_arch)
    args = ["measure", "-d", "noisy-refs", "--register", "-n", "0", *FAST_FLAGS]
    result = invoke(target, *args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reference_noisy"] == len(HELP_REFERENCE_ARCHS)
    text = invoke(target, "measure", "-d", "noisy-refs2", "--register", "-n", "0", *FAST_FLAGS)
    assert text.exit_code == 0, text.output
    printed = " ".join(text.stdout.split())
    assert f"({len(HELP_REFERENCE_ARCHS)} reference archs stayed noisy)" in printed
    assert f"warning: {len(HELP_REFERENCE_ARCHS)} measurements stayed noisy" in printed
    # Not "(or --clock cpu)": the device, timed by the wall clock, refuses it.
    assert "quieter moment, or as a new device timed with --clock cpu --threads 1" in printed


def test_a_rounds_noisy_archs_are_counted_whichever_comes_first(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No test had a round with a noisy arch: skipping the first timing in the count went
    unnoticed (a mutation review, 2026-12-07)."""

    def conv_noisy(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
        if arch == CONV3:
            return Timing(10.0, 8.0, 12.0, (10.0,), attempts=3, noisy=True)
        return STEADY_5MS

    monkeypatch.setattr(timing, "time_arch", conv_noisy)
    _, result = measure_listed(target, tmp_path, "one-noisy", [CONV3, SKIP])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rounds"][0]["noisy"] == 1
    assert "1 noisy)" in " ".join(result.stderr.split())


def fpga_latencies() -> tuple[dict[str, float], str]:
    """Twelve random archs' fpga latencies (ms) from its table, and one of them to slow down."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs
    from tests.helpers import DATASET

    table, archs = load_help_dataset(DATASET).table("fpga"), all_archs()
    picks = np.random.default_rng(0).choice(len(archs), 12, replace=False)
    return {archs[i]: float(table[i]) for i in picks}, archs[picks[5]]


def test_measure_times_a_surprising_earlier_measurement_again(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An fpga-like arch stored 100 times too slow before the run: the run's upload names it
    as measured before, and it is timed twice more, which outvotes it."""
    latency, slow = fpga_latencies()
    timed: list[str] = []

    def fake_time_arch(arch: str, space: str, settings: TimingSettings) -> Timing:
        timed.append(arch)
        return Timing(latency[arch], latency[arch], latency[arch], (latency[arch],))

    monkeypatch.setattr(timing, "time_arch", fake_time_arch)
    listed = tmp_path / "archs.txt"
    listed.write_text("".join(f"{arch}\n" for arch in latency if arch != slow))
    with LatencyClient(target) as client:
        client.register_device("fpga-like-before")
        client.add_measurements("fpga-like-before", [(slow, latency[slow] * 100)])
    args = ["measure", "-d", "fpga-like-before", "--archs", str(listed), "-n", "0"]
    result = invoke(target, *args, "--recheck", "0", *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert f"warning: measured before this upload, {slow} at " in text
    assert "the service now counts it at the median of its measurements" in text
    assert timed.count(slow) == 2
    # 1 before, 11 uploaded, 2 re-timed: the line said 12, the count before the re-timing.
    assert "device now has 14 measurements" in text


@pytest.mark.parametrize(
    ("slow_timings", "retime", "outcome"),
    [
        (1, 2, "the service now counts it at the median of its measurements"),
        (3, 2, "still off: it seems true of this machine"),
        (1, 1, "predicted, but still off: the arch's earlier measurements outvote these"),
        (1, 0, "measure that arch twice more"),
        # It said --device DEVICE ARCH, and then went to the default target, pasted as printed.
        (1, 0, "(client --target {target} delete --device fpga-like-1-0 '|"),
    ],
)
def test_measure_times_a_latency_the_other_measurements_do_not_explain_again(
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    slow_timings: int,
    retime: int,
    outcome: str,
) -> None:
    """Twelve archs timed as fpga's table has them, one 100 times too slow in its first
    ``slow_timings`` timings: the round names it and, unless ``--retime 0``, times it twice
    more, uploads those, and says whether it now fits. With --retime 1 the one right timing
    ties the slow one, the median stays off, and it was called "true of this machine"."""
    latency, slow = fpga_latencies()
    timed: list[str] = []

    def fake_time_arch(arch: str, space: str, settings: TimingSettings) -> Timing:
        timed.append(arch)
        ms = latency[arch] * (100 if arch == slow and timed.count(arch) <= slow_timings else 1)
        return Timing(ms, ms, ms, (ms,))

    monkeypatch.setattr(timing, "time_arch", fake_time_arch)
    listed = tmp_path / "archs.txt"
    listed.write_text("".join(f"{arch}\n" for arch in latency))
    device = f"fpga-like-{slow_timings}-{retime}"
    with LatencyClient(target) as client:
        client.register_device(device)
    args = ["measure", "-d", device, "--archs", str(listed), "-n", "0", "--recheck", "0"]
    result = invoke(target, *args, "--retime", str(retime), *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert f"warning: {slow} at " in text and outcome.format(target=target) in text
    assert timed.count(slow) == 1 + retime
    with LatencyClient(target) as client:
        assert client.device(device).measurement_count == 12 + retime


def test_the_speed_check_compares_a_re_timed_arch_with_the_median_of_its_uploads(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The speed check timed the surprising arch again against its first, slipped timing, and
    called a steady machine 99% faster (a review, 2026-12-06)."""
    latency, slow = fpga_latencies()
    timed: list[str] = []

    def fake_time_arch(arch: str, space: str, settings: TimingSettings) -> Timing:
        timed.append(arch)
        ms = latency[arch] * (100 if arch == slow and timed.count(arch) == 1 else 1)
        return Timing(ms, ms, ms, (ms,))

    monkeypatch.setattr(timing, "time_arch", fake_time_arch)
    listed, scored = tmp_path / "archs.txt", tmp_path / "scored.txt"
    listed.write_text("".join(f"{arch}\n" for arch in [slow, *latency]))  # slow first
    scored.write_text("".join(f"{arch}\n" for arch in list(latency)[:3]))
    with LatencyClient(target) as client:
        client.register_device("slipped-once")
    args = ["measure", "-d", "slipped-once", "--archs", str(listed), "-n", "0"]
    result = invoke(target, *args, "--eval-archs", str(scored), "--recheck", "1", *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "the service now counts it at the median of its measurements" in text
    assert timed.count(slow) == 4  # the upload, two re-timings, the speed check
    assert "speed check: 1 uploaded arch timed again" in text
    assert "speed moved" not in text, text


def test_each_re_timing_of_a_surprising_arch_is_the_quickest_of_the_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Re-timings were single passes, though every other list keeps the quickest of
    --passes: they leaned high, and they decide the median of the arch's three timings."""
    timed = iter([12.0, 10.0, 11.0, 13.0])  # pass one, pass two, of each re-timing
    monkeypatch.setattr(
        timing, "time_arch", lambda arch, space, settings: Timing(ms := next(timed), ms, ms, (ms,))
    )
    surprise = SimpleNamespace(arch="a")
    result = SimpleNamespace(surprising=[surprise], surprising_before=[])
    uploads: list[list[tuple[str, float]]] = []
    service = SimpleNamespace(add_measurements=lambda device, pairs, **kw: uploads.append(pairs))
    settings = TimingSettings(passes=2)
    retiming = loop.retime_surprising(service, "dev", result, 2, "nasbench201", settings)  # type: ignore[arg-type]
    assert retiming is not None and retiming.medians_ms == {"a": [10.0, 11.0]}
    assert uploads == [[("a", 10.0), ("a", 11.0)]]


def test_the_held_out_evaluation_scores_the_predicted_median_not_the_mean() -> None:
    """The service's log-normal median is the point estimate the report scores too."""
    measured = {"a": 1.0, "b": 2.0, "c": 4.0}
    timings = {a: Timing(ms, ms, ms, (ms,)) for a, ms in measured.items()}
    median = np.array(list(measured.values()))
    predicted = SimpleNamespace(
        median_ms=median, mean_ms=1.5 * median, lower_ms=median / 2, upper_ms=median * 2
    )
    service = SimpleNamespace(predict=lambda *args, **kwargs: predicted)
    evaluation = loop.score_timings(service, "dev", timings, "nasbench201")  # type: ignore[arg-type]
    assert evaluation.scores.acc10 == 1.0 and evaluation.scores.bias == pytest.approx(0.0)


def test_the_speed_check_takes_the_median_ratio_and_flags_a_machine_grown_faster() -> None:
    """One re-timed arch caught by a preemption does not move the drift; a machine 10% faster
    since the upload is as unsteady as one 10% slower."""
    one_preempted = loop.SpeedCheck(
        {"a": 10.0, "b": 10.0, "c": 10.0}, {"a": 10.0, "b": 10.1, "c": 20.0}
    )
    assert one_preempted.drift == pytest.approx(0.01) and one_preempted.steady
    faster = loop.SpeedCheck({"a": 10.0, "b": 10.0}, {"a": 9.0, "b": 9.0})
    assert faster.drift == pytest.approx(-0.1) and not faster.steady


def test_repeatability_within_the_steady_limit_gives_no_warning() -> None:
    """The warning is of a spread beyond the limit: one at the limit is steady, as
    loop.SpeedCheck.steady counts it."""
    from rich.console import Console

    from client.measure.command import _print_repeatability

    for spread, warned in ((0.01, False), (timing.STEADY_LIMIT, False), (0.06, True)):
        console = Console(record=True, width=200)
        repeat = {"medians_ms": [1.0, 1.0 + spread], "spread": spread}
        _print_repeatability(console, repeat, {"reference": None})
        assert ("warning" in console.export_text()) == warned, spread


def _noisy_skip(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
    """A noisy sub-microsecond SKIP (a latency 3 decimals would write as 0), 5 ms otherwise."""
    if arch == SKIP:
        return Timing(0.00043217, 0.0003, 0.0005, (0.00043217,), attempts=3, noisy=True)
    return STEADY_5MS


def test_held_out_timings_are_saved_exactly_and_their_noisy_ones_counted(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CSV holds each median as measured and its spread (the README names the column);
    the noisy held-out archs count in the JSON and in the warning, as the rounds' do."""
    monkeypatch.setattr(timing, "time_arch", _noisy_skip)
    listed = tmp_path / "eval.txt"
    listed.write_text(f"{SKIP}\n{CONV3}\n")
    saved = tmp_path / "held.csv"
    result = invoke(target, "measure", "-d", "pi4", "-n", "0", "--eval-archs", str(listed),
                    "--save-holdout", str(saved), "--json", *FAST_FLAGS)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["evaluation"]["noisy"] == 1
    assert "warning: 1 measurement stayed noisy" in " ".join(result.stderr.split())
    rows = [line.split(",") for line in saved.read_text().splitlines()]
    assert {r[0]: r[1] for r in rows[1:]} == {SKIP: "0.00043217", CONV3: "5.0"}  # as measured
    assert {r[0]: r[2] for r in rows} == {"arch": "spread", SKIP: "0.4628", CONV3: "0.0400"}


def test_repeatability_times_the_all_conv3x3_cell(target: str) -> None:
    """The README's figure is of that cell's medians."""
    result = invoke(target, "measure", "-d", "nowhere", "-n", "0", "--repeatability", "2",
                    "--json", *FAST_FLAGS)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["repeatability"]["arch"] == CONV3


def test_a_missing_token_is_found_before_a_registration_s_reference_archs_are_timed(
    store_path: Path, model_cache: dict
) -> None:
    guarded = start_server(store_path, model_cache, token="measure-test-token-0123456789")
    try:
        result = invoke(f"127.0.0.1:{guarded.port}", "measure", "-d", "new", "--register",
                        "-n", "0", *FAST_FLAGS)  # fmt: skip
    finally:
        guarded.stop(grace=0)
    assert result.exit_code == 1 and "token" in result.output
    assert "reference archs" not in result.output


def test_the_speed_check_gives_each_arch_s_change_as_its_median_is() -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    check = {"archs": ["a", "b", "c"], "uploaded_ms": [10.0, 10.0, 10.0],
             "now_ms": [11.0, 12.0, 11.5], "drift": 0.15, "steady": True}  # fmt: skip
    command._print_speed_check(console, check, {})
    assert "+15.0% (median; +10.0%, +20.0%, +15.0%)" in console.export_text()


def test_room_for_the_held_out_set_counts_every_round_s_uploads() -> None:
    from client.errors import ClientInputError

    plan = command._Plan(device="new", register=True, given=[], per_round=10, rounds=3,
                         holdout=15600, eval_archs=None, space="nasbench201", strategy="",
                         seed=0, repeat=0, recheck=0, retime=0, save_holdout=None,
                         reference_given=False)  # fmt: skip
    with pytest.raises(ClientInputError, match="--holdout 15600: only 15585 NB201 archs"):
        command._check_holdout_room(plan, set())
    command._check_holdout_room(dataclasses.replace(plan, holdout=15585), set())
    # FBNet's held-out draws need no distinct archs (see _check_counts): NB201's room is no bound.
    command._check_holdout_room(dataclasses.replace(plan, space="fbnet", holdout=20000), set())


def test_an_fbnet_pool_a_server_refuses_is_cut_to_its_limit() -> None:
    """A server run with LATENCY_MAX_BATCH below the FBNet pool (2,000 candidates)."""
    from client.errors import ResourceExhaustedError

    sent: list[int] = []

    class Limited:
        def measurements(self, device: str, search_space: str) -> list:
            return []

        def suggest(self, device: str, count: int, candidates: list, **kwargs: Any):
            sent.append(len(candidates))
            if len(candidates) > 500:
                raise ResourceExhaustedError(
                    f"{len(candidates)} candidates in one request exceed the limit of 500:"
                    " give fewer (or raise LATENCY_MAX_BATCH)"
                )
            return SimpleNamespace(archs=candidates[:count])

    assert len(loop.suggest(Limited(), "fb", 3, "fbnet")) == 3  # type: ignore[arg-type]
    assert sent == [loop.DEFAULT_FBNET_POOL, 500]
    with pytest.raises(ResourceExhaustedError, match="give --suggested 500 or fewer"):
        loop.suggest(Limited(), "fb", 600, "fbnet")  # type: ignore[arg-type]


def test_held_out_archs_leave_out_the_reference_archs() -> None:
    assert not set(loop.holdout_archs(15615)) & set(HELP_REFERENCE_ARCHS)


def test_fbnet_held_out_archs_are_drawn_apart_from_the_suggestions_pool(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Of the same seed, the held-out draw replayed the pool's stream: the held-out set was
    the pool's unpicked rest. The first round's suggestions are the prior's guesses, which
    the service's warning told the user to measure with the command running (a user review);
    the held-out predictions, after the round, are not."""
    monkeypatch.setattr(timing, "time_arch", lambda arch, *args: STEADY_5MS)
    saved = tmp_path / "held.csv"
    result = invoke(target, "measure", "-d", "fb-apart", "--register", "--space", "fbnet",
                    "-n", "2", "--holdout", "5", "--seed", "0", "--save-holdout", str(saved),
                    *FAST_FLAGS)  # fmt: skip
    assert result.exit_code == 0, result.output
    held_out = {line.rsplit(",", 2)[0].strip('"') for line in saved.read_text().splitlines()[1:]}
    assert len(held_out) == 5
    assert "prior's guesses" not in caplog.text
    assert not held_out & set(loop.random_archs(loop.DEFAULT_FBNET_POOL, "fbnet", seed=0))


def test_a_reference_arch_the_device_was_registered_with_counts_once_against_the_holdout_room(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held-out draw avoids HELP's reference archs and the device's measured ones; a
    reference arch the device was registered with is both, and leaves one place less, not two."""

    refuse_timing(monkeypatch, "the held-out room was checked")
    measured = loop.holdout_archs(3, seed=5)  # none of them a reference arch
    with LatencyClient(target) as latency:
        latency.register_device(
            "referenced-room",
            descriptor={f"{REFERENCE_LATENCY_PREFIX}{HELP_REFERENCE_ARCHS[0]}": 5.0},
        )
        latency.add_measurements("referenced-room", [(arch, 5.0) for arch in measured])
    args = ["measure", "-d", "referenced-room", "--suggested", "3", "--holdout", "15610"]
    result = invoke(target, *args, *FAST_FLAGS)
    # 15625 archs less the 10 reference archs, the 3 measured ones and the 3 suggestions to come.
    assert_one_line_error(result, "--holdout 15610: only 15609 NB201 archs are left")


@pytest.mark.parametrize(
    "option",
    [
        ["--suggested", "15625"],
        ["--holdout", "15615"],
        ["--space", "fbnet", "--suggested", "2000"],
    ],
)
def test_as_many_archs_as_the_space_offers_are_not_a_usage_error(
    target: str, option: list[str]
) -> None:
    """The bounds are inclusive: at the bound the run goes on to its first check of the device
    (here one that does not exist); one more would be a misused option (exit 2)."""
    result = invoke(target, "measure", "-d", "nobody", *option, *FAST_FLAGS)
    assert_one_line_error(result, "unknown device 'nobody'")


def test_a_round_reports_its_quickest_and_slowest_median_and_its_widest_spread(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def two_speeds(arch: str, space: str = "", settings: TimingSettings = TINY) -> Timing:
        if arch == CONV3:
            return Timing(10.0, 9.0, 11.0, (10.0,))  # spread 20%
        return STEADY_5MS

    monkeypatch.setattr(timing, "time_arch", two_speeds)
    _, result = measure_listed(target, tmp_path, "two-speeds", [CONV3, SKIP])
    assert result.exit_code == 0, result.output
    (only_round,) = json.loads(result.stdout)["rounds"]
    assert (only_round["min_ms"], only_round["max_ms"]) == (5.0, 10.0)
    assert only_round["worst_spread"] == pytest.approx(0.2)
    text = " ".join(result.stderr.split())
    assert "round 1: measured 2 archs (5.000-10.000 ms, worst spread 20.0%)" in text


def test_the_speed_check_reports_each_arch_s_uploaded_latency_beside_its_latency_now(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slowing_machine(monkeypatch, 0.02)  # 3 uploaded, 2 held out: each re-timed 5 archs later
    with LatencyClient(target) as latency:
        latency.register_device("drifting-report")
    args = ["measure", "-d", "drifting-report", "--suggested", "3", "--holdout", "2", "--json"]
    result = invoke(target, *args, *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["speed_check"]
    with LatencyClient(target) as latency:
        stored = dict(latency.measurements("drifting-report"))
    assert check["uploaded_ms"] == [stored[arch] for arch in check["archs"]]
    assert check["now_ms"] == pytest.approx([ms * 1.02**5 for ms in check["uploaded_ms"]])


def test_rounds_into_a_source_device_warn_of_it_once(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FBNet suggestions go on round after round on a source device (its NB201 table alone is
    complete): the warning belongs above the first, not above each."""
    monkeypatch.setattr(timing, "time_arch", lambda arch, *args: STEADY_5MS)
    args = ["measure", "-d", "pi4", "--space", "fbnet", "-n", "1", "--rounds", "2"]
    result = invoke(target, *args, "--recheck", "0", *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    assert "round 2: measured 1 arch" in result.stdout
    assert result.stderr.count("is a source device of the shared model") == 1


def test_a_run_interrupted_on_a_device_registered_before_does_not_say_it_registered_it(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--register on a device already registered keeps it: a stop before the first upload has
    stored nothing, and says nothing of a registration."""
    stopped: list[str] = []

    def interrupted(*args: object, **kwargs: object) -> None:
        stopped.append("round")
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "measure_round", interrupted)
    with LatencyClient(target) as latency:
        latency.register_device("stopped-kept", descriptor=RECORDED_SETTINGS)
    args = ["measure", "-d", "stopped-kept", "--register", "-n", "2", *FAST_FLAGS]
    result = invoke(target, *args)
    assert stopped and result.exit_code != 0, result.output  # stopped there, not before
    assert "interrupted" not in result.output and "was registered" not in result.output


def test_the_command_that_uploads_saved_timings_reaches_the_server_they_were_measured_for(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pasted as printed, 'client add --device D --file SAVED' went to the default target, not
    the --target the run was given (as the delete command of a surprising upload did)."""
    from client.errors import ResourceExhaustedError

    monkeypatch.delenv("LATENCY_TARGET", raising=False)
    error, saved = _measure_failing_its_upload(
        target, monkeypatch, tmp_path, "pasted-upload", ResourceExhaustedError("server busy")
    )
    found = re.search(r": (client .*) uploads them$", error)
    assert found, error
    command = shlex.split(found[1])
    assert command[1:3] == ["--target", target], command
    pasted = CliRunner().invoke(app, command[1:])  # as printed: no --target of the test's
    assert pasted.exit_code == 0, pasted.output
    with LatencyClient(target) as latency:
        assert {arch for arch, _ in latency.measurements("pasted-upload")} == {SKIP, CONV3}


def test_the_command_that_scores_kept_held_out_timings_reaches_the_server_measured_for(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pasted as printed, 'client report --device D --measured KEPT' asked the default
    target, not the --target the run was given."""

    def gone(*args, **kwargs):
        raise UnavailableError("Connection refused", target=target)

    monkeypatch.delenv("LATENCY_TARGET", raising=False)
    monkeypatch.chdir(tmp_path)  # where the held-out timings and the pasted report's figure go
    score_timings = loop.score_timings
    monkeypatch.setattr(loop, "score_timings", gone)
    with LatencyClient(target) as latency:
        latency.register_device("gone-pasted")
    result = invoke(
        target, "measure", "-d", "gone-pasted", "-n", "2", "--holdout", "3", *FAST_FLAGS
    )
    assert result.exit_code == 1, result.output
    monkeypatch.setattr(loop, "score_timings", score_timings)
    found = re.search(r": (client .*) scores them$", result.stderr.splitlines()[-1])
    assert found, result.stderr
    pasted = CliRunner().invoke(app, [*shlex.split(found[1])[1:], "--json"])  # as printed
    assert pasted.exit_code == 0 and json.loads(pasted.stdout)["n"] == 3, pasted.output
