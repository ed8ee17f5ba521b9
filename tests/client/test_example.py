"""examples/latency_constrained_search.py in a short setting against the real server."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from client.api import LatencyClient
from gp.spaces.nasbench201 import NUM_ARCHS
from tests.helpers import write_help_dataset
from tests.service.conftest import DATASET, REPO

EXAMPLE = REPO / "examples" / "latency_constrained_search.py"
SHORT = ["--generations", "3", "--population", "12", "--initial-measurements", "5"]
SHORT += ["--measure-per-generation", "2", "--top", "3", "--seed", "1"]


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    """The example script as a module (registered while loading: its dataclasses need that)."""
    spec = importlib.util.spec_from_file_location("latency_constrained_search", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_cells_round_trip(example: ModuleType) -> None:
    import numpy as np

    cell = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    assert example.format_nb201(list(example.parse(cell))) == cell
    assert example.live_edges(example.parse(cell)) == [0, 2, 5]
    dead = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    assert example.capacity(dead) == 0.0  # no path from input to output: nothing learns
    child = example.mutate(cell, np.random.default_rng(0))
    assert sum(a != b for a, b in zip(example.parse(cell), example.parse(child), strict=True)) == 1


def test_search_in_a_short_setting(
    example: ModuleType, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--target", target, "--dataset", str(DATASET), "--table", "gold_6226", *SHORT]
    result = example.run([*args, "--device", "sim"])
    assert result.device == "sim" and result.budget_ms > 0
    assert 5 < result.measurements <= 5 + 3 * 2  # the seed picks plus at most 2 a generation
    assert 1 <= len(result.finds) <= 3
    for find in result.finds:
        assert find.true_ms > 0 and find.capacity > 0
        if find.measured:
            assert find.true_ms <= result.budget_ms
        else:
            assert find.upper_ms <= result.budget_ms  # kept only when within budget at 95%
    assert sum(f.true_ms <= result.budget_ms * 1.1 for f in result.finds) >= len(result.finds) - 1
    assert all(
        f.capacity <= result.best_possible for f in result.finds if f.true_ms <= result.budget_ms
    )

    assert example.main([*args, "--device", "sim", "--budget-ms", "9"]) == 0  # reuses "sim"
    printed = capsys.readouterr().out
    assert "budget 9.00 ms" in printed and "measurements spent" in printed


def test_a_budget_no_arch_meets_is_said_so(example: ModuleType) -> None:
    """Before: "best capacity possible under the budget nan"."""
    result = example.SearchResult(device="d", budget_ms=0.001, finds=[], measurements=8,
                                  predictions=79)  # fmt: skip
    last = example.report(result).splitlines()[-1]
    assert "nan" not in last and last.endswith("no arch of the table is within the budget")
    result.best_possible = 9.1
    assert example.report(result).endswith("best capacity possible under the budget 9.10")


def test_a_device_searched_before_is_searched_again_with_its_measurements(
    example: ModuleType, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run under the same --device did not know the first's measurements: they were
    doubtful candidates again, and once they were all the doubtful ones, the service refused
    to suggest among them ("every candidate given is measured") and the search ended."""
    args = ["--target", target, "--dataset", str(DATASET), "--table", "gold_6226", *SHORT]
    args += ["--device", "sim-again", "--generations", "8"]
    assert example.main(args) == 0
    with LatencyClient(target) as latency:
        before = {arch for arch, _ in latency.measurements("sim-again")}
    capsys.readouterr()
    again = example.run(args)  # the same seed: the same doubts, measured before
    assert f"continuing with its measurements of {len(before)} archs" in capsys.readouterr().err
    with LatencyClient(target) as latency:
        stored = {arch for arch, _ in latency.measurements("sim-again")}
    assert again.measurements == len(stored) - len(before) <= 5 + 8 * 2  # this run's only
    for find in again.finds:  # the earlier run's measurements settle feasibility too
        assert find.measured == (find.arch in stored)
    assert any(find.arch in before for find in again.finds)
    assert example.main(args) == 0, capsys.readouterr().err
    # Not another's device, a real machine's: this table's latencies went into it for good.
    with LatencyClient(target) as latency:
        latency.register_device("real-laptop", description="my own laptop")
    mine = ["--target", target, "--dataset", str(DATASET), "--table", "gold_6226", *SHORT]
    with pytest.raises(SystemExit, match="real-laptop exists and was not simulated from"):
        example.main([*mine, "--device", "real-laptop"])
    with LatencyClient(target) as latency:
        assert latency.device("real-laptop").measurement_count == 0


