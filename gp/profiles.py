"""Op costs of the source devices, the device side of the multi-task kernel.

A network's latency in milliseconds is close to a sum of what its ops cost: on HELP's 27
devices, a linear model of the latency in ms on the architecture encoding ranks all 15,625
archs with Spearman 0.91-1.00 (0.99 or more on 9; the 0.91 is pixel2's, whose table is
whole milliseconds), and better than a linear model in log-latency on every one. Devices differ
in what each op costs. So, with cost features ``x(a) = [1, encoding(a)]``, a device t is

    latency_t(a) = scale_t * x(a) . cost_t,    cost_t ~ N(mean_cost, Sigma)

where each source's costs are fitted by least squares and normalised by its median latency,
``mean_cost`` is their average and ``Sigma`` is spanned by their principal deviations (plus a
diagonal the model learns). Dividing by the baseline ``x(a) . mean_cost`` gives the latency
*ratio* the GP models, linear in the relative features ``x(a) / baseline(a)`` with prior mean 1.

A multi-task GP over (device, architecture) with a learned device covariance, conditioned on
source devices whose tables are complete, is equivalent to a single-task GP on the target whose
prior mean and kernel are spanned by the source costs. We build that conditional form directly:
it costs O(n_target^3) per device instead of O((S*N)^3), so 20+ source devices x 15,625
architectures need no subsampling, and adapting to a target is a 10 x 10 Cholesky.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gp.errors import GPInputError

# Archs the mean cost model puts near zero (cells of `none`, pruned by the compiler) would get
# huge relative features; their baseline is floored at this fraction of the universe median.
_BASELINE_FLOOR = 0.05


def cost_features(encoding: torch.Tensor) -> torch.Tensor:
    """(N x (1 + d)) features a latency is linear in: an intercept and the encoding."""
    return torch.cat([torch.ones(len(encoding), 1, dtype=encoding.dtype), encoding], dim=1)


@dataclass
class SourceProfiles:
    """The device-side basis learned from fully measured source devices.

    Attributes:
        devices: source device names, in row order of the matrix they came from.
        mean_cost: (p,) per-feature cost averaged over sources, each normalised by its median
            latency (so a typical arch's baseline is about 1).
        directions: (K x p) principal deviations of the sources' normalised costs, scaled so
            that a typical device's weight on each is of order one.
        level_mean, level_sd: mean and sd over sources of log(latency / baseline), their scale.
        baseline_floor: the least baseline an arch gets (see ``baseline``).
        misfit: ((1 + K) x N) what the sources' cost models leave out, per universe arch, in
            units of the baseline: their mean, then their principal deviations (scaled like
            ``directions``). With it every source device is exactly representable.
        deviations: (S' x N) each source's latency ratio (latency over its scale times the
            baseline) minus 1, per universe arch; zero rows pad it to S' >= S sources.
    """

    devices: list[str]
    mean_cost: torch.Tensor
    directions: torch.Tensor
    level_mean: float
    level_sd: float
    baseline_floor: float
    misfit: torch.Tensor
    deviations: torch.Tensor

    @classmethod
    def from_log_latency(
        cls,
        log_latency: torch.Tensor,
        features: torch.Tensor,
        devices: list[str],
        rank: int,
        padded_sources: int = 0,
    ) -> SourceProfiles:
        """Builds the basis from source log-latencies.

        Args:
            log_latency: (S x N) log-latency of S source devices on the N universe archs.
            features: (N x p) cost features of the universe (see :func:`cost_features`).
            devices: the S device names.
            rank: number of deviation directions kept; padded with zero directions when the
                sources span fewer, so that hyperparameters are shaped alike for any S.
            padded_sources: rows ``deviations`` is padded to with zeros (the fit's folds leave
                a source out but share the full model's input shape).
        """
        if log_latency.ndim != 2 or log_latency.shape[0] < 2:
            raise GPInputError("source profiles need at least two fully measured devices")
        if not torch.isfinite(log_latency).all():
            raise GPInputError("source log-latencies must be finite")
        median = log_latency.median(dim=1, keepdim=True).values
        normalised = torch.exp(log_latency - median)
        # Minimum-norm solution (SVD): the one-hot and count features are collinear.
        costs = torch.linalg.lstsq(features, normalised.T, rcond=1e-10, driver="gelsd").solution.T
        mean_cost = costs.mean(0)
        directions = _principal_deviations(costs, rank)
        baseline = features @ mean_cost
        floor = _BASELINE_FLOOR * float(baseline.median())
        baseline = baseline.clamp_min(floor)
        log_ratio = log_latency - torch.log(baseline)
        level = log_ratio.median(dim=1).values
        misfit = (normalised - costs @ features.T) / baseline
        deviations = torch.exp(log_ratio - level[:, None]) - 1.0
        padding = deviations.new_zeros(max(padded_sources - len(devices), 0), deviations.shape[1])
        return cls(
            devices=list(devices),
            mean_cost=mean_cost,
            directions=directions,
            level_mean=float(level.mean()),
            level_sd=float(level.std()),
            baseline_floor=floor,
            misfit=torch.cat([misfit.mean(0, keepdim=True), _principal_deviations(misfit, rank)]),
            deviations=torch.cat([deviations, padding]),
        )

    @property
    def rank(self) -> int:
        return self.directions.shape[0]

    def baseline(self, features: torch.Tensor) -> torch.Tensor:
        """(n,) the mean source cost of archs with cost ``features`` (n x p), floored."""
        return (features @ self.mean_cost).clamp_min(self.baseline_floor)

    def direction_features(self, relative: torch.Tensor) -> torch.Tensor:
        """(n x K) how each deviation direction moves the latency ratio of archs with relative
        features ``relative`` (cost features over baseline)."""
        return relative @ self.directions.T


def _principal_deviations(rows: torch.Tensor, rank: int) -> torch.Tensor:
    """(rank x d) principal deviations of (S x d) ``rows`` from their mean, scaled by the sd of
    a row's coefficient on each (s / sqrt(S)); zero-padded when the rows span fewer."""
    _, singular, v_t = torch.linalg.svd(rows - rows.mean(0), full_matrices=False)
    directions = torch.zeros(rank, rows.shape[1], dtype=rows.dtype)
    kept = min(rank, len(singular))
    directions[:kept] = (singular[:kept, None] / len(rows) ** 0.5) * v_t[:kept]
    return directions
