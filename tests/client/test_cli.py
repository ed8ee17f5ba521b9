"""The ``client`` CLI against a real in-process server: every command, its JSON and errors."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import shlex
import ssl
import subprocess
import sys
from concurrent import futures
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

from client.api import LatencyClient
from client.cli import (
    ConnectionOptions,
    app,
    milliseconds,
    read_arch_lines,
    read_deletions,
    read_measurements,
)
from client.errors import ClientInputError
from service.server import RunningServer
from service.store import MeasurementRow
from tests.client.conftest import HEAVY, LIGHT, assert_one_line_error
from tests.service import conftest as service_fixtures

CELL = "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
COMMANDS = [
    "suggest-samples",
    "predict",
    "add",
    "delete",
    "measurements",
    "devices",
    "register",
    "report",
]


def run(target: str | None, *args: str, env: dict[str, str] | None = None, stdin: str | bytes = ""):
    """Runs ``client [--target T] ARGS`` in-process; returns the click result."""
    prefix = ["--target", target] if target else []
    return CliRunner().invoke(app, [*prefix, *args], env=env, input=stdin or None)


# ---- help ------------------------------------------------------------------------------------
def test_help_everywhere() -> None:
    top = run(None, "--help")
    assert top.exit_code == 0 and "Examples" in top.stdout
    for command in COMMANDS:
        assert command in top.stdout
        result = run(None, command, "--help")
        assert result.exit_code == 0, result.output
        assert "Examples" in result.stdout and "client " in result.stdout


def test_help_lines_are_not_broken_mid_sentence() -> None:
    """typer keeps a docstring's line breaks: lines near 100 characters came out re-wrapped at
    80 columns, one word on a line of its own ("in / upload order.")."""
    listing = run(None, "measurements", "--help", env={"COLUMNS": "80"}).stdout
    assert "Print a device's stored measurements as CSV, in upload order." in listing
    report = run(None, "report", "--help", env={"COLUMNS": "80"}).stdout
    assert " log axes) and the calibration curve; Spearman, acc10 (within 10%), MAPE," in report


def test_no_help_paragraph_has_a_line_wider_than_80_columns_take() -> None:
    """Checked for two commands only: delete's and the command list's summary of it were
    broken every other line at 80 columns (a review, 2026-12-06). A paragraph of one line
    is wrapped whole; the lines of a longer one are kept, so each must fit."""
    import inspect

    import typer

    group = typer.main.get_command(app)
    for name, command in [("client", group), *group.commands.items()]:  # type: ignore[attr-defined]
        prose = inspect.cleandoc(command.help or "").split("Examples:")[0]
        summary = prose.split("\n\n")[0]  # the command list's, whose breaks are kept too
        assert "\n" not in summary, (name, summary)
        for paragraph in prose.split("\n\n"):
            lines = paragraph.splitlines()
            wide = [line for line in lines if len(line) > 78] if len(lines) > 1 else []
            assert not wide, (name, wide)


def test_help_is_fast_and_console_script_works() -> None:
    # The CLI imports no grpc, numpy or matplotlib until a command runs.
    code = (
        "import sys, client.cli; print(sorted({'grpc', 'numpy', 'matplotlib'} & set(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr
    module = subprocess.run(
        [sys.executable, "-m", "client", "--help"], capture_output=True, text=True, timeout=60
    )
    assert module.returncode == 0 and "suggest-samples" in module.stdout


# ---- commands --------------------------------------------------------------------------------
def test_devices(target: str) -> None:
    table = run(target, "devices")
    assert table.exit_code == 0 and "raspi4" in table.stdout and "pi4" in table.stdout
    listed = json.loads(run(target, "devices", "--json").stdout)
    names = {d["name"]: d for d in listed}
    assert set(names) == set(service_fixtures.TEST_DEVICES)
    assert names["raspi4"]["aliases"] == ["pi4", "raspberry_pi_4"] and names["raspi4"]["source"]


def test_names_and_descriptions_are_printed_as_given(target: str) -> None:
    """Tables read user text as rich markup: "[b]" made the rest of a name bold and vanished,
    ":thumbs_up:" became an emoji, and one device named "lab[/x]" made `client devices` end
    in a MarkupError traceback for everyone."""
    described = "Jetson [4GB] :thumbs_up:"
    assert run(target, "register", "-d", "lab[/x]", "--description", described).exit_code == 0
    assert run(target, "register", "-d", "nano[b]", "-a", "n[/b]").exit_code == 0
    table = run(target, "devices")
    assert table.exit_code == 0, table.output
    for text in ("lab[/x]", described, "nano[b]", "n[/b]"):
        assert text in table.stdout
    predicted = run(target, "predict", "-d", "lab[/x]", LIGHT)
    assert predicted.exit_code == 0 and "Predicted latency on lab[/x]" in predicted.stdout


@pytest.mark.parametrize(
    ("description", "raws", "shown"),
    [
        # The service refuses control characters in a description only since 83ef266: one
        # stored before, with ESC "[2J", still reached the terminal raw and cleared the screen
        # of whoever ran `client devices`.
        (
            "fast\x1b[2J\x1b[31mred\r\x9bA\tok",
            ("\x1b", "\x9b", "\r"),
            "fast\\x1b[2J\\x1b[31mred\\r\\x9bA",
        ),
        # A right-to-left override (U+202E) stored before format characters were refused
        # reversed the rest of its row, and a line separator (U+2028) broke it.
        (
            "gpu\u202eexe.\u2028next\u200b\tok",
            ("\u202e", "\u2028", "\u200b"),
            "gpu\\u202eexe.\\u2028next\\u200b",
        ),
    ],
)
def test_unprintable_characters_stored_before_they_were_refused_are_printed_escaped(
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    description: str,
    raws: tuple[str, ...],
    shown: str,
) -> None:
    from service import servicer

    monkeypatch.setattr(servicer, "_checked_description", lambda description: description)
    name = f"stored-early-{len(raws)}-{description[:3]}"
    with LatencyClient(target) as latency:
        latency.register_device(name, description=description)
    table = run(target, "devices")
    assert table.exit_code == 0, table.output
    for raw in raws:
        assert raw not in table.stdout
    assert shown in table.stdout


def test_target_from_environment(target: str) -> None:
    result = run(None, "devices", "--json", env={"LATENCY_TARGET": target})
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 4


def test_predict_outputs(target: str, tmp_path: Path) -> None:
    table = run(target, "predict", "--device", "pi4", LIGHT, HEAVY)
    assert table.exit_code == 0, table.output
    assert HEAVY in table.stdout and "90% high" in table.stdout
    payload = json.loads(run(target, "predict", "-d", "pi4", LIGHT, HEAVY, "--json").stdout)
    rows = payload["predictions"]
    assert payload["device"] == "pi4" and payload["model_version"]
    assert payload["warnings"] == []
    assert [r["arch"] for r in rows] == [LIGHT, HEAVY]
    for row in rows:
        assert row["lower_ms"] < row["mean_ms"] < row["upper_ms"] and row["variance_ms2"] > 0
    archs = tmp_path / "archs.txt"
    archs.write_text(f"# cells to check\n{LIGHT}\n\n{HEAVY}\n{CELL}\n")
    as_csv = run(target, "predict", "-d", "pi4", "--file", str(archs), "--csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["arch"] for r in parsed] == [LIGHT, HEAVY, CELL]
    assert float(parsed[1]["mean_ms"]) == pytest.approx(rows[1]["mean_ms"])
    from_stdin = run(target, "predict", "-d", "pi4", "-f", "-", "--json", stdin=f"{CELL}\n")
    assert json.loads(from_stdin.stdout)["predictions"][0]["arch"] == CELL
    # Strict JSON even where the service knows nothing (its interval may then be unbounded).
    assert run(target, "register", "-d", "blank").exit_code == 0
    blank = run(target, "predict", "-d", "blank", LIGHT, "--json").stdout
    json.loads(blank, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def test_register_add_suggest(target: str, tmp_path: Path) -> None:
    registered = run(
        target, "register", "--device", "jetson", "--alias", "nano", "-a", "jn",
        "--descriptor", "memory_gb=4", "-D", f"latency:{LIGHT}=2.5", "--description", "Jetson",
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    assert "registered jetson (aliases nano, jn)" in registered.stdout
    as_json = json.loads(run(target, "register", "-d", "tx2", "--json").stdout)
    assert as_json["name"] == "tx2" and as_json["measurement_count"] == 0

    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms,note\n{HEAVY},40.5,slow\n{CELL},12.25,\n")
    added = run(target, "add", "--device", "nano", "--file", str(measured))
    assert added.exit_code == 0, added.output
    assert "warning" not in added.stderr
    assert "accepted 2 measurements for nano; it now has 2" in added.stdout
    again = json.loads(run(target, "add", "-d", "jetson", "-f", str(measured), "--json").stdout)
    assert (again["accepted"], again["device_total"]) == (2, 4)

    picks = json.loads(run(target, "suggest-samples", "--device", "nano", "--json").stdout)
    assert len(picks["suggestions"]) == 10 and picks["model_version"] and picks["warnings"] == []
    for pick in picks["suggestions"]:
        assert pick["search_space"] == "nasbench201" and pick["std_ms"] > 0
    assert {HEAVY, CELL}.isdisjoint(p["arch"] for p in picks["suggestions"])
    table = run(target, "suggest-samples", "-d", "nano", "--count", "3")
    assert table.exit_code == 0 and "Measure next on nano" in table.stdout
    assert picks["suggestions"][0]["arch"] in table.stdout
    # The pool's measured and reference archs are left out: three others remain.
    unmeasured = [p["arch"] for p in picks["suggestions"][:3]]
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join([LIGHT, HEAVY, CELL, *unmeasured]))
    random_picks = run(
        target, "suggest-samples", "-d", "nano", "-n", "2", "--candidates", str(pool),
        "--strategy", "random", "--json",
    )  # fmt: skip
    chosen = [p["arch"] for p in json.loads(random_picks.stdout)["suggestions"]]
    assert len(chosen) == 2 and set(chosen) <= set(unmeasured)
    greedy = run(
        target, "suggest-samples", "-d", "nano", "-n", "2", "--candidates", str(pool),
        "--strategy", "greedy", "--json",
    )  # fmt: skip
    greedy_picks = {p["arch"] for p in json.loads(greedy.stdout)["suggestions"]}
    assert len(greedy_picks) == 2 and greedy_picks <= set(unmeasured)
    fbnet = tmp_path / "fbnet.txt"
    fbnet.write_text("\n".join(",".join([block] * 22) for block in ("k3_e1", "skip", "k5_e6")))
    fbnet_picks = run(target, "suggest-samples", "-d", "nano", "--candidates", str(fbnet), "--json")
    assert fbnet_picks.exit_code == 0, fbnet_picks.output  # the space follows the candidates
    assert {p["search_space"] for p in json.loads(fbnet_picks.stdout)["suggestions"]} == {"fbnet"}


def test_fewer_suggestions_than_asked_for_are_pointed_out(target: str, tmp_path: Path) -> None:
    """Before, --count 10 over a pool with two unmeasured archs printed a two-row table and said
    nothing: a script or a user took the pool for covered."""
    with LatencyClient(target) as latency:
        latency.register_device("short-pool")
        latency.add_measurements("short-pool", [(HEAVY, 40.5)])
    pool = tmp_path / "pool.txt"
    pool.write_text(f"{HEAVY}\n{LIGHT}\n{CELL}\n")
    args = ["suggest-samples", "-d", "short-pool", "--candidates", str(pool), "-n", "10"]
    result = run(target, *args, "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["suggestions"]) == 2
    assert "note: only 2 of the 10 suggestions asked for: no other arch" in result.stderr
    enough = run(target, *args[:-1], "2")
    assert enough.exit_code == 0 and enough.stderr == ""
    # A small pool of unmeasured archs was said to be measured (a review, 2026-12-06).
    pool.write_text(f"{LIGHT}\n{CELL}\n{LIGHT}\n")
    small = run(target, *args)
    assert small.exit_code == 0, small.output
    assert "note: only 2 of the 10 suggestions asked for: the pool holds 2 distinct archs" in (
        small.stderr
    )


def test_measurements_print_what_add_reads(target: str, tmp_path: Path) -> None:
    run(target, "register", "-d", "exporter")
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{HEAVY},40.5\n{CELL},12.25\n")
    assert run(target, "add", "-d", "exporter", "-f", str(measured)).exit_code == 0
    listed = run(target, "measurements", "-d", "exporter")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout == f"arch,latency_ms\n{HEAVY},40.5\n{CELL},12.25\n"
    run(target, "register", "-d", "copy")
    copied = run(target, "add", "-d", "copy", "-f", "-", stdin=listed.stdout)
    assert "accepted 2 measurements" in copied.stdout
    as_json = json.loads(run(target, "measurements", "-d", "copy", "--json").stdout)
    assert as_json == [{"arch": HEAVY, "latency_ms": 40.5}, {"arch": CELL, "latency_ms": 12.25}]
    assert_one_line_error(run(target, "measurements", "-d", "nobody"), "nobody", "NOT_FOUND")


def test_a_byte_order_mark_does_not_hide_the_arch_column(target: str, tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a byte-order mark, which was read as part of the first
    column's name: "missing ['arch']" for a file whose header plainly has it."""
    run(target, "register", "-d", "excel")
    exported = f"\ufeffarch,latency_ms\n{HEAVY},40.5\n"
    measured = tmp_path / "measured.csv"
    measured.write_text(exported, encoding="utf-8")
    added = run(target, "add", "-d", "excel", "-f", str(measured))
    assert added.exit_code == 0, added.output
    piped = run(target, "add", "-d", "excel", "-f", "-", stdin=exported.encode())
    assert piped.exit_code == 0, piped.output
    archs = tmp_path / "archs.csv"
    archs.write_text(f"\ufeffarch\n{LIGHT}\n", encoding="utf-8")
    predicted = run(target, "predict", "-d", "excel", "-f", str(archs), "--json")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["predictions"][0]["arch"] == LIGHT


