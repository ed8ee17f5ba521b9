"""The multi-task latency GP: hyperparameters learned on source devices, cheap adaptation.

Model, for a device t and an architecture a (log-latency in log-ms)::

    y_t(a) = level_t + spread_t * mean_shape(a) + sum_k w_tk * direction_k(a)   (device part)
             + r_t(a)                                                         (arch residual)
             + noise

The device part is spanned by the source profiles (:mod:`gp.profiles`); its weights have
Gaussian priors (an ARD linear kernel). The residual is a GP over the architecture encoding
(ARD RBF + linear), for what no source device explains. Noise is homoscedastic in log space
plus the rounding error of whole-millisecond tables, ``(step^2 / 12) / latency^2``.

Hyperparameters are shared by all devices and learned on the source devices by maximising the
marginal likelihood of few-shot *episodes*: each source device in turn is held out of the
profile basis, a few of its measurements are the context, and the log marginal density of
held-out measurements given the context is maximised (a chain-rule factor of the marginal
likelihood; it trains the prior for the regime it is used in, as in Rothfuss et al., "PACOH",
ICML 2021). Fitting leave-one-device-out keeps the model from learning that every target has a
twin among the sources.

Adapting to a target conditions on its n measurements (an n x n Cholesky) and rescales the
predictive variance by an inverse-gamma posterior estimate of the target's variance ratio, so
that a device that is unusually far from the sources gets wider intervals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import gpytorch
import numpy as np
import torch
from gpytorch.constraints import GreaterThan
from linear_operator import to_dense
from scipy import stats

from gp.errors import GPInputError, InvalidMeasurementError
from gp.kernels import ARDLinearKernel
from gp.profiles import SourceProfiles

logger = logging.getLogger(__name__)

# Inverse-gamma prior pseudo-count for the target's variance ratio (prior mean 1). Weak: with
# 10 measurements the leave-one-out residuals decide; on HELP's unseen devices 1.0 still left
# the accurate ones (titan_rtx_256, fpga) at 0.96-0.98 coverage90, 0.1 brings them to 0.89-0.93.
VARIANCE_RATIO_PSEUDO_COUNT = 0.1
DEFAULT_RANK = 10
# Physically plausible latencies (1 ns to ~3 h). Beyond them a measurement is a unit error or
# garbage, and values like 5e-324 ms break the Cholesky factor of every later posterior.
MIN_LATENCY_MS = 1e-6
MAX_LATENCY_MS = 1e7
LATENCY_RULE = f"must be finite and between {MIN_LATENCY_MS:g} and {MAX_LATENCY_MS:g} ms"


@dataclass
class LatencyPrediction:
    """Posterior of n architectures' latency on one device.

    Attributes:
        mean_log, var_log: (n,) posterior mean and variance of log-latency (log ms), latent.
        mean_ms, var_ms: (n,) log-normal moments of the latency in ms.
        lower_ms, upper_ms: (n,) central 90% interval of a *measurement* (noise included).
        obs_var_log: (n,) predictive variance of a measurement's log-latency.
    """

    mean_log: np.ndarray
    var_log: np.ndarray
    mean_ms: np.ndarray
    var_ms: np.ndarray
    lower_ms: np.ndarray
    upper_ms: np.ndarray
    obs_var_log: np.ndarray

    def take(self, index: np.ndarray) -> LatencyPrediction:
        """The prediction of the architectures at ``index`` (an int array into this one)."""
        return LatencyPrediction(*(getattr(self, f.name)[index] for f in fields(self)))


class ArchFeatures:
    """Builds the model's input rows: [prior mean | profile features | encoding].

    Universe archs (those every source device measured, e.g. all of NB201) get profile
    features; any other arch (FBNet, vectors, a space with no sources) gets the population
    prior only and relies on the encoding kernel.
    """

    def __init__(
        self,
        profiles: SourceProfiles | None,
        universe_encoding: torch.Tensor | None,
        rank: int = DEFAULT_RANK,
        encoding_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
        prior_level: float = 0.0,
    ) -> None:
        self.profiles = profiles
        self.prior_level = profiles.level_mean if profiles is not None else prior_level
        self.rank = rank if profiles is None else profiles.rank
        if encoding_stats is None and universe_encoding is not None:
            sd = universe_encoding.std(0)
            encoding_stats = (universe_encoding.mean(0), torch.where(sd > 0, sd, 1.0))
        self.encoding_stats = encoding_stats
        self.universe = None
        self.relative = None
        if universe_encoding is not None:
            self.universe = self._standardise(universe_encoding)
            if profiles is not None:
                self.relative = self._relative_costs(universe_encoding, profiles)

    @staticmethod
    def _relative_costs(encoding: torch.Tensor, profiles: SourceProfiles) -> torch.Tensor:
        # Latency is close to additive over ops in milliseconds, so a device's own op costs
        # move log-latency by count / typical latency: a first-order term no source may span.
        index = torch.arange(len(encoding))
        typical = torch.exp(profiles.prior_mean(index) - profiles.level_mean)
        # Archs a compiler prunes to almost nothing would otherwise dominate the term.
        typical = typical.clamp_min(torch.quantile(typical, 0.25))[:, None]
        relative = encoding / typical
        sd = relative.std(0)
        return relative / torch.where(sd > 0, sd, 1.0)

    @property
    def profile_dims(self) -> int:
        return 2 + self.rank

    def _standardise(self, encoding: torch.Tensor) -> torch.Tensor:
        if self.encoding_stats is None:
            return encoding
        mean, sd = self.encoding_stats
        return (encoding - mean) / sd

    def universe_rows(self, index: torch.Tensor) -> torch.Tensor:
        """(n x D) rows for archs of the universe, by canonical index."""
        if self.universe is None:
            raise GPInputError("this model has no architecture universe; pass encodings")
        if self.profiles is None:
            return self.encoding_rows(self.universe[index], standardised=True)
        prior = self.profiles.prior_mean(index)[:, None]
        parts = [prior, self.profiles.features(index), self.universe[index], self.relative[index]]
        return torch.cat(parts, dim=1)

    def encoding_rows(self, encoding: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """(n x D) rows for archs known only by their encoding: population prior, no profile."""
        enc = encoding if standardised else self._standardise(encoding)
        profile = torch.zeros(len(enc), self.profile_dims, dtype=enc.dtype)
        profile[:, 0] = self.profiles.level_sd if self.profiles is not None else 1.0
        prior = torch.full((len(enc), 1), self.prior_level, dtype=enc.dtype)
        parts = [prior, profile, enc]
        if self.relative is not None:  # no typical latency to divide by: no such term
            parts.append(torch.zeros_like(enc))
        return torch.cat(parts, 1)


class LatencyKernel(gpytorch.Module):
    """Prior covariance and noise of log-latency over model input rows (see ArchFeatures)."""

    def __init__(self, profile_dims: int, encoding_dims: int, relative: bool = False) -> None:
        super().__init__()
        profile_cols = tuple(range(1, 1 + profile_dims))
        enc_cols = tuple(range(1 + profile_dims, 1 + profile_dims + encoding_dims))
        self.relative = None
        if relative:
            rel_cols = tuple(c + encoding_dims for c in enc_cols)
            self.relative = ARDLinearKernel(encoding_dims, active_dims=rel_cols)
            self.relative.raw_variance.data.fill_(-6.0)
        self.profile = ARDLinearKernel(profile_dims, active_dims=profile_cols)
        # The residual sees the profile coordinates too: a target can be a smooth *nonlinear*
        # function of how the source devices respond (fixed overheads, saturation).
        residual_cols = profile_cols + enc_cols
        self.residual = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.RBFKernel(ard_num_dims=len(residual_cols), active_dims=residual_cols)
        )
        self.linear = gpytorch.kernels.LinearKernel(active_dims=enc_cols)
        self.residual.base_kernel.lengthscale = math.sqrt(len(residual_cols))
        self.residual.outputscale = 0.05
        self.linear.variance = 1e-3
        self.raw_noise = torch.nn.Parameter(torch.tensor(-4.0))
        self.register_constraint("raw_noise", GreaterThan(1e-6))
        self.double()

    @property
    def noise(self) -> torch.Tensor:
        return self.raw_noise_constraint.transform(self.raw_noise)

    def covariance(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return sum(_evaluate(term, x1, x2) for term in self.terms())

    def variance(self, x: torch.Tensor) -> torch.Tensor:
        return sum(_evaluate(term, x, x, diag=True) for term in self.terms())

    def terms(self) -> list[gpytorch.kernels.Kernel]:
        """The kernels whose sum is the prior covariance."""
        terms = [self.profile, self.residual, self.linear]
        return terms if self.relative is None else [*terms, self.relative]

    def noise_variance(self, log_latency: torch.Tensor, step_ms: float) -> torch.Tensor:
        """Observation noise of log-latency; rounding to ``step_ms`` adds step^2/12 in ms^2."""
        rounding = (step_ms**2 / 12.0) * torch.exp(-2.0 * log_latency)
        return self.noise + rounding


def _evaluate(
    kernel: gpytorch.kernels.Kernel, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False
) -> torch.Tensor:
    """``kernel(x1, x2)`` evaluated at once, without mutating the kernel.

    gpytorch's lazy kernel tensors evaluate by setting ``active_dims`` to None for a moment,
    which corrupts calls from other threads sharing the kernel (the service shares one fitted
    model between devices): select the active columns here and call ``forward``.
    """
    if kernel.active_dims is not None:
        x1, x2 = x1.index_select(-1, kernel.active_dims), x2.index_select(-1, kernel.active_dims)
    return to_dense(kernel.forward(x1, x2, diag=diag))


class DevicePosterior:
    """The GP conditioned on one device's measurements (cheap: an n x n Cholesky)."""

    def __init__(
        self,
        kernel: LatencyKernel,
        rows: torch.Tensor,
        log_latency: torch.Tensor,
        step_ms: float = 0.0,
        leave_one_out: bool = True,
    ) -> None:
        """Args:
        kernel: the fitted kernel.
        rows: (n x D) input rows of the measured archs (n may be 0).
        log_latency: (n,) measured log-latency.
        step_ms: rounding step of the device's measurements (0 when continuous).
        leave_one_out: estimate the variance ratio from leave-one-out residuals (predictions);
            False uses the marginal ``r^T K^-1 r``, smooth in the hyperparameters (fitting).
        """
        self.kernel = kernel
        self.rows = rows
        self.step_ms = step_ms
        self.count = len(rows)
        self.variance_ratio = torch.tensor(1.0, dtype=rows.dtype)
        if self.count == 0:
            return
        gram = kernel.covariance(rows, rows)
        gram = gram + torch.diag(kernel.noise_variance(log_latency, step_ms))
        self.cholesky = _robust_cholesky(gram)
        residual = (log_latency - rows[:, 0])[:, None]
        self.weights = torch.cholesky_solve(residual, self.cholesky)
        if leave_one_out:
            self.variance_ratio = _loo_variance_ratio(self.cholesky, self.weights)
        else:
            self.variance_ratio = _marginal_variance_ratio(residual, self.weights)

    def solve(self, rows: torch.Tensor) -> torch.Tensor:
        """(n x m) ``L^-1 k(measured, rows)``: what conditioning subtracts from covariances."""
        if not self.count:
            return torch.zeros(0, len(rows), dtype=rows.dtype)
        cross = self.kernel.covariance(self.rows, rows)
        return torch.linalg.solve_triangular(self.cholesky, cross, upper=False)

    def latent(
        self, rows: torch.Tensor, solved: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(m,) posterior mean and variance of log-latency at (m x D) rows, noise excluded.

        ``solved``: ``self.solve(rows)`` when the caller already has it.
        """
        mean, var = rows[:, 0], self.kernel.variance(rows)
        if self.count:
            solved = self.solve(rows) if solved is None else solved
            # L^-1 k solved against L^-1 residual is k^T K^-1 residual, the posterior mean shift.
            whitened = self.cholesky.T @ self.weights
            mean = mean + (solved.T @ whitened)[:, 0]
            var = var - (solved**2).sum(0)
        return mean, var.clamp_min(1e-10) * self.variance_ratio

    def observation_variance(self, mean_log: torch.Tensor, var_log: torch.Tensor) -> torch.Tensor:
        noise = self.kernel.noise_variance(mean_log, self.step_ms) * self.variance_ratio
        return var_log + noise

    @torch.no_grad()
    def predict(self, rows: torch.Tensor) -> LatencyPrediction:
        mean, var = self.latent(rows)
        obs_var = self.observation_variance(mean, var)
        half_width = self.interval_quantile * obs_var.sqrt()
        mean_ms = torch.exp(mean + var / 2)
        var_ms = torch.expm1(var) * torch.exp(2 * mean + var)
        return LatencyPrediction(
            mean_log=mean.numpy(),
            var_log=var.numpy(),
            mean_ms=mean_ms.numpy(),
            var_ms=var_ms.numpy(),
            lower_ms=torch.exp(mean - half_width).numpy(),
            upper_ms=torch.exp(mean + half_width).numpy(),
            obs_var_log=obs_var.numpy(),
        )

    @property
    def interval_quantile(self) -> float:
        """95% quantile of the predictive: Student-t, as the variance ratio is itself estimated
        (inverse-gamma posterior with a0 + n degrees of freedom). With no measurements the ratio
        is the prior's 1 (the prior variance was fitted to the source population): Gaussian."""
        if not self.count:
            return float(stats.norm.ppf(0.95))
        return float(stats.t.ppf(0.95, VARIANCE_RATIO_PSEUDO_COUNT + self.count))

    def episode_nll(self, rows: torch.Tensor, log_latency: torch.Tensor) -> torch.Tensor:
        """Mean negative log predictive density of held-out measurements (training objective)."""
        mean, var = self.latent(rows)
        obs = self.observation_variance(log_latency, var)
        return 0.5 * (torch.log(2 * math.pi * obs) + (log_latency - mean) ** 2 / obs).mean()


def _variance_ratio(sum_of_squares: torch.Tensor, count: int) -> torch.Tensor:
    """Posterior mean of the variance ratio from ``count`` standardised squared residuals
    summing to ``sum_of_squares``, under an inverse-gamma prior with mean 1."""
    a0 = VARIANCE_RATIO_PSEUDO_COUNT
    return (a0 + sum_of_squares) / (a0 + count)


def _marginal_variance_ratio(residual: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The variance ratio from ``r^T K^-1 r``."""
    return _variance_ratio((residual * weights).sum(), len(residual))


def _loo_variance_ratio(cholesky: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """How much larger this device's errors are than the prior says (posterior mean).

    Uses leave-one-out residuals, closed form for a GP: the i-th one over its predictive variance
    squared is ``[K^-1 r]_i^2 / [K^-1]_ii``. Unlike the marginal ``r^T K^-1 r`` they score
    predictions at held-out archs, which is what the intervals are for.

    Args:
        cholesky: (n x n) lower Cholesky factor of the measured covariance K (noise included).
        weights: (n x 1) ``K^-1 r`` for the residuals r from the prior mean.
    """
    z_squared = weights[:, 0] ** 2 / torch.cholesky_inverse(cholesky).diagonal()
    return _variance_ratio(z_squared.sum(), len(z_squared))


def _robust_cholesky(matrix: torch.Tensor) -> torch.Tensor:
    jitter = 1e-8 * matrix.diagonal().mean()
    for _ in range(6):
        factor, info = torch.linalg.cholesky_ex(matrix + jitter * torch.eye(len(matrix)))
        if info == 0:
            return factor
        jitter *= 10
    raise GPInputError("covariance is not positive definite even with jitter")


def check_latencies(latency_ms: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Validates measured latencies and returns their log as float64.

    Raises:
        InvalidMeasurementError: naming the first bad item.
    """
    values = torch.as_tensor(np.asarray(latency_ms, dtype=np.float64))
    bad = ~((values >= MIN_LATENCY_MS) & (values <= MAX_LATENCY_MS))  # NaN fails both
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise InvalidMeasurementError(
            f"measurement {i}: latency {float(values[i])!r} ms {LATENCY_RULE}"
        )
    return torch.log(values)


@dataclass
class FitSettings:
    """How the source hyperparameters are learned (defaults: ~30 s for 13 devices here)."""

    iterations: int = 300
    learning_rate: float = 0.04
    episodes_per_device: int = 2
    context_sizes: tuple[int, ...] = (5, 10, 10, 20, 40)
    query_size: int = 200
    rank: int = DEFAULT_RANK
    seed: int = 0


class LatencyModel:
    """Shared hyperparameters plus the source basis; makes DevicePosteriors for any device."""

    def __init__(self, kernel: LatencyKernel, features: ArchFeatures) -> None:
        self.kernel = kernel
        self.features = features

    def posterior(
        self, index: torch.Tensor, latency_ms: np.ndarray | torch.Tensor, step_ms: float = 0.0
    ) -> DevicePosterior:
        """Conditions on measurements of universe archs ``index`` (canonical indices)."""
        log_latency = check_latencies(latency_ms)
        rows = self.features.universe_rows(torch.as_tensor(index, dtype=torch.long))
        with torch.no_grad():
            return DevicePosterior(self.kernel, rows, log_latency, step_ms)

    @classmethod
    def fit(
        cls,
        log_latency: torch.Tensor,
        devices: list[str],
        universe_encoding: torch.Tensor,
        step_ms: list[float] | None = None,
        settings: FitSettings | None = None,
        progress: Callable[[int, float], None] | None = None,
    ) -> LatencyModel:
        """Learns the hyperparameters on fully measured source devices.

        Args:
            log_latency: (S x N) source log-latencies over the N universe archs.
            devices: the S source names.
            universe_encoding: (N x d) architecture encodings of the universe.
            step_ms: per source, its rounding step (0 for continuous tables).
            settings: optimisation settings.
            progress: called as progress(iteration, loss) after each step.
        """
        settings = settings or FitSettings()
        step_ms = step_ms or [0.0] * len(devices)
        torch.manual_seed(settings.seed)
        folds = _leave_one_out_features(log_latency, devices, universe_encoding, settings.rank)
        full = ArchFeatures(
            SourceProfiles.from_log_latency(log_latency, devices, settings.rank),
            universe_encoding,
            encoding_stats=folds[0].encoding_stats,
        )
        kernel = LatencyKernel(
            full.profile_dims, universe_encoding.shape[1], relative=full.relative is not None
        )
        _optimise(kernel, folds, log_latency, step_ms, settings, progress)
        return cls(kernel, full)


def _leave_one_out_features(
    log_latency: torch.Tensor, devices: list[str], encoding: torch.Tensor, rank: int
) -> list[ArchFeatures]:
    folds = []
    for held_out in range(len(devices)):
        keep = [i for i in range(len(devices)) if i != held_out]
        profiles = SourceProfiles.from_log_latency(
            log_latency[keep], [devices[i] for i in keep], rank
        )
        stats = folds[0].encoding_stats if folds else None
        folds.append(ArchFeatures(profiles, encoding, encoding_stats=stats))
    return folds


def _optimise(
    kernel: LatencyKernel,
    folds: list[ArchFeatures],
    log_latency: torch.Tensor,
    step_ms: list[float],
    settings: FitSettings,
    progress: Callable[[int, float], None] | None,
) -> None:
    optimiser = torch.optim.Adam(kernel.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(settings.seed)
    num_archs = log_latency.shape[1]
    for iteration in range(settings.iterations):
        optimiser.zero_grad()
        losses = []
        for device, fold in enumerate(folds):
            for _ in range(settings.episodes_per_device):
                pick = int(torch.randint(len(settings.context_sizes), (1,), generator=generator))
                n_context = settings.context_sizes[pick]
                index = torch.randperm(num_archs, generator=generator)
                index = index[: n_context + settings.query_size]
                context, query = index[:n_context], index[n_context:]
                y = log_latency[device]
                rows = fold.universe_rows(context)
                posterior = DevicePosterior(
                    kernel, rows, y[context], step_ms[device], leave_one_out=False
                )
                losses.append(posterior.episode_nll(fold.universe_rows(query), y[query]))
        loss = torch.stack(losses).mean()
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(iteration, float(loss))
