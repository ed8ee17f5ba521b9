"""Active selection: batch picks are distinct, informative and non-redundant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gp.active import drawn_count, posterior_cross_covariance, select, select_active
from gp.errors import GPInputError, SelectionStoppedError
from gp.model import DevicePosterior
from tests.gp.test_model import noisy_device, synthetic  # noqa: F401  (synthetic: a fixture)


@torch.no_grad()
def remaining_variance(posterior: DevicePosterior, pool: torch.Tensor, picks: list[int]) -> float:
    """The pool's summed latent variance after measuring ``picks``."""
    cov = posterior_cross_covariance(posterior, pool[picks], pool[picks])
    cov = cov + torch.diag(posterior.noise_variance(pool[picks]))  # the noise picks assume
    cross = posterior_cross_covariance(posterior, pool, pool[picks])
    _, var = posterior.latent(pool)
    return float((var - (cross @ torch.linalg.solve(cov, cross.T)).diagonal()).sum())


def test_active_batch_is_distinct_and_reduces_variance_more_than_random(synthetic) -> None:  # noqa: F811
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 5))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    active = select_active(prior, pool, 8, seed=0, random_share=0.0)
    assert len(set(active)) == 8

    random_runs = [
        remaining_variance(prior, pool, select(prior, pool, 8, "random", s)) for s in range(5)
    ]
    assert remaining_variance(prior, pool, active) < min(random_runs)


def test_a_batch_as_large_as_the_pool_picks_each_candidate_once(synthetic) -> None:  # noqa: F811
    """On a noisy device measuring an arch again would still reduce the variance a lot, but a
    batch never repeats one."""
    model, target, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 625))
    generator = torch.Generator().manual_seed(2)
    measured = torch.randperm(15625, generator=generator)[:20]
    noisy = target[measured] + 0.3 * torch.randn(20, generator=generator, dtype=torch.float64)
    posterior = model.posterior(measured, noisy.exp().numpy())
    for share in (0.0, 0.5):
        picks = select_active(posterior, pool, len(pool), random_share=share)
        assert sorted(picks) == list(range(len(pool)))
    assert sorted(select(posterior, pool, len(pool), "random")) == list(range(len(pool)))


@pytest.mark.parametrize(("sd", "count"), [(0.0, 3), (0.3, 20)])
def test_active_picks_match_greedy_on_the_explicit_posterior(
    synthetic,  # noqa: F811
    sd: float,
    count: int,
) -> None:
    """The factored rank-one updates choose what greedy conditioning on the full matrix does,
    also where the noise is most of a pick's variance (sd 0.3): an update that left the noise
    out chose the same picks on three clean measurements at archs 5, 7000 and 12000."""
    model, target, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 50))
    noisy, measured = noisy_device(target, sd, count, seed=2)
    posterior = model.posterior(measured, noisy[measured].exp().numpy())
    picks = select_active(posterior, pool, 8, integration_size=len(pool), random_share=0.0)
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


def test_the_seed_and_the_integration_size_choose_the_picks(synthetic) -> None:  # noqa: F811
    """On a pool past the 512 archs the variance is integrated over, the seed chooses those
    and the drawn picks, and integration_size how many: a seed or a size ignored gave every
    NAS loop the same picks."""
    model, target, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 5))
    noisy, measured = noisy_device(target, 0.0, 3, seed=2)
    posterior = model.posterior(measured, noisy[measured].exp().numpy())

    def picks(seed: int, **settings: float) -> list[int]:
        return select_active(posterior, pool, 6, seed, **settings)  # type: ignore[arg-type]

    assert picks(1, random_share=0.0) != picks(2, random_share=0.0)
    assert picks(1, random_share=0.0) != picks(1, random_share=0.0, integration_size=64)
    assert picks(1)[:3] != picks(2)[:3]  # the drawn half


def test_half_the_default_batch_is_drawn_from_the_pool(synthetic) -> None:  # noqa: F811
    """The drawn half ignores the model (the same archs whatever was measured), and the greedy
    half given it leaves far less variance than drawing the rest too."""
    model, target, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 5))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    measured = torch.tensor([5, 7000, 12000])
    posterior = model.posterior(measured, target[measured].exp().numpy())
    for seed in range(3):
        picks = select_active(prior, pool, 10, seed=seed)
        assert len(set(picks)) == 10
        assert select_active(posterior, pool, 10, seed=seed)[:5] == picks[:5]
        others = [i for i in select(prior, pool, 20, "random", seed + 100) if i not in picks]
        drawn_only = picks[:5] + others[:5]
        assert remaining_variance(prior, pool, picks) < 0.85 * remaining_variance(
            prior, pool, drawn_only
        )


@pytest.mark.parametrize(
    ("count", "measured", "share", "drawn"),
    [(10, 0, 0.5, 5), (10, 10, 0.5, 5), (5, 0, 0.5, 2), (5, 1, 0.5, 3), (7, 3, 0.0, 0),
     (7, 3, 1.0, 7), (100, 0, 0.57, 57)],
)  # fmt: skip
def test_drawn_count_keeps_the_share_over_successive_batches(
    count: int, measured: int, share: float, drawn: int
) -> None:
    assert drawn_count(count, measured, share) == drawn