def test_a_file_given_as_an_arch_points_to_file(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "ARCH argument 1: expected 3 groups separated by '+' ... in 'archs.txt'"."""
    monkeypatch.chdir(tmp_path)
    Path("archs.txt").write_text(CELL + "\n")
    result = run(target, "predict", "-d", "pi4", "archs.txt")
    assert_one_line_error(result, "'archs.txt' is a file: give it with --file archs.txt", code=2)


def test_a_long_vector_argument_is_predicted_not_taken_for_a_file_name(target: str) -> None:
    """Before, the check for a file given as an arch asked the OS about the vector's text, and
    a vector of more than 255 characters ended in "error: 0.125,...: File name too long"."""
    vector = ",".join(["0.125"] * 60)
    result = run(target, "predict", "-d", "pi4", "--space", "vector", vector, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["predictions"][0]["arch"] == vector


def test_measurements_in_another_space_are_pointed_to(target: str) -> None:
    """Before, a device measured only in FBNet listed an empty NB201 CSV and said nothing."""
    from client.api import LatencyClient
    from client.measure.networks import FBNET, random_archs

    (arch,) = random_archs(1, FBNET, seed=0)
    with LatencyClient(target) as latency:
        latency.register_device("fbnet-only")
        latency.add_measurements("fbnet-only", [(arch, 7.5)], search_space=FBNET)
    listed = run(target, "measurements", "-d", "fbnet-only")
    assert listed.exit_code == 0 and listed.stdout == "arch,latency_ms\n"
    assert "fbnet-only has no nasbench201 measurements, but has some under --space fbnet" in (
        listed.stderr
    )
    fbnet = run(target, "measurements", "-d", "fbnet-only", "--space", "fbnet")
    assert fbnet.stdout.count("\n") == 2 and fbnet.stderr == ""


def test_measurements_of_vectors_of_two_lengths_say_a_device_takes_one(
    target: str, server: RunningServer
) -> None:
    """Before, the listing of a device measured with 2- and 3-feature vectors was printed as
    one CSV without a word, which `add` then refused ("expected 2 features ..., got 3")."""
    assert run(target, "register", "-d", "two-lengths").exit_code == 0
    # As a store from before a device's vectors were held to one length may hold them.
    rows = [MeasurementRow("vector", "1.0,2.0", 3.0), MeasurementRow("vector", "1.0,2.0,3.0", 4.0)]
    server.store.add_measurements(server.store.resolve("two-lengths").id, rows)
    listed = run(target, "measurements", "-d", "two-lengths", "--space", "vector")
    assert listed.exit_code == 0 and listed.stdout.count("\n") == 3
    assert listed.stderr == (
        "note: two-lengths holds vectors of 2 and 3 features; a device takes one length, so"
        " upload each length's rows to a device of its own\n"
    )
    run(target, "register", "-d", "copy-of-two")
    refused = run(target, "add", "-d", "copy-of-two", "-f", "-", stdin=listed.stdout)
    assert_one_line_error(refused, "line 3: expected 2 features")


def test_add_of_vectors_of_another_length_than_the_devices_says_how_to_measure_them(
    target: str, tmp_path: Path
) -> None:
    """Before, 3-feature vectors added to a device measured with 2 were stored, a second model
    of the device of their few measurements."""
    assert run(target, "register", "-d", "vec-cli").exit_code == 0
    pairs, triples = tmp_path / "pairs.csv", tmp_path / "triples.csv"
    pairs.write_text('arch,latency_ms\n"1,2",3\n')
    triples.write_text('arch,latency_ms\n"1,2,3",4\n')
    added = run(target, "add", "-d", "vec-cli", "--space", "vector", "-f", str(pairs))
    assert added.exit_code == 0, added.output
    refused = run(target, "add", "-d", "vec-cli", "--space", "vector", "-f", str(triples))
    assert_one_line_error(
        refused,
        f"error: {triples} line 2: expected 2 features (the length of vec-cli's measured"
        " vectors), got 3; to measure it with another encoding, delete its vectors first",
        "`client delete --space vector`",
        "[INVALID_ARGUMENT]",
    )


def test_predict_reads_a_csv_on_stdin(target: str) -> None:
    """``client measurements | client predict --file -`` took the CSV header for an arch
    ("stdin line 1: expected 22 blocks, got 2"): only a .csv name made a CSV."""
    listed = f"arch,latency_ms\n{HEAVY},40.5\n{CELL},12.25\n"
    result = run(target, "predict", "-d", "pi4", "-f", "-", "--json", stdin=listed)
    assert result.exit_code == 0, result.output
    assert [p["arch"] for p in json.loads(result.stdout)["predictions"]] == [HEAVY, CELL]


def register_with(target: str, device: str, tmp_path: Path, rows: list[tuple[str, float]]) -> None:
    """Registers ``device`` and adds ``rows`` (arch, latency) to it from a CSV file."""
    assert run(target, "register", "-d", device).exit_code == 0
    measured = tmp_path / f"{device}.csv"
    measured.write_text("arch,latency_ms\n" + "".join(f"{a},{ms!r}\n" for a, ms in rows))
    assert run(target, "add", "-d", device, "-f", str(measured)).exit_code == 0


def test_delete_takes_back_what_add_stored(target: str, tmp_path: Path) -> None:
    register_with(target, "undo", tmp_path, [(CELL, 12.5), (LIGHT, 3.0), (LIGHT, 3.5)])
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(f"# slips\n{LIGHT}\n")
    deleted = run(target, "delete", "-d", "undo", "-f", str(wrong))
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.startswith("deleted 2 measurements of undo; it now has 1 (model ")
    assert deleted.stderr == ""
    listed = run(target, "measurements", "-d", "undo").stdout
    assert listed == f"arch,latency_ms\n{CELL},12.5\n"
    again = run(target, "delete", "-d", "undo", LIGHT, "--json")
    assert json.loads(again.stdout)["deleted"] == 0 and again.exit_code == 0
    assert again.stderr.startswith("warning: undo has no measurements of these archs")
    wrong.write_text(f"{CELL}\n|bad|\n")
    refused = run(target, "delete", "-d", "undo", "-f", str(wrong))
    assert_one_line_error(refused, f"{wrong} line 2: ")
    assert run(target, "measurements", "-d", "undo").stdout == listed


@pytest.mark.parametrize("command", ["add", "delete"])
def test_a_write_interrupted_after_it_was_sent_names_the_id_that_repeats_it_once(
    command: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while its answer was on the way: the write was carried out, nothing was said,
    and a rerun of 'client add' stored a file of 10,000 rows twice (a review)."""
    device = f"cut-{command}"
    register_with(target, device, tmp_path, [(CELL, 12.5), (LIGHT, 3.0)])
    method = "add_measurements" if command == "add" else "delete_measurements"
    carried_out = getattr(LatencyClient, method)

    def cut_off(self: LatencyClient, *args: object, **kwargs: object) -> None:
        carried_out(self, *args, **kwargs)
        raise KeyboardInterrupt

    written = tmp_path / "written.csv"
    written.write_text(f"arch,latency_ms\n{LIGHT},{4.0 if command == 'add' else 3.0}\n")
    monkeypatch.setattr(LatencyClient, method, cut_off)
    interrupted = run(target, command, "-d", device, "-f", str(written))
    write = "upload" if command == "add" else "deletion"
    warning = f"warning: interrupted: the {write} may have been stored all the same"
    assert interrupted.stderr.startswith(warning), interrupted.output
    (request_id,) = re.findall(r"--request-id (\S+)", interrupted.stderr)
    monkeypatch.undo()
    again = run(target, command, "-d", device, "-f", str(written), "--request-id", request_id)
    assert again.exit_code == 0, again.output
    stored = {(CELL, 12.5), (LIGHT, 3.0), (LIGHT, 4.0)} if command == "add" else {(CELL, 12.5)}
    with LatencyClient(target) as latency:  # once: the repeat carried out nothing more
        assert sorted(latency.measurements(device)) == sorted(stored)


def test_delete_of_a_listing_of_measurements_deletes_those_alone(
    target: str, tmp_path: Path
) -> None:
    """A file of archs deleted every measurement of each: the good ones of an arch measured
    three times went with its wrong one. A CSV with latencies deletes those values only."""
    register_with(target, "thrice", tmp_path, [(LIGHT, 3.0), (LIGHT, 3000.0), (LIGHT, 3.5)])
    listed = run(target, "measurements", "-d", "thrice").stdout
    wrong = "".join(line for line in listed.splitlines(True) if "3000" in line or "arch" in line)
    deleted = run(target, "delete", "-d", "thrice", "-f", "-", stdin=wrong)
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.startswith("deleted 1 measurement of thrice; it now has 2 (model ")
    assert deleted.stderr == ""
    assert run(target, "measurements", "-d", "thrice").stdout == (
        f"arch,latency_ms\n{LIGHT},3.0\n{LIGHT},3.5\n"
    )
    # R's write.csv quotes the header: it was no header, and the whole arch went.
    quoted = f'"arch","latency_ms"\n"{LIGHT}",3.0\n'
    deleted = run(target, "delete", "-d", "thrice", "-f", "-", stdin=quoted)
    assert deleted.stdout.startswith("deleted 1 measurement of thrice; it now has 1 (model ")
    rounded = run(
        target, "delete", "-d", "thrice", "-f", "-", stdin=f"arch,latency_ms\n{LIGHT},3.50001\n"
    )
    assert rounded.exit_code == 0 and "deleted 0 measurements" in rounded.stdout
    assert rounded.stderr.startswith("warning: thrice has none of these measurements")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"arch,latency_ms\n{LIGHT},3.0\n{LIGHT},-3.5\n")
    assert_one_line_error(run(target, "delete", "-d", "thrice", "-f", str(bad)), f"{bad} line 3: ")
    mixed = run(target, "delete", "-d", "thrice", CELL, "-f", str(bad))
    assert_one_line_error(mixed, "ARCH arguments delete every measurement", code=2)
    assert run(target, "measurements", "-d", "thrice").stdout.count("\n") == 2


