"""The file-order drift diagnostic's statistics, on series whose answer is known."""

import numpy as np
import pytest

from gp.drift import check_window, lag_autocorrelation, main, neighbour_mean


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
