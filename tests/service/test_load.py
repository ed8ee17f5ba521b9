"""The load test, shortened for CI: 4 clients for 5 s, zero errors, every measurement once.

The full run (32 clients, 60 s, RSS growth <= 10%) is documented in the README:
``python -m service.loadtest --clients 32 --duration 60 --store STORE --json load.json``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import grpc
import psutil
import pytest

from service.loadtest import (
    MESSAGES_KEPT,
    MIX,
    Client,
    LoadReport,
    LoadSettings,
    Outcome,
    RssSampler,
    _check_store_file,
    _report,
    _rss,
    format_report,
    main,
    run_load,
    settings_problem,
)
from service.wording import SERVER_BUSY
from tests.helpers import FakeRpcError
from tests.service.conftest import FIT_ITERATIONS, REPO, STORE_NAME


def test_short_load_run_has_no_errors_and_exact_counts(
    template_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATENCY_FIT_ITERATIONS", str(FIT_ITERATIONS))  # reuse the cached fit
    monkeypatch.setenv("LATENCY_TOKEN", "load-test-token-0123456789")  # writes go through auth
    monkeypatch.delenv("LATENCY_TOKEN_FILE", raising=False)
    out = tmp_path / "load.json"
    # A 5 s run is too short for a steady RSS: only gross growth (> 100%) fails it here.
    argv = ["--clients", "4", "--duration", "5", "--store", str(template_store / STORE_NAME)]
    code = main([*argv, "--max-rss-growth", "1.0", "--json", str(out)])
    report = json.loads(out.read_text())
    assert code == 0 and report["ok"], report
    assert report["errors"] == [] and report["counts_ok"]
    assert report["stored_measurements"] == report["acknowledged_measurements"]
    assert report["acknowledged_batches"] > 0
    for method in ("Predict", "SuggestSamples", "AddMeasurements"):
        stats = report["rpcs"][method]
        assert stats["calls"] > 0 and stats["errors"] == 0
        assert 0 < stats["p50_ms"] <= stats["p99_ms"]
    assert set(report["server_codes"]) == {"OK"}
    assert report["rss_end_mb"] > 0


def test_load_test_only_drives_loopback_servers() -> None:
    with pytest.raises(ValueError, match="only drives loopback servers"):
        run_load(LoadSettings(address="10.1.2.3:50051", duration_s=1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--clients", "0"], "--clients 0: at least one client is needed"),
        (["--duration", "-5"], "--duration -5: expected a positive number of seconds"),
        (["--duration", "nan"], "--duration nan: expected a positive number of seconds"),
        (["--duration", "inf"], "--duration inf: expected a positive number of seconds"),
        (["--warmup", "-1"], "--warmup -1 must be shorter than --duration 60 (and not negative)"),
        (["--duration", "5", "--warmup", "5"], "--warmup 5 must be shorter than --duration 5"),
        (["--max-rss-growth", "-0.1"], "--max-rss-growth -0.1: expected a fraction >= 0"),
        (["--address", "10.1.2.3:50051"], "only drives loopback servers, not 10.1.2.3:50051"),
        (["--address", "127.0.0.1:99999"], "--address '127.0.0.1:99999': port 99999 is beyond"),
        (["--store", "missing.sqlite"], "no store at missing.sqlite (see --store"),
        (["--json", "."], "--json . is a folder: give a file name"),
        (["--json", "gone/load.json"], "--json gone/load.json: no folder gone"),
        # before: sqlite3.DatabaseError's traceback from copying it
        (["--store", "notes.txt"], "store notes.txt is not a SQLite database (bad header)"),
    ],
)
def test_load_test_refuses_bad_options_in_one_line_before_it_starts(
    options: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a store\n")
    with closing(sqlite3.connect(tmp_path / "store.sqlite")) as db:  # no server may start
        db.execute("CREATE TABLE devices (name TEXT)")
    with pytest.raises(SystemExit) as exit_info:
        main(["--store", "store.sqlite", *options])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error


def test_an_address_nothing_answers_on_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--address to a port nothing listens on waited the whole start timeout (600 s) without a
    word, then ended in a TimeoutError traceback."""
    from service import loadtest
    from tests.service.conftest import free_port

    monkeypatch.setattr(loadtest, "UNREACHABLE_WAIT_S", 1.0, raising=False)

    def no_serving(*args: object, **kwargs: object) -> None:  # the old 600 s, cut short
        raise TimeoutError("no SERVING within 600 s")

    monkeypatch.setattr(loadtest.probe, "wait_serving", no_serving)
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as exit_info:
        main(["--clients", "1", "--duration", "1", "--address", address])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert f"error: --address {address}: nothing answers there within 1 s" in error, error
    assert error.count("\n") == 1, error