def test_a_deletion_warns_of_the_archs_and_rows_that_matched_nothing_among_others(
    target: str, tmp_path: Path
) -> None:
    """Only a deletion of nothing was warned of: one stored arch beside a mistyped one, or a
    rounded value beside an exact one (a listing round-tripped through a spreadsheet),
    deleted what matched without a word (a review, 2026-12-06)."""
    register_with(target, "partly", tmp_path, [(LIGHT, 3.0), (LIGHT, 3.5), (HEAVY, 9.0)])
    rows = tmp_path / "rows.csv"
    rows.write_text(f"arch,latency_ms\n{LIGHT},3.0\n{LIGHT},3.50001\n")
    deleted = run(target, "delete", "-d", "partly", "-f", str(rows))
    assert deleted.exit_code == 0 and deleted.stdout.startswith("deleted 1 measurement")
    assert deleted.stderr == (
        f"warning: partly has no measurement of 1 of these measurements ({rows} line 3) (a"
        " latency must equal the stored one exactly): nothing of them was deleted\n"
    )
    archs = run(target, "delete", "-d", "partly", HEAVY, CELL)
    assert archs.exit_code == 0 and archs.stdout.startswith("deleted 1 measurement")
    assert archs.stderr == (
        "warning: partly has no measurement of 1 of these archs (ARCH argument 2): nothing of"
        " them was deleted\n"
    )


@pytest.mark.parametrize("command", ["add", "delete"])
def test_an_empty_request_id_is_refused_in_the_clis_terms(command: str, tmp_path: Path) -> None:
    """It said "request_id is empty: give None for a fresh one", the library's Python words."""
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{CELL},12.5\n")
    given = ["-f", str(measured)] if command == "add" else [CELL]
    refused = run(None, command, "-d", "pi4", *given, "--request-id", "")
    line = assert_one_line_error(refused, "--request-id", "omit --request-id", code=2)
    assert "None" not in line


def test_deleting_from_a_source_device_warns_that_its_table_is_incomplete(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning spoke of the next start only: meanwhile the source's predictions, made
    with the fit's copy of its table, stayed where they were, which read as a lost deletion.
    The server's log said it too little: an info line, like any deletion's."""
    caplog.set_level(logging.WARNING, logger="service.servicer")
    deleted = run(target, "delete", "-d", "pi4", CELL)
    assert "source device raspi4: NB201 measurements deleted" in caplog.text
    assert deleted.exit_code == 0, deleted.output
    assert "deleted 1 measurement of pi4" in deleted.stdout
    assert "warning: raspi4 is a source device of the shared model" in deleted.stderr
    assert "next start fits the model without it" in deleted.stderr
    assert "keeps the deleted latencies until it restarts" in deleted.stderr


def test_a_slip_deleted_exactly_from_a_source_device_warns_of_no_incomplete_table(
    target: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting the slipped arch emptied it in raspi4's table, which the warning rightly said;
    deleting the slip alone leaves the table whole, and said the same."""
    caplog.set_level(logging.WARNING, logger="service.servicer")
    slip = tmp_path / "slip.csv"
    slip.write_text(f"arch,latency_ms\n{CELL},5000.0\n")
    assert run(target, "add", "-d", "pi4", "-f", str(slip)).exit_code == 0
    deleted = run(target, "delete", "-d", "pi4", "-f", str(slip))
    assert deleted.exit_code == 0, deleted.output
    assert "deleted 1 measurement of pi4" in deleted.stdout
    assert deleted.stderr == ""
    assert "NB201 measurements deleted" not in caplog.text
    table = run(target, "measurements", "-d", "pi4").stdout
    value = next(line for line in table.splitlines() if line.startswith(f"{CELL},"))
    emptied = run(target, "delete", "-d", "pi4", "-f", "-", stdin=f"arch,latency_ms\n{value}\n")
    assert "deleted 1 measurement of pi4" in emptied.stdout
    assert "its NB201 table is incomplete now" in emptied.stderr


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("Latency_ms", "999"),
        ("latency", "999 ms"),  # by its name alone: its value is no number
        ("latency ms", "999"),
        ("time_ms", "999"),  # by its numbers alone
        ("ms", "999"),
    ],
)
def test_a_deletion_file_whose_latency_column_is_misnamed_deletes_nothing(
    target: str, column: str, value: str
) -> None:
    """It deleted every measurement of each arch, a source table's own value too, where the
    one wrong value was meant; add refuses the same header (a review, 2026-12-06)."""
    before = run(target, "measurements", "-d", "pi4").stdout
    assert run(target, "add", "-d", "pi4", CELL, "--latency-ms", "999").exit_code == 0
    slip = f"arch,{column}\n{CELL},{value}\n"
    refused = run(target, "delete", "-d", "pi4", "-f", "-", stdin=slip)
    assert refused.exit_code == 1, refused.output
    assert f"a column {column!r} but none named 'latency_ms'" in refused.stderr
    deleted = run(target, "delete", "-d", "pi4", CELL, "--latency-ms", "999")
    assert deleted.exit_code == 0 and run(target, "measurements", "-d", "pi4").stdout == before


@pytest.mark.parametrize("command", ["add", "delete"])
def test_latency_ms_takes_a_number_as_a_file_s_latency_is_read(command: str) -> None:
    """click's float() took "4_1.2" as 41.2, where the file reader refuses it (a review)."""
    refused = run("127.0.0.1:1", command, "-d", "x", CELL, "--latency-ms", "4_1.2")
    assert_one_line_error(refused, "'--latency-ms': '4_1.2' is no number", code=2)


def test_archs_listed_twice_in_a_report_s_file_are_found_however_spelt() -> None:
    """Raw spellings were compared: "0.10,0.2" beside "0.1,0.2" was not named, though both
    were scored as one arch (a review, 2026-12-06)."""
    from client.cli import _repeated_archs

    rows = [(2, "0.1,0.2", 1.0), (3, "5,6", 2.0), (4, "0.10,0.2", 1.1)]
    assert _repeated_archs(rows, None) == (
        "1 arch listed more than once (first '0.1,0.2', lines 2, 4): each row is scored as an"
        " arch of its own"
    )
    assert _repeated_archs([(2, "0,1", 1.0), (3, "-0,1", 1.0)], None).startswith("1 arch")
    assert _repeated_archs(rows[:2], None) == ""


def test_a_descriptor_value_is_a_number_as_a_latency_is() -> None:
    """float() took "memory_gb=1_6" as 16 (a review, 2026-12-06)."""
    refused = run("127.0.0.1:1", "register", "-d", "x", "--descriptor", "memory_gb=1_6")
    assert_one_line_error(refused, "descriptor 'memory_gb=1_6' is not KEY=NUMBER")


def test_a_deletion_file_with_an_arch_and_a_column_of_words_names_archs(tmp_path: Path) -> None:
    """Only a column that reads as latencies is refused: a note beside each arch is none."""
    listed = tmp_path / "wrong.csv"
    listed.write_text(f"arch,note\n{CELL},typo\n{LIGHT},\n")
    assert read_deletions(listed) == ([(2, CELL), (3, LIGHT)], [])


def test_a_deletion_file_with_a_misspelt_latency_column_in_capitals_is_refused(
    tmp_path: Path,
) -> None:
    """Its values not numbers, it would be read as a list of archs: every measurement of each
    deleted, not the one latency each row names."""
    listed = tmp_path / "wrong.csv"
    listed.write_text(f"arch,Latency_ms\n{CELL},12.5 ms\n")
    with pytest.raises(ClientInputError, match="a column 'Latency_ms' but none named 'latency_ms'"):
        read_deletions(listed)


def test_a_deletion_file_s_header_may_have_spaces_after_its_commas(tmp_path: Path) -> None:
    """As add's and predict's files may."""
    listed = tmp_path / "measured.csv"
    listed.write_text(f"arch, latency_ms\n{CELL}, 12.5\n")
    assert read_deletions(listed) == ([], [(2, CELL, 12.5)])


def test_adding_to_a_source_device_warns_that_it_joins_the_table(
    target: str, tmp_path: Path
) -> None:
    """A user timing their own Raspberry Pi as "pi4" would otherwise merge it, unannounced,
    into HELP's raspi4 table, and make the server refit at its next start."""
    measured = tmp_path / "mine.csv"
    measured.write_text(f"arch,latency_ms\n{CELL},5.0\n")
    added = run(target, "add", "-d", "pi4", "-f", str(measured))
    assert added.exit_code == 0, added.output
    assert "warning: raspi4 is a source device of the shared model" in added.stderr
    assert "accepted 1 measurement for pi4" in added.stdout


def test_adding_fbnet_archs_to_a_source_device_does_not_say_they_join_its_table(
    target: str, tmp_path: Path
) -> None:
    """raspi4's complete table is NB201: FBNet measurements are stored as its own beside it,
    but the warning said they joined it."""
    from gp.spaces.fbnet import random_archs

    measured = tmp_path / "mine.csv"
    measured.write_text(f'arch,latency_ms\n"{random_archs(1, seed=0)[0]}",5.0\n')
    added = run(target, "add", "-d", "pi4", "-f", str(measured))
    assert added.exit_code == 0, added.output
    warning = " ".join(added.stderr.split())
    assert "warning: raspi4 is a source device of the shared model" in warning
    assert "join its table" not in warning
    assert "these fbnet measurements become its own, beside its NB201 table" in warning
    # The fit key is of the sources' NB201 tables: an FBNet upload leaves the fit as it is.
    assert "refits" not in warning
    assert "the shared model, fitted on NB201 tables, does not change" in warning


def test_a_refused_upload_to_a_source_device_does_not_warn_that_it_joins_the_table(
    target: str, tmp_path: Path
) -> None:
    """Before, the warning came before the upload: an upload the service then refused was
    announced as joining raspi4's table, above the error that said nothing was stored."""
    measured = tmp_path / "mine.csv"
    measured.write_text(f"arch,latency_ms\n{CELL},-1\n")
    refused = run(target, "add", "-d", "pi4", "-f", str(measured))
    assert_one_line_error(refused, "latency -1.0 ms", "INVALID_ARGUMENT")


