"""Source profiles: the baseline floor, the source levels, the mean cost, its directions and
misfit, and the sources they need."""

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


def test_the_mean_cost_and_its_directions_are_the_sources_mean_and_spread() -> None:
    """Three sources of other shapes, one indicator feature per arch (each source's costs are
    its latencies over their median): the mean cost is their mean, and the directions span
    their spread about it, each as large as a source's sd along it (``D^T D`` is their
    covariance over S), and the directions past what three sources span are zero."""
    latency = torch.stack([LATENCY, LATENCY.flip(0), LATENCY.roll(2)]).clamp_min(0.1)
    features = torch.eye(len(LATENCY), dtype=torch.float64)
    profiles = SourceProfiles.from_log_latency(latency.log(), features, ["a", "b", "c"], 4)
    normalised = latency / latency.median(dim=1, keepdim=True).values
    torch.testing.assert_close(profiles.mean_cost, normalised.mean(0))
    centred = normalised - normalised.mean(0)
    torch.testing.assert_close(profiles.directions.T @ profiles.directions, centred.T @ centred / 3)
    torch.testing.assert_close(profiles.directions[2:], torch.zeros_like(profiles.directions[2:]))


def test_the_misfit_is_what_the_cost_model_leaves_out_in_units_of_the_baseline() -> None:
    """With the intercept as the only feature, each source's cost is its mean normalised
    latency, and the rest of each arch's is misfit, over the (floored) baseline."""
    latency = torch.stack([LATENCY, 2.0 * LATENCY.flip(0)])
    features = torch.ones(len(LATENCY), 1, dtype=torch.float64)
    profiles = SourceProfiles.from_log_latency(latency.log(), features, ["a", "b"], 1)
    normalised = latency / latency.median(dim=1, keepdim=True).values
    left_out = normalised - normalised.mean(1, keepdim=True)
    baseline = profiles.baseline(features)
    assert baseline[0] != 1.0  # the misfit's unit shows
    torch.testing.assert_close(profiles.misfit[0], left_out.mean(0) / baseline)
    # Its directions span the sources' misfits about that mean, as the cost directions do
    # their costs (no test read them: a mutation review, 2026-12-07).
    misfits = left_out / baseline
    centred = misfits - misfits.mean(0)
    directions = profiles.misfit[1:]
    torch.testing.assert_close(directions.T @ directions, centred.T @ centred / 2)


def test_a_non_finite_source_latency_is_an_input_error() -> None:
    log_latency = torch.log(torch.stack([LATENCY, LATENCY]))
    log_latency[1, 2] = math.inf
    features = torch.eye(len(LATENCY), dtype=torch.float64)
    with pytest.raises(GPInputError, match="finite"):
        SourceProfiles.from_log_latency(log_latency, features, ["a", "b"], 1)


def test_the_deviations_are_padded_with_zero_rows_to_the_padded_source_count() -> None:
    """A fold that leaves a source out shares the full model's input shape: its two sources'
    rows, then zero rows up to four, not four zero rows more."""
    log_latency = torch.stack([torch.log(LATENCY), torch.log(2.0 * LATENCY.flip(0))])
    features = torch.eye(len(LATENCY), dtype=torch.float64)
    unpadded = SourceProfiles.from_log_latency(log_latency, features, ["a", "b"], 1)
    padded = SourceProfiles.from_log_latency(log_latency, features, ["a", "b"], 1, 4)
    assert padded.deviations.shape == (4, len(LATENCY))
    torch.testing.assert_close(padded.deviations[:2], unpadded.deviations)
    torch.testing.assert_close(
        padded.deviations[2:], torch.zeros(2, len(LATENCY), dtype=torch.float64)
    )
