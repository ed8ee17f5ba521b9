"""The multi-task latency GP: hyperparameters learned on source devices, cheap adaptation.

Model, for a device t and an architecture a, with x(a) the cost features and b(a) the
sources' mean cost of a (see :mod:`gp.profiles`)::

    latency_t(a) = scale_t * b(a) * ratio_t(a)
    ratio_t(a)   = 1 + c_t + sum_k w_tk * direction_k(x(a) / b(a))     (source cost deviations)
                 + sum_k u_tk * misfit_k(a)                             (what their costs miss)
                 + sum_s v_ts * deviation_s(a)                          (each source, whole)
                 + x(a) / b(a) . d_t                                    (costs no source has)
                 + r_t(a)                                               (arch residual)
                 + noise

Latency is close to additive in op costs *in milliseconds*, so the ratio is modelled linearly
rather than in log space. The misfits (the sources' mean and principal deviations from their
cost models, per arch) make every source exactly representable. The weights c, w, u, d have
Gaussian priors (ARD linear kernels), and the residual r is a GP over the architecture encoding
and source responses (ARD RBF + linear) for what none of that explains. Independent weights on
directions make "this device is like that source" one point among many; the weights v on each
source's own deviation from the mean source (one shared prior variance) favour it, which is how
a target with a relative among the sources (raspi4 and pixel3) ranks better from few
measurements. Noise is homoscedastic in the ratio (relative in ms), at a level of each device's
own times the kernel's noise plus the rounding error of whole-millisecond tables,
``(step^2 / 12) / latency^2`` (the level scales the rounding term too: keeping it out of the
level's reach ranked pixel2, the only rounded target, worse: 0.8913 against 0.8931 with 10
random measurements, 5 seeds).

Hyperparameters are shared by all devices and learned on the source devices from few-shot
*episodes*: each source device in turn is held out of the profile basis, a few of its
measurements are the context, and the mean log predictive density of each held-out
measurement given the context is maximised (a pseudo-likelihood, not a marginal likelihood:
each query's own density, not their joint one; it trains the prior for the regime it is used
in, as in Rothfuss et al., "PACOH", ICML 2021). Fitting leave-one-device-out keeps the model from
learning that every target has a twin among the sources.

Adapting to a target estimates its noise level (how much of its scatter is independent noise
rather than structure the kernel explains), conditions on its n measurements (an n x n
Cholesky) and rescales the predictive variance by an inverse-gamma posterior estimate of the
target's variance ratio, so that a device that is unusually far from the sources gets wider
intervals and one the sources explain well gets narrower ones. The kernel's overall scale is
set after fitting to the typical ratio of held-out source devices, so that the prior's mean 1
means "a typical device".
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import gpytorch
import numpy as np
import torch
from gpytorch.constraints import GreaterThan
from linear_operator import to_dense
from scipy import stats

from gp.errors import GPInputError, InvalidMeasurementError
from gp.kernels import ARDLinearKernel
from gp.latency import LATENCY_RULE, first_out_of_range
from gp.outliers import surprising_measurements
from gp.profiles import SourceProfiles, cost_features
from gp.spaces.base import is_real_number, is_whole_number

logger = logging.getLogger(__name__)

# Inverse-gamma prior pseudo-count for the target's variance ratio (centred on 1, a typical
# source device: 1 / E[1 / ratio] is 1; with so few pseudo-observations its mean is infinite).
# Weak: with 10 measurements the leave-one-out residuals decide; on HELP's unseen
# devices 1.0 left the accurate ones (titan_rtx_256, fpga) 3-6 points above 0.90 coverage90.
VARIANCE_RATIO_PSEUDO_COUNT = 0.1
# The same prior under a prior-only model's hand-set kernel (gp.estimator.prior_only_model), set
# broad on purpose: its prior ratio variance is about 46 for an FBNet arch, where the VM's
# latencies vary by a log sd of 0.1. At 0.1 the prior's pseudo-observations outweighed the
# residuals: 10 of the VM's FBNet measurements left a sum of leave-one-out z^2 of 0.02, and the
# variance ratio came out 0.013 rather than 0.002 (coverage90 1.000, intervals of +-23-24%).
# With the layer count (gp.spaces.base.SearchSpace.layer_count_feature), which shrank FBNet's
# errors on the VM more than the residuals' sum, 0.01 over-covered in turn: 10 random archs of
# each of the VM's FBNet runs 72-79 (docs/measuring-notes.md, 20 draws) were covered at
# 0.96-0.98 with 0.01, 0.90-0.95 with 0.003 and 0.87-0.94 with 0.001 (from 20: 0.92-0.94,
# 0.87-0.91, 0.85-0.89); synthetic FBNet devices (10 random measurements, 10 seeds, three cost
# models) at 0.96-0.99, 0.94-0.96 and 0.92-0.94. NB201 scored as if without sources (HELP's
# six targets, 5 seeds) moved little from 0.01 to 0.003: coverage90 0.914 / 0.932 / 0.904 ->
# 0.911 / 0.930 / 0.902 (random 10 / active 10 / random 20), the ranking unchanged.
HAND_SET_VARIANCE_RATIO_PSEUDO_COUNT = 0.003
DEFAULT_RANK = 10
#: The most deviation directions a fit keeps: more than that many source devices span, each
#: a (universe-sized) row of zeros. A rank of 10**6 tried to allocate 125 GB (a review).
MAX_RANK = 256
#: The largest seed: the fit also seeds a generator with ``seed + 1``, and torch's takes
#: seeds below 2**63 (2**64 - 1 failed with a bare ValueError after the whole fit).
MAX_FIT_SEED = 2**63 - 2
# Log-normal prior on a device's noise level relative to the kernel's (see
# _noise_level_log_joint), mean 1: the kernel's noise is the sources' typical level. The sd is
# about their spread (1.8 in log space, levels fitted on 400 measurements each, those below e^-4
# counted as e^-4).
NOISE_LEVEL_PRIOR_SD = 2.0
# The grid its posterior is evaluated on (log scale): 3e-4 to 3,000 times the kernel's noise.
# Topped at 55 it cut off up to 30% of pixel2's posterior mass (a review, 2026-12-03).
_LOG_NOISE_LEVELS = torch.linspace(-8.0, 8.0, 65, dtype=torch.float64)
_NOISE_LEVEL_MAX_MEASUREMENTS = 512
# The most one arch's log ratio to its device's scale is taken to vary (sd 0.5: within a
# factor 2.3 at 90%). The fitted kernel gives a median of 0.062 over NB201's archs (95% below
# 0.113; 16 of 15,625 above 0.25, up to 0.32, where the cap binds); the 19 tables' own
# variances of log(latency / baseline) have median 0.05 (0.005-0.79). A space without sources
# has only the hand-set kernel, whose raw encodings give a ratio variance of 30-90 before the
# variance ratio (0.05-0.5 once two measurements estimate it) tames it. Capped at the level
# prior's 9 instead, one 4 ms FBNet measurement predicted the others at 350-400 ms (NB201 as if
# without sources, 19 devices, 5 seeds: median prediction 71 times the table's, against 1.11
# times with this cap; 2026-12-04).
SINGLE_ARCH_MAX_LOG_VAR = 0.25
# Below two measurements no residual estimates the variance ratio, which stays at its prior's 1,
# and a hand-set kernel's ratio variances (30-90 on raw encodings) then mean little: each arch's
# is capped as the scale's is, at the variance whose log-normal has SINGLE_ARCH_MAX_LOG_VAR.
# Predictions from one measurement, 2026-12-06 (NB201 as if without sources, 19 devices, 5
# seeds; FBNet on the VM, runs 78-83, 20 draws): NLL 1.36 -> 0.81 and 1.44-1.49 -> 0.63-0.70,
# coverage90 0.989 -> 0.979 and 1.000 -> 1.000, the interval's upper / lower bound (median) 29 ->
# 11 and 94-107 -> 11. The fitted NB201 kernel (median 0.062) reaches it on a handful of archs:
# HELP's targets from 0 or 1 measurement scored the same to three decimals.
_UNESTIMATED_RATIO_MAX_VAR = math.expm1(SINGLE_ARCH_MAX_LOG_VAR)
# Fewest measurements whose log evidence tells kernels apart by the latencies. The median arch's
# residual is 0 by construction and the overall scale is maximised out, so with two the evidence
# depends only on which archs were measured (a review, 2026-12-06: FBNet's layer count was kept
# or left out alike whether the second arch took 0.2 or 500 ms), and with one it is degenerate.
_EVIDENCE_MIN_MEASUREMENTS = 3
# Equally probable noise levels that predictions mix over (see _noise_level_log_joint), up to
# this many measurements. Beyond it the mixture changed no HELP target's coverage90 by more than
# 0.003 (100 random measurements) while each level costs a triangular solve against every
# queried arch (n = 1,000: 0.6 s for the whole space).
_NOISE_LEVEL_ATOMS = 5
_NOISE_LEVEL_MIXTURE_MAX_MEASUREMENTS = 50
# Bisection steps for a mixture's interval bounds: 6e-5 of the components' spread.
_QUANTILE_BISECTIONS = 14
_Z95 = float(stats.norm.ppf(0.95))
# Hypotheses that one source is a device's relative (see RelativeSources): that source's
# deviation gets these multiples of the shared prior variance, and all of them together have
# this prior probability (against "no source is").
_RELATIVE_BOOSTS = torch.tensor([10.0, 30.0, 100.0], dtype=torch.float64)
_RELATIVE_PRIOR = 0.1
# Least sd of the log scale of a device with no measurement and no reference latencies. The
# sources' own spread (HELP's 13: 0.41) is that of their classes, GPUs, server CPUs and phones;
# a device of another class lies beyond it (HELP's FPGA and ASIC 3.3 and 2.4 of those sds below
# the sources' mean, raspi4 1.6 above), and intervals of that spread held 0.1%, 30% and 60% of
# their latencies. At 1 the 90% interval spans a factor 5 either way of the sources' typical
# level, which is about what is known of a device before a measurement.
_NEW_DEVICE_LEVEL_MIN_SD = 1.0
# Least latency ratio turned into a prediction, so that the latency and its log stay defined;
# a posterior mean at or below it is replaced by DevicePosterior._least_seen_ratio.
_MIN_RATIO = 1e-3
# Most measurements whose least ratio the floor checks for surprises (_least_measured_ratio).
# The check conditions on the others once or twice; with 1,000 raspi4 measurements, one of them
# x0.001, it took 21 s of CPU. Beyond a few dozen a slip hardly drags means to the floor: with
# one x0.001 among 100 or 300 random measurements (HELP's six targets, 2 seeds) 24 and 2
# predictions fell below 5% of the table, the same 24 with the check.
_FLOOR_CHECK_MAX_MEASUREMENTS = 50


@dataclass
class LatencyPrediction:
    """Posterior of n architectures' latency on one device.

    Attributes:
        mean_log, var_log: (n,) mean and variance of log-latency (log ms) of the log-normal with
            the latent latency's moments.
        mean_ms, var_ms2: (n,) posterior mean (ms) and variance (ms²) of the latent latency.
        lower_ms, upper_ms: (n,) central 90% interval of a *measurement* (noise included);
            below two measurements (the scale still uncertain, see :class:`DevicePosterior`)
            the upper bound stretches to ``mean_ms`` where the scale's spread puts the mean
            beyond it (a level prior's sd above 3.3).
        obs_var_log: (n,) variance of the log-normal with a measurement's moments.

    The variances take the device's variance ratio at its estimate (the Student-t's scale),
    so they are those of a Gaussian of that scale; the interval is the Student-t's, whose
    variance is larger by dof / (dof - 2) (1.28 with 10 measurements), as the ratio is itself
    estimated.
    """

    mean_log: np.ndarray
    var_log: np.ndarray
    mean_ms: np.ndarray
    var_ms2: np.ndarray
    lower_ms: np.ndarray
    upper_ms: np.ndarray
    obs_var_log: np.ndarray

    @property
    def obs_mean_log(self) -> np.ndarray:
        """(n,) mean of the log-normal with a measurement's moments, whose variance is
        ``obs_var_log``: the log of a measurement's predicted median."""
        return np.log(self.mean_ms) - self.obs_var_log / 2

    def take(self, index: np.ndarray) -> LatencyPrediction:
        """The prediction of the architectures at ``index`` (an int array into this one)."""
        return LatencyPrediction(*(getattr(self, f.name)[index] for f in fields(self)))

    @classmethod
    def concatenated(cls, parts: Sequence[LatencyPrediction]) -> LatencyPrediction:
        """One prediction of the architectures of ``parts``, in their order (at least one)."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


class ArchFeatures:
    """Builds the model's input rows: [log baseline | profile | encoding | relative].

    Universe archs (those every source device measured, e.g. all of NB201) get their baseline
    cost, their response to the source deviation directions and their relative cost features
    (see :mod:`gp.profiles`). Archs of a model with no sources (FBNet, vectors) get the
    analytic baseline ``(work + typical) / (2 typical)`` where their space counts work (FLOPs),
    else 1, and rely on the encoding kernel: a fixed overhead plus work proportional to FLOPs
    is the cost model with the fewest assumptions that still ranks archs (with no overhead,
    latency proportional to FLOPs, it ranked far worse). FBNet archs timed on this project's VM
    (120, 10 random measurements, 10 seeds) ranked at 0.69 against 0.39 with a flat baseline.
    Where the space counts layers (FBNet's skips), the count, standardised over the space, is a
    profile column of its own: each layer run can cost an overhead beside its work (the
    estimator keeps it where a device's measurements are likelier with it).
    NB201 scored as if it had no sources (``gp.benchmark --source none``, 5 seeds), 10 random
    measurements: HELP's six targets 0.902 against 0.882, the 13 other devices 0.887 against
    0.886; with 20 the flat baseline did as well or better (0.940 / 0.934 against 0.938 / 0.925).
    """

    def __init__(
        self,
        profiles: SourceProfiles | None,
        universe_encoding: torch.Tensor | None,
        encoding_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
        prior_level: tuple[float, float] = (0.0, 1.0),
        work: tuple[int, float] | None = None,
        layer_count: tuple[int, float, float] | None = None,
    ) -> None:
        """Args:
        profiles: the source basis, None for a prior-only model.
        universe_encoding: (N x d) raw encodings of the universe archs.
        encoding_stats: (mean, sd) to standardise encodings by; default the universe's.
        prior_level: mean and sd of a device's log scale before it has measurements, for
            prior-only models (a fitted model takes the sources' mean and their spread, but no
            less than ``_NEW_DEVICE_LEVEL_MIN_SD``).
        work: for a prior-only model, the encoding column of an arch's analytic work and the
            space's typical work, which set its baseline (see the class docstring).
        layer_count: for a prior-only model, the encoding column counting an arch's layers
            (:attr:`~gp.spaces.base.SearchSpace.layer_count_feature`) and its mean and sd over
            the space: standardised, a profile column of its own after the level.
        """
        self.profiles = profiles
        self.prior_level = prior_level
        self.work = work
        self.layer_count = layer_count
        if profiles is not None:
            self.prior_level = (
                profiles.level_mean,
                max(profiles.level_sd, _NEW_DEVICE_LEVEL_MIN_SD),
            )
        if encoding_stats is None and universe_encoding is not None:
            encoding_stats = _standardisation(universe_encoding)
        self.encoding_stats = encoding_stats
        self.universe = None
        self.universe_profile_rows = None
        if universe_encoding is not None:
            self.universe = self._standardise(universe_encoding)
            if profiles is not None:
                self.universe_profile_rows = self._profile_rows(self.universe, profiles)

    @classmethod
    def from_sources(
        cls,
        log_latency: torch.Tensor,
        devices: list[str],
        universe_encoding: torch.Tensor,
        rank: int,
        padded_sources: int = 0,
    ) -> ArchFeatures:
        """Features of a model whose basis is the sources' (S x N) log-latency."""
        stats = _standardisation(universe_encoding)
        costs = cost_features((universe_encoding - stats[0]) / stats[1])
        profiles = SourceProfiles.from_log_latency(
            log_latency, costs, devices, rank, padded_sources
        )
        return cls(profiles, universe_encoding, stats)

    @staticmethod
    def _profile_rows(standardised: torch.Tensor, profiles: SourceProfiles) -> torch.Tensor:
        """(N x (1 + (2 + 2K) + p + S)) the universe's log baseline, profile, relative and
        source deviation columns."""
        costs = cost_features(standardised)
        baseline = profiles.baseline(costs)
        relative = costs / baseline[:, None]
        ones = torch.ones(len(costs), 1, dtype=costs.dtype)
        return torch.cat(
            [
                torch.log(baseline)[:, None],
                ones,
                profiles.direction_features(relative),
                profiles.misfit.T,
                relative / _standardisation(relative)[1],
                profiles.deviations.T,
            ],
            dim=1,
        )

    @property
    def profile_dims(self) -> int:
        """The level column, then one per cost deviation direction, the mean misfit and one per
        misfit direction (a fitted model), or the layer count (a prior-only model of a space
        that counts layers)."""
        if self.profiles is not None:
            return 2 + 2 * self.profiles.rank
        return 1 + (self.layer_count is not None)

    @property
    def encoding_dims(self) -> int:
        return len(self.encoding_stats[0]) if self.encoding_stats is not None else 0

    @property
    def relative_dims(self) -> int:
        return 1 + self.encoding_dims if self.profiles is not None else 0

    @property
    def source_dims(self) -> int:
        """One column per source device (padded): how far it is from the mean source."""
        return len(self.profiles.deviations) if self.profiles is not None else 0

    def _standardise(self, encoding: torch.Tensor) -> torch.Tensor:
        if self.encoding_stats is None:
            return encoding
        mean, sd = self.encoding_stats
        return (encoding - mean) / sd

    def universe_rows(self, index: torch.Tensor) -> torch.Tensor:
        """(n x D) rows for archs of the universe, by canonical index."""
        if self.universe is None:
            raise GPInputError("this model has no architecture universe; pass encodings")
        if self.universe_profile_rows is None:
            return self.encoding_rows(self.universe[index], standardised=True)
        rows = self.universe_profile_rows[index]
        split = 1 + self.profile_dims
        return torch.cat([rows[:, :split], self.universe[index], rows[:, split:]], dim=1)

    def encoding_rows(self, encoding: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """(n x D) rows for archs known only by their encoding (prior-only models)."""
        if self.profiles is not None:
            raise GPInputError("a model fitted on sources takes universe archs only")
        enc = encoding if standardised else self._standardise(encoding)
        raw = self._raw(encoding, standardised)
        log_baseline = torch.zeros(len(enc), 1, dtype=enc.dtype)
        if self.work is not None:
            column, typical = self.work
            work = raw[:, column : column + 1]
            log_baseline = torch.log((work + typical) / (2 * typical))
        profile = [torch.ones(len(enc), 1, dtype=enc.dtype)]
        if self.layer_count is not None:
            column, mean, sd = self.layer_count
            profile.append((raw[:, column : column + 1] - mean) / sd)
        return torch.cat([log_baseline, *profile, enc], 1)

    def _raw(self, encoding: torch.Tensor, standardised: bool) -> torch.Tensor:
        if not standardised or self.encoding_stats is None:
            return encoding
        mean, sd = self.encoding_stats
        return encoding * sd + mean


def _standardisation(encoding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and sd (1 for constant columns)."""
    sd = encoding.std(0)
    return encoding.mean(0), torch.where(sd > 0, sd, 1.0)


class LatencyKernel(gpytorch.Module):
    """Prior covariance and noise of the latency ratio over model input rows (ArchFeatures)."""

    def __init__(
        self, profile_dims: int, encoding_dims: int, relative_dims: int = 0, source_dims: int = 0
    ) -> None:
        super().__init__()
        profile_cols = tuple(range(1, 1 + profile_dims))
        enc_cols = tuple(range(1 + profile_dims, 1 + profile_dims + encoding_dims))
        self.relative = None
        if relative_dims:
            start = 1 + profile_dims + encoding_dims
            rel_cols = tuple(range(start, start + relative_dims))
            # Op costs no source's deviation spans: a diagonal prior on the cost vector.
            self.relative = ARDLinearKernel(relative_dims, active_dims=rel_cols)
            self.relative.raw_variance.data.fill_(-6.0)
        self.sources = None
        if source_dims:
            start = 1 + profile_dims + encoding_dims + relative_dims
            source_cols = tuple(range(start, start + source_dims))
            # Each source's whole deviation, one variance for all: the folds drop a different
            # source each, so a column is not the same source in every fold, and one variance
            # per source fitted that way ranked HELP's targets worse (mean Spearman 0.966 /
            # 0.971 random / active, against 0.966 / 0.973).
            self.sources = gpytorch.kernels.LinearKernel(active_dims=source_cols)
            self.sources.variance = 0.1
        self.profile = ARDLinearKernel(profile_dims, active_dims=profile_cols)
        # The residual sees the profile coordinates too: a target's ratio can be a smooth
        # *nonlinear* function of how the source devices respond (fixed overheads, saturation).
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
        #: The prior pseudo-count of a device's variance ratio; a prior-only model's hand-set
        #: kernel takes HAND_SET_VARIANCE_RATIO_PSEUDO_COUNT (gp.estimator.prior_only_model).
        self.variance_ratio_pseudo_count = VARIANCE_RATIO_PSEUDO_COUNT
        # Each term's active_dims as a slice: they are consecutive columns, and slicing is a
        # view where gathering them copied the whole matrix (63% of predicting all of NB201).
        self._columns = {term: _as_slice(term.active_dims) for term in self.terms()}
        # Overall prior variance, set after fitting (see _typical_variance_ratio): the episodes
        # rescale each device's variance, so the fit leaves the absolute scale nearly free. Not
        # quite: the ratio's prior pseudo-count (centred on 1) and the rounding term do not
        # rescale with it. Giving the fit's prior the scale's value instead ranked HELP's
        # targets at 0.9689 / 0.9749 (random / active 10, 5 seeds; 0.9677 / 0.9739 now) with
        # coverage90 0.921 / 0.935 and NLL -1.160 / -1.510 (-1.117 / -1.609 now): mixed, not
        # adopted (a review, 2026-12-03).
        self.register_buffer("scale", torch.tensor(1.0))
        self.double()

    @property
    def noise(self) -> torch.Tensor:
        return self.raw_noise_constraint.transform(self.raw_noise)

    def covariance(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.scale * sum(self._evaluate(term, x1, x2) for term in self.terms())

    def variance(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * sum(self._evaluate(term, x, x, diag=True) for term in self.terms())

    def _evaluate(
        self, term: gpytorch.kernels.Kernel, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False
    ) -> torch.Tensor:
        """``term(x1, x2)`` evaluated at once, without mutating the kernel.

        gpytorch's lazy kernel tensors evaluate by setting ``active_dims`` to None for a moment,
        which corrupts calls from other threads sharing the kernel (the service shares one
        fitted model between devices): select the term's columns here and call ``forward``.
        """
        columns = self._columns[term]
        return to_dense(term.forward(x1[..., columns], x2[..., columns], diag=diag))

    def source_columns(self, x: torch.Tensor) -> torch.Tensor:
        """([b x] n x S) the source-deviation columns of rows ``x``."""
        return x[..., self._columns[self.sources]]

    def terms(self) -> list[gpytorch.kernels.Kernel]:
        """The kernels whose sum is the prior covariance."""
        terms = [self.profile, self.residual, self.linear, self.relative, self.sources]
        return [term for term in terms if term is not None]

    def noise_variance(
        self, log_latency: torch.Tensor, step_ms: float | torch.Tensor
    ) -> torch.Tensor:
        """Observation noise of the latency ratio at (expected) ``log_latency``; rounding to
        ``step_ms`` adds step^2/12 in ms^2, relative to the latency."""
        rounding = (step_ms**2 / 12.0) * torch.exp(-2.0 * log_latency)
        return self.scale * self.noise + rounding


def _as_slice(columns: torch.Tensor) -> slice:
    first, count = int(columns[0]), len(columns)
    if columns.tolist() != list(range(first, first + count)):
        raise ValueError(f"kernel columns must be consecutive, got {columns.tolist()}")
    return slice(first, first + count)


class DevicePosterior:
    """The GP conditioned on one device's measurements (cheap: an n x n Cholesky).

    The GP is over the latency *ratio* ``latency / (scale * baseline(a))``, whose prior mean is
    1. The device's scale is the median of its measured ``latency / baseline`` (a plug-in
    estimate: one degree of freedom is spent on it); before any measurement it is the sources'
    typical scale, whose spread widens the log-latency variance, and from one measurement it
    is that arch's ratio, whose own deviation widens it.

    Conditioning, ``latent`` and ``episode_nll`` also take a batch of devices with equal
    measurement counts (rows ``b x n x D``): the fit evaluates its episodes a few batches at a
    time rather than one by one. ``predict`` takes one device.
    """

    def __init__(
        self,
        kernel: LatencyKernel,
        rows: torch.Tensor,
        log_latency: torch.Tensor,
        step_ms: float | torch.Tensor = 0.0,
        prior_level: tuple[float, float] = (0.0, 1.0),
        fitting: bool = False,
        noise_level: float | None = None,
        floor_checked: bool = True,
    ) -> None:
        """Args:
        kernel: the fitted kernel.
        rows: ([b x] n x D) input rows of the measured archs (n may be 0 without a batch).
        log_latency: ([b x] n) measured log-latency.
        step_ms: rounding step of the device's measurements (0 when continuous); (b x 1) for
            a batch.
        prior_level: mean and sd of the log scale of a device with no measurements.
        fitting: use the estimates the fit differentiates through, smooth in the
            hyperparameters: the variance ratio from the marginal ``r^T K^-1 r`` and the
            kernel's own noise level. False (predictions) estimates the variance ratio from
            leave-one-out residuals and the device's noise level from its measurements.
        noise_level: the device's noise level, fixed rather than estimated (one component of
            ``predict``'s mixture over the level).
        floor_checked: leave the measurements :mod:`gp.outliers` finds surprising out of the
            floor of near-zero means (``_least_measured_ratio``); False in that check's own
            posteriors, each of which would otherwise run the check again.
        """
        self.kernel = kernel
        self.floor_checked = floor_checked
        self.rows = rows
        self.step_ms = step_ms
        self.count = rows.shape[-2]
        self.variance_ratio = torch.tensor(1.0, dtype=rows.dtype)
        self.noise_level: float | torch.Tensor = 1.0
        self.relatives: RelativeSources | None = None
        #: Equally probable log noise levels whose mixture ``predict`` returns (``()``: just
        #: ``noise_level``, as with more than _NOISE_LEVEL_MIXTURE_MAX_MEASUREMENTS).
        self.log_noise_levels: tuple[float, ...] = ()
        #: ([b x]) log marginal likelihood of the measurements, the noise level integrated over
        #: its prior and the variance's overall scale maximised out, up to a constant that
        #: depends on their count alone: it compares kernels on one device's measurements.
        #: None where the level is not estimated (fixed, fitting) and below
        #: ``_EVIDENCE_MIN_MEASUREMENTS``.
        self.log_evidence: torch.Tensor | None = None
        self.log_latency = log_latency
        self.prior_level = prior_level
        self.log_scale: float | torch.Tensor = prior_level[0]
        self.log_scale_var = prior_level[1] ** 2
        if self.count == 0:
            return
        # ([b x] 1): torch's median of an even count is the lower middle value.
        self.log_scale = (log_latency - rows[..., 0]).median(-1, keepdim=True).values
        self.log_scale_var = 0.0
        covariance = kernel.covariance(rows, rows)
        residual = self.ratio(rows, log_latency)[..., None] - 1.0
        noise = self.noise_variance(rows)  # at the kernel's level: noise_level is still 1
        if noise_level is not None:
            self.noise_level = noise_level
        elif not fitting:
            log_joint = _noise_level_log_joint(covariance, noise, residual, rows)
            if self.count >= _EVIDENCE_MIN_MEASUREMENTS:
                self.log_evidence = torch.logsumexp(log_joint, -1)
            levels = torch.softmax(log_joint, -1)
            log_levels = _LOG_NOISE_LEVELS.to(levels.dtype)
            self.noise_level = torch.exp((levels * log_levels).sum(-1, keepdim=True))
            if levels.dim() == 1 and self.count <= _NOISE_LEVEL_MIXTURE_MAX_MEASUREMENTS:
                self.log_noise_levels = _equal_mass_atoms(levels, _NOISE_LEVEL_ATOMS)
        self.cholesky = _robust_cholesky(covariance + torch.diag_embed(noise * self.noise_level))
        self.whitened = torch.linalg.solve_triangular(self.cholesky, residual, upper=False)
        self.weights = torch.linalg.solve_triangular(self.cholesky.mT, self.whitened, upper=True)
        if fitting:
            self.variance_ratio = _marginal_variance_ratio(
                residual, self.weights, kernel.variance_ratio_pseudo_count
            )
        else:
            self.variance_ratio = _loo_variance_ratio(
                self.cholesky, self.weights, kernel.variance_ratio_pseudo_count
            )
            if self.count == 1 and rows.dim() == 2:
                self.log_scale_var = _single_measurement_scale_var(
                    covariance, noise * self.noise_level, self.variance_ratio
                )
            if kernel.sources is not None:
                self.relatives = RelativeSources(
                    kernel, rows, self.cholesky, self.whitened, self.variance_ratio
                )

    def ratio(self, rows: torch.Tensor, log_latency: torch.Tensor) -> torch.Tensor:
        """([b x] n) latency over this device's scale times the archs' baseline."""
        return torch.exp(log_latency - rows[..., 0] - self.log_scale)

    def noise_variance(self, rows: torch.Tensor) -> torch.Tensor:
        """([b x] n) measurement noise of the ratio at rows, before the variance ratio."""
        noise = self.kernel.noise_variance(rows[..., 0] + self.log_scale, self.step_ms)
        return noise * self.noise_level

    def solve(self, rows: torch.Tensor, cross: torch.Tensor | None = None) -> torch.Tensor:
        """([b x] n x m) ``L^-1 k(measured, rows)``: what conditioning subtracts from
        covariances (``cross``: ``k(measured, rows)`` when the caller already has it)."""
        if not self.count:
            return torch.zeros(0, len(rows), dtype=rows.dtype)
        cross = self.kernel.covariance(self.rows, rows) if cross is None else cross
        return torch.linalg.solve_triangular(self.cholesky, cross, upper=False)

    def latent(
        self,
        rows: torch.Tensor,
        solved: torch.Tensor | None = None,
        relatives: bool = True,
        prior_variance: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """([b x] m) posterior mean and variance of the latency ratio at ([b x] m x D) rows,
        noise excluded.

        ``solved``, ``prior_variance``: ``self.solve(rows)`` and ``self.kernel.variance(rows)``
        when the caller already has them.
        ``relatives``: average over the hypotheses that a source is the device's relative
        (False: the GP alone, whose covariances ``solve`` gives).
        """
        mean = torch.ones(rows.shape[:-1], dtype=rows.dtype)
        var = self.kernel.variance(rows) if prior_variance is None else prior_variance
        if self.count:
            solved = self.solve(rows) if solved is None else solved
            # L^-1 k solved against L^-1 residual is k^T K^-1 residual, the posterior mean shift.
            mean = mean + (solved.mT @ self.whitened)[..., 0]
            var = var - (solved**2).sum(-2)
        var = var.clamp_min(1e-10) * self.variance_ratio
        # Relatives exist only with measurements, so solved is set too.
        if relatives and self.relatives is not None and solved is not None:
            return self.relatives.averaged(rows, solved, mean, var)
        return mean, var

    def observation_variance(self, rows: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """([b x] m) predictive variance of a measured ratio, given its latent variance."""
        return var + self.noise_variance(rows) * self.variance_ratio

    @torch.no_grad()
    def predict(self, rows: torch.Tensor) -> LatencyPrediction:
        """The device's latency at (m x D) rows: the mixture over its noise level's posterior
        (see ``log_noise_levels``)."""
        cross = self.kernel.covariance(self.rows, rows) if self.count else None
        prior_variance = self.kernel.variance(rows)
        moments = [
            level._ratio_moments(rows, cross, prior_variance, self._least_seen_ratio)
            for level in self._noise_level_components or (self,)
        ]
        mean, var, obs_var, lower, upper = _mixture(moments, self.interval_quantile)
        baseline_ms = torch.exp(rows[:, 0] + self.log_scale)
        # Exact moments of scale * baseline * ratio with a log-normal scale (below two
        # measurements) and a Gaussian ratio.
        spread = math.exp(self.log_scale_var)
        mean_ms = baseline_ms * mean * math.sqrt(spread)
        var_ms2 = baseline_ms**2 * spread * (spread * (mean**2 + var) - mean**2)
        lower_ms, upper_ms = baseline_ms * lower, baseline_ms * upper
        obs_var_log = torch.log1p(obs_var / mean**2) + self.log_scale_var
        # The interval of the log-normal with a measurement's moments, not the ratio's own:
        # - below two measurements, for every arch: the scale's spread dominates, and widening
        #   the ratio's 90% interval by the scale's own made a 97% one;
        # - where the ratio's interval reaches below zero (a ratio that may be negative is no
        #   latency). The lower bound had mirrored the upper there (mean^2 / upper), jumping
        #   from 0 to half the mean as the interval widened past it, and raspi4's latencies
        #   fell below it 21-48% of the time (a review, 2026-12-06); this moved its coverage90
        #   from 0.853 / 0.922 / 0.943 to 0.858 / 0.923 / 0.944 (random 10 / active 10 /
        #   random 20, 5 seeds).
        log_normal = (lower <= 0) | (self.log_scale_var > 0)
        if log_normal.any():
            bounds = _lognormal_interval(mean_ms, obs_var_log, self.interval_quantile)
            lower_ms = torch.where(log_normal, bounds[0], lower_ms)
            # The log-normal's 95% quantile falls once its log-sd passes 1.645, to below the
            # mean past 3.29, so that the least known archs had the lowest upper bounds (a
            # review: [0, mean] at an sd 30,000 times the mean); a measurement's Gaussian
            # bound, mean + 1.645 sd, keeps it rising with the uncertainty.
            sd_ms = mean_ms * torch.sqrt(torch.expm1(obs_var_log))
            gaussian_upper = mean_ms + self.interval_quantile * sd_ms
            upper_ms = torch.where(log_normal, torch.maximum(bounds[1], gaussian_upper), upper_ms)
        var_log = torch.log1p(var_ms2 / mean_ms**2)
        return LatencyPrediction(
            mean_log=(torch.log(mean_ms) - var_log / 2).numpy(),
            var_log=var_log.numpy(),
            mean_ms=mean_ms.numpy(),
            var_ms2=var_ms2.numpy(),
            lower_ms=lower_ms.numpy(),
            upper_ms=upper_ms.numpy(),
            obs_var_log=obs_var_log.numpy(),
        )

    @functools.cached_property
    def _noise_level_components(self) -> tuple[DevicePosterior, ...]:
        """This posterior conditioned at each of ``log_noise_levels`` (none without them).

        Never ``self``: a cached reference to itself made every posterior a reference cycle,
        which only the cyclic collector frees, and rarely in a server whose heap holds
        millions of objects; a server queried for 192 devices in turn kept the evicted
        posteriors' tensors, its RSS rising 1.8 GB (2026-12-07)."""
        return tuple(
            DevicePosterior(
                self.kernel,
                self.rows,
                self.log_latency,
                self.step_ms,
                self.prior_level,
                noise_level=math.exp(level),
            )
            for level in self.log_noise_levels
        )

    def _ratio_moments(
        self,
        rows: torch.Tensor,
        cross: torch.Tensor | None,
        prior_variance: torch.Tensor,
        least_seen_ratio: Callable[[torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(m) mean, latent variance and variance of a measurement of the ratio at rows, given
        the kernel's ``cross = k(measured, rows)`` and ``prior_variance = k(rows, rows)``;
        ``least_seen_ratio``: the floor of means at or below ``_MIN_RATIO`` (the whole
        posterior's, not this noise level's, so that its check runs once). Below two
        measurements the latent variance is at most ``_UNESTIMATED_RATIO_MAX_VAR``."""
        mean, var = self.latent(rows, self.solve(rows, cross), prior_variance=prior_variance)
        if self.count < 2:
            var = var.clamp_max(_UNESTIMATED_RATIO_MAX_VAR)
        # A mean ratio at or below zero is the model far outside its data (a unit slip among
        # the measurements, a space without sources extrapolating from a few): clamped at
        # _MIN_RATIO, such archs were predicted at about 0.02 ms. The floor is worked out for
        # those rows alone: for every row it cost about 2 ms of a 40 ms whole-space prediction.
        low = mean <= _MIN_RATIO
        if low.any():
            mean = mean.masked_scatter(low, least_seen_ratio(rows[low]))
        return mean, var, self.observation_variance(rows, var)

    def _least_seen_ratio(self, rows: torch.Tensor) -> torch.Tensor:
        """(m) the least ratio the data show at rows: the device's smallest measured ratio
        (``_least_measured_ratio``), or a source device's at that arch where lower, but no less
        than ``_MIN_RATIO``.

        The sources count because some near-zero means are right: raspi4's archs whose cell
        output is disconnected run at about 0.005 of their baseline or less, as on pixel3, and
        the device's smallest ratio alone predicted them 5-50 times too high (raspi4's MAPE
        637% -> 648% with 10 random measurements, 5 seeds)."""
        least = torch.full(rows.shape[:-1], math.inf, dtype=rows.dtype)
        if self.kernel.sources is not None:
            least = (1.0 + self.kernel.source_columns(rows)).min(-1).values
        # Leaving measurements out only raises the device's least ratio: its check is needed
        # only where the least of them all would set the floor.
        if self.count and bool((self.ratio(self.rows, self.log_latency).min() < least).any()):
            least = least.clamp_max(self._least_measured_ratio)
        return least.clamp_min(_MIN_RATIO)

    @functools.cached_property
    def _least_measured_ratio(self) -> float:
        """The device's least measured ratio, of the measurements its others explain (those
        :func:`~gp.outliers.surprising_measurements` does not name; all where
        ``floor_checked`` is False or beyond ``_FLOOR_CHECK_MAX_MEASUREMENTS``).

        A latency given in seconds where ms were meant is a ratio of about 0.001, and with it
        as the floor the archs its slip drags to a mean ratio near zero were predicted 1,000
        times too low (HELP's six targets, 10 random measurements, one x0.001, 10 seeds: 1,827
        predictions below 5% of the table, 649 with the named ones left out; docs/model-notes.md).
        Only the floor leaves them out: the posterior keeps every measurement (see
        :mod:`gp.outliers`)."""
        ratios = self.ratio(self.rows, self.log_latency)
        if self.floor_checked and self.count <= _FLOOR_CHECK_MAX_MEASUREMENTS:
            surprising = [s.position for s in surprising_measurements(self)]
            ratios[surprising] = math.inf
        return float(ratios.min())

    @functools.cached_property
    def standardised_error(self) -> Any:
        """The distribution (scipy, frozen) of a new measurement's error over its predictive
        sd: Student-t, as the variance ratio is itself estimated (inverse-gamma posterior with
        a0 + n - 1 degrees of freedom, one spent on the scale). Before a second measurement the
        ratio is the prior's 1 (the prior variance was fitted to the source population):
        Gaussian."""
        if self.count < 2:
            return stats.norm()
        return stats.t(self.kernel.variance_ratio_pseudo_count + self.count - 1)

    @functools.cached_property
    def interval_quantile(self) -> float:
        """95% quantile of ``standardised_error``: the 90% interval's half-width in sds."""
        return float(self.standardised_error.ppf(0.95))

    def loo_z_squared(self) -> torch.Tensor:
        """(n) each measurement's squared leave-one-out residual over its predictive variance,
        at this posterior's noise level and before the variance ratio."""
        return _loo_z_squared(self.cholesky, self.weights)

    def leaving_out(self, position: int) -> DevicePosterior:
        """This device conditioned on all its measurements but the one at ``position``."""
        others = torch.arange(self.count) != position
        return DevicePosterior(
            self.kernel,
            self.rows[others],
            self.log_latency[others],
            self.step_ms,
            self.prior_level,
            floor_checked=False,
        )

    def episode_nll(self, rows: torch.Tensor, log_latency: torch.Tensor) -> torch.Tensor:
        """([b]) mean negative log predictive density of held-out measured ratios (training
        objective; the Jacobian to log-latency does not depend on the hyperparameters)."""
        mean, var = self.latent(rows)
        obs = self.observation_variance(rows, var)
        ratio = self.ratio(rows, log_latency)
        return 0.5 * (torch.log(2 * math.pi * obs) + (ratio - mean) ** 2 / obs).mean(-1)


def _single_measurement_scale_var(
    covariance: torch.Tensor, noise: torch.Tensor, variance_ratio: torch.Tensor
) -> float:
    """The log scale's variance when it is one measurement's ratio: that arch's own deviation
    from the device's scale, its prior variance (noise included), but no more than
    ``SINGLE_ARCH_MAX_LOG_VAR``. Taken as exact, the scale made every other arch's interval
    too narrow: coverage90 0.70, 0.42 and 0.60 on pixel2, raspi4 and eyeriss from one random
    measurement (8 seeds), where two measurements give 0.94-1.00 and their residuals carry the
    scale's error."""
    deviation = float((covariance[0, 0] + noise[0]) * variance_ratio.reshape(()))
    return min(deviation, SINGLE_ARCH_MAX_LOG_VAR)


def _lognormal_interval(
    mean: torch.Tensor, var_log: torch.Tensor, quantile: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Central interval, ``quantile`` sds either side in log space, of log-normals with mean
    ``mean`` and log-variance ``var_log``."""
    median = mean * torch.exp(-var_log / 2)
    spread = torch.exp(quantile * var_log.sqrt())
    return median / spread, median * spread


def _mixture(
    moments: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], quantile: float
) -> tuple[torch.Tensor, ...]:
    """Mean, latent variance, measurement variance and central 90% interval (m each) of an
    equal-weight mixture of ratio predictives given as (mean, latent var, measurement var).

    Each component's interval is its mean +- ``quantile`` measurement sds (Student-t); in the
    mixture each is a Gaussian of that 90% width, and the bounds are the mixture's quantiles.
    """
    means, latent, measured = (torch.stack(parts) for parts in zip(*moments, strict=True))
    mean = means.mean(0)
    spread = ((means - mean) ** 2).mean(0)
    half_width = quantile * measured.sqrt()
    if len(moments) == 1:
        return mean, latent[0], measured[0], mean - half_width[0], mean + half_width[0]
    bounds = torch.stack([means - half_width, means + half_width], 1)  # K x 2 x m
    probabilities = torch.tensor([0.05, 0.95], dtype=mean.dtype)[:, None]
    lower, upper = _mixture_quantiles(
        means[:, None], half_width[:, None] / _Z95, probabilities, bounds
    )
    return mean, latent.mean(0) + spread, measured.mean(0) + spread, lower, upper


def _mixture_quantiles(
    means: torch.Tensor,
    sds: torch.Tensor,
    probabilities: torch.Tensor,
    component_quantiles: torch.Tensor,
) -> torch.Tensor:
    """(q x m) quantiles at (q x 1) ``probabilities`` of equal-weight Gaussian mixtures with
    (K x 1 x m) ``means`` and ``sds``, by bisection: each lies between the least and the
    largest of the components' own (K x q x m ``component_quantiles``)."""
    low, high = component_quantiles.min(0).values, component_quantiles.max(0).values
    for _ in range(_QUANTILE_BISECTIONS):
        middle = (low + high) / 2
        below = torch.special.ndtr((middle - means) / sds).mean(0) < probabilities
        low, high = torch.where(below, middle, low), torch.where(below, high, middle)
    return (low + high) / 2


def _variance_ratio(sum_of_squares: torch.Tensor, count: int, a0: float) -> torch.Tensor:
    """The variance ratio ([b x] 1) from ``count`` standardised squared residuals summing to
    ``sum_of_squares`` ([b x] 1): ``1 / E[1 / ratio]`` under its inverse-gamma posterior, the
    scale of the Student-t predictive (the posterior mean, ``(a0 + SS) / (a0 + n - 3)``, would
    not exist below 3 measurements). The prior, with ``a0`` pseudo-observations, is centred on
    1. The residuals are from the device's own scale estimate, which leaves ``count - 1``
    degrees of freedom."""
    return (a0 + sum_of_squares) / (a0 + count - 1)


def _marginal_variance_ratio(
    residual: torch.Tensor, weights: torch.Tensor, a0: float
) -> torch.Tensor:
    """The variance ratio from ``r^T K^-1 r`` (``a0``: the prior's pseudo-count)."""
    return _variance_ratio((residual * weights).sum(-2), residual.shape[-2], a0)


def _loo_variance_ratio(cholesky: torch.Tensor, weights: torch.Tensor, a0: float) -> torch.Tensor:
    """How much larger this device's errors are than the prior says (see _variance_ratio).

    Uses leave-one-out residuals, closed form for a GP: the i-th one over its predictive variance
    squared is ``[K^-1 r]_i^2 / [K^-1]_ii``. Unlike the marginal ``r^T K^-1 r`` they score
    predictions at held-out archs, which is what the intervals are for.

    Args:
        cholesky: ([b x] n x n) lower Cholesky factor of the measured covariance K (noise
            included).
        weights: ([b x] n x 1) ``K^-1 r`` for the residuals r from the prior mean.
        a0: the prior's pseudo-count (``LatencyKernel.variance_ratio_pseudo_count``).
    """
    z_squared = _loo_z_squared(cholesky, weights)
    return _variance_ratio(z_squared.sum(-1, keepdim=True), z_squared.shape[-1], a0)


def _loo_z_squared(cholesky: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """([b x] n) squared leave-one-out residuals over their predictive variances."""
    return weights[..., 0] ** 2 / torch.cholesky_inverse(cholesky).diagonal(dim1=-2, dim2=-1)


def _noise_level_log_joint(
    covariance: torch.Tensor, noise: torch.Tensor, residual: torch.Tensor, rows: torch.Tensor
) -> torch.Tensor:
    """([b x] G) unnormalised log posterior (log prior plus log evidence) of the device's noise
    level relative to the kernel's (the multiplier of ``noise``) on the grid
    ``_LOG_NOISE_LEVELS`` of its log, the prior variance's overall scale maximised out.

    Devices differ in noise far more than the shared kernel allows: fitted on 400 measurements
    each, the multiplier is below 0.03 on titan_rtx_256, fpga and eyeriss and 5-58 on most
    phones and Xeons. Ten measurements already tell these apart: residuals the covariance's
    structure explains are signal, independent ones are noise. But not sharply: on gold_6226
    with 10 random measurements the posterior spans three decades, and a point estimate of the
    level (the posterior mean of its log) gave intervals of +-2-3% on some draws and +-10-17% on
    others, where +-9% was right (coverage90 0.64-0.997 over 10 seeds). The conditioning uses
    that point estimate (with 5 measurements it ranked HELP's unseen devices better than the
    most probable level: mean Spearman 0.945 vs 0.942); predictions mix over the posterior.

    Args:
        covariance: ([b x] n x n) prior covariance K of the measured archs.
        noise: ([b x] n) their noise variances N at the kernel's level.
        residual: ([b x] n x 1) measured ratios minus the prior mean.
        rows: ([b x] n x D) their model rows.
    """
    if residual.shape[-2] > _NOISE_LEVEL_MAX_MEASUREMENTS:
        covariance, noise, residual = _value_ordered_sample(covariance, noise, residual, rows)
    residual = residual[..., 0]
    # With K~ = N^-1/2 K N^-1/2 = U diag(e) U^T, K + rho N has log-determinant
    # sum log(e + rho) (+ log|N|) and r^T (K + rho N)^-1 r = sum (U^T N^-1/2 r)^2 / (e + rho).
    inv_sd = noise.rsqrt()
    eigenvalues, vectors = torch.linalg.eigh(
        covariance * inv_sd[..., :, None] * inv_sd[..., None, :]
    )
    projected = ((vectors.mT @ (residual * inv_sd)[..., None])[..., 0] ** 2)[..., None, :]
    log_levels = _LOG_NOISE_LEVELS.to(residual.dtype)
    spectrum = eigenvalues.clamp_min(0.0)[..., None, :] + torch.exp(log_levels)[:, None]
    count = residual.shape[-1]
    quadratic = (projected / spectrum).sum(-1).clamp_min(torch.finfo(residual.dtype).tiny)
    # log|N| is the same at every level, but not for every kernel (its noise and scale): with
    # it the normaliser is the evidence that compares kernels (DevicePosterior.log_evidence).
    return -(
        0.5 * count * torch.log(quadratic / count)
        + 0.5 * torch.log(spectrum).sum(-1)
        + 0.5 * torch.log(noise).sum(-1, keepdim=True)
        + log_levels**2 / (2 * NOISE_LEVEL_PRIOR_SD**2)
    )


def _value_ordered_sample(
    covariance: torch.Tensor, noise: torch.Tensor, residual: torch.Tensor, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_noise_level_log_joint`'s arguments for a strided subset of a large device's
    measurements (the eigendecomposition is cubic), strided in the order of their residuals
    and rows. Strided in the order the caller gave them in, the subset depended on that order,
    and so did the device's noise level: raspi4's 1,000 measurements of HELP's table, shuffled,
    moved its predictions of other archs by up to 89% and their intervals' widths by 8%."""
    stride = math.ceil(residual.shape[-2] / _NOISE_LEVEL_MAX_MEASUREMENTS)
    keep = _value_order(residual[..., 0], rows)[..., ::stride]
    covariance = covariance.take_along_dim(keep[..., :, None], -2)
    covariance = covariance.take_along_dim(keep[..., None, :], -1)
    return covariance, noise.take_along_dim(keep, -1), residual.take_along_dim(keep[..., None], -2)


def _value_order(residual: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """([b x] n) positions of the measurements sorted by ([b x] n) ``residual``, ties by their
    ([b x] n x D) ``rows`` column by column: measurements equal in both are interchangeable."""
    order = torch.arange(residual.shape[-1]).expand(residual.shape)
    # Stable sorts from the least significant key to the most make the lexicographic order.
    for key in (*reversed(rows.unbind(-1)), residual):
        order = order.gather(-1, key.gather(-1, order).sort(stable=True).indices)
    return order


def _equal_mass_atoms(probabilities: torch.Tensor, count: int) -> tuple[float, ...]:
    """``count`` equally probable log noise levels standing for the grid posterior
    ``probabilities`` (G,): the mean log level of each of its ``count`` equal-mass slices, so
    that their mean is the posterior mean."""
    upper = probabilities.cumsum(0)
    lower = upper - probabilities
    edges = torch.linspace(0.0, 1.0, count + 1, dtype=probabilities.dtype)
    # G x count: how much of each grid point's mass falls in each slice.
    overlap = (
        torch.minimum(upper[:, None], edges[None, 1:])
        - torch.maximum(lower[:, None], edges[None, :-1])
    ).clamp_min(0.0)
    log_levels = _LOG_NOISE_LEVELS.to(probabilities.dtype)
    return tuple((count * (overlap * log_levels[:, None]).sum(0)).tolist())


class RelativeSources:
    """Averages a device's posterior over the hypotheses "source s is its relative".

    The shared prior variance of the source deviations is the sources' average, and with ten
    measurements raspi4 barely found its relative pixel3: it ranked at 0.937 (10 random
    measurements, 10 seeds), where copying pixel3's ranking gives 0.967. Each hypothesis adds
    ``beta * deviation_s(a)`` with ``beta ~ N(0, v)``, v a multiple of the shared variance, to
    the device's ratio. Given the measurements, beta is Gaussian and the hypothesis's evidence
    is a rank-one update of the GP's (Sherman-Morrison, the variance's overall scale maximised
    out as for the variance ratio), so one Cholesky factor prices them all. The prediction is
    the mixture's mean and variance (the spread between hypotheses included): a single kernel
    with the averaged boost instead made raspi4's intervals overconfident (coverage90 0.81
    against 0.86, 20 seeds).
    """

    def __init__(
        self,
        kernel: LatencyKernel,
        rows: torch.Tensor,
        cholesky: torch.Tensor,
        whitened: torch.Tensor,
        variance_ratio: torch.Tensor,
    ) -> None:
        """Args: the GP's measured ([b x] n x D) rows, the lower Cholesky factor of their
        covariance (noise included), ``L^-1 r`` for the residuals r, and the variance ratio."""
        if kernel.sources is None:
            raise ValueError("relative sources need a kernel with source deviations")
        self.kernel = kernel
        #: ([b x] n x S) L^-1 G for the measured archs' source deviations G.
        self.solved = torch.linalg.solve_triangular(
            cholesky, kernel.source_columns(rows), upper=False
        )
        spread = (self.solved**2).sum(-2)[..., None]  # [b x] S x 1: g^T K^-1 g
        overlap = (self.solved * whitened).sum(-2)[..., None]  # [b x] S x 1: g^T K^-1 r
        shared = kernel.scale * kernel.sources.variance.reshape(())
        #: (m,) the boosted prior variances of a source's deviation weight.
        self.variances = _RELATIVE_BOOSTS.to(rows.dtype) * shared
        #: ([b x] S x m) posterior probability of each source and boost (the rest: none).
        self.weights = _relative_weights(spread, overlap, whitened, self.variances)
        precision = 1 / self.variances + spread
        beta_mean, beta_var = overlap / precision, variance_ratio[..., None] / precision
        self.mean = (self.weights * beta_mean).sum(-1)  # [b x] S
        self.second_moment = (self.weights * (beta_var + beta_mean**2)).sum(-1)

    def averaged(
        self, rows: torch.Tensor, solved: torch.Tensor, mean: torch.Tensor, var: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mixture's ([b x] m) mean and variance at rows, from the GP's ``mean`` and
        ``var`` there (``solved``: L^-1 k(measured, rows))."""
        # Each deviation with what the measurements already explain of it removed.
        residualised = self.kernel.source_columns(rows) - solved.mT @ self.solved
        shift = (residualised @ self.mean[..., None])[..., 0]
        spread = (residualised**2 @ self.second_moment[..., None])[..., 0]
        return mean + shift, (var + spread - shift**2).clamp_min(1e-10)


def _relative_weights(
    spread: torch.Tensor, overlap: torch.Tensor, whitened: torch.Tensor, variances: torch.Tensor
) -> torch.Tensor:
    """([b x] S x m) posterior probabilities of "source s, boosted to variance v" for the m
    ``variances``; "no relative" has the rest.

    Args:
        spread, overlap: ([b x] S x 1) ``g^T K^-1 g`` and ``g^T K^-1 r`` per source deviation g.
        whitened: ([b x] n x 1) ``L^-1 r``.
    """
    tiny = torch.finfo(whitened.dtype).tiny
    quadratic = (whitened**2).sum((-2, -1)).clamp_min(tiny)[..., None, None]
    # Sherman-Morrison for K + v g g^T: the quadratic form loses v (g^T K^-1 r)^2 / (1 + v
    # g^T K^-1 g), the log-determinant gains log(1 + v g^T K^-1 g).
    boosted = (quadratic - variances * overlap**2 / (1 + variances * spread)).clamp_min(tiny)
    log_evidence = -0.5 * whitened.shape[-2] * torch.log(boosted / quadratic)
    log_evidence = log_evidence - 0.5 * torch.log1p(variances * spread)
    hypotheses = log_evidence.shape[-2] * log_evidence.shape[-1]
    log_prior = math.log(_RELATIVE_PRIOR / hypotheses) - math.log(1 - _RELATIVE_PRIOR)
    flat = (log_evidence + log_prior).flatten(-2)
    weights = torch.softmax(torch.cat([torch.zeros_like(flat[..., :1]), flat], -1), -1)
    return weights[..., 1:].unflatten(-1, log_evidence.shape[-2:])


def _robust_cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of ([b x] n x n) ``matrix``, with jitter added where needed."""
    jitter = 1e-8 * matrix.diagonal(dim1=-2, dim2=-1).mean()
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype)
    for _ in range(6):
        factor, info = torch.linalg.cholesky_ex(matrix + jitter * eye)
        if not info.any():
            return factor
        jitter *= 10
    raise GPInputError("covariance is not positive definite even with jitter")


# numpy converts what is no latency without a word: True became a measurement of 1 ms (a mask
# passed for the latencies, say), and "3.5" or b"3.5" (a CSV's cells unparsed) one of 3.5 ms.
_NOT_A_NUMBER = (
    "latencies must be real numbers (ms), not bools, complex numbers, strings, bytes or"
    " durations (numpy's count a duration in its own unit: divide by np.timedelta64(1, 'ms'))"
)


def _first_non_number(values: object) -> tuple[int, object] | None:
    """The position and value of the first bool, complex, str, bytes, numpy duration or None in
    ``values`` (a latency, or a list, tuple or array of them), or None. numpy makes a complex
    latency real with only a warning, and a duration its count of its own unit (5 ms in
    microseconds became 5,000 ms)."""
    if isinstance(values, torch.Tensor):
        if values.dtype != torch.bool and not values.is_complex():  # torch holds no strings
            return None
        values = values.tolist()
    elif isinstance(values, np.ndarray):
        if values.dtype.kind in "mM" and values.size:  # a duration's count, in its own unit
            return 0, values.flat[0]
        if values.dtype.kind not in "bcUSO":  # bool, complex, str, bytes, object: others are real
            return None
        values = values.tolist()
    if isinstance(values, list | tuple):
        for position, value in enumerate(values):
            if (found := _first_non_number(value)) is not None:
                return position, found[1]
        return None
    # None too: numpy made it NaN, reported as "latency nan ms", which named no None.
    non_number = (
        bool
        | np.bool_
        | complex
        | np.complexfloating
        | str
        | bytes
        | np.timedelta64
        | np.datetime64
        | None
    )
    return (0, values) if isinstance(values, non_number) else None


def check_numbers(values: object, where: Callable[[int], str]) -> None:
    """Raises InvalidMeasurementError naming the first value of ``values`` that is no real
    number (:func:`_first_non_number`) by ``where(its position)``, as :func:`check_latencies`
    names a bad latency."""
    if (found := _first_non_number(values)) is not None:
        position, value = found
        raise InvalidMeasurementError(f"{where(position)}: latency {value!r}: {_NOT_A_NUMBER}")


def as_latency_array(values: object, where: Callable[[int], str], whose: str = "") -> np.ndarray:
    """``values`` (latencies in ms: a sequence, array or tensor of any real dtype) as a float64
    array, unchecked beyond :func:`check_numbers`.

    Raises:
        InvalidMeasurementError: a value that is no real number, named by ``where``; or values
            numpy cannot read as numbers at all (``whose`` prefixes that message).
    """
    check_numbers(values, where)
    if isinstance(values, torch.Tensor):  # one that requires grad has no numpy(), bfloat16 none
        values = values.detach().cpu().to(torch.float64).numpy()
    try:
        # Contiguous: torch refused a reversed float64 array, a view of negative stride, which
        # np.asarray passes through (a review, 2026-12-06); a scalar stays 0-d, refused as one.
        array = np.asarray(values, dtype=np.float64)
        return np.ascontiguousarray(array) if array.ndim else array
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        raise InvalidMeasurementError(f"{whose}latencies must be numbers (ms)") from None


def check_latencies(
    latency_ms: np.ndarray | torch.Tensor | Sequence[float],
    where: Callable[[int], str] = lambda i: f"measurement {i}",
) -> torch.Tensor:
    """Validates measured latencies and returns their log as float64.

    Raises:
        InvalidMeasurementError: naming the first bad item by ``where(its position)``.
    """
    values = torch.as_tensor(as_latency_array(latency_ms, where))
    if (i := first_out_of_range(values.numpy())) is not None:
        raise InvalidMeasurementError(f"{where(i)}: latency {float(values[i])!r} ms {LATENCY_RULE}")
    return torch.log(values)


@dataclass
class FitSettings:
    """How the source hyperparameters are learned (defaults: 15-37 s for 13 devices on 2 cores)."""

    iterations: int = 300
    learning_rate: float = 0.04
    episodes_per_device: int = 2
    context_sizes: tuple[int, ...] = (5, 10, 10, 20, 40)
    query_size: int = 200
    rank: int = DEFAULT_RANK
    seed: int = 0

    def __post_init__(self) -> None:
        """Raises GPInputError naming a setting the fit cannot use: torch failed on them
        mid-fit (no context sizes, no episodes), or the fit silently did nothing (no query
        archs made its loss NaN)."""
        least = {"iterations": 0, "episodes_per_device": 1, "query_size": 1, "rank": 0, "seed": 0}
        sizes = {f"context_sizes[{i}]": (size, 1) for i, size in enumerate(self.context_sizes)}
        checks = {name: (getattr(self, name), bound) for name, bound in least.items()} | sizes
        for name, (value, bound) in checks.items():
            if not is_whole_number(value) or value < bound:
                raise GPInputError(
                    f"FitSettings.{name} must be a whole number >= {bound}, got {value!r}"
                )
        for name, most in (("rank", MAX_RANK), ("seed", MAX_FIT_SEED)):
            if getattr(self, name) > most:
                raise GPInputError(
                    f"FitSettings.{name} must be at most {most}, got {getattr(self, name)!r}"
                )
        if not self.context_sizes:
            raise GPInputError("FitSettings.context_sizes must name at least one size")
        rate = self.learning_rate
        # A str or None raised Python's bare TypeError, and True passed as 1.0 (a review).
        if not (is_real_number(rate) and _is_finite(rate) and rate > 0):
            raise GPInputError(f"FitSettings.learning_rate must be a positive number, got {rate!r}")

    def check_universe(self, num_archs: int) -> None:
        """Raises GPInputError naming a context size that leaves no arch of a universe of
        ``num_archs`` to score: each episode measures that many and is scored on the others.
        The fit's loss was NaN (a mean over no archs) and it went on learning nothing; 20,000
        of NB201's 15,625 archs also batched covariances of the whole universe (killed at 24 GB
        on a 23 GB machine)."""
        for i, size in enumerate(self.context_sizes):
            if size >= num_archs:
                raise GPInputError(
                    f"FitSettings.context_sizes[{i}] must be less than the {num_archs} archs"
                    f" of the universe (at least one is held out to score), got {size!r}"
                )


def _is_finite(value: float | int | np.floating | np.integer) -> bool:
    """math.isfinite, and False for an int beyond any float (10**400 raised OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class LatencyModel:
    """Shared hyperparameters plus the source basis; makes DevicePosteriors for any device.

    Attributes:
        warnings: what the model assumed of the data it was built from, for the caller to pass
            on to whoever sent that data (a vector feature taken as 0, say).
    """

    def __init__(
        self, kernel: LatencyKernel, features: ArchFeatures, warnings: tuple[str, ...] = ()
    ) -> None:
        self.kernel = kernel
        self.features = features
        self.warnings = warnings

    def posterior(
        self, index: torch.Tensor, latency_ms: np.ndarray | torch.Tensor, step_ms: float = 0.0
    ) -> DevicePosterior:
        """Conditions on measurements ``latency_ms`` (n,) of universe archs ``index`` (n,
        canonical indices)."""
        rows = self.features.universe_rows(torch.as_tensor(index, dtype=torch.long))
        return self.condition(rows, check_latencies(latency_ms), step_ms)

    @torch.no_grad()
    def condition(
        self, rows: torch.Tensor, log_latency: torch.Tensor, step_ms: float = 0.0
    ) -> DevicePosterior:
        """The posterior of a device measured at (n x D) model ``rows``, whose measured
        ``log_latency`` (n,) is in log ms, unchecked: :func:`check_latencies` makes it from ms,
        as :meth:`posterior` does."""
        return DevicePosterior(
            self.kernel, rows, log_latency, step_ms, prior_level=self.features.prior_level
        )

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
        settings.check_universe(log_latency.shape[1])
        step_ms = step_ms or [0.0] * len(devices)
        # Seeded for a reproducible fit, on a fork: the caller's own torch RNG stream goes on
        # where it was, rather than restarting from settings.seed after every fit.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            folds = _leave_one_out_features(log_latency, devices, universe_encoding, settings.rank)
            full = ArchFeatures.from_sources(log_latency, devices, universe_encoding, settings.rank)
            kernel = LatencyKernel(
                full.profile_dims, full.encoding_dims, full.relative_dims, full.source_dims
            )
            _optimise(kernel, folds, log_latency, step_ms, settings, progress)
            with torch.no_grad():
                scale = _typical_variance_ratio(kernel, folds, log_latency, step_ms, settings)
                kernel.scale.fill_(scale)
        return cls(kernel, full)


def _leave_one_out_features(
    log_latency: torch.Tensor, devices: list[str], encoding: torch.Tensor, rank: int
) -> list[ArchFeatures]:
    folds = []
    for held_out in range(len(devices)):
        keep = [i for i in range(len(devices)) if i != held_out]
        names = [devices[i] for i in keep]
        folds.append(
            ArchFeatures.from_sources(log_latency[keep], names, encoding, rank, len(devices))
        )
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
        # Episodes with the same context size are evaluated as one batch: a few large tensor
        # operations instead of ~26 small ones per step, whose overhead dominated the fit.
        by_context_size: dict[int, list[_Episode]] = {}
        for device in range(len(folds)):
            for _ in range(settings.episodes_per_device):
                pick = int(torch.randint(len(settings.context_sizes), (1,), generator=generator))
                n_context = settings.context_sizes[pick]
                index = torch.randperm(num_archs, generator=generator)
                index = index[: n_context + settings.query_size]
                episode = _Episode(device, index[:n_context], index[n_context:])
                by_context_size.setdefault(n_context, []).append(episode)
        losses = []
        for episodes in by_context_size.values():
            posterior = _episode_posterior(kernel, folds, log_latency, step_ms, episodes)
            query = _stacked(folds, log_latency, [(e.device, e.query) for e in episodes])
            losses.append(posterior.episode_nll(*query))
        loss = torch.cat(losses).mean()
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(iteration, float(loss.detach()))


@dataclass
class _Episode:
    """A few-shot task on a source device: measured ``context`` archs, held-out ``query``."""

    device: int
    context: torch.Tensor
    query: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))


def _episode_posterior(
    kernel: LatencyKernel,
    folds: list[ArchFeatures],
    log_latency: torch.Tensor,
    step_ms: list[float],
    episodes: list[_Episode],
) -> DevicePosterior:
    """The batch posterior of ``episodes`` (equal context sizes), each device in its fold
    (the basis without it), with the smooth estimates (marginal variance ratio, the kernel's
    noise level)."""
    rows, measured = _stacked(folds, log_latency, [(e.device, e.context) for e in episodes])
    steps = torch.tensor([[step_ms[e.device]] for e in episodes], dtype=rows.dtype)
    return DevicePosterior(kernel, rows, measured, steps, fitting=True)


def _stacked(
    folds: list[ArchFeatures],
    log_latency: torch.Tensor,
    picks: list[tuple[int, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(b x n x D) rows and (b x n) log-latencies of ``picks`` (device, n arch indices), each
    device's rows from its fold."""
    rows = torch.stack([folds[device].universe_rows(index) for device, index in picks])
    measured = torch.stack([log_latency[device, index] for device, index in picks])
    return rows, measured


# Measurements per calibration episode: the regime the product is used in.
_CALIBRATION_CONTEXT = 10
_CALIBRATION_EPISODES_PER_DEVICE = 4


def _typical_variance_ratio(
    kernel: LatencyKernel,
    folds: list[ArchFeatures],
    log_latency: torch.Tensor,
    step_ms: list[float],
    settings: FitSettings,
) -> float:
    """The geometric mean over source episodes of the leave-one-out variance ratio.

    Making it the kernel's scale centres the inverse-gamma prior on a target's ratio (on 1)
    on "a typical source device", as the fit sees it: at the kernel's own noise level. With
    each source's estimated level, as predictions have it, the typical ratio is about 0.66;
    with ``a0 = 0.1`` that moves a ratio by under 0.4%. Left at the fit's arbitrary scale,
    that prior outweighed the data of accurate devices: on HELP its pseudo-count alone
    tripled the ratio of titan_rtx_256, whose 90% intervals then held 99.9% of the
    measurements.
    """
    generator = torch.Generator().manual_seed(settings.seed + 1)
    episodes = []
    for device in range(len(folds)):
        for _ in range(_CALIBRATION_EPISODES_PER_DEVICE):
            context = torch.randperm(log_latency.shape[1], generator=generator)
            episodes.append(_Episode(device, context[:_CALIBRATION_CONTEXT]))
    posterior = _episode_posterior(kernel, folds, log_latency, step_ms, episodes)
    # Only the factor and weights are needed: the LOO ratio is averaged here in log space.
    z_squared = _loo_z_squared(posterior.cholesky, posterior.weights)
    # Over n - 1, as a target's ratio is (_variance_ratio): the scale is then the typical
    # source's ratio as a target's is estimated, and centres that estimate on 1.
    logs = torch.log(z_squared.sum(-1) / (_CALIBRATION_CONTEXT - 1))
    return math.exp(float(logs.mean()))
