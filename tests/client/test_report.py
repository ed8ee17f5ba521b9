"""``client report``: the figure and the numbers, for a device learned from 10 measurements."""

from __future__ import annotations

import csv
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from client.api import REFERENCE_LATENCY_PREFIX, LatencyClient, Predictions
from client.cli import app
from client.metrics import acc10, calibration_curve, score, scores_line, spearman
from client.report import INSIDE_COLOR, MAX_ERROR_BARS, OUTSIDE_COLOR, Report, draw
from tests.service.conftest import DATASET

TABLE = "gold_6226"  # a HELP device that is not among the test store's sources


@pytest.fixture
def measured_csv(latency: LatencyClient, tmp_path: Path) -> Path:
    """Registers ``target`` with 10 measurements of the table; 150 others held out in a CSV."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs

    truth = load_help_dataset(DATASET, [TABLE]).latency_ms[TABLE]
    archs = all_archs()
    order = np.random.default_rng(0).permutation(len(archs))
    latency.register_device("target")
    latency.add_measurements("target", [(archs[i], truth[i]) for i in order[:10]])
    path = tmp_path / "measured.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "latency_ms"])
        writer.writerows((archs[i], float(truth[i])) for i in order[10:160])
    return path


def test_report_figure_and_numbers(target: str, measured_csv: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = tmp_path / "report.png"
    args = ["--target", target, "report", "-d", "target", "--measured", str(measured_csv)]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    numbers = re.search(
        r"Spearman (\S+)\s+acc10 (\S+)%\s+MAPE (\S+)%\s+bias (\S+)%\s+90% coverage (\S+)%",
        result.stdout,
    )
    assert numbers is not None, result.stdout
    spearman, acc10, mape, bias, coverage = (float(v) for v in numbers.groups())
    assert spearman > 0.5 and 0 <= acc10 <= 100 and 50 <= coverage <= 100
    assert abs(bias) <= mape
    assert f"wrote {out}" in result.stdout

    assert out.stat().st_size > 30_000
    image = imread(out)
    assert image.shape[0] >= 500 and image.shape[1] >= 1200
    assert image[..., :3].std() > 0.05  # drawn on, not a blank canvas

    as_json = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r.svg"), "--json"])
    scores = json.loads(as_json.stdout)
    assert scores["n"] == 150 and scores["spearman"] == pytest.approx(spearman, abs=1e-3)
    # What the text says beside the scores (a review, 2026-12-06).
    assert scores["conditioned"] == 0 and scores["model_version"].endswith("-1")
    assert (scores["device"], scores["figure"]) == ("target", str(tmp_path / "r.svg"))
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")


def test_a_report_on_one_arch_says_arch(target: str, measured_csv: Path, tmp_path: Path) -> None:
    """It said "target: 1 archs", and "Spearman nan": one arch has no rank correlation."""
    one = tmp_path / "one.csv"
    one.write_text("\n".join(measured_csv.read_text().splitlines()[:2]) + "\n")
    args = ["--target", target, "report", "-d", "target", "--out", str(tmp_path / "r.png")]
    result = CliRunner().invoke(app, [*args, "--measured", str(one)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("target: 1 arch  Spearman n/a (1 arch)  acc10 "), result.stdout
    assert "nan" not in result.stdout.lower()
    as_json = CliRunner().invoke(app, [*args, "--measured", str(one), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout, parse_constant=_no_constant)["spearman"] is None


def test_the_figure_of_one_arch_says_architecture() -> None:
    one = np.array([2.0])
    prediction = Predictions(one, one * 0.01, one * 0.9, one * 1.1, "v1")
    figure = draw(Report.build("pi4", np.array([2.1]), prediction))
    title = figure.get_suptitle()
    assert title.startswith("pi4: 1 measured architecture    model v1\nSpearman n/a (1 arch)")


def test_the_figure_s_10_percent_band_is_the_one_acc10_counts() -> None:
    """The band ran from 1 / 1.1 (9.1% low), so a prediction 9.1-10% low counted in acc10 but
    was drawn outside it (a review, 2026-12-06)."""
    one = np.array([10.0])
    prediction = Predictions(one * 0.905, one * 0.01, one * 0.8, one * 1.1, "v1")
    figure = draw(Report.build("pi4", one, prediction))
    (band,) = [c for c in figure.axes[0].collections if c.get_label() == "within 10%"]
    edges = band.get_paths()[0].vertices
    x, y = edges[:, 0], edges[:, 1]
    assert np.allclose(sorted(set(np.round(y / x, 9))), [0.9, 1.1])
    assert Report.build("pi4", one, prediction).scores.acc10 == 1.0


def _no_constant(name: str) -> None:
    """For json.loads: NaN and Infinity are no JSON, though Python reads them."""
    raise ValueError(f"{name} in JSON output")


def test_a_spearman_of_two_archs_is_their_order() -> None:
    """Two archs rank as well or as badly as can be: not n/a, which says they are all alike."""
    assert spearman(np.array([2.0, 5.0]), np.array([5.0, 2.0])) == pytest.approx(-1.0)
    assert spearman(np.array([2.0, 5.0]), np.array([3.0, 7.0])) == pytest.approx(1.0)


def test_scores_say_why_a_spearman_is_undefined() -> None:
    alike = {"n": 3, "spearman": float("nan"), "acc10": 1.0, "mape": 0, "bias": 0, "coverage90": 1}
    assert scores_line(alike).startswith(
        "Spearman n/a (measured or predicted latencies all alike)  acc10 100.0%"
    )
    assert scores_line({**alike, "n": 0, "spearman": None}).startswith("Spearman n/a (0 archs)")
    assert scores_line({**alike, "spearman": 0.98765}).startswith("Spearman 0.988  acc10")


def test_a_report_on_measured_archs_warns_that_it_flatters(
    target: str, latency: LatencyClient, measured_csv: Path, tmp_path: Path
) -> None:
    """Before, scoring the archs just uploaded (the README's measured.csv rather than
    held_out.csv) printed flattering scores without a word."""
    uploaded = latency.measurements("target")[:3]
    mixed = tmp_path / "mixed.csv"
    held_out = measured_csv.read_text().splitlines()[1:3]
    rows = [f"{arch},{ms!r}" for arch, ms in uploaded] + held_out
    mixed.write_text("arch,latency_ms\n" + "\n".join(rows) + "\n")
    args = ["--target", target, "report", "-d", "target", "--out", str(tmp_path / "r.png")]
    result = CliRunner().invoke(app, [*args, "--measured", str(mixed)])
    assert result.exit_code == 0, result.output
    assert "warning: 3 of the 5 archs are among target's measurements" in result.stderr
    clean = CliRunner().invoke(app, [*args, "--measured", str(measured_csv)])
    assert clean.exit_code == 0 and "warning" not in clean.stderr


def test_a_measured_arch_listed_twice_counts_twice_among_the_flattering_ones(
    target: str, latency: LatencyClient, measured_csv: Path, tmp_path: Path
) -> None:
    """Distinct archs were counted against rows: 3 rows of one uploaded arch and a fresh one
    were "1 of the 4 archs" conditioned on, though 3 of the 4 scores were."""
    arch, ms = latency.measurements("target")[0]
    fresh = measured_csv.read_text().splitlines()[1]
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("arch,latency_ms\n" + f"{arch},{ms!r}\n" * 3 + fresh + "\n")
    args = ["--target", target, "report", "-d", "target", "--out", str(tmp_path / "r.png")]
    result = CliRunner().invoke(app, [*args, "--measured", str(repeated)])
    assert result.exit_code == 0, result.output
    assert "warning: 3 of the 4 archs are among target's measurements" in result.stderr
    # Each row is scored as an arch: said (a review, 2026-12-06).
    assert (
        f"warning: {repeated}: 1 arch listed more than once (first {arch!r}, lines 2, 3, 4):"
        " each row is scored as an arch of its own" in " ".join(result.stderr.split())
    )


def test_a_report_on_reference_archs_warns_that_it_flatters(
    target: str, latency: LatencyClient, measured_csv: Path, tmp_path: Path
) -> None:
    """A device's reference latencies condition its predictions like measurements, but only
    its measurements were counted: scoring its reference archs printed no warning."""
    rows = measured_csv.read_text().splitlines()[1:4]
    referenced = {arch: float(ms) for arch, ms in (row.split(",") for row in rows[:2])}
    descriptor = {f"{REFERENCE_LATENCY_PREFIX}{arch}": ms for arch, ms in referenced.items()}
    latency.register_device("referenced", descriptor=descriptor)
    scored = tmp_path / "scored.csv"
    scored.write_text("arch,latency_ms\n" + "\n".join(rows) + "\n")
    args = ["--target", target, "report", "-d", "referenced", "--out", str(tmp_path / "r.png")]
    result = CliRunner().invoke(app, [*args, "--measured", str(scored)])
    assert result.exit_code == 0, result.output
    assert "warning: 2 of the 3 archs are among referenced's measurements or reference" in (
        result.stderr
    )


def test_a_report_counts_archs_spelled_otherwise_as_conditioned_on(
    target: str, latency: LatencyClient, tmp_path: Path
) -> None:
    """The service stores FBNet archs as block names joined by bare commas, but takes block
    indices and spaces after commas: measured archs written so in the report's file were not
    counted, and their flattering scores printed without a word."""
    from gp.spaces.fbnet import BLOCKS, parse_arch, random_archs

    measured, fresh = random_archs(3, seed=0), random_archs(2, seed=1)
    latency.register_device("fb")
    latency.add_measurements("fb", [(arch, 5.0 + i) for i, arch in enumerate(measured)])
    indices = ",".join(str(i) for i in parse_arch(measured[0]))
    spaced = ", ".join(BLOCKS[i] for i in parse_arch(measured[1]))
    rows = [(indices, 5.0), (spaced, 6.0), *((arch, 7.0) for arch in fresh)]
    scored = tmp_path / "scored.csv"
    with scored.open("w", newline="") as handle:
        csv.writer(handle).writerows([("arch", "latency_ms"), *rows])
    args = ["--target", target, "report", "-d", "fb", "--space", "fbnet"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r.png"), "-m", str(scored)])
    assert result.exit_code == 0, result.output
    assert "warning: 2 of the 4 archs are among fb's measurements" in result.stderr


def test_a_report_counts_feature_vectors_conditioned_on(
    target: str, latency: LatencyClient, tmp_path: Path
) -> None:
    """Feature vectors were never counted (taken to have no name to match, though the service
    lists them as their elements' repr): a report on a device's own measured vectors printed
    flattering scores without a word."""
    measured = [[1.0, 2.0, 3.0], [2.0, 1.0, 0.5], [0.0, 4.0, 1.0]]
    latency.register_device("vec")
    latency.add_measurements("vec", [(v, 5.0 + i) for i, v in enumerate(measured)])
    rows = [("1,2,3", 5.0), ("2.0, 1.0, 0.50", 6.0), ("3,3,3", 7.0), ("0.5,0.5,4", 8.0)]
    scored = tmp_path / "scored.csv"
    with scored.open("w", newline="") as handle:
        csv.writer(handle).writerows([("arch", "latency_ms"), *rows])
    for space in ([], ["--space", "vector"]):
        args = ["--target", target, "report", "-d", "vec", *space, "-m", str(scored)]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r.png")])
        assert result.exit_code == 0, result.output
        assert "warning: 2 of the 4 archs are among vec's measurements" in result.stderr


def test_report_on_missing_file_is_one_line(target: str, tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    result = CliRunner().invoke(
        app, ["--target", target, "report", "-d", "pi4", "-m", str(missing)]
    )
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert "none.csv" in result.stderr and not (Path.cwd() / "report.png").exists()


def test_metrics_of_perfect_and_biased_predictions() -> None:
    measured = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    lower, upper = measured / 1.5, measured * 1.5
    scores, median = score(lower, upper, measured)
    np.testing.assert_allclose(median, measured)
    assert scores.spearman == pytest.approx(1.0) and scores.acc10 == scores.coverage90 == 1.0
    biased, _ = score(lower * 1.2, upper * 1.2, measured, median_ms=measured * 1.2)
    assert biased.acc10 == 0.0 and biased.mape == pytest.approx(20.0)
    assert scores.bias == pytest.approx(0.0) and biased.bias == pytest.approx(20.0)
    low, _ = score(lower, upper, measured, median_ms=measured * np.array([0.9, 1, 1, 1, 0.9]))
    assert low.bias == pytest.approx(-4.0) and low.mape == pytest.approx(4.0)
    levels, observed = calibration_curve(measured * 1.2, lower * 1.2, upper * 1.2, measured)
    # Every measurement sits 0.74 sd off-centre: outside the central intervals below ~54%.
    assert observed[0] == 0.0 and observed[-1] == 1.0
    assert np.all(np.diff(observed) >= 0) and len(levels) == len(observed)
    # Every 5%: 19 levels, from 5% to 95%.
    np.testing.assert_allclose(levels, np.linspace(0.05, 0.95, 19))


def test_acc10_counts_a_prediction_exactly_10_percent_off_on_either_side() -> None:
    """1.1 / 1.0 - 1 is 0.10000000000000009: a prediction 10% high was a miss, 10% low a hit."""
    measured = np.array([1.0, 1.0, 100.0, 100.0])
    assert acc10(np.array([1.1, 0.9, 110.0, 90.0]), measured) == 1.0
    assert acc10(np.array([1.1 * (1 + 1e-9), 0.9 * (1 - 1e-9), 110.0, 90.0]), measured) == 0.5
    from client.metrics import ACC10_LIMIT as LIMIT

    assert acc10(np.array([1.0 + LIMIT]), np.array([1.0])) == 1.0  # the bound itself is in
    # gp's accuracy benchmark (gp.metrics) counts by the same bound.
    from client import metrics
    from gp.metrics import ACC10_LIMIT

    assert metrics.ACC10_LIMIT == ACC10_LIMIT


def test_spearman_of_constant_inputs_is_nan_without_a_warning() -> None:
    """scipy's ConstantInputWarning reached the terminal: ``client report`` on latencies all
    alike printed two lines of source path and warning class before its scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(spearman(np.array([1.0, 2.0, 3.0]), np.array([4.0, 4.0, 4.0])))
        assert np.isnan(spearman(np.array([5.0, 5.0]), np.array([1.0, 2.0])))
        assert np.isnan(spearman(np.array([5.0]), np.array([1.0])))
    assert spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0, 4.0])) == (
        pytest.approx(0.9486832980505139)  # scipy's, with the tie at their average rank
    )