def test_adding_a_latency_in_seconds_warns_with_what_was_expected(
    target: str, tmp_path: Path
) -> None:
    """One of twelve fpga latencies given in seconds: the upload is stored, and stderr and the
    JSON name it, with the 90% interval its other measurements give (it holds the truth)."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs

    table, archs = load_help_dataset(service_fixtures.DATASET).table("fpga"), all_archs()
    picks = [int(i) for i in np.random.default_rng(0).choice(len(archs), 12, replace=False)]
    given = {archs[i]: float(table[i]) for i in picks}
    given[archs[picks[-1]]] /= 1000
    measured = tmp_path / "fpga.csv"
    measured.write_text("arch,latency_ms\n" + "".join(f"{a},{v!r}\n" for a, v in given.items()))
    assert run(target, "register", "-d", "fpga-like").exit_code == 0
    added = run(target, "add", "-d", "fpga-like", "-f", str(measured), "--json")
    assert added.exit_code == 0, added.output
    [surprise] = json.loads(added.stdout)["surprising"]
    assert surprise["arch"] == archs[picks[-1]]
    assert surprise["lower_ms"] < table[picks[-1]] < surprise["upper_ms"]
    assert f"warning: {archs[picks[-1]]} at " in added.stderr
    assert "measure that arch twice more" in added.stderr


def test_the_hint_of_a_surprising_upload_deletes_that_value_alone(
    target: str, tmp_path: Path
) -> None:
    """The hint deleted every measurement of the arch ('client delete --device D ARCH'): on a
    source device, the table's own value beside the slip, which left the table incomplete;
    here, the right measurement uploaded after the wrong one."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs

    table, archs = load_help_dataset(service_fixtures.DATASET).table("fpga"), all_archs()
    picks = [int(i) for i in np.random.default_rng(0).choice(len(archs), 12, replace=False)]
    slipped, right = archs[picks[-1]], float(table[picks[-1]])
    rows = [f"{archs[i]},{float(table[i])!r}\n" for i in picks[:-1]]
    measured, remeasured = tmp_path / "fpga.csv", tmp_path / "again.csv"
    measured.write_text("arch,latency_ms\n" + "".join(rows) + f"{slipped},{right / 1000!r}\n")
    remeasured.write_text(f"arch,latency_ms\n{slipped},{right!r}\n")
    assert run(target, "register", "-d", "fpga-exact").exit_code == 0
    added = run(target, "add", "-d", "fpga-exact", "-f", str(measured))
    assert added.exit_code == 0, added.output
    found = re.search(r"delete it \((client [^)]*)\)", added.stderr)
    assert found, added.output
    command = shlex.split(found[1])
    assert command[-2:] == ["--latency-ms", repr(right / 1000)]
    assert run(target, "add", "-d", "fpga-exact", "-f", str(remeasured)).exit_code == 0
    deleted = run(None, *command[1:])  # as printed, with its --target
    assert deleted.stdout.startswith("deleted 1 measurement of fpga-exact; it now has 12")
    listed = run(target, "measurements", "-d", "fpga-exact").stdout
    assert f"{slipped},{right!r}\n" in listed and f"{right / 1000!r}" not in listed


def test_a_pasted_command_is_given_the_connection_options_of_the_call_it_follows() -> None:
    """Those that reach the same server, no more: the target, even the default (pasted bare
    where $LATENCY_TARGET is set, it went elsewhere), not the timeout and retries; a CA
    certificate already makes the call TLS."""
    assert ConnectionOptions(timeout_s=3.0, retries=0).command_words() == [
        "--target",
        "127.0.0.1:50051",
    ]
    secured = ConnectionOptions("h:1", Path("token"), Path("ca.pem"), tls=True)
    words = ["--target", "h:1", "--token-file", "token", "--ca-cert", "ca.pem"]
    assert secured.command_words() == words
    assert ConnectionOptions(tls=True).command_words() == ["--target", "127.0.0.1:50051", "--tls"]


def test_the_hint_finds_the_uploaded_value_of_an_arch_spelt_otherwise(
    target: str, tmp_path: Path
) -> None:
    """A vector typed "3,9" is stored as "3.0,9.0": the value was looked up by the arch as
    typed, found none, and the hint deleted every measurement of the arch (a review,
    2026-12-06)."""
    rows = [f'"{i},{3 * i}",{2.0 + 0.5 * i!r}\n' for i in range(1, 13)]
    rows[-1] = f'"13,39",{(2.0 + 0.5 * 13) * 1000!r}\n'  # a slip x1000
    measured = tmp_path / "vectors.csv"
    measured.write_text("arch,latency_ms\n" + "".join(rows))
    assert run(target, "register", "-d", "vector-typed").exit_code == 0
    added = run(target, "add", "-d", "vector-typed", "--space", "vector", "-f", str(measured))
    assert added.exit_code == 0, added.output
    found = re.search(r"delete it \((client [^)]*)\)", added.stderr)
    assert found, added.output
    assert shlex.split(found[1])[-3:] == ["13.0,39.0", "--latency-ms", repr(8500.0)]


def test_latency_ms_takes_one_arch_alone(target: str, tmp_path: Path) -> None:
    refused = run(target, "delete", "-d", "pi4", CELL, LIGHT, "--latency-ms", "3.0")
    assert refused.exit_code == 2 and "give exactly one ARCH with it" in refused.stderr


def test_predicting_a_space_the_device_has_no_measurements_of_warns(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An FBNet prediction of a device measured on NB201 alone is the prior's guess (a tenth of
    a second, its sd a second), which the table printed as any other prediction. The service
    says so in its answer, so that the library's callers learn it too."""
    fbnet = ",".join(["k5_e6"] * 22)
    assert run(target, "register", "-d", "nb201-only").exit_code == 0
    assert run(target, "add", "-d", "nb201-only", CELL, "--latency-ms", "3.0").exit_code == 0
    with caplog.at_level(logging.WARNING, logger="client.api"):
        predicted = run(target, "predict", "-d", "nb201-only", "--space", "fbnet", fbnet)
    assert predicted.exit_code == 0, predicted.output
    assert "nb201-only: no fbnet measurements: these are the prior's guesses" in caplog.text
    assert (
        "(AddMeasurements; the Python CLI: client add --space fbnet or client measure --space"
        " fbnet)" in caplog.text
    )
    as_json = run(target, "predict", "-d", "nb201-only", "--space", "vector", "1.5,2.5", "--json")
    (said,) = json.loads(as_json.stdout)["warnings"]
    assert said.startswith("no vector measurements") and "client add --space vector" in said
    assert "client measure" not in said  # it times networks; a vector is the caller's own
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="client.api"):
        assert run(target, "predict", "-d", "nb201-only", CELL).exit_code == 0
    assert "prior's guesses" not in caplog.text
    assert run(target, "add", "-d", "nb201-only", fbnet, "--latency-ms", "9.0").exit_code == 0
    measured = run(target, "predict", "-d", "nb201-only", "--space", "fbnet", fbnet, "--json")
    assert measured.exit_code == 0 and json.loads(measured.stdout)["warnings"] == []


def test_the_service_s_warnings_are_logged_and_in_the_json(
    target: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A vector feature that is 0 up to rounding is taken as 0: the service says so (``python -m
    client`` echoes the library's log as ``warning: ...`` on stderr)."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, 11), rng.uniform(0, 100, 11)
    rows = np.c_[rng.uniform(1e7, 1e9, 11), rng.integers(5, 30, 11), (a + b) - b - a]
    vectors = [",".join(repr(float(x)) for x in row) for row in rows]
    measured = tmp_path / "vectors.csv"
    lines = [f'"{v}",{1 + float(row[0]) / 1e8}' for v, row in zip(vectors, rows[:10], strict=False)]
    measured.write_text("arch,latency_ms\n" + "\n".join(lines) + "\n")
    assert run(target, "register", "-d", "rounded").exit_code == 0
    with caplog.at_level(logging.WARNING, logger="client.api"):
        added = run(target, "add", "-d", "rounded", "-f", str(measured), "--json")
    assert added.exit_code == 0, added.output
    (checked,) = json.loads(added.stdout)["warnings"]  # the upload's surprise check's model
    assert checked.startswith("vector features x2: 0 up to rounding"), checked
    assert f"rounded: {checked}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="client.api"):
        table = run(target, "predict", "-d", "rounded", "--space", "vector", vectors[10])
    assert table.exit_code == 0, table.output
    assert "rounded: vector features x2: 0 up to rounding" in caplog.text
    as_json = run(target, "predict", "-d", "rounded", "--space", "vector", vectors[10], "--json")
    (said,) = json.loads(as_json.stdout)["warnings"]
    assert said.startswith("vector features x2: 0 up to rounding"), said


def test_add_uploads_one_arch_given_with_its_latency(target: str) -> None:
    assert run(target, "register", "-d", "by-hand").exit_code == 0
    added = run(target, "add", "-d", "by-hand", CELL, "--latency-ms", "3.25")
    assert added.stdout.startswith("accepted 1 measurement for by-hand"), added.output
    assert f"{CELL},3.25\n" in run(target, "measurements", "-d", "by-hand").stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([CELL], "give the arch's measured latency with --latency-ms"),
        (["--latency-ms", "3"], "no measurements: give a --file of them"),
        ([], "no measurements: give a --file of them"),
        ([CELL, "--latency-ms", "3", "--file", "FILE"], "or one ARCH with --latency-ms, not both"),
        (["--latency-ms", "3", "--file", "FILE"], "or one ARCH with --latency-ms, not both"),
        (["FILE", "--latency-ms", "3"], "is a file: give it with --file"),
    ],
)
def test_add_takes_a_file_or_one_arch_with_its_latency(
    args: list[str], says: str, target: str, tmp_path: Path
) -> None:
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{CELL},3.0\n")
    given = [str(measured) if arg == "FILE" else arg for arg in args]
    refused = run(target, "add", "-d", "pi4", *given)
    assert refused.exit_code == 2 and says in refused.stderr, refused.output


@pytest.mark.parametrize("slip", ["seconds", "ms"])
def test_a_surprising_latency_is_echoed_as_uploaded(slip: str, target: str, tmp_path: Path) -> None:
    """5 ms given as 0.005 among latencies in ms, or as 5 among latencies in seconds: the JSON
    said 0.005000000000000002 and 4.999999999999999, the exp of the latency's log."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs

    table, archs = load_help_dataset(service_fixtures.DATASET).table("fpga"), all_archs()
    picks = [int(i) for i in np.random.default_rng(2).choice(len(archs), 12, replace=False)]
    others_scale, given = (1.0, 0.005) if slip == "seconds" else (0.001, 5.0)
    rows = [f"{archs[i]},{float(table[i]) * others_scale!r}\n" for i in picks[1:]]
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{archs[picks[0]]},{given!r}\n" + "".join(rows))
    assert run(target, "register", "-d", f"fpga-{slip}").exit_code == 0
    added = run(target, "add", "-d", f"fpga-{slip}", "-f", str(measured), "--json")
    assert added.exit_code == 0, added.output
    [surprise] = json.loads(added.stdout)["surprising"]
    assert (surprise["arch"], surprise["latency_ms"]) == (archs[picks[0]], given)


def test_a_clean_upload_warns_of_a_slip_measured_before_it(target: str, tmp_path: Path) -> None:
    """A latency in seconds uploaded alone, then eleven right ones: the second upload names
    the first, which drags every prediction of the device."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs

    table, archs = load_help_dataset(service_fixtures.DATASET).table("fpga"), all_archs()
    picks = [int(i) for i in np.random.default_rng(1).choice(len(archs), 12, replace=False)]
    slip, clean = tmp_path / "slip.csv", tmp_path / "clean.csv"
    slip.write_text(f"arch,latency_ms\n{archs[picks[0]]},{float(table[picks[0]]) / 1000!r}\n")
    clean.write_text(
        "arch,latency_ms\n" + "".join(f"{archs[i]},{float(table[i])!r}\n" for i in picks[1:])
    )
    assert run(target, "register", "-d", "fpga-slip-first").exit_code == 0
    assert run(target, "add", "-d", "fpga-slip-first", "-f", str(slip)).exit_code == 0
    added = run(target, "add", "-d", "fpga-slip-first", "-f", str(clean), "--json")
    assert added.exit_code == 0, added.output
    answer = json.loads(added.stdout)
    assert answer["surprising"] == []
    assert [s["arch"] for s in answer["surprising_before"]] == [archs[picks[0]]]
    assert f"warning: measured before this upload, {archs[picks[0]]} at " in added.stderr
    # The command that deletes it, ready to paste (it said "--device DEVICE ARCH").
    assert f"(client --target {target} delete --device fpga-slip-first '{archs[picks[0]]}')" in (
        added.stderr
    )


