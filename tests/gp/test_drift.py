"""The file-order drift diagnostic's statistics, on series whose answer is known."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from gp import drift as drift_module
from gp.data import HELP_SOURCE_DEVICES, LatencyDataset
from gp.drift import check_window, lag_autocorrelation, main, neighbour_mean
from gp.errors import DatasetError
from gp.spaces.nasbench201 import NUM_ARCHS


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=n)
    series = np.empty(n)
    series[0] = noise[0]
    for i in range(1, n):
        series[i] = phi * series[i - 1] + noise[i]
    return series


def test_autocorrelation_of_an_ar1_series_decays_as_its_coefficient_powers() -> None:
    lags = (1, 2, 5)
    measured = lag_autocorrelation(_ar1(0.8, 20_000, seed=0), lags)
    assert measured == pytest.approx([0.8, 0.64, 0.8**5], abs=0.03)
    white = lag_autocorrelation(np.random.default_rng(1).normal(size=20_000), lags)
    assert max(abs(r) for r in white) < 0.03


def test_autocorrelation_refuses_a_series_shorter_than_its_lags() -> None:
    with pytest.raises(ValueError, match="too short for lag 625"):
        lag_autocorrelation(np.zeros(100))


def test_neighbour_mean_leaves_each_value_out_of_its_own_mean() -> None:
    spike = np.zeros(11)
    spike[5] = 8.0
    drift = neighbour_mean(spike, window=5)
    assert drift[5] == 0.0
    assert drift[4] == drift[6] == pytest.approx(2.0)  # 8 over the 4 neighbours
    assert drift[0] == 0.0
    # at the ends the mean is over the neighbours there are: 2 of them at position 0
    assert neighbour_mean(np.arange(5.0), window=5)[0] == pytest.approx(1.5)


@pytest.mark.parametrize("window", [3, 9, 11, 13])
def test_neighbour_mean_keeps_the_series_length_whatever_the_window(window: int) -> None:
    """np.convolve's 'same' is as long as the longer input: a window wider than the series
    made the drift longer than the residuals (and --window 99999 fail after the fit)."""
    series = np.random.default_rng(0).normal(size=9)
    half = window // 2
    expected = [
        np.mean([series[j] for j in range(max(0, i - half), min(9, i + half + 1)) if j != i])
        for i in range(9)
    ]
    np.testing.assert_allclose(neighbour_mean(series, window), expected)


def test_drift_of_a_slow_walk_is_most_of_it_and_of_noise_little() -> None:
    walk = _ar1(0.98, 5000, seed=2)
    noise = np.random.default_rng(3).normal(size=5000)
    assert neighbour_mean(walk, 25).var() / walk.var() > 0.8
    assert neighbour_mean(noise, 25).var() / noise.var() < 0.1


@pytest.mark.parametrize("window", [1, 4, 24])
def test_a_window_without_a_middle_is_refused(
    window: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="odd and at least 3"):
        check_window(window)
    with pytest.raises(SystemExit):
        main(["--dataset", "missing", "--device", "gold_6226", "--window", str(window)])
    assert "--window: the window must be odd" in capsys.readouterr().err


def test_a_negative_seed_is_refused_before_any_fit(capsys: pytest.CaptureFixture[str]) -> None:
    """numpy refused it only after the fit, as "expected non-negative integer"."""
    with pytest.raises(SystemExit):
        main(["--dataset", "missing", "--device", "gold_6226", "--seed", "-1"])
    assert "--seed: the seed must be 0 or more, got -1" in capsys.readouterr().err


def test_a_missing_dataset_is_an_error_before_any_fit(tmp_path) -> None:
    with pytest.raises(SystemExit, match="error: .*not a HELP dataset directory"):
        main(["--dataset", str(tmp_path), "--device", "gold_6226"])


def test_autocorrelation_takes_a_series_two_longer_than_its_longest_lag() -> None:
    """Shorter, the correlation at that lag is of one pair or none: NaN."""
    with pytest.raises(ValueError, match="a series of 627 is too short"):
        lag_autocorrelation(np.arange(627.0))
    assert np.isfinite(lag_autocorrelation(_ar1(0.5, 628, seed=4))).all()


def test_the_report_is_of_the_unmeasured_archs_residuals_in_file_order(monkeypatch) -> None:
    """A device predicted at exp(g) (a stand-in posterior, rows being the archs' indices),
    whose table is exp(g + noise) times a slow walk along a file order of its own: the
    report's figures are those of the residuals taken in that order, measured archs left out."""
    rng = np.random.default_rng(5)
    order = rng.permutation(NUM_ARCHS)
    g = rng.normal(size=NUM_ARCHS)
    walk = np.empty(NUM_ARCHS)
    walk[order] = _ar1(0.99, NUM_ARCHS, seed=6) * 0.1
    truth = np.exp(g + 0.3 * rng.normal(size=NUM_ARCHS) + walk)
    dataset = LatencyDataset({"dev": truth}, file_order=order)
    model = SimpleNamespace(features=SimpleNamespace(universe_rows=lambda index: index.numpy()))
    conditioned_on: list[np.ndarray] = []

    def measured_posterior(_model, table: np.ndarray, index: np.ndarray) -> SimpleNamespace:
        assert table is truth
        conditioned_on.append(index)
        return SimpleNamespace(predict=lambda rows: SimpleNamespace(mean_ms=np.exp(g[rows])))

    monkeypatch.setattr(drift_module, "measured_posterior", measured_posterior)
    report = drift_module.drift_report(model, dataset, "dev", measured=500, seed=1, window=25)

    [chosen] = conditioned_on
    assert len(set(chosen.tolist())) == 500
    held_out = [arch for arch in order if arch not in set(chosen.tolist())]
    table = np.log(truth[held_out])
    residual = table - g[held_out]
    trend = neighbour_mean(residual, 25)
    assert report.residual_sd == pytest.approx(residual.std())
    assert list(report.autocorrelation.values()) == pytest.approx(lag_autocorrelation(residual))
    assert report.autocorrelation[1] > 0.5  # the walk shows in file order only
    assert report.drift_variance_share == pytest.approx(trend.var() / residual.var())
    spearman = {
        "spearman_vs_table": (g[held_out], table),
        "spearman_vs_table_less_drift": (g[held_out], table - trend),
        "table_less_drift_vs_table": (table - trend, table),
    }
    for field, (a, b) in spearman.items():
        assert getattr(report, field) == pytest.approx(stats.spearmanr(a, b).statistic), field


def test_a_dataset_without_a_file_order_has_no_drift_report() -> None:
    dataset = LatencyDataset({"dev": np.ones(NUM_ARCHS)})
    with pytest.raises(DatasetError, match="does not say in which order"):
        drift_module.drift_report(SimpleNamespace(), dataset, "dev")


@pytest.mark.parametrize("measured", [0, NUM_ARCHS - 999])
def test_measured_counts_that_leave_too_few_or_nothing_measured_are_refused(
    measured: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        drift_module.parse_args(["--dataset", "d", "--device", "fpga", "--measured", str(measured)])
    assert f"--measured must be between 1 and {NUM_ARCHS - 1000}" in capsys.readouterr().err


def test_a_source_device_examined_is_left_out_of_the_sources(monkeypatch) -> None:
    """And only the tables used are loaded: another one, unreadable, stopped the report."""
    fitted_on: list[list[str]] = []
    loaded: list[list[str]] = []

    def fit_sources(_dataset, sources: list[str], _settings) -> None:
        fitted_on.append(sources)
        raise ValueError("stop before fitting")

    def load_help_dataset(_root, devices: list[str]) -> SimpleNamespace:
        loaded.append(devices)
        return SimpleNamespace()

    monkeypatch.setattr(drift_module, "load_help_dataset", load_help_dataset)
    monkeypatch.setattr(drift_module, "fit_sources", fit_sources)
    with pytest.raises(SystemExit, match="stop before fitting"):
        main(["--dataset", "d", "--device", HELP_SOURCE_DEVICES[0]])
    assert fitted_on == [list(HELP_SOURCE_DEVICES[1:])]
    assert loaded == [[*HELP_SOURCE_DEVICES[1:], HELP_SOURCE_DEVICES[0]]]


def test_the_report_prints_each_figure_in_its_unit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = drift_module.DriftReport(
        residual_sd=0.01234,
        autocorrelation={1: 0.7812, 25: 0.5249, 625: -0.0911},
        drift_variance_share=0.6789,
        spearman_vs_table=0.98901,
        spearman_vs_table_less_drift=0.99704,
        table_less_drift_vs_table=0.99149,
    )
    monkeypatch.setattr(drift_module, "load_help_dataset", lambda *args: SimpleNamespace())
    monkeypatch.setattr(drift_module, "fit_sources", lambda *args: SimpleNamespace())
    monkeypatch.setattr(drift_module, "drift_report", lambda *args: report)
    assert main(["--dataset", "d", "--device", "gold_6226", "--window", "9"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "gold_6226: residual sd 0.0123 (log), file-order lags 1: 0.781  25: 0.525  625: -0.091",
        "drift (9-position neighbour mean) holds 68%",
        "Spearman: prediction vs table 0.9890, vs table less drift 0.9970; table less drift vs"
        " table 0.9915",
    ]
