"""Latency profiles of the source devices, the device side of the multi-task kernel.

A multi-task GP over (device, architecture) with a learned device covariance, conditioned on
source devices whose tables are complete, is equivalent to a single-task GP on the target whose
prior mean and kernel are spanned by the source profiles. We build that conditional form
directly: it costs O(n_target^3) per device instead of O((S*N)^3), so 20+ source devices x
15,625 architectures need no subsampling at prediction time, and adapting to a target is a
10 x 10 Cholesky.

Each source device's log-latency is standardised robustly (median, inter-quartile range) so its
level and spread are separated from its *shape*; the shapes are averaged into a mean profile and
their deviations from it are decomposed into principal directions. A new device is then
``level + spread * mean_profile + sum_k w_k * direction_k + residual(arch)``, with Gaussian
priors on the weights whose scales the model learns on the source devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gp.errors import GPInputError

# Robust spread: IQR / 1.349 equals the standard deviation for Gaussian data.
_IQR_TO_SD = 1.349


def robust_level_spread(log_latency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Median and IQR-based spread of each row of an (S x N) log-latency matrix."""
    q = torch.quantile(log_latency, torch.tensor([0.25, 0.5, 0.75], dtype=log_latency.dtype), dim=1)
    return q[1], (q[2] - q[0]) / _IQR_TO_SD


@dataclass
class SourceProfiles:
    """The device-side basis learned from fully measured source devices.

    Attributes:
        devices: source device names, in row order of the matrix they came from.
        mean_shape: (N,) standardised log-latency averaged over sources.
        directions: (K x N) principal deviation directions, scaled so that a typical device's
            weight on each is of order one.
        level_mean, level_sd: mean and sd over sources of the log-latency median.
        spread_mean, spread_sd: mean and sd over sources of the log-latency spread.
    """

    devices: list[str]
    mean_shape: torch.Tensor
    directions: torch.Tensor
    level_mean: float
    level_sd: float
    spread_mean: float
    spread_sd: float

    @classmethod
    def from_log_latency(
        cls, log_latency: torch.Tensor, devices: list[str], rank: int
    ) -> SourceProfiles:
        """Builds the basis from an (S x N) matrix of source log-latencies (no NaN).

        Args:
            log_latency: (S x N) log-latency of S source devices on the N universe archs.
            devices: the S device names.
            rank: number of deviation directions kept; padded with zero directions when the
                sources span fewer, so that hyperparameters are shaped alike for any S.
        """
        if log_latency.ndim != 2 or log_latency.shape[0] < 2:
            raise GPInputError("source profiles need at least two fully measured devices")
        if not torch.isfinite(log_latency).all():
            raise GPInputError("source log-latencies must be finite")
        level, spread = robust_level_spread(log_latency)
        shapes = (log_latency - level[:, None]) / spread[:, None]
        mean_shape = shapes.mean(0)
        _, singular, v_t = torch.linalg.svd(shapes - mean_shape, full_matrices=False)
        num_devices = log_latency.shape[0]
        # sqrt(s^2/S) is the sd of a source's coefficient on that direction.
        scale = spread.mean() * singular / num_devices**0.5
        directions = torch.zeros(rank, log_latency.shape[1], dtype=log_latency.dtype)
        kept = min(rank, len(singular))
        directions[:kept] = scale[:kept, None] * v_t[:kept]
        return cls(
            devices=list(devices),
            mean_shape=mean_shape,
            directions=directions,
            level_mean=float(level.mean()),
            level_sd=float(level.std()),
            spread_mean=float(spread.mean()),
            spread_sd=float(spread.std()),
        )

    @property
    def rank(self) -> int:
        return self.directions.shape[0]

    def prior_mean(self, index: torch.Tensor) -> torch.Tensor:
        """(n,) prior mean log-latency of universe archs ``index`` on an unseen device."""
        return self.level_mean + self.spread_mean * self.mean_shape[index]

    def features(self, index: torch.Tensor) -> torch.Tensor:
        """(n x (2 + K)) weight-space features of universe archs: level, shape, directions."""
        level = torch.full((len(index), 1), self.level_sd, dtype=self.mean_shape.dtype)
        shape = self.spread_sd * self.mean_shape[index, None]
        return torch.cat([level, shape, self.directions[:, index].T], dim=1)