# ---- errors ----------------------------------------------------------------------------------
def test_service_errors_are_one_line(target: str) -> None:
    line = assert_one_line_error(run(target, "predict", "-d", "nobody", LIGHT), "NOT_FOUND")
    assert "unknown device 'nobody'; 'client devices' lists the registered ones" in line
    typo = assert_one_line_error(run(target, "predict", "-d", "raspi", LIGHT), "NOT_FOUND")
    assert "unknown device 'raspi' (did you mean 'raspi4'?)" in typo
    bad_arg = run(target, "predict", "-d", "pi4", LIGHT, "|bad~0|")
    assert_one_line_error(bad_arg, "error: ARCH argument 2: ", "INVALID")
    assert_one_line_error(run(target, "register", "-d", "pi4"), "ALREADY_EXISTS")
    assert_one_line_error(run(target, "suggest-samples", "-d", "pi4"), "INVALID_ARGUMENT")


def test_an_upload_past_its_deadline_names_the_id_that_repeats_it_once(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt of an upload can pass its deadline after the server stored it: the CLI
    said only "Deadline Exceeded", and adding the file again stored it twice. It now names
    the upload's id, and ``add --request-id`` with it is answered without storing again."""
    from client.errors import DeadlineExceededError

    assert run(target, "register", "-d", "late-answer").exit_code == 0
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{LIGHT},3.5\n")
    call = LatencyClient._call

    def stored_but_late(self: LatencyClient, method: str, *args: object, **kwargs: object):
        answer = call(self, method, *args, **kwargs)
        if method == "AddMeasurements":
            raise DeadlineExceededError("Deadline Exceeded", method=method, target=target)
        return answer

    monkeypatch.setattr(LatencyClient, "_call", stored_but_late)
    failed = run(target, "--timeout", "5", "add", "-d", "late-answer", "-f", str(measured))
    assert_one_line_error(
        failed, "--timeout", "may have been stored", "client measurements", "[DEADLINE_EXCEEDED]"
    )
    request_id = re.search(r"--request-id (\w+)", failed.stderr).group(1)
    monkeypatch.undo()
    again = run(target, "add", "-d", "late-answer", "-f", str(measured), "--request-id", request_id)
    assert again.exit_code == 0, again.output
    assert "it now has 1 " in again.stdout
    listed = run(target, "measurements", "-d", "late-answer")
    assert listed.stdout.count(LIGHT) == 1


def test_a_call_past_its_deadline_names_the_wait_and_the_option(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library names its setting (timeout_s); the CLI, its option (a review)."""
    from types import SimpleNamespace

    import grpc

    from tests.helpers import FakeRpcError

    def too_slow(request: object, **kwargs: object) -> None:
        raise FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    call = LatencyClient._call

    def late(self: LatencyClient, method: str, request: object, *args: object, **kwargs: bool):
        return call(self, method, request, SimpleNamespace(**{method: too_slow}), **kwargs)

    monkeypatch.setattr(LatencyClient, "_call", late)
    failed = run(target, "--timeout", "2.5", "devices")
    assert "error: Deadline Exceeded (no answer within 2.5 s: --timeout)" in failed.stderr


def test_a_deletion_past_its_deadline_names_the_command_that_repeats_it(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deletion given up on was said to be an upload, to repeat with 'client add'."""
    from client.errors import DeadlineExceededError

    def late(self: LatencyClient, method: str, *args: object, **kwargs: object) -> None:
        raise DeadlineExceededError("Deadline Exceeded", method=method, target=target)

    monkeypatch.setattr(LatencyClient, "_call", late)
    failed = run(target, "--timeout", "5", "delete", "-d", "pi4", LIGHT)
    line = assert_one_line_error(failed, "the deletion may have been stored", "[DEADLINE_EXCEEDED]")
    assert re.search(r"'client delete' with --request-id \w+ repeats it without deleting", line)


def test_a_server_without_the_commands_rpc_is_said_to_be_older() -> None:
    """A server of the version before DeleteMeasurements answered 'client delete' with
    grpc's bare "error: Method not found! [UNIMPLEMENTED]"."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # no service of ours
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        target = f"127.0.0.1:{port}"
        failed = run(target, "--retries", "0", "delete", "-d", "pi4", LIGHT)
    finally:
        server.stop(None)
    assert_one_line_error(
        failed,
        f"the service at {target} has no DeleteMeasurements",
        "a latency service older than this client (upgrade it",
        "[UNIMPLEMENTED]",
    )


def test_a_failed_look_up_after_an_upload_does_not_hide_that_it_was_stored(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``add`` looks the device up after the upload (to warn of a source device); that
    look-up failing ended the command in an error, as if the upload had failed, and adding
    the file again stored it twice."""
    from client.errors import UnavailableError

    def gone(self: LatencyClient, *args: object, **kwargs: object) -> None:
        raise UnavailableError("server went away", method="GetDevice", target=target)

    monkeypatch.setattr(LatencyClient, "device", gone)
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{LIGHT},3.5\n")
    result = run(target, "add", "-d", "pi4", "-f", str(measured))
    assert result.exit_code == 0, result.output
    assert "accepted 1 measurement for pi4" in result.stdout
    assert "warning: uploaded, but could not look pi4 up afterwards" in result.stderr


def test_input_errors_are_one_line(target: str, tmp_path: Path) -> None:
    both = run(target, "predict", "-d", "pi4", LIGHT, "--json", "--csv")
    assert_one_line_error(both, "one of", code=2)  # a misused option, as the README says
    assert_one_line_error(run(target, "register", "-d", "x", "-D", "speed"), "KEY=NUMBER")
    no_header = tmp_path / "plain.csv"
    no_header.write_text(f"{LIGHT},3.0\n")
    assert_one_line_error(run(target, "add", "-d", "pi4", "-f", str(no_header)), "header")
    bad_value = tmp_path / "bad.csv"
    bad_value.write_text(f"arch,latency_ms\n{LIGHT},3.0\n{HEAVY},fast\n")
    assert_one_line_error(run(target, "add", "-d", "pi4", "-f", str(bad_value)), "line 3", "fast")
    missing = str(tmp_path / "missing.txt")
    assert_one_line_error(run(target, "predict", "-d", "pi4", "-f", missing), "missing.txt")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["predict", "-d", "pi4", "|nor\udcff|"], "ARCH argument 1: arch '|nor\\udcff|'"),
        (["predict", "-d", "pi\udcff", LIGHT], "device 'pi\\udcff'"),
        (["register", "-d", "jet\udcff"], "name 'jet\\udcff'"),
        (["suggest-samples", "-d", "pi4\udcff"], "device 'pi4\\udcff'"),
    ],
    ids=["arch", "device", "new-name", "suggest"],
)
def test_an_argument_that_is_not_utf8_is_one_line(
    target: str, args: list[str], fragment: str
) -> None:
    """Bytes of an argument that are not UTF-8 (a name typed in a Latin-1 terminal) reach
    Python as lone surrogates (U+DCFF for the byte 0xff), which protobuf refused in a
    UnicodeEncodeError traceback."""
    assert_one_line_error(run(target, *args), fragment, "is not UTF-8 text")


@pytest.mark.parametrize(
    "row",
    [f"{LIGHT},3,5", "0.5,1.5,4.2,3.0", "k3_e1,skip,k5_e6,3.0"],
    ids=["comma", "vector", "fbnet"],
)
def test_a_row_with_more_fields_than_the_header_is_refused(tmp_path: Path, row: str) -> None:
    """The csv reader dropped fields beyond the header's: a decimal comma read "3,5" as 3 ms,
    and an unquoted vector or FBNet arch was scored as its first number or block, measured at
    its second, without a word (report) or refused by the service for another reason (add)."""
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{row}\n")
    expected = f"{measured} line 2: "
    for command in ("add", "report"):
        result = run(None, command, "-d", "pi4", "-f" if command == "add" else "-m", str(measured))
        assert_one_line_error(result, expected, "quote an arch that holds commas")
    measured.write_text(f"arch,latency_ms\n{LIGHT},3.5,\n")  # an empty trailing field: harmless
    assert read_measurements(measured) == [(2, LIGHT, 3.5)]


def test_a_list_of_archs_with_more_fields_than_its_header_is_refused(tmp_path: Path) -> None:
    """An unquoted vector under an arch header was read as its first number, and predicted
    (with a misleading NB201-index warning) as a 1-feature vector."""
    listed = tmp_path / "archs.csv"
    listed.write_text("arch\n1,2,3\n")
    for command in ("predict", "delete"):
        result = run(None, command, "-d", "pi4", "-f", str(listed))
        assert_one_line_error(result, f"{listed} line 2: 3 fields where the header has 1")
    listed.write_text('arch\n"1,2,3"\n')
    assert read_arch_lines(listed) == [(2, "1,2,3")]


def test_a_descriptor_key_given_twice_is_refused(target: str) -> None:
    """Before, -D memory_gb=4 -D memory_gb=8 registered 8 without a word: a typo in one of
    several -D options silently dropped another value."""
    twice = run(target, "register", "-d", "twice", "-D", "memory_gb=4", "-D", "memory_gb =8")
    assert_one_line_error(twice, "descriptor key 'memory_gb' is given twice (4.0 and 8.0)")
    assert "twice" not in {d["name"] for d in json.loads(run(target, "devices", "--json").stdout)}


def test_spaces_around_header_names_are_ignored_like_around_values(
    target: str, tmp_path: Path
) -> None:
    """Values were stripped, but a header typed "arch, latency_ms" was refused as missing
    latency_ms, which it plainly has (and "latency_ms, arch" as having no 'arch' column)."""
    assert run(target, "register", "-d", "typed").exit_code == 0
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch, latency_ms\n{HEAVY}, 40.5\n")
    added = run(target, "add", "-d", "typed", "-f", str(measured))
    assert added.exit_code == 0 and "accepted 1 measurement " in added.stdout, added.output
    archs = tmp_path / "archs.csv"
    archs.write_text(f"latency_ms, arch\n40.5, {LIGHT}\n")
    predicted = run(target, "predict", "-d", "typed", "-f", str(archs), "--json")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["predictions"][0]["arch"] == LIGHT


def test_unreadable_input_files_are_one_line_errors(target: str, tmp_path: Path) -> None:
    """Bytes that are not UTF-8 (a binary or Latin-1 file given by mistake) and a CSV field
    over the csv module's limit (a long feature vector) ended in tracebacks."""
    binary = tmp_path / "archs.bin"
    binary.write_bytes(b"\xff\xfe\x00|none~0|\n")
    result = run(target, "predict", "-d", "pi4", "-f", str(binary))
    assert_one_line_error(result, f"{binary}: not UTF-8 text")
    assert_one_line_error(
        run(target, "predict", "-d", "pi4", "-f", "-", stdin=b"\xff\n"), "stdin: not"
    )
    wide = tmp_path / "wide.csv"
    wide.write_text('arch,latency_ms\n"' + ",".join(["1.5"] * 40_000) + '",3.0\n')
    assert_one_line_error(run(target, "add", "-d", "pi4", "-f", str(wide)), f"{wide}: field")


def test_errors_in_stdin_name_it_stdin(target: str) -> None:
    """Most errors in a file given as ``-`` named it "-" ("-: no measurements")."""
    add = ["add", "-d", "pi4", "-f", "-"]
    assert_one_line_error(run(target, *add, stdin=f"{LIGHT},3.0\n"), "error: stdin: needs a header")
    no_number = f"arch,latency_ms\n{LIGHT},fast\n"
    assert_one_line_error(run(target, *add, stdin=no_number), "error: stdin line 2: latency")
    assert_one_line_error(run(target, *add, stdin="arch,latency_ms\n"), "error: stdin: no meas")
    pool = ["suggest-samples", "-d", "pi4", "--candidates", "-"]
    assert_one_line_error(run(target, *pool, stdin="# none\n"), "--candidates stdin: no archs")