def test_a_table_the_service_was_fitted_on_is_said_to_be_no_unseen_device(
    example: ModuleType, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """raspi4 is a source of the test server's model: the "simulated" device was predicted
    exactly, and nothing said why. A device that only shares a table's name is no source."""
    args = ["--target", target, "--dataset", str(DATASET), *SHORT, "--generations", "1"]
    example.run([*args, "--table", "raspi4", "--device", "sim-pi4"])
    assert "the service's model was fitted on raspi4's table" in capsys.readouterr().err
    with LatencyClient(target) as latency:
        latency.register_device("gold_6226", description="a machine like HELP's")
    example.run([*args, "--table", "gold_6226", "--device", "sim-gold"])
    assert "fitted on" not in capsys.readouterr().err


def test_unreachable_service_is_one_line(
    example: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    help_dataset_dir: Path,
) -> None:
    import client.api
    from tests.service.conftest import free_port

    monkeypatch.setattr(client.api.time, "sleep", lambda seconds: None)  # skip the backoff
    args = ["--target", f"127.0.0.1:{free_port()}", "--dataset", str(help_dataset_dir), *SHORT]
    assert example.main([*args, "--wait", "0"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_a_server_still_fitting_is_waited_for(
    example: ModuleType,
    health_only: tuple[str, object],
    capsys: pytest.CaptureFixture[str],
    help_dataset_dir: Path,
) -> None:
    """Before, a search started just after the server failed at its first suggestion."""
    target, _ = health_only  # NOT_SERVING throughout
    args = ["--target", target, "--dataset", str(help_dataset_dir), *SHORT, "--wait", "0.3"]
    assert example.main(args) == 1
    err = capsys.readouterr().err
    assert f"waiting for the latency service at {target} to load its model" in err
    assert "still loading its model after 0 s" in err


def test_script_help() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "--budget-ms" in done.stdout


def test_a_missing_dataset_is_one_line(
    example: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """From a clone not beside shared/, the default dataset path does not exist."""
    assert example.main(["--dataset", str(tmp_path / "nowhere"), *SHORT]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err and "LATENCY_DATASET_DIR" in err
    assert "Traceback" not in err


def test_the_dataset_defaults_to_the_server_s_variable_too(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who set LATENCY_DATASET for `serve` was told the default was no dataset."""
    monkeypatch.delenv("LATENCY_DATASET_DIR", raising=False)
    monkeypatch.setenv("LATENCY_DATASET", "/data/help")
    assert example.parse_args([]).dataset == Path("/data/help")
    monkeypatch.setenv("LATENCY_DATASET_DIR", "/tests/help")  # the tests' name first
    assert example.parse_args([]).dataset == Path("/tests/help")


def test_an_unknown_table_is_named_as_the_tables_fault(
    example: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before, --table pi4 (raspi4's alias, not a table) was blamed on --dataset."""
    dataset = write_help_dataset(tmp_path / "help", {"raspi4": [1.0] * NUM_ARCHS})
    assert example.main(["--dataset", str(dataset), "--table", "pi4", *SHORT]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --table pi4: {dataset} has raspi4\n"


@pytest.mark.parametrize(
    "flags",
    [
        ["--budget-ms", "0"],
        ["--budget-ms", "-5"],
        ["--budget-ms", "nan"],
        ["--budget-ms", "inf"],
        ["--population", "0"],
        ["--top", "x"],
        ["--wait", "-1"],
        ["--wait", "nan"],
        ["--seed", "-1"],
    ],
)
def test_counts_and_budgets_must_be_positive(
    example: ModuleType, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, --budget-ms 0 fell back to the default budget and -5 ended in a traceback, as
    did --wait -1 (from wait_until_ready) and --seed -1 (from numpy, after the wait)."""
    with pytest.raises(SystemExit) as info:
        example.parse_args(flags)
    assert info.value.code == 2 and flags[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "env", "fragment"),
    [
        (["--target", "127.0.0.1:99999"], {}, "port 99999 is beyond 65535"),
        ([], {"LATENCY_TIMEOUT": "abc"}, "LATENCY_TIMEOUT='abc'"),
    ],
)
def test_a_setting_the_client_refuses_is_one_line(
    example: ModuleType,
    flags: list[str],
    env: dict[str, str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    help_dataset_dir: Path,
) -> None:
    """Before, the client's ClientInputError for a bad target or $LATENCY_TIMEOUT was a
    traceback."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert example.main(["--dataset", str(help_dataset_dir), *SHORT, *flags]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err


def test_a_mutation_always_changes_exactly_one_edge(example: ModuleType) -> None:
    """One draw in five picked the edge's own op again: the child was its parent."""
    import numpy as np

    cell = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    for seed in range(30):
        child = example.mutate(cell, np.random.default_rng(seed))
        parent, child = example.parse(cell), example.parse(child)
        changed = sum(a != b for a, b in zip(parent, child, strict=True))
        assert changed == 1, (seed, child)


def test_capacity_weighs_live_ops_and_the_longest_live_path(example: ModuleType) -> None:
    # live: 3x3 conv (2.5) -> skip (0.2) -> avg pool (0.3), a path of 3 edges (0.5 each)
    cell = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    assert example.capacity(cell) == pytest.approx(2.5 + 0.2 + 0.3 + 0.5 * 3)
    direct = "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"  # one edge, 0 -> 3
    assert example.capacity(direct) == pytest.approx(1.0 + 0.5 * 1)


def test_feasibility_reads_the_90_percent_interval(example: ModuleType) -> None:
    import numpy as np

    median, lower, upper = np.array([10.0]), np.array([5.0]), np.array([20.0])
    assert example.feasibility(median, lower, upper, 10.0)[0] == pytest.approx(0.5)
    assert example.feasibility(median, lower, upper, 20.0)[0] == pytest.approx(0.95)
    assert example.feasibility(median, lower, upper, 5.0)[0] == pytest.approx(0.05)
    unbounded = example.feasibility(median, np.array([0.0]), np.array([np.inf]), 1.0)
    assert unbounded[0] == pytest.approx(0.5)


class _HonestService:
    """Stands in for the latency service: predicts each arch's true latency with a 90%
    interval of x/÷ 1.02 around it (it never learns), suggests the first unmeasured
    candidates, and records uploads."""

    def __init__(self, truth: dict[str, float], archs: list[str]) -> None:
        self.truth, self.archs = truth, archs
        self.uploaded: dict[str, float] = {}
        self.offered: list[tuple[int, int]] = []  # (count asked, candidates offered)
        self.predicted = 0  # archs predicted, over every call

    def suggest(
        self, device: str, count: int, candidates: list[str] | None = None
    ) -> SimpleNamespace:
        pool = self.archs if candidates is None else list(candidates)
        if candidates is not None:
            self.offered.append((count, len(pool)))
        picks = [a for a in pool if a not in self.uploaded][:count]
        return SimpleNamespace(archs=picks)

    def add_measurements(self, device: str, pairs: list[tuple[str, float]]) -> None:
        self.uploaded.update(pairs)

    def predict(self, device: str, archs: list[str]) -> SimpleNamespace:
        import numpy as np

        self.predicted += len(archs)
        median = np.array([self.truth[a] for a in archs])
        return SimpleNamespace(median_ms=median, lower_ms=median / 1.02, upper_ms=median * 1.02)


def test_the_finds_are_the_most_capable_archs_known_to_be_within_budget(
    example: ModuleType, tmp_path: Path
) -> None:
    """Against a service that predicts honestly but with doubt: the archs just under the
    budget are the most capable ones, and only a measurement shows them within it."""
    from gp.spaces.nasbench201 import all_archs

    archs = all_archs()
    latency = [1.0 + example.capacity(arch) for arch in archs]  # capacity costs time
    dataset = write_help_dataset(tmp_path / "help", {"dev": latency})
    simulator = example.SimulatedDevice(dataset, "dev")
    service = _HonestService(dict(zip(archs, latency, strict=True)), archs)
    budget = 7.05  # capacity 6 at most; above 5.91, only a measurement tells
    # Every find of the population, and one measurement a generation: some doubt is left.
    settings = example.Settings(budget_ms=budget, top=40, measure_per_generation=1)
    result = example.search(service, "dev", simulator, settings)

    assert result.measurements == len(service.uploaded) == len(simulator.measured)
    assert result.predictions == service.predicted  # the finds' own predictions too
    capacities = [find.capacity for find in result.finds]
    assert capacities == sorted(capacities, reverse=True)  # the most capable first
    for find in result.finds:
        assert find.measured == (find.arch in service.uploaded)
        if find.measured:
            assert service.uploaded[find.arch] <= budget
        else:
            assert find.upper_ms <= budget  # kept only when within budget at 95%
    # The best are measured: their 90% upper bound alone is over the budget.
    assert result.finds[0].measured
    best_possible = max(c - 1.0 for c in latency if c <= budget)
    assert result.finds[0].capacity == pytest.approx(best_possible)
    # The service chooses which doubtful archs to measure among more than it measures.
    assert any(offered > count for count, offered in service.offered)


def test_the_default_budget_is_the_table_s_30th_percentile(
    example: ModuleType, target: str
) -> None:
    import numpy as np

    from gp.data import load_help_dataset

    table = load_help_dataset(DATASET, ["gold_6226"]).latency_ms["gold_6226"]
    args = ["--target", target, "--dataset", str(DATASET), "--table", "gold_6226", *SHORT]
    result = example.run([*args, "--generations", "1", "--device", "sim-default-budget"])
    assert result.budget_ms == pytest.approx(float(np.quantile(np.asarray(table), 0.3)))


def test_the_options_default_to_the_search_settings(example: ModuleType) -> None:
    args = example.parse_args([])
    settings = example.Settings(budget_ms=1.0)
    assert args.budget_ms is None  # the table's 30th percentile, once the table is read
    for name in ("generations", "population", "initial_measurements",
                 "measure_per_generation", "top", "seed"):  # fmt: skip
        assert getattr(args, name) == getattr(settings, name), name


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--budget-ms", "0"], "must be a finite number above 0, got 0"),
        (["--population", "0"], "must be a finite number above 0, got 0"),
        (["--wait", "-1"], "must be 0 or more, got -1"),
        (["--top", "x"], "'x' is not an integer"),
        (["--budget-ms", "x"], "'x' is not a number"),
    ],
)
def test_a_refused_option_says_what_it_must_be(
    example: ModuleType, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        example.parse_args(flags)
    assert f"argument {flags[0]}: {message}" in capsys.readouterr().err


def test_the_report_marks_each_find_against_the_budget_and_counts_them(
    example: ModuleType,
) -> None:
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    # The true latency decides, not the prediction nor its bound: both are over the budget
    # for the find within it, and the find over it was predicted within.
    within = example.Find(arch, 4.5, predicted_ms=11.0, upper_ms=12.5, measured=True, true_ms=9.5)
    over = example.Find(arch, 3.0, predicted_ms=8.0, upper_ms=11.0, measured=False, true_ms=10.5)
    result = example.SearchResult(device="d", budget_ms=10.0, finds=[within, over],
                                  measurements=8, predictions=79, best_possible=5.0)  # fmt: skip
    lines = example.report(result).splitlines()
    assert lines[-3].split()[4] == "yes" and lines[-3].endswith("(measured)")
    assert lines[-2].split()[4] == "NO" and not lines[-2].endswith("(measured)")
    assert lines[-1].startswith("1 of 2 finds within budget; 8 measurements spent")
    assert "79 predictions asked" in lines[-1]
