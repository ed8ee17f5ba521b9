"""Source profiles: the baseline floor, the source levels and the least sources needed."""

from __future__ import annotations

import math

import pytest
import torch

from gp.errors import GPInputError
from gp.profiles import SourceProfiles

#: Latencies (ms) of five archs on one device; the first is far below the median.
LATENCY = torch.tensor([1e-4, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)


def _profiles(*scales: float) -> SourceProfiles:
    """Sources that are ``scales`` times LATENCY, with one indicator feature per arch, so the
    sources' cost model is exact and the mean cost of an arch is its normalised latency."""
    log_latency = torch.stack([torch.log(scale * LATENCY) for scale in scales])
    features = torch.eye(len(LATENCY), dtype=torch.float64)
    return SourceProfiles.from_log_latency(log_latency, features, [f"d{s}" for s in scales], 1)


def test_a_baseline_below_the_floor_is_raised_to_it_in_the_source_ratios() -> None:
    profiles = _profiles(1.0, 2.0)
    assert profiles.baseline_floor == pytest.approx(0.05)  # 5% of the median baseline, 1
    baseline = profiles.baseline(torch.eye(len(LATENCY), dtype=torch.float64))
    assert baseline.tolist() == pytest.approx([0.05, 0.5, 1.0, 2.0, 3.0])
    # The first arch's ratio is its latency over the floored baseline, the others' are 1.
    expected = [1e-4 / 0.05 - 1, 0.0, 0.0, 0.0, 0.0]
    for row in profiles.deviations:
        assert row.tolist() == pytest.approx(expected, abs=1e-9)


def test_the_level_is_the_mean_and_sd_over_sources_of_their_log_scale() -> None:
    profiles = _profiles(1.0, 2.0)
    assert profiles.level_mean == pytest.approx(math.log(2) / 2)
    assert profiles.level_sd == pytest.approx(math.log(2) / math.sqrt(2))  # sd with n - 1


def test_one_source_device_is_too_few() -> None:
    with pytest.raises(GPInputError, match="at least two"):
        _profiles(1.0)