def test_rejected_items_are_named_by_their_line_in_the_file(target: str, tmp_path: Path) -> None:
    """The service counts items from 0 within a request; a user reads line numbers."""
    archs = tmp_path / "archs.txt"
    archs.write_text(f"# mine\n{LIGHT}\n\n|bad~0|\n")
    predicted = run(target, "predict", "-d", "pi4", CELL, "-f", str(archs))
    assert_one_line_error(predicted, f"error: {archs} line 4: ", "'|bad~0|'", "INVALID_ARGUMENT")
    pool = run(target, "suggest-samples", "-d", "pi4", "--candidates", str(archs))
    assert_one_line_error(pool, f"error: {archs} line 4: ", "INVALID_ARGUMENT")
    from_stdin = run(target, "predict", "-d", "pi4", "-f", "-", stdin=f"{LIGHT}\n|bad~0|\n")
    assert_one_line_error(from_stdin, "error: stdin line 2: ", "INVALID_ARGUMENT")
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{LIGHT},2.0\n\n{HEAVY},-1\n")
    assert run(target, "register", "-d", "mine").exit_code == 0
    added = run(target, "add", "-d", "mine", "-f", str(measured))
    assert_one_line_error(added, f"error: {measured} line 4: latency -1.0 ms", "INVALID_ARGUMENT")


def test_vectors_the_client_refuses_are_named_by_their_line_too(
    target: str, tmp_path: Path
) -> None:
    """A feature vector that is not numbers is refused before sending, and was named by its
    index from 0 ("arch 1: ...", "measurement 1: ...") rather than by its line in the file."""
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("# mine\n1,2\n3,x\n")
    refused = "a feature vector must hold numbers"
    predicted = run(target, "predict", "-d", "pi4", "--space", "vector", "-f", str(vectors))
    assert_one_line_error(predicted, f"error: {vectors} line 3: {refused}")
    pool = ["suggest-samples", "-d", "pi4", "--space", "vector", "--candidates", str(vectors)]
    assert_one_line_error(run(target, *pool), f"error: {vectors} line 3: {refused}")
    measured = tmp_path / "measured.csv"
    measured.write_text('arch,latency_ms\n"1,2",3\n\n"3,x",4\n')
    assert run(target, "register", "-d", "vectors").exit_code == 0
    added = run(target, "add", "-d", "vectors", "--space", "vector", "-f", str(measured))
    assert_one_line_error(added, f"error: {measured} line 4: {refused}")


def test_an_empty_candidate_file_is_an_error_not_the_whole_space(
    target: str, tmp_path: Path
) -> None:
    empty = tmp_path / "none.txt"
    empty.write_text("# filtered out everything\n")
    result = run(target, "suggest-samples", "-d", "pi4", "--candidates", str(empty))
    assert_one_line_error(result, f"--candidates {empty}: no archs in it")


def test_an_empty_arch_file_is_named_not_asked_for(target: str, tmp_path: Path) -> None:
    """Before, predict --file of a file with no arch said "give ARCH arguments or --file"."""
    empty = tmp_path / "held_out.csv"
    empty.write_text("arch,latency_ms\n")
    result = run(target, "predict", "-d", "pi4", "--file", str(empty))
    assert_one_line_error(result, f"--file {empty}: no archs in it")
    result = run(target, "predict", "-d", "pi4", "--file", "-", stdin="# none\n")
    assert_one_line_error(result, "--file stdin: no archs in it")


def test_usage_errors_are_one_line(target: str) -> None:
    assert_one_line_error(run(target, "predict", LIGHT), "--device", code=2)
    assert_one_line_error(run(target, "predict", "-d", "pi4"), "no architectures", code=2)
    assert_one_line_error(run(target, "suggest-samples", "-d", "pi4", "-n", "0"), code=2)
    for space in ("fbnet", "vector"):  # the service's refusal named no option (a user review)
        no_pool = run(target, "suggest-samples", "-d", "pi4", "--space", space)
        assert_one_line_error(
            no_pool, f"{space} has no default pool: give one with --candidates", code=2
        )
    assert_one_line_error(run(target, "predict", "-d", "pi4", "--bogus", LIGHT), "--bogus", code=2)
    assert_one_line_error(run(None, "--timeout", "soon", "devices"), "--timeout", code=2)
    assert_one_line_error(run(None, "--bogus"), "client --help", code=2)
    assert_one_line_error(run(None, "bogus"), "No such command", code=2)


@pytest.mark.parametrize("command", ["devices", "measure"])
def test_a_connection_option_after_the_command_says_where_it_goes(command: str) -> None:
    """It said "No such option: --target (Possible options: --retime)" after measure: the
    README's connection options go before the command."""
    result = run(None, command, "--target", "127.0.0.1:50051")
    line = assert_one_line_error(result, code=2)
    assert f"--target is an option of 'client' itself, not of '{command}'" in line
    assert "'client --target ... " in line and "(see 'client --help')" in line


@pytest.mark.parametrize(
    ("option", "value"),
    [("--seed", "-1"), ("--seed", str(2**63)), ("--count", str(2**31))],
)
def test_a_count_or_seed_beyond_the_wire_is_refused_by_its_option_name(
    target: str, option: str, value: str
) -> None:
    """Before, the library refused them, naming its own argument and exiting 1 as for a
    service error: "error: seed must be a whole number from 0 to 9223372036854775807"."""
    result = run(target, "suggest-samples", "-d", "pi4", option, value)
    assert_one_line_error(result, f"'{option}'", code=2)


def test_a_target_without_a_port_is_a_usage_error() -> None:
    """Before, grpc dialled port 443 and the error came after the retries, as UNAVAILABLE."""
    result = run(None, "--target", "gpu-box", "devices")
    assert_one_line_error(result, "'gpu-box' is not host:port (e.g. gpu-box:50051)", code=2)
    from_env = run(None, "devices", env={"LATENCY_TARGET": "gpu-box"})
    assert_one_line_error(from_env, "LATENCY_TARGET", code=2)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("", "'' is not host:port (e.g. 127.0.0.1:50051)"),  # its hint was ":50051"
        ("gpu-box:", "'gpu-box:' is not host:port"),  # grpc dialled port 443
        ("gpu-box:99999", "port 99999 is beyond 65535"),  # grpc dialled 99999 - 65536
    ],
)
def test_a_target_the_server_would_not_take_is_a_usage_error(target: str, problem: str) -> None:
    """--target is checked by the rule the server's --address is (service/addresses.py)."""
    result = run(None, "--target", target, "--retries", "0", "devices")
    assert_one_line_error(result, "--target / $LATENCY_TARGET", problem, code=2)


def test_a_timeout_that_is_not_a_finite_number_is_refused_by_its_option_name() -> None:
    """Before, the library refused it, naming its own field: "timeout_s and batch_size must be
    positive, ...; got timeout_s=inf, batch_size=20000, ..."."""
    for value in ("inf", "nan"):
        refused = assert_one_line_error(run(None, "--timeout", value, "devices"), code=2)
        assert "'--timeout'" in refused and "timeout_s" not in refused
    from_env = run(None, "devices", env={"LATENCY_TIMEOUT": "inf"})
    assert_one_line_error(from_env, "LATENCY_TIMEOUT", "inf is not a finite number", code=2)
    # click's float() took "1_0" as 10 (a review, 2026-12-06).
    assert_one_line_error(run(None, "--timeout", "1_0", "devices"), "'1_0' is no number", code=2)
    too_short = run(None, "--timeout", "0.0001", "devices")
    assert_one_line_error(too_short, "0.0001 is not in the range x>=0.001", code=2)
    # Not rounded to the bound it falls short of ("0.001 is not in the range x>=0.001").
    just_short = run(None, "--timeout", "0.00099999999", "devices")
    assert_one_line_error(just_short, "0.00099999999 is not in the range x>=0.001", code=2)
    tiny = run(None, "--timeout", "0.00001", "devices")  # as typed: repr said 1e-05
    assert_one_line_error(tiny, "0.00001 is not in the range x>=0.001", code=2)


def test_unreachable_target() -> None:
    target = f"127.0.0.1:{service_fixtures.free_port()}"
    result = run(None, "--target", target, "--retries", "0", "devices")
    assert_one_line_error(result, f"the latency service at {target} is unavailable", "UNAVAILABLE")


def test_a_grpc_uri_target_is_taken_as_the_library_takes_it(target: str) -> None:
    """The CLI refused `dns:///host:port`, which LatencyClient and from_env take, with "an
    IPv6 host needs brackets" (a review, 2026-12-06)."""
    listed = run(None, "devices", "--json", env={"LATENCY_TARGET": f"dns:///{target}"})
    assert listed.exit_code == 0, listed.output
    assert "raspi4" in {d["name"] for d in json.loads(listed.stdout)}
    refused = run(None, "devices", env={"LATENCY_TARGET": "127.0.0.1"})
    assert_one_line_error(refused, "is not host:port", code=2)


def test_token_file_errors_never_show_the_token(target: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    assert_one_line_error(run(target, "--token-file", str(empty), "devices"), "empty")
    token = tmp_path / "token"
    token.write_text("s3cret-value\n")
    result = run(target, "--token-file", str(token), "devices", "--json")
    assert result.exit_code == 0 and "s3cret" not in result.output  # the server ignores it
    env = {"LATENCY_TOKEN_FILE": str(tmp_path / "nope")}
    line = assert_one_line_error(run(target, "devices", env=env), "cannot read token file")
    assert "s3cret" not in line
    # A token given in the file's place by mistake was printed as the file's path.
    for token in ("Zq8s3cretTOKENvalue123", "Zq8s3cret" * 40):  # the second too long a name
        env = {"LATENCY_TOKEN_FILE": token}
        line = assert_one_line_error(run(target, "devices", env=env), "cannot read the token file")
        assert "s3cret" not in line


NEEDS_DEV_FULL = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


def run_into_a_full_disk(target: str, *args: str, unbuffered: bool = False) -> tuple[int, str]:
    """Runs ``client ARGS`` with stdout on Linux's /dev/full; its exit code and stderr."""
    env = {**os.environ, "LATENCY_TARGET": target, "PYTHONUNBUFFERED": "1" if unbuffered else ""}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "client", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    return done.returncode, done.stderr


@NEEDS_DEV_FULL
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_output_to_a_full_disk_is_one_line(target: str, unbuffered: bool) -> None:
    """Stdout redirected to a file on a full disk ended in an OSError traceback (unbuffered)
    or, its write deferred to the exit, in "Exception ignored ... No space left on device" and
    exit code 120."""
    assert run_into_a_full_disk(target, "devices", "--json", unbuffered=unbuffered) == (
        1,
        "error: cannot write the output: No space left on device\n",
    )


@NEEDS_DEV_FULL
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_an_upload_whose_report_cannot_be_written_says_it_was_stored(
    target: str, tmp_path: Path, as_json: bool
) -> None:
    """Only "cannot write the output" was said, which read as a failed upload: adding the
    file again stored it twice."""
    device = f"full{int(as_json)}"
    assert run(target, "register", "-d", device).exit_code == 0
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{CELL},12.25\n")
    command = ["add", "-d", device, "-f", str(measured)] + ["--json"] * as_json
    assert run_into_a_full_disk(target, *command) == (
        1,
        "error: cannot write the output: No space left on device (the upload was stored,"
        f" 1 measurement for {device}: do not add it again)\n",
    )


def test_an_upload_whose_report_meets_a_closed_pipe_says_it_was_stored(
    target: str, tmp_path: Path
) -> None:
    """`client add ... | true`: click exited 1 without a word, the upload stored, and a
    script retrying on exit 1 stored it twice (a review, 2026-12-06)."""
    assert run(target, "register", "-d", "piped").exit_code == 0
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{CELL},12.25\n")
    done = run_into_a_closed_pipe(target, "add", "-d", "piped", "-f", str(measured))
    assert (done.returncode, done.stderr) == (
        1,
        "error: cannot write the output: Broken pipe (the upload was stored, 1 measurement"
        " for piped: do not add it again)\n",
    )


def run_into_a_closed_pipe(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m client ARGS``, a real process, its stdout a pipe whose reader has gone
    before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "client", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "LATENCY_TARGET": target},
            timeout=60,
        )
    finally:
        os.close(write_end)


