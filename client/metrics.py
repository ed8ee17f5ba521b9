"""Accuracy and calibration of predictions against measured latencies, from the wire format.

The service returns the posterior mean, variance and the central 90% interval of a
measurement. The point estimate scored here is the median of a log-normal with that mean and
variance (:attr:`client.api.Predictions.median_ms`). The service's own benchmark scores the
mean: where intervals are wide the two differ by percents (raspi4 from 10 random
measurements, seeds 0-4: the median 0.7-5% below the mean on average, MAPE 75-825% against
100-880%), so MAPE, bias and acc10 here are not the benchmark's; Spearman (within 0.003) and
coverage90 agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from service.wording import quantity

#: The quantile of a standard normal that bounds a central 90% interval. The client's statistics
#: come from the standard library and numpy: scipy was 143 MB of a 290 MB client-only install
#: for this quantile and a rank correlation.
Z90 = NormalDist().inv_cdf(0.95)
#: The largest relative error acc10 counts as within +-10%, the bound included: 1.1 / 1.0 - 1
#: is 0.10000000000000009 in floats, so a prediction 10% high was a miss and one 10% low a hit.
#: The same as ``gp.metrics.ACC10_LIMIT`` (the client does not import gp).
ACC10_LIMIT = 0.10 * (1 + 1e-12)
#: Nominal levels of the calibration curve.
CALIBRATION_LEVELS = np.round(np.arange(0.05, 1.0, 0.05), 2)


@dataclass(frozen=True)
class Scores:
    """How well predictions match measurements.

    Attributes:
        n: number of measured architectures.
        spearman: rank correlation of the predicted median with the measurement.
        acc10: share of predictions within +-10% of the measurement.
        mape: mean absolute percentage error (%).
        coverage90: share of measurements inside the 90% interval (0.9 when calibrated).
        bias: mean signed percentage error (%), positive when predictions run high. A
            coverage90 far below 0.9 with a bias near the interval's half-width is a systematic
            offset (the measured archs unlike the rest, or the machine's speed moving between
            them), not intervals that are merely too narrow.
    """

    n: int
    spearman: float
    acc10: float
    mape: float
    coverage90: float
    bias: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def scores_line(scores: Mapping[str, float]) -> str:
    """One line of :class:`Scores` fields (``Scores.as_dict()`` or the JSON summaries)."""
    return (
        f"Spearman {spearman_text(scores['spearman'], int(scores['n']))}  acc10"
        f" {scores['acc10']:.1%}  MAPE"
        f" {scores['mape']:.1f}%  bias {scores['bias']:+.1f}%  90% coverage"
        f" {scores['coverage90']:.1%}"
    )


def spearman_text(value: float | None, n: int) -> str:
    """Spearman as printed: to three decimals, or why there is none, where it printed "nan"
    (None: the JSON summaries' word for it)."""
    if value is not None and math.isfinite(value):
        return f"{value:.3f}"
    if n < 2:  # a rank correlation needs two archs to rank
        return f"n/a ({quantity(n, 'arch')})"
    return "n/a (measured or predicted latencies all alike)"


def spearman(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Spearman rank correlation (NaN for fewer than two points, constant inputs or a NaN, as
    scipy's ``spearmanr``): Pearson's correlation of the ranks, ties at their average rank."""
    if len(predicted) < 2 or not np.ptp(predicted) > 0 or not np.ptp(measured) > 0:
        return float("nan")  # np.ptp is NaN where a value is
    return float(np.corrcoef(average_ranks(predicted), average_ranks(measured))[0, 1])


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, each run of equal values at the mean of the ranks it spans."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2.0)[inverse.reshape(-1)]


def relative_error(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Signed error relative to the measurement: positive where the prediction runs high."""
    return predicted / measured - 1.0


def acc10(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Share of predictions within +-10% of the measured latency, the bound included."""
    return float(np.mean(np.abs(relative_error(predicted, measured)) <= ACC10_LIMIT))


def mape(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Mean absolute percentage error, in %."""
    return float(100.0 * np.mean(np.abs(relative_error(predicted, measured))))


def bias(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Mean signed percentage error, in %: positive when predictions run high."""
    return float(100.0 * np.mean(relative_error(predicted, measured)))


def coverage(lower: np.ndarray, upper: np.ndarray, measured: np.ndarray) -> float:
    """Share of measurements inside their interval."""
    return float(np.mean((measured >= lower) & (measured <= upper)))


def score(
    lower_ms: np.ndarray,
    upper_ms: np.ndarray,
    measured_ms: np.ndarray,
    median_ms: np.ndarray | None = None,
) -> tuple[Scores, np.ndarray]:
    """Scores 90% intervals and point predictions against measurements (arrays of shape ``(n,)``).

    Args:
        lower_ms, upper_ms: the 90% intervals.
        measured_ms: the measured latencies.
        median_ms: the point predictions, :attr:`client.api.Predictions.median_ms`; the
            interval's geometric midpoint when None (the same, but NaN for an unbounded one).

    Returns:
        The scores and the point predictions scored.
    """
    median = np.sqrt(lower_ms * upper_ms) if median_ms is None else median_ms
    scores = Scores(
        n=len(measured_ms),
        spearman=spearman(median, measured_ms),
        acc10=acc10(median, measured_ms),
        mape=mape(median, measured_ms),
        coverage90=coverage(lower_ms, upper_ms, measured_ms),
        bias=bias(median, measured_ms),
    )
    return scores, median


def calibration_curve(
    median_ms: np.ndarray,
    lower_ms: np.ndarray,
    upper_ms: np.ndarray,
    measured_ms: np.ndarray,
    levels: np.ndarray = CALIBRATION_LEVELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed coverage of central intervals at each nominal level.

    The wire carries only the 90% interval, so the interval at level p is rescaled from it in
    log space around the median with normal quantiles, z_p / z_0.9, each side of the median
    from its own bound (the service's interval is Gaussian in latency, so its lower side is
    the longer in log space); at 90% the curve is thus the 90% coverage. At other levels the
    rescaled interval is slightly narrow in the tails when the service's Student-t has few
    degrees of freedom (a device with very few measurements), which shows as a little
    under-coverage there. An unbounded side contains the measurements on it at every level.

    Returns:
        (levels, observed): both of shape ``(len(levels),)``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.log(measured_ms / median_ms)
        # One scale for both sides, from the interval's whole log width, put the curve's 90%
        # point 3.5 points above the 90% coverage drawn beside it (HELP's pixel2, 10 measured).
        bound = np.where(offset > 0, upper_ms, lower_ms)
        reach = np.abs(np.log(bound / median_ms))  # the 90% interval's, on the measurement's side
    # The reach is scaled, not the offset divided by it: at 90% the scale is exactly 1, so a
    # measurement on a bound is inside, as the coverage counts it (dividing rounded it out).
    scales = np.array([_central_quantile(level) for level in levels]) / Z90
    observed = np.array([np.mean(np.abs(offset) <= scale * reach) for scale in scales])
    return np.asarray(levels, dtype=np.float64), observed


def _central_quantile(level: float) -> float:
    """The standard normal's quantile that bounds its central interval of ``level``: infinite
    at 1, as scipy's was (NormalDist refuses the 1.0 quantile)."""
    return math.inf if level >= 1 else NormalDist().inv_cdf(0.5 + level / 2)
