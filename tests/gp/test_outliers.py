"""The surprise check's verdict on one measurement: the predictive it is tested against."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gp.estimator import LatencyEstimator, Measurements
from gp.outliers import surprising_measurements
from gp.spaces import VectorSpace

VECTORS = VectorSpace(3)


def test_a_measurement_is_tested_against_the_predictive_of_a_measurement() -> None:
    """The centre was the latent latency's log-normal, the spread a measurement's: a noisy
    device's measurement was compared off centre by half the noise's log-variance."""
    rng = np.random.default_rng(6)
    features = np.c_[rng.uniform(1.0, 10.0, 30), rng.uniform(0.0, 1.0, (30, 2))]
    latency = 2.0 * features[:, 0] * np.exp(0.1 * rng.normal(size=30))
    latency[3] *= 3.0
    archs = [VECTORS.canonical(vector) for vector in features]
    _, posterior = LatencyEstimator(None).posterior(VECTORS, Measurements(archs, latency))
    [surprise] = surprising_measurements(posterior, [3])

    others = posterior.leaving_out(3)
    predicted = others.predict(posterior.rows[[3]])
    assert predicted.obs_var_log[0] > 1.5 * predicted.var_log[0]  # noise that shows
    centre = math.log(predicted.mean_ms[0]) - predicted.obs_var_log[0] / 2
    z = abs(math.log(latency[3]) - centre) / math.sqrt(predicted.obs_var_log[0])
    p_value = 2.0 * others.standardised_error.sf(z) * posterior.count
    assert surprise.expected_ms == pytest.approx(math.exp(centre), rel=1e-9)
    assert surprise.p_value == pytest.approx(p_value, rel=1e-9)