def predict_without_a_server(arch: str) -> subprocess.CompletedProcess[str]:
    """``python -m client predict -d pi4 ARCH``, a real process, with no server to answer."""
    env = {**os.environ, "LATENCY_TARGET": f"127.0.0.1:{service_fixtures.free_port()}"}
    return subprocess.run(
        [sys.executable, "-m", "client", "--retries", "0", "predict", "-d", "pi4", arch],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_console_script_error_exit(tmp_path: Path) -> None:
    """A real process: one line on stderr, exit code 1, no traceback."""
    done = predict_without_a_server(LIGHT)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")


def test_the_librarys_warnings_are_printed_as_the_commands_own() -> None:
    """The warning about FBNet block indices came bare ("1 arch(s) of 22 whole numbers..."),
    unlike every "warning: ..." the commands print."""
    done = predict_without_a_server(",".join(["2", "1", "7"] + ["0"] * 19))
    warning, error = done.stderr.splitlines()
    assert warning.startswith("warning: 1 arch(s) of 22 whole numbers 0..8"), warning
    assert "--space fbnet" in warning and error.startswith("error: ")


def test_a_bare_whole_number_arch_is_warned_of_as_an_nb201_index() -> None:
    """``client predict -d pi4 123`` was answered as a 1-feature vector nobody measured, the
    prior's guess, without a word: an NB201 index, most likely, which the service does not take."""
    done = predict_without_a_server("123")
    warning, error = done.stderr.splitlines()
    assert warning.startswith("warning: 1 arch(s) of one whole number 0..15624"), warning
    assert "look like NB201 indices" in warning and "--space vector" in warning
    assert error.startswith("error: ")


def test_a_whole_number_arch_in_the_nasbench201_space_is_refused_as_an_index() -> None:
    """With --space nasbench201 the server refused "123" as a malformed cell ("expected 3
    groups separated by '+'"), which did not say that indices are not taken."""
    refused = run("127.0.0.1:1", "predict", "-d", "pi4", "--space", "nasbench201", LIGHT, "123")
    assert_one_line_error(
        refused, "error: ARCH argument 2: '123' is not an NB201 arch; NB201 archs are cell strings"
    )


def test_a_ca_cert_grpc_cannot_load_is_refused_naming_the_file(tmp_path: Path) -> None:
    """grpc took a DER file, logged C-level errors and failed UNAVAILABLE after the retries."""
    ca = service_fixtures.make_tls_files(tmp_path / "tls").ca
    der = tmp_path / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(ca.read_text()))
    expected = (
        f"no PEM certificate (-----BEGIN CERTIFICATE-----) in {der}: convert a DER file with"
        f" openssl x509 -inform der -in {der} -out {tmp_path / 'ca.pem'}"
    )
    for options, env in ((["--ca-cert", str(der)], None), ([], {"LATENCY_CA_CERT": str(der)})):
        result = run("127.0.0.1:1", "--retries", "0", *options, "devices", env=env)
        assert assert_one_line_error(result) == f"error: {expected}"


def test_a_file_over_the_servers_limit_says_how_to_split_it(
    store_path: Path, model_cache: dict, tmp_path: Path
) -> None:
    """ "split the request" meant nothing to a user of the CLI, which sends a file whole."""
    running = service_fixtures.start_server(store_path, model_cache, max_batch=1)
    measured = tmp_path / "big.csv"
    measured.write_text(f"arch,latency_ms\n{LIGHT},2.0\n{HEAVY},9.0\n")
    listed = tmp_path / "archs.txt"  # a deletion of archs alone is refused by its archs
    listed.write_text(f"{LIGHT}\n{HEAVY}\n")
    try:
        target = f"127.0.0.1:{running.port}"
        assert run(target, "register", "-d", "big").exit_code == 0
        for command, file in (("add", measured), ("delete", measured), ("delete", listed)):
            refused = run(target, command, "-d", "big", "-f", str(file))
            assert_one_line_error(
                refused,
                f"split the request: {file} into files of at most 1 row (each applied whole",
            )
    finally:
        running.stop(grace=0)


def test_tls_and_token_options(store_path: Path, model_cache: dict, tmp_path: Path) -> None:
    """``--ca-cert`` and the token sources against the real server speaking TLS."""
    secret = "cli-test-token-0123456789abcdef"
    tls = service_fixtures.make_tls_files(tmp_path / "tls")
    running = service_fixtures.start_server(
        store_path, model_cache, tls_cert=tls.cert, tls_key=tls.key, token=secret
    )
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    try:
        target = f"127.0.0.1:{running.port}"
        secure = ["--ca-cert", str(tls.ca)]
        refused = run(target, *secure, "register", "-d", "a")
        # It said only "needs the metadata 'authorization: Bearer <token>'".
        line = assert_one_line_error(refused, "UNAUTHENTICATED", "--token-file", "LATENCY_TOKEN")
        assert secret not in line and "token=" not in line  # the CLI's options, not the library's
        ok = run(target, *secure, "--token-file", str(token_file), "register", "-d", "a")
        assert ok.exit_code == 0, ok.output
        by_env = run(target, "register", "-d", "b", env={
            "LATENCY_CA_CERT": str(tls.ca), "LATENCY_TOKEN": secret})  # fmt: skip
        assert by_env.exit_code == 0, by_env.output
        wrong = run(target, *secure, "register", "-d", "c", env={"LATENCY_TOKEN": "nope-nope"})
        line = assert_one_line_error(wrong, "PERMISSION_DENIED")
        assert "nope-nope" not in line and secret not in line
        listed = json.loads(run(target, *secure, "devices", "--json").stdout)
        assert {"a", "b"} <= {d["name"] for d in listed}
        plaintext = run(target, "--retries", "0", "devices")
        # grpc said only "Socket closed".
        assert_one_line_error(plaintext, "UNAVAILABLE", "connect with --ca-cert or --tls")
        assert_tls_trusts_the_systems_cas(target, tls.ca)
    finally:
        running.stop(grace=0)


def test_tls_to_a_plaintext_server_says_to_drop_the_tls_options(
    health_only: tuple[str, object], tmp_path: Path
) -> None:
    """grpc said only "Tls handshake failed ... WRONG_VERSION_NUMBER", which names no option."""
    target, _ = health_only
    ca = service_fixtures.make_tls_files(tmp_path / "tls").ca
    drop = "does not seem to speak TLS: if it serves plaintext, drop --ca-cert/$LATENCY_CA_CERT"
    for options, env in (
        (["--ca-cert", str(ca)], None),
        ([], {"LATENCY_CA_CERT": str(ca)}),
        (["--tls"], None),
    ):
        result = run(target, "--retries", "0", *options, "devices", env=env)
        assert_one_line_error(result, "WRONG_VERSION_NUMBER", drop, "--tls/$LATENCY_TLS")