def test_an_rpc_never_called_has_no_figures_and_the_report_stays_json() -> None:
    """Before, its percentiles were NaN: "nan" printed, and NaN in --json, which is no JSON."""
    client = SimpleNamespace(outcome=Outcome())
    client.outcome.latency_s["Predict"].append(0.012)
    report = _report(LoadSettings(clients=1), [client], elapsed=1.0)  # type: ignore[list-item]
    assert report.rpcs["SuggestSamples"].calls == 0
    assert report.rpcs["SuggestSamples"].p50_ms is None
    json.dumps(asdict(report), allow_nan=False)
    row = next(line for line in format_report(report).splitlines() if line.startswith("Suggest"))
    assert "nan" not in row and row.split()[-4:] == ["-", "-", "-", "-"]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_ends_the_run_without_waiting_out_its_duration(
    stop: signal.Signals, template_store: Path, tmp_path: Path
) -> None:
    """Before, the clients' threads kept the process alive until --duration ended: a minute
    after Ctrl-C on a 40 s run. SIGTERM ended Python without the cleanup: the served copy's
    server ran on beside the copied store (a review, 2026-12-06)."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {
        **os.environ,
        "LATENCY_FIT_ITERATIONS": str(FIT_ITERATIONS),
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(temporary),
    }
    log = tmp_path / "loadtest.log"
    argv = ["--clients", "2", "--duration", "300", "--store", str(template_store / STORE_NAME)]
    with log.open("wb") as out, _sigint_not_ignored():
        process = subprocess.Popen(
            [sys.executable, "-m", "service.loadtest", *argv], stderr=out, env=env, cwd=REPO
        )
    try:
        deadline = time.monotonic() + 120
        while "clients for" not in log.read_text() and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1)
        process.send_signal(stop)
        assert process.wait(timeout=30) != 0
        assert "KeyboardInterrupt" in log.read_text()
        assert list(temporary.iterdir()) == []  # the store's copy, and its server, gone
        assert _servers_in(temporary) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for server in _servers_in(temporary):  # left by a failure: not for later tests
            with suppress(psutil.NoSuchProcess):
                server.kill()


def _servers_in(folder: Path) -> list[psutil.Process]:
    """The processes whose command line names ``folder`` (a served copy's server)."""
    return [
        process
        for process in psutil.process_iter(["cmdline"])
        if str(folder) in " ".join(process.info["cmdline"] or [])
    ]


@contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """SIGINT handled while a child starts, so that it inherits SIGINT's default disposition: a
    suite run as a background job without job control ignores SIGINT, the child inherited that,
    and Python then never raised KeyboardInterrupt (the run went on for its whole --duration).

    Not ``preexec_fn``: it makes subprocess fork rather than vfork, which runs gRPC's fork
    handlers, and with channels of earlier tests alive their poller thread in the child hit
    the epoll fd that closing the child's fds had closed, and aborted it before exec (grpc
    issue 43055; the suite's child logged only "epoll_wait error: Bad file descriptor")."""
    before = signal.getsignal(signal.SIGINT)
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_server_that_refuses_the_setup_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write token this shell lacks, or a LATENCY_MAX_BATCH below the preload's batches,
    ended in a raw gRPC error's traceback (a review, 2026-12-06)."""
    from service import loadtest

    def refusing(settings: LoadSettings) -> object:  # nothing listens there: UNAVAILABLE
        return loadtest._drive(settings, "127.0.0.1:1", None)

    monkeypatch.setattr(loadtest, "run_load", refusing)
    with pytest.raises(SystemExit) as exit_info:
        loadtest.main(["--address", "127.0.0.1:1", "--duration", "1"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "error: 127.0.0.1:1 refused the test's setup (UNAVAILABLE: " in error, error
    assert error.count("\n") == 1, error


def test_the_service_s_bad_settings_are_one_line_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LATENCY_MAX_BATCH=abc ended in a traceback from the served copy's settings."""
    monkeypatch.setenv("LATENCY_MAX_BATCH", "abc")
    problem = settings_problem(LoadSettings(address="127.0.0.1:1"))
    assert problem == "LATENCY_MAX_BATCH='abc': expected a positive whole number"


def test_a_zero_rss_growth_limit_is_a_valid_setting() -> None:
    assert settings_problem(LoadSettings(address="127.0.0.1:1", max_rss_growth=0.0)) is None


def test_the_summary_has_millisecond_percentiles_errors_and_the_rate() -> None:
    client = SimpleNamespace(outcome=Outcome())
    client.outcome.latency_s["Predict"].extend(ms / 1000 for ms in range(100, 0, -1))
    client.outcome.error_counts.update({"Predict UNAVAILABLE": 2, "SuggestSamples INTERNAL": 1})
    report = _report(LoadSettings(clients=1), [client], elapsed=4.0)  # type: ignore[list-item]
    predict = report.rpcs["Predict"]
    assert (predict.calls, predict.errors) == (100, 2)
    figures = (predict.p50_ms, predict.p90_ms, predict.p99_ms, predict.max_ms)
    assert figures == pytest.approx((50.5, 90.1, 99.01, 100.0))  # numpy's linear percentiles
    assert report.throughput == 25.0
    lines = format_report(report).splitlines()
    assert lines[0] == "1 client, 4.0 s, 25.0 RPC/s"
    assert lines[2].split() == ["Predict", "100", "2", "0", "50.5", "90.1", "99.0", "100.0"]
    assert lines[-1] == "FAIL"  # errors


def test_a_busy_server_s_answers_are_counted_apart_and_each_error_message_once() -> None:
    """The service turning suggestions away under load is its back-pressure, which the client
    library retries: it failed the run, and its one message filled the errors line 17 times.
    A refusal is neither a call served nor timed."""
    client = Client("127.0.0.1:1", ["t"], ["r"], seed=0)
    answers: list[Exception | None] = [None]
    busy = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{SERVER_BUSY}choosing 4 already")
    internal = FakeRpcError(grpc.StatusCode.INTERNAL, "boom")

    def suggest(request: object, timeout: float, metadata: object) -> None:
        if answer := answers.pop(0):
            raise answer

    stub = SimpleNamespace(SuggestSamples=suggest)
    for method in ("Predict", "AddMeasurements"):  # served, or the run tested nothing of them
        client.outcome.latency_s[method].append(0.1)
    answers += [busy] * 3
    for _ in range(4):
        client._call(stub, "SuggestSamples", 1.0)  # type: ignore[arg-type]
    report = _report(LoadSettings(clients=1), [client], elapsed=1.0)
    report.counts_ok = True  # not checked here
    assert (report.rpcs["SuggestSamples"].calls, report.rpcs["SuggestSamples"].busy) == (1, 3)
    assert report.ok and format_report(report).endswith("\nPASS")
    answers += [internal] * 2
    for _ in range(2):
        client._call(stub, "SuggestSamples", 1.0)  # type: ignore[arg-type]
    report = _report(LoadSettings(clients=1), [client], elapsed=1.0)
    report.counts_ok = True
    suggest_stats = report.rpcs["SuggestSamples"]
    assert (suggest_stats.calls, suggest_stats.errors, suggest_stats.busy) == (3, 2, 3)
    assert report.errors == ["SuggestSamples INTERNAL: boom (2x)"]
    assert not report.ok


def test_an_rpc_only_ever_turned_away_still_reports_its_busy_answers() -> None:
    """With refusals no longer timed, an RPC whose every call a busy server turned away has no
    latencies: its row had shown 0 busy, the refusals lost from the report and its JSON."""
    client = Client("127.0.0.1:1", ["t"], ["r"], seed=0)
    busy = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{SERVER_BUSY}choosing 4 already")

    def refuse(request: object, timeout: float, metadata: object) -> None:
        raise busy

    stub = SimpleNamespace(SuggestSamples=refuse, AddMeasurements=refuse)
    for method in ["SuggestSamples"] * 3 + ["AddMeasurements"]:
        client._call(stub, method, 1.0)  # type: ignore[arg-type]
    report = _report(LoadSettings(clients=1), [client], elapsed=1.0)
    suggest = report.rpcs["SuggestSamples"]
    assert (suggest.calls, suggest.errors, suggest.busy, suggest.p50_ms) == (0, 0, 3, None)
    assert report.rpcs["AddMeasurements"].busy == 1
    assert (report.acknowledged_batches, report.acknowledged_measurements) == (0, 0)
    assert report.throughput == 0.0 and report.errors == []
    report.counts_ok = True  # not checked here
    assert report.unserved == ["Predict", "SuggestSamples", "AddMeasurements"] and not report.ok
    served = "no call served: Predict, SuggestSamples, AddMeasurements"
    assert format_report(report).endswith(f"\n{served}\nFAIL")
    json.dumps(asdict(report), allow_nan=False)
    row = next(line for line in format_report(report).splitlines() if line.startswith("Suggest"))
    assert row.split() == ["SuggestSamples", "0", "0", "3", "-", "-", "-", "-"]


def test_error_messages_beyond_the_kept_ones_are_counted_not_listed() -> None:
    """A failing server words each answer a little differently (a device, a count): the report
    lists MESSAGES_KEPT of them, each once with its count where it recurred, and the table
    counts every error."""
    clients = [Client("127.0.0.1:1", ["t"], ["r"], seed=k) for k in range(2)]
    for k, client in enumerate(clients):
        client.outcome.latency_s["Predict"].extend([0.1] * (MESSAGES_KEPT + 6))
        for i in range(MESSAGES_KEPT + 5):
            client._failed("Predict", FakeRpcError(grpc.StatusCode.INTERNAL, f"boom {k}-{i}"))
    clients[0]._failed("Predict", FakeRpcError(grpc.StatusCode.INTERNAL, "boom 0-0"))
    report = _report(LoadSettings(clients=2), clients, elapsed=1.0)
    assert report.rpcs["Predict"].errors == 2 * (MESSAGES_KEPT + 5) + 1
    assert len(report.errors) == MESSAGES_KEPT
    assert report.errors[:2] == ["Predict INTERNAL: boom 0-0 (2x)", "Predict INTERNAL: boom 0-1"]


def _served_once() -> SimpleNamespace:
    """A client's outcome with one call of each RPC served."""
    outcome = Outcome()
    for method in MIX:
        outcome.latency_s[method].append(0.1)
    return SimpleNamespace(outcome=outcome)


def _rss_checked(samples_mb: list[tuple[float, float]], elapsed: float, limit: float) -> LoadReport:
    """A run's report after _rss judged the server's RSS samples ``(seconds, MB)``, the warm-up
    ending at t=10, against ``limit``."""
    sampler = RssSampler(os.getpid())  # never started: the samples are set here
    sampler.samples = [(t, int(mb * (1 << 20))) for t, mb in samples_mb]
    report = _report(LoadSettings(clients=2), [_served_once()], elapsed=elapsed)
    report.counts_ok = True
    _rss(report, sampler, baseline_at=10.0, limit=limit)
    return report


def test_rss_growth_is_relative_to_the_median_after_the_warm_up() -> None:
    samples = [(0.0, 90.0), (10.0, 100.0), (11.0, 100.0), (30.0, 125.0)]
    report = _rss_checked(samples, elapsed=30.0, limit=0.25)
    assert report.rss_growth == pytest.approx(0.25) and report.rss_ok
    assert (report.rss_start_mb, report.rss_after_warmup_mb, report.rss_end_mb) == (90, 100, 125)
    assert format_report(report).splitlines()[-1] == "PASS"
    report = _rss_checked(samples, elapsed=30.0, limit=0.2)
    assert not report.rss_ok
    assert "+25.0% TOO MUCH" in format_report(report) and not report.ok


def _rss_growth(values_mb: list[float], limit: float = 0.10) -> tuple[float, bool]:
    """The growth _rss reports, and whether it passes ``limit``, for samples once a second
    from t=0."""
    samples = [(float(t), mb) for t, mb in enumerate(values_mb)]
    report = _rss_checked(samples, elapsed=len(values_mb), limit=limit)
    assert report.rss_growth is not None
    return report.rss_growth, report.rss_ok


def test_a_steady_server_whose_last_seconds_swing_high_passes_the_rss_check() -> None:
    """RSS swings from sample to sample under load; 5 s medians at each end failed a server
    whose memory was flat (+17.1% on a 60 s run)."""
    swinging = [100.0 + 20.0 * (t % 3 == 0) for t in range(57)] + [130.0] * 4
    growth, ok = _rss_growth(swinging)
    assert growth == pytest.approx(0.0) and ok


def test_a_server_whose_rss_keeps_rising_fails_the_rss_check() -> None:
    rising = [100.0 + 1.0 * t for t in range(61)]
    growth, ok = _rss_growth(rising)
    assert growth > 0.10 and not ok


@pytest.mark.parametrize("duration", [11.0, 12.0])
def test_a_run_a_few_seconds_past_the_warm_up_takes_its_baseline_after_the_warm_up(
    duration: float,
) -> None:
    """--duration 12 --warmup 10: a first third of the 2 s after the warm-up held no sample,
    and the baseline fell back to the whole run's median, start-up included (+67%)."""
    # once a second from just before the clients start; the server grew during the warm-up
    samples = [(t - 0.01, 60.0 if t < 10 else 100.0) for t in range(int(duration) + 1)]
    report = _rss_checked(samples, elapsed=duration, limit=0.10)
    assert report.rss_growth == pytest.approx(0.0) and report.rss_ok


class _Started(Exception):
    pass


@pytest.mark.parametrize(
    ("options", "warmup_s"),
    [(["--duration", "30"], 5.0), (["--duration", "600"], 10.0), (["--warmup", "2"], 2.0)],
)
def test_the_warm_up_is_a_sixth_of_the_run_up_to_10_s_unless_given(
    options: list[str], warmup_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[LoadSettings] = []

    def run(settings: LoadSettings) -> None:
        started.append(settings)
        raise _Started

    monkeypatch.setattr("service.loadtest.run_load", run)
    with pytest.raises(_Started):
        main(["--address", "127.0.0.1:1", *options])
    assert [settings.warmup_s for settings in started] == [warmup_s]


def test_a_store_that_differs_from_what_was_acknowledged_is_counted_both_ways(
    tmp_path: Path,
) -> None:
    """Rows acknowledged but not stored, and rows stored but never acknowledged, apart."""
    store = tmp_path / "store.sqlite"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("CREATE TABLE measurements (device_id INTEGER, latency_ms REAL)")
        db.execute("INSERT INTO devices VALUES (1, 'dev')")
        db.executemany(
            "INSERT INTO measurements VALUES (1, ?)", [(ms,) for ms in (1.0, 2.0, 9.0, 9.5, 9.7)]
        )
    acknowledged = {"dev": Counter([1.0, 2.0, 3.0])}
    problems = _check_store_file(store, acknowledged)
    assert problems == ["dev: 1 acknowledged row missing, 3 extra rows"]
    report = _report(LoadSettings(clients=1), [], elapsed=1.0)
    report.acknowledged_measurements, report.stored_measurements = 3, 5
    report.counts_ok, report.count_problems = False, problems
    for batches, words in ((1, "1 batch"), (3, "3 batches")):
        report.acknowledged_batches = batches
        assert (
            f"measurements: 3 acknowledged (0 preloaded, then {words}), 5 stored: MISMATCH"
            " dev: 1 acknowledged row missing, 3 extra rows"
        ) in format_report(report).splitlines()