def test_a_loop_of_single_picks_alternates_greedy_and_drawn(synthetic) -> None:  # noqa: F811
    assert [drawn_count(1, n, 0.5) for n in range(6)] == [0, 1, 0, 1, 0, 1]
    model, target, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 25))

    def single_pick(measured: list[int]) -> int:
        index = torch.tensor(measured, dtype=torch.long)
        return select_active(model.posterior(index, target[index].exp().numpy()), pool, 1)[0]

    # A drawn pick (one measurement so far) ignores what was measured; greedy ones do not.
    assert single_pick([5]) == single_pick([7000]) == single_pick([12000])
    assert len({single_pick([5, 9000]), single_pick([7000, 300]), single_pick([12000, 40])}) > 1


def test_the_active_strategy_counts_the_draws_over_every_measurement(synthetic) -> None:  # noqa: F811
    """A posterior conditioned on a subsample (the service's max_conditioning) passes the
    device's full count on: with one measurement the next single pick is drawn, as with a
    posterior of that one measurement, whatever the posterior's own count (0 here)."""
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 25))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    drawn = select_active(prior, pool, 1, seed=4, random_share=1.0)
    assert select(prior, pool, 1, "active", seed=4, measured=1) == drawn
    assert select(prior, pool, 1, "active", seed=4) != drawn


def test_greedy_strategy_is_the_batch_without_draws(synthetic) -> None:  # noqa: F811
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 25))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    greedy = select(prior, pool, 6, "greedy", seed=1)
    assert greedy == select_active(prior, pool, 6, seed=1, random_share=0.0)
    assert greedy != select(prior, pool, 6, "active", seed=1)


def test_an_empty_strategy_is_the_active_default(synthetic) -> None:  # noqa: F811
    """The service passes the request's strategy on as is, and "" there means active."""
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 25))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    assert select(prior, pool, 6, "", seed=1) == select(prior, pool, 6, "active", seed=1)


@pytest.mark.parametrize("strategy", ["active", "greedy"])
def test_a_stop_check_ends_the_selection_between_picks(synthetic, strategy: str) -> None:  # noqa: F811
    """A batch's cost grows with the square of its size: the service stops one whose call
    has ended rather than hold one of its workers for hours."""
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 15625, 25))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 3

    with pytest.raises(SelectionStoppedError, match="stopped after 3 of 50 picks"):
        select(prior, pool, 50, strategy, seed=1, stop=stop)
    assert select(prior, pool, 6, strategy, seed=1, stop=lambda: False) == select(
        prior, pool, 6, strategy, seed=1
    )


def test_count_and_strategy_are_validated(synthetic) -> None:  # noqa: F811
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(20))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    with pytest.raises(GPInputError, match="count must be between 1 and the pool size 20"):
        select(prior, pool, 21)
    with pytest.raises(GPInputError, match="count must be between"):
        select(prior, pool, 0, "random")
    with pytest.raises(GPInputError, match="unknown strategy 'best'"):
        select(prior, pool, 2, "best")
    with pytest.raises(GPInputError, match="random_share must be between 0 and 1, got 1.5"):
        select_active(prior, pool, 2, random_share=1.5)
    for size in (0, -1, 2.5):
        with pytest.raises(GPInputError, match=f"integration_size must be a whole .*, got {size}"):
            select_active(prior, pool, 2, integration_size=size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "seed", "message"),
    [
        (2.5, 0, "count must be a whole number"),
        ("2", 0, "count must be a whole number"),
        (True, 0, "count must be a whole number"),
        # torch's generator overflowed on 2**70 with a bare ValueError.
        *[(2, seed, "seed must be") for seed in (-1, 2**63, 2**70, 1.5)],
    ],
)
def test_a_count_or_seed_of_the_wrong_kind_is_refused(synthetic, count, seed, message) -> None:  # noqa: F811
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 100))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    for strategy in ("random", "active"):
        with pytest.raises(GPInputError, match=message):
            select(prior, pool, count, strategy, seed)


def test_numpy_integer_seeds_pick_as_python_ints_do(synthetic) -> None:  # noqa: F811
    """A seed from a numpy array (a NAS loop's rng) failed active picks with torch's bare
    TypeError "an integer is required"."""
    model, _, _ = synthetic
    pool = model.features.universe_rows(torch.arange(0, 100))
    prior = model.posterior(torch.zeros(0, dtype=torch.long), np.zeros(0))
    for strategy in ("random", "active", "greedy"):
        expected = select(prior, pool, 4, strategy, 3)
        assert select(prior, pool, np.int64(4), strategy, np.int64(3)) == expected


def test_random_picks_asked_again_with_the_same_seed_are_not_the_last_ones_neighbours() -> None:
    """A loop that measured its random picks and asked again with the same (default) seed got
    the same positions of the pool short of them: the next archs of the space along (640,
    4214, ... then 639, 4215, ...), each one edge from one it had just measured."""
    from gp.active import select_random

    pool = list(range(15_625))
    first = [pool[i] for i in select_random(len(pool), 6, seed=0)]
    rest = [arch for arch in pool if arch not in set(first)]
    second = [rest[i] for i in select_random(len(rest), 6, seed=0)]
    near = [arch for arch in second if min(abs(arch - f) for f in first) <= 3]
    assert near == [], (first, second)
    assert select_random(len(rest), 6, seed=0) == select_random(len(rest), 6, seed=0)