def assert_tls_trusts_the_systems_cas(target: str, ca: Path) -> None:
    """``--tls`` (or ``LATENCY_TLS``) without ``--ca-cert`` connects by TLS trusting the
    system's CAs, which grpc reads from ``$GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` when set: here the
    server's private CA stands in for a public one. In processes of their own, since grpc
    loads its default roots once per process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LATENCY_")}

    def devices(*options: str, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "client", "--target", target, "--retries", "0"]
        return subprocess.run(
            [*command, *options, "devices", "--json"],
            capture_output=True, text=True, env={**clean, **env}, timeout=60,
        )  # fmt: skip

    system_roots = {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca)}
    for trusted in (devices("--tls", **system_roots), devices(LATENCY_TLS="yes", **system_roots)):
        assert trusted.returncode == 0, trusted.stderr
        assert {"a", "b"} <= {d["name"] for d in json.loads(trusted.stdout)}
    # The machine's own CAs do not know the test CA: the handshake fails, in one line (grpc's
    # C core printed its "Handshake failed" line first).
    untrusted = devices("--tls")
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert untrusted.stderr.count("\n") == 1 and untrusted.stderr.startswith("error: ")


# ---- what each option and column carries ----------------------------------------------------
def _calls_of(monkeypatch: pytest.MonkeyPatch, method: str) -> list[dict[str, object]]:
    """The keyword arguments of each call of ``LatencyClient.<method>``, which still runs."""
    calls: list[dict[str, object]] = []
    original = getattr(LatencyClient, method)

    def recorded(self: LatencyClient, *args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LatencyClient, method, recorded)
    return calls


def test_the_connection_options_reach_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """--timeout and --retries are checked by the CLI; a client built without them would use
    the defaults and say nothing."""
    used: list[tuple[str, float, int]] = []

    def devices(self: LatencyClient) -> list[object]:
        used.append((self.target, self.timeout_s, self.retries))
        return []

    monkeypatch.setattr(LatencyClient, "devices", devices)
    result = run("127.0.0.1:1", "--timeout", "7.5", "--retries", "5", "devices", "--json")
    assert result.exit_code == 0, result.output
    assert used == [("127.0.0.1:1", 7.5, 5)]  # neither is its default


def test_a_timeout_of_zero_is_refused_by_its_option_name() -> None:
    result = run(None, "--timeout", "0", "devices")
    assert_one_line_error(result, "'--timeout'", code=2)


def test_the_least_timeout_the_help_names_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """--help says "at least 0.001": that bound is in."""
    used: list[float] = []
    monkeypatch.setattr(LatencyClient, "devices", lambda self: used.append(self.timeout_s) or [])
    result = run("127.0.0.1:1", "--timeout", "0.001", "devices", "--json")
    assert result.exit_code == 0, result.output
    assert used == [0.001]


@pytest.mark.parametrize("command", ["add", "delete"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_a_latency_option_that_is_no_finite_number_is_refused_before_any_call(
    command: str, value: str
) -> None:
    result = run("127.0.0.1:1", command, "-d", "pi4", LIGHT, "--latency-ms", value)
    assert_one_line_error(result, "'--latency-ms'", "is not a finite number", code=2)


def test_a_target_with_an_empty_port_is_not_told_to_add_another() -> None:
    """Only a target without a colon gets ":50051" appended as its example."""
    line = assert_one_line_error(run(None, "--target", "gpu-box:", "devices"), code=2)
    assert "(e.g. 127.0.0.1:50051)" in line and "gpu-box::" not in line


@pytest.mark.parametrize(
    "command",
    [["devices"], ["add", "-d", "pi4", LIGHT, "--latency-ms", "3"], ["delete", "-d", "pi4", LIGHT]],
    ids=["listing", "upload", "deletion"],
)
def test_an_unreachable_server_is_not_said_to_have_stored_anything(command: list[str]) -> None:
    """A listing is no upload, and a connection refused sent none: an upload or deletion
    refused so was said to be maybe "stored all the same" (a review, 2026-12-07)."""
    target = f"127.0.0.1:{service_fixtures.free_port()}"
    line = assert_one_line_error(run(target, "--retries", "1", *command), "UNAVAILABLE")
    assert "failed to connect to all addresses" in line
    assert "may have been stored" not in line and "--request-id" not in line


def test_a_figure_suffix_in_capitals_is_taken(tmp_path: Path) -> None:
    """matplotlib reads the format from the suffix in any case (client.report lowers it)."""
    from client.cli import FIGURE_SUFFIXES, check_output_path

    for name in ("report.PNG", "report.Pdf", "report.svg"):
        check_output_path(tmp_path / name, "--out", FIGURE_SUFFIXES)


def test_a_row_with_an_arch_and_no_latency_is_refused_not_skipped(tmp_path: Path) -> None:
    """Only a row with neither is a blank line; an arch without its latency is a mistake."""
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{LIGHT},2.5\n{HEAVY},\n\n")
    with pytest.raises(ClientInputError, match="line 3: latency '' is no number"):
        read_measurements(measured)


@pytest.mark.parametrize("value", ["4_1.2", "\u0661\u0662", "0x1p3", "41.2ms"])
def test_a_latency_float_reads_but_a_file_does_not_write_is_refused(
    tmp_path: Path, value: str
) -> None:
    """float() read "4_1.2" as 41.2 and Arabic-Indic digits as 12 (a review, 2026-12-06)."""
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{LIGHT},{value}\n", encoding="utf-8")
    with pytest.raises(ClientInputError, match=f"line 2: latency {re.escape(repr(value))} is no"):
        read_measurements(measured)
    for number in ("2.5", "+2.", ".5", "1e-3", "2E+2", "inf", "NaN"):
        measured.write_text(f"arch,latency_ms\n{LIGHT},{number}\n")
        assert [row[2] for row in read_measurements(measured)] == [
            pytest.approx(float(number), nan_ok=True)
        ]


def test_suggest_samples_passes_on_its_strategy_space_and_seed(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(target, "register", "-d", "picky").exit_code == 0
    calls = _calls_of(monkeypatch, "suggest")
    args = ["-d", "picky", "-n", "2", "--strategy", "greedy", "--space", "nasbench201"]
    result = run(target, "suggest-samples", *args, "--seed", "7", "--json")
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    expected = {"strategy": "greedy", "search_space": "nasbench201", "seed": 7, "count": 2}
    assert {k: calls[0][k] for k in expected} == expected


def _table_row(output: str, first_cell: str) -> list[str]:
    """The cells of the rich table row that starts with ``first_cell``."""
    for line in output.splitlines():
        bordered = line.strip()
        if not bordered.startswith("│"):
            continue  # the title, the header, a rule
        cells = [cell.strip() for cell in bordered[1:-1].split("│")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in {output}")


def test_predict_prints_each_column_under_its_own_name(target: str) -> None:
    """Mean, variance (CSV, JSON) or sd (table) and the 90% bounds: none may stand in for
    another, as an sd under variance_ms2 would."""
    listed = json.loads(run(target, "predict", "-d", "pi4", LIGHT, "--json").stdout)
    row = listed["predictions"][0]
    assert row["std_ms"] == pytest.approx(row["variance_ms2"] ** 0.5)
    assert abs(row["std_ms"] - row["variance_ms2"]) > 1e-3  # else a swap would go unseen
    as_csv = next(
        csv.DictReader(io.StringIO(run(target, "predict", "-d", "pi4", LIGHT, "--csv").stdout))
    )
    fields = ("mean_ms", "variance_ms2", "lower_ms", "upper_ms")
    assert {k: float(as_csv[k]) for k in fields} == {k: row[k] for k in fields}
    table = run(target, "predict", "-d", "pi4", LIGHT).stdout
    assert _table_row(table, LIGHT)[1:] == [
        milliseconds(row[k]) for k in ("mean_ms", "std_ms", "lower_ms", "upper_ms")
    ]


def test_the_suggestion_table_shows_the_sd_and_its_ratio_to_the_mean(target: str) -> None:
    assert run(target, "register", "-d", "ranked").exit_code == 0
    args = ["suggest-samples", "-d", "ranked", "-n", "1", "--strategy", "greedy"]
    pick = json.loads(run(target, *args, "--json").stdout)["suggestions"][0]
    assert abs(pick["std_ms"] - pick["variance_ms2"]) > 1e-3  # else a swap would go unseen
    cells = _table_row(run(target, *args).stdout, "1")
    ratio = pick["std_ms"] / pick["mean_ms"]
    assert cells[1:] == [
        pick["arch"],
        f"{pick['mean_ms']:.3f}",
        f"{pick['std_ms']:.3f}",
        f"{ratio:.1%}",
    ]


def test_add_says_how_many_measurements_the_device_now_has(target: str, tmp_path: Path) -> None:
    """Not how many were accepted: the device's total (a first upload has them equal)."""
    assert run(target, "register", "-d", "twice").exit_code == 0
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(f"arch,latency_ms\n{LIGHT},2.5\n")
    second.write_text(f"arch,latency_ms\n{HEAVY},40.5\n{CELL},12.25\n")
    assert run(target, "add", "-d", "twice", "-f", str(first)).exit_code == 0
    added = run(target, "add", "-d", "twice", "-f", str(second))
    assert "accepted 2 measurements for twice; it now has 3 " in added.stdout


def test_fbnet_block_indices_added_to_a_source_device_are_warned_of_as_fbnet(
    target: str, tmp_path: Path
) -> None:
    """With --space fbnet the archs are FBNet, though block indices alone read as a vector."""
    measured = tmp_path / "mine.csv"
    measured.write_text('arch,latency_ms\n"' + ",".join(["0"] * 22) + '",5.0\n')
    added = run(target, "add", "-d", "pi4", "--space", "fbnet", "-f", str(measured))
    assert added.exit_code == 0, added.output
    warning = " ".join(added.stderr.split())
    assert "these fbnet measurements become its own, beside its NB201 table" in warning


@pytest.mark.parametrize(
    ("spaces", "joins"),
    [({"fbnet"}, False), ({"fbnet", "nasbench201"}, True), ({"vector"}, False)],
)
def test_the_source_device_warning_says_nb201_ones_join_only_when_there_are_some(
    capsys: pytest.CaptureFixture[str], spaces: set[str], joins: bool
) -> None:
    from client.api import DeviceInfo
    from client.cli import warn_if_source_device

    warn_if_source_device(DeviceInfo("raspi4", source=True), spaces)
    warning = capsys.readouterr().err
    assert ("(the NB201 ones join it" in warning) == joins
    assert ("refits the model at its next start" in warning) == joins


def _column(output: str, index: int) -> str:
    """The text of the rich table's column ``index``, every line's cell joined: a folded
    value comes back whole."""
    cells = []
    for line in output.splitlines():
        bordered = line.strip()
        if bordered.startswith("│"):
            cells.append(bordered[1:-1].split("│")[index].strip())
    return "".join(cells)


def test_tables_fold_long_archs_and_names_and_show_microseconds(target: str) -> None:
    """Rich cropped a 309-character vector and a 128-character name to "..." (in a file too),
    and a device timed in microseconds printed 0.000 throughout (a review, 2026-12-06)."""
    name = "jetson_" + "x" * 121
    assert run(target, "register", "-d", name, "--description", "d" * 200).exit_code == 0
    assert name in _column(run(target, "devices").stdout, 0)
    vector = ",".join(f"{0.1234567891 * i:.10f}" for i in range(1, 25))
    for latency, features in ((0.0004, "1,2"), (0.0005, "2,2"), (0.0006, "3,3")):
        assert run(target, "add", "-d", name, features, "--latency-ms", str(latency)).exit_code == 0
    table = run(target, "predict", "-d", name, "--space", "vector", "2,2").stdout
    mean = json.loads(run(target, "predict", "-d", name, "2,2", "--json").stdout)
    assert _table_row(table, "2,2")[1] == milliseconds(mean["predictions"][0]["mean_ms"])
    assert [milliseconds(v) for v in (0.5, 0.99996, 3e-5)] == ["0.5000", "1.000", "3.000e-05"]
    # Where 4 significant digits would round to 1.000 anyway, it is written as 1 ms and more.
    assert [milliseconds(v) for v in (0.9994, 0.9995, 0.9996)] == ["0.9994", "1.000", "1.000"]
    assert "0.000 " not in table
    long = run(target, "predict", "-d", "pi4", "--space", "vector", vector)
    assert long.exit_code == 0 and vector in _column(long.stdout, 0)


def test_the_devices_table_marks_the_source_devices(target: str) -> None:
    assert run(target, "register", "-d", "mine").exit_code == 0
    table = run(target, "devices").stdout
    assert _table_row(table, "raspi4")[3] == "yes" and _table_row(table, "mine")[3] == ""


def test_json_output_writes_every_non_finite_float_as_null() -> None:
    """An unbounded interval's upper bound is infinite; JSON has no Infinity."""
    from client.cli import _json_safe

    payload = {"upper_ms": math.inf, "bounds": [-math.inf, math.nan, 1.5], "pair": (math.inf,)}
    assert _json_safe(payload) == {"upper_ms": None, "bounds": [None, None, 1.5], "pair": [None]}


def test_a_deletion_names_five_of_the_rows_that_matched_nothing_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from client.cli import _warn_of_unmatched

    result = SimpleNamespace(
        deleted=1, unmatched_archs=list(range(1, 7)), unmatched_measurements=[]
    )
    _warn_of_unmatched("pi4", result, False, [f"archs.txt line {i}" for i in range(1, 8)])
    named = ", ".join(f"archs.txt line {i}" for i in range(2, 7))
    assert capsys.readouterr().err == (
        f"warning: pi4 has no measurement of 6 of these archs ({named} and 1 more): nothing of"
        " them was deleted\n"
    )


def test_a_surprising_arch_uploaded_twice_is_deleted_whole_by_its_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Which of its two values was the slip is not said: a hint naming the first deleted the
    good one and kept the slip."""
    from client.api import SurprisingMeasurement
    from client.cli import warn_surprising

    slip = SurprisingMeasurement(CELL, "nasbench201", 5000.0, 5.0, 4.0, 6.0, 1e-9)
    result = SimpleNamespace(surprising=[slip], surprising_before=[])
    warn_surprising(result, "pi4", [(CELL, 5.1), (CELL, 5000.0)])  # type: ignore[arg-type]
    warned = capsys.readouterr().err
    assert f"client delete --device pi4 '{CELL}'" in warned and "--latency-ms" not in warned
    warn_surprising(result, "pi4", [(CELL, 5000.0)])  # type: ignore[arg-type]
    assert "--latency-ms 5000" in capsys.readouterr().err


def test_a_score_on_one_conditioned_arch_is_said_in_the_singular() -> None:
    from client.cli import flattery

    assert flattery(1, 5, "pi4").startswith("1 of the 5 archs is among pi4's measurements")
    assert flattery(2, 5, "pi4").startswith("2 of the 5 archs are among pi4's measurements")


@pytest.mark.parametrize("maybe", [True, False])
def test_a_write_whose_last_attempt_found_the_server_busy_says_an_earlier_may_have_stored(
    maybe: bool,
) -> None:
    """An overloaded server: the first attempt admitted but late, the retries turned away. Only
    the DEADLINE_EXCEEDED and UNAVAILABLE ending a call were said to leave it maybe stored."""
    from client.cli import _user_error
    from client.errors import ServerBusyError

    busy = ServerBusyError("server busy: try again", method="AddMeasurements")
    busy.request_id, busy.maybe_carried_out = "abc", maybe
    line = _user_error(busy, plaintext=True)
    assert line is not None and line.endswith("[RESOURCE_EXHAUSTED]")
    said = "the upload may have been stored all the same" in line and "--request-id abc" in line
    assert said is maybe