@pytest.mark.parametrize("seed", range(5))
def test_spearman_is_scipy_s_with_ties_at_their_average_rank(seed: int) -> None:
    """The client computes it with numpy (scipy is not a client dependency): the same value on
    latencies of whole milliseconds, where ties are the rule, and on continuous ones."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    measured = np.round(rng.lognormal(2.0, 0.5, 200))
    predicted = measured * rng.lognormal(0.0, 0.2, 200)
    unbounded = predicted.copy()
    unbounded[7] = np.inf
    for pair in [
        (predicted, measured),
        (np.round(predicted), measured),
        (predicted, predicted),
        (unbounded, measured),
    ]:
        expected = stats.spearmanr(*pair).statistic
        assert spearman(*pair) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    unknown = predicted.copy()
    unknown[3] = np.nan  # a geometric midpoint of [0, inf]
    assert np.isnan(stats.spearmanr(unknown, measured).statistic)
    assert np.isnan(spearman(unknown, measured)) and np.isnan(spearman(measured, unknown))


def test_unbounded_intervals(tmp_path: Path) -> None:
    """A device the service knows nothing about may get [0, inf]: nothing breaks."""
    from client.api import Predictions
    from client.report import write_report

    measured = np.array([2.0, 5.0, 9.0, 30.0])
    prediction = Predictions(
        mean_ms=np.array([2.5, 4.0, 10.0, 20.0]),
        variance_ms2=np.array([1.0, 4.0, 9.0, 400.0]),
        lower_ms=np.array([1.5, 3.0, 0.0, 0.0]),
        upper_ms=np.array([3.5, 6.0, np.inf, np.inf]),
    )
    median = prediction.median_ms
    assert np.all(np.isfinite(median)) and np.all(median < prediction.mean_ms)
    _, observed = calibration_curve(median, prediction.lower_ms, prediction.upper_ms, measured)
    assert observed[-1] == 1.0 and np.all(observed >= 0.5)  # unbounded: inside at every level
    report = write_report(tmp_path / "r.png", "blank", measured, prediction)
    assert report.scores.coverage90 == 1.0 and (tmp_path / "r.png").stat().st_size > 10_000


def test_a_prediction_outside_its_own_interval_is_drawn(tmp_path: Path) -> None:
    """A library caller's own Predictions, the point outside its interval, ended the figure in
    matplotlib's "'yerr' must not contain negative values" (a review, 2026-12-06)."""
    from client.report import write_report

    prediction = Predictions(
        mean_ms=np.array([10.0, 10.0]),
        variance_ms2=np.array([1.0, 1.0]),
        lower_ms=np.array([11.0, 9.0]),
        upper_ms=np.array([12.0, 9.5]),
    )
    write_report(tmp_path / "r.png", "mine", np.array([10.5, 9.2]), prediction)
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_a_device_name_is_drawn_as_given(tmp_path: Path) -> None:
    """matplotlib read a title between two '$' as TeX: a device named 'rtx$\\frac$' ended the
    report in a ParseSyntaxException traceback."""
    from client.report import write_report

    name = "rtx$\\frac$"
    prediction = Predictions(
        mean_ms=np.array([2.0, 4.0]),
        variance_ms2=np.array([0.1, 0.2]),
        lower_ms=np.array([1.5, 3.0]),
        upper_ms=np.array([2.5, 5.0]),
    )
    write_report(tmp_path / "r.png", name, np.array([2.1, 3.9]), prediction)
    assert (tmp_path / "r.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("name", "fragment"), [("r.txt", "must end in .png, .pdf, .svg"), ("nodir/r.png", "no folder")]
)
def test_a_figure_that_cannot_be_written_is_refused_before_predicting(
    target: str, measured_csv: Path, tmp_path: Path, name: str, fragment: str
) -> None:
    """Before, an unsupported suffix ended in matplotlib's ValueError traceback."""
    out = tmp_path / name
    args = ["--target", target, "report", "-d", "pi4", "-m", str(measured_csv), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and fragment in result.stderr
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_a_measured_latency_that_is_not_positive_is_named_by_its_line(
    target: str, tmp_path: Path, value: str
) -> None:
    """Before, 0 gave MAPE inf%, -5 a score as if nothing were wrong, nan a matplotlib
    traceback; the service refuses such latencies on upload, report took them."""
    measured = tmp_path / "held_out.csv"
    cell = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    measured.write_text(f"arch,latency_ms\n{cell},3.5\n{cell},{value}\n")
    out = tmp_path / "r.png"
    args = ["--target", target, "report", "-d", "pi4", "-m", str(measured), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {measured} line 3: latency ")
    assert result.stderr.count("\n") == 1 and not out.exists()


def _report(measured: list[float], median: list[float], lower: float, upper: float) -> Report:
    """A report of predictions with mean 2x and variance 12x the square of ``median``: their
    log-normal medians are ``median`` itself. Intervals are ``lower``/``upper`` times it."""
    m = np.array(median)
    prediction = Predictions(
        mean_ms=2 * m, variance_ms2=12 * m**2, lower_ms=lower * m, upper_ms=upper * m
    )
    return Report.build("d", np.array(measured), prediction)


def test_an_interval_down_to_zero_gets_no_error_bar() -> None:
    """The axes are logarithmic: a bar down to 0 ms has no end to draw (a mutation review)."""
    from client.report import _error_bar_points

    assert _error_bar_points(_report([1.0, 2.0], [1.0, 2.0], 0.5, 2.0)).tolist() == [0, 1]
    assert _error_bar_points(_report([1.0, 2.0], [1.0, 2.0], 0.0, 2.0)).tolist() == []
    # Nor one up to infinity, which a library caller's own intervals may reach.
    assert _error_bar_points(_report([1.0, 2.0], [1.0, 2.0], 0.5, math.inf)).tolist() == []


def test_a_wrapped_title_line_starts_at_its_first_word() -> None:
    """The space the line broke at is dropped, not carried to the next line's start."""
    from client.report import TITLE_WIDTH, _wrapped

    assert _wrapped("x" * TITLE_WIDTH + " tail").split("\n") == ["x" * TITLE_WIDTH, "tail"]
    # Full-width Latin letters ("F") take two columns, as East Asian wide ones ("W") do.
    for wide in ("设", "\uff26"):
        lines = _wrapped(wide * 80).split("\n")
        assert [len(line) for line in lines] == [TITLE_WIDTH // 2, 80 - TITLE_WIDTH // 2], wide


def test_the_report_scores_the_median_not_the_mean() -> None:
    report = _report([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.5, 2.0)
    np.testing.assert_allclose(report.median_ms, [1.0, 2.0, 3.0])
    assert report.scores.acc10 == 1.0


def test_a_measurement_on_an_interval_bound_is_drawn_inside() -> None:
    report = _report([0.75, 3.0, 9.0], [1.5, 2.0, 2.5], 0.5, 1.5)  # on a bound, on one, above
    handles, labels = draw(report).axes[0].get_legend_handles_labels()
    assert "inside the 90% interval (2)" in labels and "outside the 90% interval (1)" in labels
    # Each in its own colour: swapped, no test noticed (a mutation review, 2026-12-07).
    from matplotlib.colors import to_rgb

    colours = {
        label.split(" the")[0]: handle.get_facecolor()[0][:3]
        for handle, label in zip(handles, labels, strict=True)
        if "90% interval" in label
    }
    assert tuple(colours["inside"]) == pytest.approx(to_rgb(INSIDE_COLOR))
    assert tuple(colours["outside"]) == pytest.approx(to_rgb(OUTSIDE_COLOR))


def test_the_calibration_curve_at_90_percent_is_the_90_percent_coverage() -> None:
    """The interval was rescaled with one log scale for both sides, but the service's is
    Gaussian in latency, longer below the median in log space: measurements above the interval
    (and inside it, below) were counted the other way round at the curve's 90% point."""
    median = np.array([1.0, 2.0, 4.0, 8.0])
    lower, upper = 0.5 * median, 1.5 * median
    for factor, inside in ((1.6, 0.0), (0.55, 1.0), (1.45, 1.0), (0.45, 0.0)):
        measured = factor * median
        levels, observed = calibration_curve(median, lower, upper, measured)
        assert observed[np.flatnonzero(levels == 0.9)[0]] == inside, factor
        assert score(lower, upper, measured, median)[0].coverage90 == inside


def test_the_calibration_curve_at_the_100_percent_level_holds_every_measurement() -> None:
    """Its interval is unbounded (scipy's quantile was inf; the standard library's refuses 1.0
    and the curve failed)."""
    median = np.array([1.0, 2.0, 4.0])
    measured = np.array([0.01, 2.5, 400.0])
    levels, observed = calibration_curve(median, 0.5 * median, 1.5 * median, measured, [0.5, 1.0])
    assert list(levels) == [0.5, 1.0] and observed[-1] == 1.0


def test_error_bars_are_drawn_on_a_sample_of_many_points() -> None:
    measured = list(np.linspace(1.0, 50.0, MAX_ERROR_BARS + 100))
    report = _report(measured, measured, 0.5, 2.0)
    title = draw(report).axes[0].get_title()
    assert title.endswith(f"(error bars on {MAX_ERROR_BARS} points)")
    from client.report import _error_bar_points

    assert len(set(_error_bar_points(report).tolist())) == MAX_ERROR_BARS  # no point twice


@pytest.mark.parametrize("name", ["r.svg", "r.PNG"])
def test_an_interrupted_report_leaves_no_part_of_a_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """matplotlib writes as it draws: a Ctrl-C during the save left part of a file (and a
    previous report of that name overwritten by it)."""
    from matplotlib.figure import Figure

    from client.report import write_report

    measured = np.array([2.0, 5.0])
    prediction = Predictions(
        mean_ms=np.array([2.5, 4.0]),
        variance_ms2=np.array([1.0, 4.0]),
        lower_ms=np.array([1.5, 3.0]),
        upper_ms=np.array([3.5, 6.0]),
    )
    out = tmp_path / name
    write_report(out, "pi4", measured, prediction)
    whole = out.read_bytes()
    save = Figure.savefig

    def interrupted(self: Figure, target: object, **kwargs: object) -> None:
        save(self, target, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(out, "other", measured * 2, prediction)
    assert out.read_bytes() == whole


def test_spearman_ranks_rather_than_correlating_the_values() -> None:
    """Predictions in the measured order but not on a line rank perfectly; the printed
    "Spearman" was no rank correlation if it scored them below 1."""
    measured = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(measured**4, measured) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 3.0, 2.0, 5.0, 4.0]), measured) == pytest.approx(0.8)


def test_a_measurement_on_an_interval_bound_counts_as_covered() -> None:
    """The figure draws a measurement on a bound inside; the coverage printed beside it must
    count it too."""
    report = _report([0.75, 3.0, 9.0], [1.5, 2.0, 2.5], 0.5, 1.5)  # on a bound, on one, above
    assert report.scores.coverage90 == pytest.approx(2 / 3)


def test_the_scores_line_puts_each_score_in_its_place() -> None:
    scores = {"n": 5, "spearman": 0.9, "acc10": 0.4, "mape": 12.34, "bias": 3.21, "coverage90": 0.8}
    assert scores_line(scores) == (
        "Spearman 0.900  acc10 40.0%  MAPE 12.3%  bias +3.2%  90% coverage 80.0%"
    )


def test_the_report_scores_the_services_median_not_the_intervals_midpoint() -> None:
    """The service's interval is Gaussian in latency, so its geometric midpoint is not the
    median the report promises to score (and is NaN for an unbounded one)."""
    mean = np.array([2.0, 4.0, 10.0])
    sd = np.array([0.5, 1.5, 30.0])
    prediction = Predictions(mean, sd**2, np.maximum(mean - 1.645 * sd, 0.0), mean + 1.645 * sd)
    report = Report.build("d", np.array([2.0, 4.0, 9.0]), prediction)
    np.testing.assert_allclose(report.median_ms, prediction.median_ms)
    assert np.all(np.isfinite(report.median_ms))


def test_a_report_of_few_points_gives_every_one_an_error_bar() -> None:
    title = draw(_report([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.5, 2.0)).axes[0].get_title()
    assert title == "Predicted vs measured"


def test_the_legend_counts_every_point_not_only_those_with_an_error_bar() -> None:
    measured = list(np.linspace(1.0, 50.0, MAX_ERROR_BARS + 100))
    _, labels = draw(_report(measured, measured, 0.5, 2.0)).axes[0].get_legend_handles_labels()
    assert f"inside the 90% interval ({MAX_ERROR_BARS + 100})" in labels


@pytest.mark.parametrize(
    "name",
    [("jetson_orin_nano_maxn_fp16_b1_threads4_" * 6)[:length] for length in (40, 120, 200)]
    + ["设备" * 100],
)
def test_the_title_keeps_a_long_name_and_the_scores_within_the_figure(name: str) -> None:
    """On one line a 40-character name pushed both ends off the figure, and on two a name of
    more than about 90, or 60 East Asian characters (names may have 200; reviews, 2026-12-06)."""
    report = _report([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.5, 2.0)
    figure = draw(Report(name, *list(vars(report).values())[1:]))
    title = figure.get_suptitle()
    assert title.replace("\n", "").startswith(f"{name}: 3 measured architectures")
    assert title.split("\n")[-1].startswith("Spearman") and title.endswith("coverage 100.0%")
    figure.canvas.draw()
    extent = figure._suptitle.get_window_extent()
    assert 0 <= extent.x0 and extent.x1 <= figure.bbox.width


@pytest.mark.parametrize(
    ("low", "high", "subs"),
    [(1.0, 50.0, 3), (1.0, 64.0, 3), (1e-5, 100.0, 1)],  # 64 x 1.25^2 = 100: two decades
)
def test_log_ticks_at_1_2_5_only_over_two_decades_or_less(
    low: float, high: float, subs: int
) -> None:
    """Over 7 decades (raspi4's disconnected archs, 2e-5 ms predicted) labels at 1, 2 and 5
    of each decade ran into each other (a review)."""
    axis = draw(_report([low, high], [low, high], 0.5, 2.0)).axes[0].xaxis
    assert len(axis.get_major_locator()._subs) == subs


def test_a_name_the_font_cannot_draw_is_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """matplotlib warned once per character and drawing, each with a source line (a review)."""
    from client.report import write_report

    report = _report([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.5, 2.0)
    with warnings.catch_warnings(record=True) as passed_on, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        write_report(tmp_path / "r.png", "模型机", report.measured_ms, report.prediction)
    assert [r.getMessage() for r in caplog.records] == [
        "the figure's font lacks characters of '模型机': they are drawn as boxes"
    ]
    assert not [w for w in passed_on if "missing from font" in str(w.message)]


def _one_far_below() -> Report:
    """Five measurements of 1.2-9 ms, one of them predicted far below (0.2 ms): predictions
    low on average, some intervals missing."""
    return _report([1.2, 2.5, 4.0, 9.0, 3.0], [1.0, 2.0, 4.0, 8.0, 0.2], 0.5, 2.0)


def test_the_scatter_is_log_log_and_holds_every_point_with_a_margin() -> None:
    """A prediction far below the measurements (0.2 ms) is inside the limits too, a quarter
    beyond the outermost point on both axes."""
    report = _one_far_below()
    scatter = draw(report).axes[0]
    assert scatter.get_xscale() == scatter.get_yscale() == "log"
    for limits in (scatter.get_xlim(), scatter.get_ylim()):
        assert limits == pytest.approx((0.2 / 1.25, 9.0 * 1.25))


def test_the_title_gives_the_bias_with_its_sign_and_a_missing_model_version_as_a_mark() -> None:
    report = _one_far_below()
    assert report.scores.bias < 0 < report.scores.mape
    title = draw(report).get_suptitle()
    assert f"bias {report.scores.bias:+.1f}%" in title and "bias -" in title
    assert "    model ?\n" in title  # a library caller's predictions may carry none


def test_the_calibration_panel_draws_the_observed_curve() -> None:
    """Drawn as the diagonal, every report looked perfectly calibrated and no test noticed."""
    report = _one_far_below()
    prediction = report.prediction
    levels, observed = calibration_curve(
        report.median_ms, prediction.lower_ms, prediction.upper_ms, report.measured_ms
    )
    calibration = draw(report).axes[1]
    line = next(line for line in calibration.get_lines() if line.get_label() == "observed")
    np.testing.assert_allclose(line.get_xdata(), levels)
    np.testing.assert_allclose(line.get_ydata(), observed)
    assert not np.allclose(observed, levels)  # else the test could not tell them apart


def test_the_calibration_panel_marks_the_90_percent_coverage() -> None:
    report = _report([0.75, 3.0, 9.0, 2.6], [1.5, 2.0, 2.5, 2.5], 0.5, 1.5)
    assert (report.scores.coverage90, report.scores.acc10) == (0.75, 0.25)
    calibration = draw(report).axes[1]
    marker = next(c for c in calibration.collections if c.get_label().startswith("90% interval"))
    assert marker.get_offsets()[0][1] == pytest.approx(0.75)


def test_a_report_cut_off_while_written_leaves_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk or Ctrl-C in the write itself, after matplotlib has drawn the figure."""
    from client.report import write_report

    prediction = Predictions(
        np.array([2.5, 4.0]), np.array([1.0, 4.0]), np.array([1.5, 3.0]), np.array([3.5, 6.0])
    )
    out = tmp_path / "r.png"
    write_report(out, "pi4", np.array([2.0, 5.0]), prediction)
    whole = out.read_bytes()
    write_bytes = Path.write_bytes

    def cut_off(self: Path, data: bytes) -> int:
        write_bytes(self, data[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", cut_off)
    with pytest.raises(KeyboardInterrupt):
        write_report(out, "other", np.array([4.0, 10.0]), prediction)
    monkeypatch.undo()
    assert out.read_bytes() == whole and [p.name for p in tmp_path.iterdir()] == ["r.png"]


def test_a_measurement_on_an_interval_bound_is_inside_at_the_curves_90_percent_point() -> None:
    """The coverage beside the curve counts it inside; the curve rescaled the interval's log
    reach to a normal scale and back, and its rounding put 0.8 outside [0.8, 2.6]."""
    median = np.array([2.0, 2.0])
    lower, upper = np.array([0.8, 0.8]), np.array([2.6, 2.6])
    measured = np.array([0.8, 2.6])
    levels, observed = calibration_curve(median, lower, upper, measured)
    assert score(lower, upper, measured, median)[0].coverage90 == 1.0
    assert observed[np.flatnonzero(levels == 0.9)[0]] == 1.0


def test_a_figure_written_to_stdout_s_file_gets_the_words_on_stderr(
    target: str, measured_csv: Path, tmp_path: Path
) -> None:
    """``--out fig.png`` where fig.png leads to stdout, redirected to a file: the scores and
    'wrote' line went into the figure's file after the PNG's end."""
    import subprocess
    import sys

    figure = tmp_path / "fig.png"
    figure.symlink_to("/dev/stdout")
    captured = tmp_path / "captured.png"
    command = [sys.executable, "-m", "client", "--target", target, "report", "-d", "target",
               "--measured", str(measured_csv), "--out", str(figure)]  # fmt: skip
    with captured.open("wb") as stdout:
        done = subprocess.run(
            command, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert captured.read_bytes().endswith(b"IEND\xaeB`\x82")  # the PNG's last chunk, alone
    assert f"wrote {figure}" in done.stderr and "Spearman" in done.stderr


def test_a_calibrated_prediction_s_curve_is_the_diagonal_at_every_level() -> None:
    """Each level's interval is the 90% one rescaled in log space by normal quantiles: of
    measurements spread as the log-normal whose 90% interval is given, each level holds its
    own share. Before, only the curve's 90% point was checked against known values (the panel
    test compares the curve with itself), so any rescaling with the right 90% point passed."""
    from scipy import stats

    n = 2_000
    median = np.full(n, 5.0)
    # The log-normal's quantiles at the midpoints of n equal slices: none on a level's bound.
    measured = median * np.exp(0.3 * stats.norm.ppf((np.arange(n) + 0.5) / n))
    reach = np.exp(0.3 * stats.norm.ppf(0.95))
    levels, observed = calibration_curve(median, median / reach, median * reach, measured)
    np.testing.assert_allclose(observed, levels, atol=1 / n)
