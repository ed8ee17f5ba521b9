"""Choosing which architectures to measure next on a device (active learning).

The active strategy is greedy batch *integrated variance reduction* (Seo et al., "Gaussian
process regression: active data selection and test point rejection", 2000; Krause et al.,
JMLR 2008 for the greedy batch argument): it picks the candidate whose measurement most reduces
the summed posterior variance of the latency ratio (relative latency) over the pool, then
conditions on that pick as a fantasy (GP variances do not depend on the measured values) before
choosing the next, so a batch of k picks is not redundant. The variance scored is the GP's
alone: predictions also mix in the hypotheses that a source is the device's relative
(``RelativeSources``), whose weights depend on the latencies measured, which a fantasised
pick does not have (raspi4 after 10 random measurements: summed variance 5.3 without them, 8.6
with, per-arch correlation 0.74; at 0 and 3 measurements nearly the same).

Half of the picks (``random_share``) are drawn uniformly from the pool, and the greedy picks
of a batch condition on its draws. The share holds over a device's successive suggestions, not
only within one batch: a loop that asks for one arch at a time alternates. Integrated variance
reduction under a kernel with linear terms favours archs at the edges of the space, the design
that is best when the model is right and worst when it is not (Box and Draper, "A basis for
the selection of a response surface design", JASA 1959). Measured on a real target, the CPU
this project runs on, ten pure greedy picks left the typical arch's prediction 1-2% low with a
narrow interval (coverage90 0.65 on 190 archs), and on HELP's unseen devices the leave-one-out
residuals at edge archs made the intervals too wide (coverage90 above 0.95 on five of six).
Picks drawn from the pool keep the leave-one-out residuals representative of the archs
predicted: the half-drawn batch covers 0.85 on that CPU and is within 0.85-0.95 on four of
HELP's six devices (20 seeds), at a cost of 0.002 in mean Spearman (0.973 against 0.975;
random 10: 0.969). Strategy ``greedy`` is the batch without draws.

The pool is summarised by a random subsample of ``integration_size`` archs, which keeps a
suggestion of 10 from 15,625 archs under a second on two cores. The picks depend on the
sample: on gold_6226 with 10 measurements, 10 greedy picks left a summed variance over the
whole pool of 221-264 (8 seeds; 582 before, 297-403 after 10 random picks) with 512 archs,
and 221-226 with 2,048 (a review, 2026-12-06).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from gp.errors import GPInputError, SelectionStoppedError
from gp.model import DevicePosterior
from gp.spaces.base import is_whole_number

#: "active": half drawn, half greedy; "greedy": all by integrated variance reduction.
STRATEGIES: tuple[str, ...] = ("active", "greedy", "random")
DEFAULT_INTEGRATION_SIZE = 512
DEFAULT_RANDOM_SHARE = 0.5
#: Asked before each greedy pick; True stops the selection (:class:`SelectionStoppedError`).
StopCheck = Callable[[], bool]
#: A fantasised pick's rank-one update ``u v^T / d`` of the candidate-probe covariance.
_Update = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def posterior_cross_covariance(
    posterior: DevicePosterior, rows_a: torch.Tensor, rows_b: torch.Tensor
) -> torch.Tensor:
    """(m_a x m_b) posterior covariance of the latent ratio, before the variance ratio."""
    cov = posterior.kernel.covariance(rows_a, rows_b)
    return cov - posterior.solve(rows_a).T @ posterior.solve(rows_b)


@torch.no_grad()
def select_active(
    posterior: DevicePosterior,
    candidate_rows: torch.Tensor,
    count: int,
    seed: int = 0,
    integration_size: int = DEFAULT_INTEGRATION_SIZE,
    random_share: float = DEFAULT_RANDOM_SHARE,
    stop: StopCheck | None = None,
    measured: int | None = None,
) -> list[int]:
    """A batch of ``count`` candidates, some drawn uniformly, the rest by greedy integrated
    variance reduction given those (see :func:`drawn_count`).

    Args:
        posterior: the device's current posterior.
        candidate_rows: (m x D) model rows of the candidate pool.
        count: how many to pick (1 <= count <= m).
        seed: seeds the integration subsample and the drawn picks.
        integration_size: pool archs the variance is integrated over (a whole number >= 1;
            the whole pool where it has fewer).
        random_share: the share of a device's picks drawn uniformly from the pool (0: all
            greedy).
        stop: asked before each pick; a batch's cost grows with the square of ``count``
            (minutes for a thousand picks of the NB201 space), so a caller that has gone
            away can end it.
        measured: how many archs the device is measured on, where the posterior is conditioned
            on a subsample of them (the service's ``max_conditioning``); default
            ``posterior.count``. The share of draws is counted over all of them.

    Returns:
        Positions into ``candidate_rows``, in pick order.

    Raises:
        GPInputError: ``count``, ``random_share`` or ``integration_size`` is out of range.
        SelectionStoppedError: ``stop`` returned True.
    """
    num_candidates = len(candidate_rows)
    _check_count(count, num_candidates)
    if not 0.0 <= random_share <= 1.0:
        raise GPInputError(f"random_share must be between 0 and 1, got {random_share}")
    if not is_whole_number(integration_size) or integration_size < 1:
        # 0 scored every candidate 0, and the picks were the pool's first archs, unsaid.
        raise GPInputError(
            f"integration_size must be a whole number >= 1, got {integration_size!r}"
        )
    # int(): torch's generator refuses numpy integers ("an integer is required").
    generator = torch.Generator().manual_seed(int(seed))
    probe = torch.randperm(num_candidates, generator=generator)[:integration_size]
    measured = posterior.count if measured is None else measured
    drawn_picks = drawn_count(count, measured, random_share)
    drawn = torch.randperm(num_candidates, generator=generator)[:drawn_picks].tolist()
    # Solved once: every pick's covariance column below reuses it.
    solved = posterior.solve(candidate_rows)
    kernel = posterior.kernel
    cross = kernel.covariance(candidate_rows, candidate_rows[probe]) - solved.T @ solved[:, probe]
    _, var = posterior.latent(candidate_rows, solved, relatives=False)
    var = var / posterior.variance_ratio
    noise = posterior.noise_variance(candidate_rows)
    squared_norms = (cross**2).sum(1)
    picked: list[int] = []
    updates: list[_Update] = []
    for step in range(count):
        if stop is not None and stop():
            raise SelectionStoppedError(f"active selection stopped after {step} of {count} picks")
        score = squared_norms / (var + noise)
        if picked:
            score[picked] = -torch.inf
        best = drawn[step] if step < len(drawn) else int(torch.argmax(score))
        picked.append(best)
        column = kernel.covariance(candidate_rows, candidate_rows[best : best + 1])[:, 0]
        squared_norms, var = _fantasise(
            best, column - solved.T @ solved[:, best], cross, var, noise, squared_norms, updates
        )
    return picked


def _fantasise(
    best: int,
    column: torch.Tensor,
    cross: torch.Tensor,
    var: torch.Tensor,
    noise: torch.Tensor,
    squared_norms: torch.Tensor,
    updates: list[_Update],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Conditions on a measurement of candidate ``best`` (``column``: the candidates' posterior
    covariance with it before this batch): appends its update to ``updates`` and returns the
    candidates' squared probe-covariance row norms and latent variances after it.

    Each fantasised pick is a rank-one update u v^T / d of the candidate-probe covariance;
    it is kept as its factors, and the squared row norms the score needs are updated in
    closed form, so a pick costs a matrix-vector product instead of a pass over the matrix.
    """
    with_best = _updated(column, best, updates)
    row = cross[best] - sum((u[best] * v / d for u, v, d in updates), torch.zeros_like(cross[best]))
    projected = cross @ row - sum((u * (v @ row) / d for u, v, d in updates), torch.zeros_like(var))
    denom = var[best] + noise[best]
    squared_norms = (
        squared_norms - 2 * with_best * projected / denom + with_best**2 * (row @ row) / denom**2
    )
    var = (var - with_best**2 / denom).clamp_min(0.0)
    updates.append((with_best, row, denom))
    return squared_norms, var


def drawn_count(count: int, measured: int, random_share: float) -> int:
    """How many of ``count`` picks to draw for a device with ``measured`` measurements.

    ``floor((measured + count) * share) - floor(measured * share)``: the draws so far, counted
    as if every measurement had been suggested, stay at the share rounded down, so a fresh
    device's batch of 10 draws 5 and a loop of single picks alternates greedy, drawn, greedy...
    (rounding each batch down on its own would never draw for a batch of one).
    """

    # The epsilon keeps shares like 0.57 from flooring 56.99999999999999 to 56.
    def total(n: int) -> int:
        return math.floor(n * random_share + 1e-9)

    return total(measured + count) - total(measured)


def _updated(column: torch.Tensor, best: int, updates: list[_Update]) -> torch.Tensor:
    """Applies the batch's earlier fantasised picks to the candidates' covariance column with
    candidate ``best``."""
    for vector, _, denom in updates:
        column = column - vector * vector[best] / denom
    return column


def select_random(num_candidates: int, count: int, seed: int = 0) -> list[int]:
    """``count`` distinct positions drawn uniformly from ``num_candidates``, by ``seed`` and
    the pool's size: a loop that measures its picks and asks again with the same seed had
    drawn the same positions of a pool short of them, the next archs of the space along."""
    _check_count(count, num_candidates)
    rng = np.random.default_rng([seed, num_candidates])
    return rng.choice(num_candidates, size=count, replace=False).tolist()


def select(
    posterior: DevicePosterior,
    candidate_rows: torch.Tensor,
    count: int,
    strategy: str = "active",
    seed: int = 0,
    stop: StopCheck | None = None,
    measured: int | None = None,
) -> list[int]:
    """Dispatches to the named strategy ("" means active). Returns positions into the pool;
    ``stop`` and ``measured`` are :func:`select_active`'s."""
    strategy = strategy or "active"
    _check_seed(seed)
    if strategy == "random":
        return select_random(len(candidate_rows), count, seed)
    if strategy == "active":
        return select_active(posterior, candidate_rows, count, seed, stop=stop, measured=measured)
    if strategy == "greedy":
        return select_active(posterior, candidate_rows, count, seed, random_share=0.0, stop=stop)
    raise GPInputError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")


def _check_seed(seed: int) -> None:
    # torch's generators take seeds of 64 bits; negative ones would alias large ones.
    if not is_whole_number(seed) or not 0 <= seed < 2**63:
        raise GPInputError(f"seed must be a whole number in 0..2**63-1, got {seed!r}")


def _check_count(count: int, pool: int) -> None:
    if not is_whole_number(count):
        raise GPInputError(f"count must be a whole number, got {count!r}")
    if not 1 <= count <= pool:
        raise GPInputError(f"count must be between 1 and the pool size {pool}, got {count}")
