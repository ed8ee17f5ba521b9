"""Active selection: batch picks are distinct, informative and non-redundant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gp.active import posterior_cross_covariance, select, select_active
from gp.errors import GPInputError
from tests.gp.test_model import synthetic  # noqa: F401  (module-scoped fixture)


def test_active_batch_is_distinct_and_reduces_variance_more_than_random(synthetic) -> None:  # noqa: F811
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 5))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    active = select_active(prior, pool, 8, seed=0)
    assert len(set(active)) == 8

    def remaining_variance(picks: list[int]) -> float:
        cov = posterior_cross_covariance(prior, pool[picks], pool[picks])
        cov = cov + torch.diag(prior.noise_variance(pool[picks]))  # the noise picks assume
        cross = posterior_cross_covariance(prior, pool, pool[picks])
        _, var = prior.latent(pool)
        return float((var - (cross @ torch.linalg.solve(cov, cross.T)).diagonal()).sum())

    random_runs = [remaining_variance(select(prior, pool, 8, "random", s)) for s in range(5)]
    assert remaining_variance(active) < min(random_runs)


def test_active_picks_match_greedy_on_the_explicit_posterior(synthetic) -> None:  # noqa: F811
    """The factored rank-one updates choose what greedy conditioning on the full matrix does."""
    model, target, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 50))
    measured = torch.tensor([5, 7000, 12000])
    posterior = model.posterior(measured, target[measured].exp().numpy())
    picks = select_active(posterior, pool, 8, integration_size=len(pool))
    with torch.no_grad():
        cov = posterior_cross_covariance(posterior, pool, pool)
        noise = posterior.noise_variance(pool)
        expected: list[int] = []
        for _ in range(8):
            score = (cov**2).sum(1) / (cov.diagonal() + noise)
            score[expected] = -torch.inf
            best = int(torch.argmax(score))
            expected.append(best)
            cov = cov - torch.outer(cov[:, best], cov[best]) / (cov[best, best] + noise[best])
    assert picks == expected


def test_count_and_strategy_are_validated(synthetic) -> None:  # noqa: F811
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(20))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    with pytest.raises(GPInputError, match="count must be between 1 and the pool size 20"):
        select(prior, pool, 21)
    with pytest.raises(GPInputError, match="count must be between"):
        select(prior, pool, 0, "random")
    with pytest.raises(GPInputError, match="unknown strategy 'greedy'"):
        select(prior, pool, 2, "greedy")
