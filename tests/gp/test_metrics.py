"""Accuracy and calibration metrics on hand-made predictions whose scores are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gp.errors import GPInputError, InvalidMeasurementError
from gp.metrics import evaluate
from gp.model import LatencyPrediction


def prediction(
    mean_ms: list[float],
    lower_ms: list[float],
    upper_ms: list[float],
    sd: float,
    latent_sd: float | None = None,
):
    """A prediction with these means and intervals, log-sd ``sd`` of a measurement and
    ``latent_sd`` (default ``sd``) of the latent latency."""
    mean = np.asarray(mean_ms, dtype=np.float64)
    var_log = np.full_like(mean, (sd if latent_sd is None else latent_sd) ** 2)
    return LatencyPrediction(
        mean_log=np.log(mean) - var_log / 2,
        var_log=var_log,
        mean_ms=mean,
        var_ms2=mean**2 * np.expm1(var_log),
        lower_ms=np.asarray(lower_ms, dtype=np.float64),
        upper_ms=np.asarray(upper_ms, dtype=np.float64),
        obs_var_log=np.full_like(mean, sd**2),
    )


def test_scores_of_a_known_prediction() -> None:
    measured = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    # Relative errors 5%, 7.5%, 46.7%, 2.5% and 14%; the third and fourth swap ranks.
    predicted = prediction(
        [10.5, 21.5, 44.0, 41.0, 57.0],
        lower_ms=[9.0, 20.5, 25.0, 30.0, 45.0],  # 20 lies below the second interval
        upper_ms=[11.0, 25.0, 30.0, 39.0, 60.0],  # 40 above the fourth; 30 on its bound
        sd=0.1,
    )
    scores = evaluate(predicted, measured)
    assert scores["acc10"] == pytest.approx(3 / 5)
    assert scores["mape"] == pytest.approx(100 * (0.05 + 0.075 + 14 / 30 + 0.025 + 0.14) / 5)
    assert scores["coverage90"] == pytest.approx(3 / 5)  # a bound counts as inside
    assert scores["spearman"] == pytest.approx(0.9)  # 1 - 6 * 2 / (5 * 24)
    assert scores["kendall"] == pytest.approx(0.8)  # one discordant pair of ten


def test_acc10_counts_a_prediction_exactly_10_percent_off_on_either_side() -> None:
    """1.1 / 1.0 - 1 is 0.10000000000000009: a prediction 10% high was a miss, 10% low a hit."""
    measured = np.array([1.0, 1.0, 100.0, 100.0, 0.1, 0.1])
    exact = [1.1, 0.9, 110.0, 90.0, 0.11, 0.09]
    scores = evaluate(prediction(exact, [0.01] * 6, [200.0] * 6, 0.1), measured)
    assert scores["acc10"] == 1.0
    beyond = [1.1 * (1 + 1e-9), 0.9 * (1 - 1e-9), 110.0, 90.0, 0.11, 0.09]
    scores = evaluate(prediction(beyond, [0.01] * 6, [200.0] * 6, 0.1), measured)
    assert scores["acc10"] == pytest.approx(4 / 6)


def test_rank_scores_ignore_how_far_apart_the_values_are() -> None:
    """Spearman ranks: a prediction in the right order scores 1 however nonlinear it is."""
    measured = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    scores = evaluate(prediction([1.0, 2.0, 3.0, 4.0, 5.0], [0.5] * 5, [200.0] * 5, 0.1), measured)
    assert scores["spearman"] == pytest.approx(1.0)
    assert scores["kendall"] == pytest.approx(1.0)


def test_nll_is_the_log_normal_density_of_the_measured_log_latency() -> None:
    """The log-normal has the predicted mean (not median) in ms: its log-mean is
    ``log(mean) - sd^2 / 2``, with ``sd`` a measurement's, not the narrower latent latency's
    (an NLL of the latent's log-normal passed while this test gave both one sd)."""
    sd, mean = 0.2, 30.0
    measured = np.array([25.0, 33.0])
    predicted = prediction([mean, mean], [20.0] * 2, [40.0] * 2, sd, latent_sd=sd / 4)
    scores = evaluate(predicted, measured)
    log_mean = math.log(mean) - sd**2 / 2
    expected = [
        0.5 * ((math.log(m) - log_mean) / sd) ** 2 + math.log(sd) + 0.5 * math.log(2 * math.pi)
        for m in measured
    ]
    assert scores["nll"] == pytest.approx(np.mean(expected))


def test_measurements_of_another_length_are_refused() -> None:
    """Numpy would broadcast one measurement against every prediction and score that."""
    predicted = prediction([10.0, 20.0], [9.0, 18.0], [11.0, 22.0], 0.1)
    with pytest.raises(GPInputError, match="2 predictions"):
        evaluate(predicted, np.array([10.0]))


@pytest.mark.parametrize("bad", [float("nan"), 0.0, float("inf")])
def test_a_measurement_that_is_no_latency_is_named(bad: float) -> None:
    """A NaN counted as a miss in acc10 and coverage90 (0.5 here, not 1.0) and made the
    other scores NaN; a zero made MAPE infinite."""
    predicted = prediction([10.0, 20.0], [9.0, 18.0], [11.0, 22.0], 0.1)
    with pytest.raises(InvalidMeasurementError, match="scored measurement 1: latency"):
        evaluate(predicted, np.array([10.0, bad]))


def test_measurements_are_read_as_an_estimators_are() -> None:
    """A duration was scored as its count of microseconds (coverage90 0.0, NLL 2720), and a
    bfloat16 tensor raised torch's TypeError."""
    predicted = prediction([10.0, 20.0], [9.0, 18.0], [11.0, 22.0], 0.1)
    with pytest.raises(InvalidMeasurementError, match="scored measurement 0: latency"):
        evaluate(predicted, np.array([10_000, 20_000], dtype="timedelta64[us]"))
    scores = evaluate(predicted, torch.tensor([10.0, 20.0], dtype=torch.bfloat16))
    assert scores["coverage90"] == 1.0


def test_nothing_to_score_is_refused_and_one_arch_has_no_ranking() -> None:
    """Zero archs gave NaN for every score, with numpy's runtime warnings alone."""
    with pytest.raises(GPInputError, match="no predictions to score"):
        evaluate(prediction([], [], [], 0.1), np.array([]))
    one = evaluate(prediction([10.0], [9.0], [11.0], 0.1), np.array([10.5]))
    assert math.isnan(one["spearman"]) and one["coverage90"] == 1.0


def test_kendall_of_tied_measurements_is_tau_b() -> None:
    """Whole-millisecond tables (pixel2) tie: tau-b counts the ties, tau-c (1.0 here) would
    not (a mutation review, 2026-12-07)."""
    mean = list(np.arange(1.0, 7.0))
    predicted = prediction(mean, [m / 2 for m in mean], [m * 2 for m in mean], sd=0.1)
    measured = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    assert evaluate(predicted, measured)["kendall"] == pytest.approx(0.8944, abs=1e-4)


def test_a_measurement_on_either_bound_of_its_interval_is_covered() -> None:
    measured = np.array([9.0, 22.0])
    predicted = prediction([10.0, 20.0], lower_ms=[9.0, 18.0], upper_ms=[11.0, 22.0], sd=0.1)
    assert evaluate(predicted, measured)["coverage90"] == 1.0


def test_nll_scores_each_arch_by_its_own_mean_and_sd() -> None:
    """Each measurement under its own arch's log-normal: the NLL test above gives every arch one
    mean and one sd, so a pooled sd or predictions paired with the wrong measurements scored
    the same there."""
    mean = np.array([10.0, 40.0, 25.0])
    sd = np.array([0.05, 0.4, 0.2])
    measured = np.array([11.0, 30.0, 26.0])
    predicted = LatencyPrediction(
        mean_log=np.log(mean) - sd**2 / 2,
        var_log=sd**2,
        mean_ms=mean,
        var_ms2=mean**2 * np.expm1(sd**2),
        lower_ms=mean / 2,
        upper_ms=mean * 2,
        obs_var_log=sd**2,
    )
    expected = [
        0.5 * ((math.log(m) - (math.log(mu) - s**2 / 2)) / s) ** 2
        + math.log(s)
        + 0.5 * math.log(2 * math.pi)
        for m, mu, s in zip(measured, mean, sd, strict=True)
    ]
    assert evaluate(predicted, measured)["nll"] == pytest.approx(np.mean(expected))
