"""Accuracy and calibration metrics of latency predictions against measured latencies."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from gp.errors import GPInputError
from gp.model import LatencyPrediction, as_latency_array, check_latencies

#: The largest relative error acc10 counts as within +-10%, the bound included: 1.1 / 1.0 - 1
#: is 0.10000000000000009 in floats, so a prediction 10% high was a miss and one 10% low
#: (0.9 / 1.0 - 1 = -0.09999999999999998) a hit.
ACC10_LIMIT = 0.10 * (1 + 1e-12)


def evaluate(prediction: LatencyPrediction, measured_ms: np.ndarray) -> dict[str, float]:
    """Scores a prediction of n archs against their measured latencies (n,).

    The point prediction is the predictive mean ``mean_ms``. For one Gaussian latency ratio it
    is also the median; mixed over noise levels the two differ by 0.07% typically (1.4% at
    most on pixel2, changing its Spearman by 2e-5).

    Raises:
        GPInputError: ``measured_ms`` is not one latency per prediction, or there is none.
        InvalidMeasurementError: a measurement is NaN, infinite or out of range (score only
            the archs a table has), naming its position.

    Returns:
        spearman, kendall: rank correlations of the point prediction with the measurements
            (NaN where either is constant, one arch included: no ranking to compare).
        acc10: share of predictions within +-10% of the measurement.
        mape: mean absolute percentage error (in %).
        coverage90: share of measurements inside the 90% interval.
        nll: mean negative log-likelihood of the measured log-latency under the Gaussian
            of log-latency with the predictive's mean and its variance of a measurement
            (unit-free: the log-normal's NLL of the latency in ms less the mean log-latency).
    """
    predicted = prediction.mean_ms
    measured_ms = as_latency_array(measured_ms, lambda i: f"scored measurement {i}")
    if measured_ms.shape != predicted.shape:
        raise GPInputError(
            f"{len(predicted)} predictions scored against measurements of shape"
            f" {measured_ms.shape}: one measurement per prediction is needed"
        )
    # A NaN (an arch a table lacks) scored as outside +-10% and the interval: acc10 and
    # coverage90 fell without a word while the other scores were NaN.
    if not len(measured_ms):  # every score was NaN, with numpy's warnings only
        raise GPInputError("no predictions to score")
    check_latencies(measured_ms, lambda i: f"scored measurement {i}")
    relative = np.abs(predicted / measured_ms - 1.0)
    inside = (measured_ms >= prediction.lower_ms) & (measured_ms <= prediction.upper_ms)
    sd = np.sqrt(prediction.obs_var_log)
    z = (np.log(measured_ms) - prediction.obs_mean_log) / sd
    nll = np.mean(0.5 * z**2 + np.log(sd) + 0.5 * math.log(2 * math.pi))
    return {
        "spearman": float(stats.spearmanr(predicted, measured_ms).statistic),
        "kendall": float(stats.kendalltau(predicted, measured_ms).statistic),
        "acc10": float(np.mean(relative <= ACC10_LIMIT)),
        "mape": float(100.0 * np.mean(relative)),
        "coverage90": float(np.mean(inside)),
        "nll": float(nll),
    }
