"""Measurements a device's other measurements do not explain: likely mistakes, worth a look.

One wrong measurement among ten (a unit slip, a run disturbed by another process) drags a
device's whole prediction after it: on HELP's six unseen devices one of ten random
measurements made 10 times too large takes the mean Spearman from 0.968 to 0.51, and its
intervals do not say so. The check here names such a measurement so that its owner can look:
each measurement is predicted from the others, and one far outside that prediction is
reported.

It only reports. Leaving the flagged measurement out of the posterior was measured and not
done: a surprising measurement can be a true property of the device that the model needs.
raspi4 runs the archs whose cell output does not depend on its input in 0.01-0.14 ms,
against 2.5 ms or more for the others, and in 10 seeds of HELP's six targets the check flagged
a measurement in 19 of 240 clean designs (10, 20 or 50 random measurements, 10 active ones), 16
of them on raspi4. Leaving those out lowered Spearman in 17 of the 19 (raspi4 by up to 0.056).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gp.model import DevicePosterior

#: Bonferroni-adjusted tail probability below which a measurement is reported.
SIGNIFICANCE = 1e-3
#: ... and only where it is also this factor or more from what the others predict: with
#: hundreds of measurements a few per cent is already "significant", and not worth a look.
MIN_FACTOR = 1.5
#: The others must be at least this many to predict one of them.
MIN_OTHERS = 3


@dataclass(frozen=True)
class SurprisingMeasurement:
    """A measurement far outside what the device's other measurements predict for it.

    Attributes:
        position: its index among the posterior's measurements.
        measured_ms: the measurement.
        expected_ms: the median the others predict for it.
        lower_ms, upper_ms: their 90% interval.
        p_value: the chance of one measurement this far out among the device's, were the
            model right (two-sided, Bonferroni-adjusted over the measurements checked).
    """

    position: int
    measured_ms: float
    expected_ms: float
    lower_ms: float
    upper_ms: float
    p_value: float

    @property
    def factor(self) -> float:
        """How many times larger or smaller than expected the measurement is (1 or more)."""
        return max(self.measured_ms / self.expected_ms, self.expected_ms / self.measured_ms)


@torch.no_grad()
def surprising_measurements(
    posterior: DevicePosterior,
    candidates: Sequence[int] | None = None,
    significance: float = SIGNIFICANCE,
    min_factor: float = MIN_FACTOR,
) -> list[SurprisingMeasurement]:
    """The measurements of ``posterior`` that the others do not explain, most surprising
    first: at most a fifth of them (one below ten measurements).

    ``candidates``: the positions to check (default all), e.g. those of one upload: every
    measurement still predicts the checked ones.

    The candidate is the one with the largest closed-form leave-one-out residual. The
    device conditioned on the others alone (noise level and variance ratio re-estimated
    without it) then predicts it, and it is reported if it lies outside that prediction by
    both ``significance`` and ``min_factor``. Then the next candidate among the others: a
    second wrong measurement does not hide behind the first.
    """
    found: list[SurprisingMeasurement] = []
    most = max(1, posterior.count // 5)
    positions = np.arange(posterior.count)
    checked = np.zeros(posterior.count, dtype=bool)
    checked[list(range(posterior.count)) if candidates is None else list(candidates)] = True
    current = posterior
    while len(found) < most and len(positions) > MIN_OTHERS and checked.any():
        z_squared = current.loo_z_squared().numpy()
        candidate = int(np.where(checked, z_squared, -np.inf).argmax())
        others = current.leaving_out(candidate)
        surprise = _surprise(current, candidate, others, int(positions[candidate]))
        if surprise.p_value >= significance or surprise.factor < min_factor:
            break
        found.append(surprise)
        positions, checked = np.delete(positions, candidate), np.delete(checked, candidate)
        current = others
    return found


def _surprise(
    measured: DevicePosterior, candidate: int, others: DevicePosterior, position: int
) -> SurprisingMeasurement:
    """How far the ``candidate``-th measurement of ``measured`` lies from the prediction of
    ``others`` (``measured`` without it); ``position``: its index in the caller's list."""
    prediction = others.predict(measured.rows[candidate : candidate + 1])
    log_measured = float(measured.log_latency[candidate])
    log_expected = float(prediction.mean_log[0])
    z = abs(log_measured - log_expected) / math.sqrt(float(prediction.obs_var_log[0]))
    tail = 2.0 * float(others.standardised_error.sf(z)) * measured.count
    return SurprisingMeasurement(
        position=position,
        measured_ms=math.exp(log_measured),
        expected_ms=math.exp(log_expected),
        lower_ms=float(prediction.lower_ms[0]),
        upper_ms=float(prediction.upper_ms[0]),
        p_value=min(1.0, tail),
    )
