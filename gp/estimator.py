"""One object that answers in architecture strings and milliseconds: what the service calls.

:class:`LatencyEstimator` holds one fitted :class:`~gp.model.LatencyModel` for NAS-Bench-201
(whose source tables cover the whole space) and prior-only models for spaces without source
tables (FBNet, caller vectors), and turns a device's measurements into predictions and
suggestions. It keeps no per-device state: callers pass the device's measurements each time,
so the service owns storage and versions.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Collection, Mapping, Sequence, Sized
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gp.active import StopCheck, select
from gp.data import quantization_step, unreadable_torch_file
from gp.errors import (
    GPInputError,
    InvalidArchitectureError,
    InvalidMeasurementError,
    NotFittedError,
)
from gp.model import (
    HAND_SET_VARIANCE_RATIO_PSEUDO_COUNT,
    ArchFeatures,
    DevicePosterior,
    FitSettings,
    LatencyKernel,
    LatencyModel,
    LatencyPrediction,
    _standardisation,
    as_latency_array,
    check_latencies,
    check_numbers,
)
from gp.outliers import SurprisingMeasurement, surprising_measurements
from gp.profiles import SourceProfiles
from gp.spaces import ArchLike, NASBench201Space, SearchSpace, VectorSpace
from gp.spaces.base import is_whole_number
from gp.spaces.nasbench201 import NUM_ARCHS, all_archs, arch_to_index

logger = logging.getLogger(__name__)

# Descriptor keys "latency:<arch>" are the device's latencies on NB201 reference architectures
# (HELP's hardware embedding); they condition an NB201 model exactly like measurements.
REFERENCE_LATENCY_PREFIX = "latency:"
# The fit holds each source out of the profile basis in turn, and a basis takes two devices.
MIN_SOURCE_DEVICES = 3
#: Revision of the fit (objective, features, saved state). Caches of a fitted estimator key on
#: it, so a fit made by older code is not reused after the model changes.
FIT_REVISION = 5
# Prior-only models (no source tables): a device's typical latency, 10 ms, within a factor 27
# either way at 90%. The tables at hand have medians of 3.7-26 ms (HELP's 27 NB201 devices, log
# sd 0.51) and 6-57 ms (FBNet on the VM at batch 1 and 8, runs 78-83), and a space without
# sources may run on devices of other classes. With no measurement (2026-12-06; 19 of HELP's
# tables, and those FBNet runs) an sd of 3 covered them as well (coverage90 0.999 and 1.000),
# but its point predictions, the log-normal's mean, were 68 and 16-150 times their latency (now
# 5.6 and 1.3-12; NLL 2.06 -> 1.70 and 2.04-2.22 -> 1.65-2.05); an sd of 1 covered batch-8
# FBNet (run 80) at 0.42 (docs/model-notes.md).
_PRIOR_LEVEL_LOG_MS = math.log(10.0)
_PRIOR_LEVEL_SD = 2.0
# Prior variance of the weight of a prior-only model's standardised layer count, before the
# variance ratio (see prior_only_model). From 10 random FBNet archs of the VM's runs at batch 1
# (20 draws each) the others ranked at 0.88-0.91 with 10, 0.87-0.90 with 0.3 and 0.85-0.88 with
# 0.1 (0.79-0.83 without the count), at batch 8 at 0.77, 0.76 and 0.77 (0.78 without). But on
# synthetic latencies proportional to FLOPs one design of 10 ranked the rest at 0.58 with 10,
# 0.89 with 0.3, 0.95 with 0.1 and 0.97 without (docs/model-notes.md).
_LAYER_COUNT_PRIOR_VARIANCE = 0.3
#: Archs whose column means and sds standardise a vector model's features: one has no spread.
MIN_STANDARDISING_ARCHS = 2
# A column whose standardising values differ by no more than this share of their magnitude is
# constant up to rounding (float32's is 6e-8: a vector sent once as float32, once as float64).
# Scaled by that spread, a depth of 0.3 written 0.1 + 0.2 on half the measured archs (sd 4e-17)
# put archs of depth 0.6 7e15 sds out, predicted at 1.5e14 ms from measurements of 2-96 ms.
_CONSTANT_RELATIVE_SPREAD = 1e-6
# The least sd a measured vector column is scaled by, relative to its mean's magnitude: 5%, so
# that a column that hardly varies is not a ruler of its rounding (features that tell archs
# apart, FLOPs or parameters, vary by far more over a device's measured archs).
_LEAST_RELATIVE_SD = 0.05
# A column whose standardising values are all at most this fraction (4 float64 epsilons) of the
# largest magnitude among them, in any column, is zero up to rounding: a - b of equal quantities no
# larger than the features is a few units in their last place. Scaled by its sd (1e-16), a
# column of 0 computed so put other archs' rounding (1e-14) 100 sds out, predicted at 0.2-2.6
# times their latency, against 0.985-1.011 with exact zeros. A genuine column is taken for such
# only 15 orders of magnitude below the largest feature (a depth of 1e-5 beside FLOPs of 1e9 is
# 14, a factor 11 above the line): the magnitudes the rounding came from are not in the matrix.
_ZERO_RELATIVE_MAGNITUDE = 4 * float(np.finfo(np.float64).eps)
#: Most distinct archs of a device the surprise check conditions on (see surprising): it
#: runs on every upload, and the load test's mix (service.loadtest) ran at 44 RPC/s with 200,
#: 51 with 100 and 61 without the check (2026-12-04, before its generalised ESD search).
SURPRISE_CHECK_MAX_ARCHS = 100


@dataclass
class Measurements:
    """A device's measurements in one search space: canonical arch strings and their
    latencies (ms), one per arch."""

    archs: list[str]
    latency_ms: np.ndarray

    def __post_init__(self) -> None:
        """Makes ``latency_ms`` a float array of one latency per arch: numpy would broadcast a
        single latency to every arch, and a 2-D one would make every prediction 2-D."""
        if isinstance(self.archs, str):
            # Its length is its characters': one arch was reported as "147 archs need as
            # many latencies".
            raise InvalidArchitectureError(
                "archs must be a list of architectures, got a single str; wrap it in a list"
            )
        self.archs = _in_order(self.archs)
        self.latency_ms = as_latency_array(self.latency_ms, lambda i: f"measurement {i}")
        if self.latency_ms.shape != (len(self.archs),):
            raise InvalidMeasurementError(
                f"{len(self.archs)} archs need as many latencies, "
                f"got latencies of shape {self.latency_ms.shape}"
            )

    @classmethod
    def empty(cls) -> Measurements:
        """No measurement: a device known by its descriptor alone (zero-shot)."""
        return cls([], np.zeros(0))

    def of_archs(
        self, kept: Collection[str], canonical: Sequence[str] | None = None
    ) -> Measurements:
        """The measurements, in their order, whose arch is one of ``kept``: compared as
        ``canonical`` spells each (one string per measurement), else as stored."""
        spelled = self.archs if canonical is None else canonical
        rows = [i for i, arch in enumerate(spelled) if arch in kept]
        return Measurements([self.archs[i] for i in rows], self.latency_ms[rows])


@dataclass
class Suggestion:
    """Archs chosen for measurement, in pick order, with their current prediction and the
    warnings of the models that chose and predicted them (:attr:`LatencyModel.warnings`)."""

    archs: list[str]
    prediction: LatencyPrediction
    warnings: tuple[str, ...] = ()


@dataclass
class SurpriseCheck:
    """Measured archs (canonical) whose latency a device's other measurements do not explain,
    with their surprise, most surprising first; and the warnings of the model that checked
    them (:attr:`LatencyModel.warnings`). The arch says which measurement a surprise is: its
    ``position`` counts the check's own sample of the device, not the caller's list."""

    found: list[tuple[str, SurprisingMeasurement]]
    warnings: tuple[str, ...] = ()


class LatencyEstimator:
    """Predicts and suggests for any device from its measurements (see module docstring).

    Attributes:
        tag: an opaque string kept with the fit, saved with it and restored by :meth:`load`
            ("" if none): a caller's name for what the fit was made from, so that it can tell
            its own fit from another's in a file.
    """

    def __init__(self, nasbench201: LatencyModel | None, tag: str = "") -> None:
        _check_tag(tag)
        self.nasbench201 = nasbench201
        self.tag = tag
        self._universe_rows: torch.Tensor | None = None

    # ---- fitting and persistence -------------------------------------------------------
    @classmethod
    def fit(
        cls,
        sources: Mapping[str, np.ndarray],
        settings: FitSettings | None = None,
        progress: Callable[[int, float], None] | None = None,
        tag: str = "",
    ) -> LatencyEstimator:
        """Fits on NB201 source devices.

        Args:
            sources: device name -> (15,625,) latencies in ms in canonical index order; devices
                with any NaN are skipped (the profile basis needs complete tables).
            settings: optimisation settings.
            progress: called as progress(iteration, loss).
            tag: the fit's :attr:`tag`.

        Raises:
            GPInputError: a table is not one latency per NB201 arch, or holds a latency out of
                range (the message names the source); ``tag`` is no str.
            NotFittedError: fewer than MIN_SOURCE_DEVICES complete tables.
        """
        _check_tag(tag)  # before the fit's minutes
        if not isinstance(sources, Mapping):
            raise GPInputError(
                f"sources must map each device's name to its table, got {type(sources).__name__}"
            )
        if not isinstance(settings, FitSettings | None):
            raise GPInputError(f"settings must be FitSettings, got {type(settings).__name__}")
        tables = {name: _source_table(name, table) for name, table in sources.items()}
        # NaN marks an arch not measured; an infinite latency is an error, reported below.
        complete = {n: t for n, t in tables.items() if not np.isnan(t).any()}
        skipped = sorted(set(sources) - set(complete))
        if skipped:
            logger.warning("not used as sources (incomplete tables): %s", ", ".join(skipped))
        if len(complete) < MIN_SOURCE_DEVICES:
            raise NotFittedError(
                f"fitting needs at least {MIN_SOURCE_DEVICES} complete NB201 source tables, "
                f"got {len(complete)}"
            )
        names = sorted(complete)
        log_latency = torch.stack(
            [check_latencies(complete[n], _naming_source_measurements(n)) for n in names]
        )
        encoding = NASBench201Space().encode(all_archs())
        steps = [quantization_step(complete[n]) for n in names]
        model = LatencyModel.fit(log_latency, names, encoding, steps, settings, progress)
        return cls(model, tag)

    def to_bytes(self) -> bytes:
        """The fitted state as a file's content: plain tensors, which :meth:`load` reads with
        weights_only=True. Bytes, not a file: writing it whole (a temporary file moved into
        place, as two servers may write one cache at once) is the caller's business."""
        if self.nasbench201 is None:
            raise NotFittedError("nothing to save: the estimator has no fitted model")
        _check_tag(self.tag)  # set since: saved all the same, the file failed to load
        model = self.nasbench201
        profiles, encoding_stats = model.features.profiles, model.features.encoding_stats
        if profiles is None or encoding_stats is None:
            raise NotFittedError("nothing to save: the model was not fitted on source tables")
        state = {
            "kernel": model.kernel.state_dict(),
            "profiles": {
                "devices": profiles.devices,
                "mean_cost": profiles.mean_cost,
                "directions": profiles.directions,
                "misfit": profiles.misfit,
                "deviations": profiles.deviations,
                "stats": torch.tensor(
                    [profiles.level_mean, profiles.level_sd, profiles.baseline_floor]
                ),
            },
            "encoding_stats": list(encoding_stats),
            "revision": FIT_REVISION,
            "tag": self.tag,
        }
        content = io.BytesIO()
        torch.save(state, content)
        return content.getvalue()

    @classmethod
    def load(cls, path: str | Path) -> LatencyEstimator:
        """The estimator whose :meth:`to_bytes` ``path`` holds.

        Raises:
            FileNotFoundError: no file at ``path``.
            NotFittedError: the file is not a saved estimator (another file, a truncated or
                older one), naming the path.
        """
        try:
            state = torch.load(path, weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:
            # As a dataset's files are read: a text file was "a refused pickle", a CSV or an
            # empty file named torch's internals ("IndexError: pop from empty list").
            problem = unreadable_torch_file(Path(path), exc)
            raise NotFittedError(
                f"{path} is not a saved estimator: {problem} (one is saved as"
                " Path(path).write_bytes(estimator.to_bytes()), not with torch.save)"
            ) from exc
        try:
            revision = state.get("revision") if isinstance(state, dict) else None
            if isinstance(state, dict) and "kernel" in state and revision != FIT_REVISION:
                # A fit of other code loaded whenever its tensors had the shapes of this one's.
                raise NotFittedError(
                    f"{path} is not a saved estimator of this code: fit revision {revision},"
                    f" not {FIT_REVISION} (fit it again)"
                )
            return cls._from_state(state)
        except NotFittedError:
            raise
        except Exception as exc:  # missing keys, shapes that do not fit
            raise NotFittedError(
                f"{path} is not a saved estimator ({type(exc).__name__}: {exc})"
            ) from exc

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> LatencyEstimator:
        tag = state.get("tag", "")  # files saved before tags were kept have none
        if not isinstance(tag, str):
            raise TypeError(f"its tag is a {type(tag).__name__}, not a str")
        p = state["profiles"]
        level_mean, level_sd, baseline_floor = p["stats"].tolist()
        profiles = SourceProfiles(
            p["devices"],
            p["mean_cost"],
            p["directions"],
            level_mean,
            level_sd,
            baseline_floor,
            misfit=p["misfit"],
            deviations=p["deviations"],
        )
        encoding = NASBench201Space().encode(all_archs())
        features = ArchFeatures(profiles, encoding, encoding_stats=tuple(state["encoding_stats"]))
        kernel = LatencyKernel(
            features.profile_dims,
            features.encoding_dims,
            features.relative_dims,
            features.source_dims,
        )
        kernel.load_state_dict(state["kernel"])
        return cls(LatencyModel(kernel, features), tag)

    # ---- rows --------------------------------------------------------------------------
    def model_for(
        self, space: SearchSpace, measured: Sequence[ArchLike] = (), pool: Sequence[ArchLike] = ()
    ) -> LatencyModel:
        """The fitted NB201 model, or a prior-only model for a space without sources; in the
        vector space its features are standardised by the ``measured`` archs' (they come in
        the caller's units, and the kernel is for features of unit scale), or while those are
        too few (:func:`standardises_by_pool`) by the candidate ``pool``'s, where one is given."""
        if isinstance(space, NASBench201Space) and self.nasbench201 is not None:
            return self.nasbench201
        standardising = pool if standardises_by_pool(space, measured) else measured
        if isinstance(space, VectorSpace) and len(standardising) >= MIN_STANDARDISING_ARCHS:
            return prior_only_model(space, standardise_by=space.encode(standardising))
        return prior_only_model(space)

    def rows(
        self, model: LatencyModel, space: SearchSpace, archs: Sequence[ArchLike]
    ) -> torch.Tensor:
        """(n x D) model rows; raises InvalidArchitectureError naming a malformed item."""
        if model is self.nasbench201:
            index = [arch_to_index(a) for a in space.canonicalize(archs)]
            return self.all_nasbench201_rows()[torch.tensor(index, dtype=torch.long)]
        return model.features.encoding_rows(space.encode(archs))

    def all_nasbench201_rows(self) -> torch.Tensor:
        """(15,625 x D) rows of the whole NB201 space, built once."""
        if self._universe_rows is None:
            if self.nasbench201 is None:
                raise NotFittedError("no NB201 model fitted")
            self._universe_rows = self.nasbench201.features.universe_rows(torch.arange(NUM_ARCHS))
        return self._universe_rows

    # ---- answers -----------------------------------------------------------------------
    def posterior(
        self,
        space: SearchSpace,
        measured: Measurements,
        descriptor: Mapping[str, float] | None = None,
        pool: Sequence[ArchLike] = (),
    ) -> tuple[LatencyModel, DevicePosterior]:
        """The device's model and posterior from its measurements and descriptor (an arch
        measured several times counts once, at its median latency); ``pool``: the candidates
        of a suggestion, which standardise a vector device's features while it has too few
        measurements to (:meth:`model_for`)."""
        _, _, model, posterior = self._conditioned(space, measured, descriptor, pool)
        return model, posterior

    def _conditioned(
        self,
        space: SearchSpace,
        measured: Measurements,
        descriptor: Mapping[str, float] | None,
        pool: Sequence[ArchLike] = (),
    ) -> tuple[list[str], np.ndarray, LatencyModel, DevicePosterior]:
        """:meth:`posterior`, with the canonical archs its measurements are of and their
        (median) latencies in ms, in order."""
        _check_device_inputs(space, measured)
        archs, latency = _with_reference_latencies(space, measured, descriptor)
        check_latencies(latency)  # names the bad one by its position in the caller's list
        step = quantization_step(latency)  # before medians of whole milliseconds halve them
        archs, latency = _one_per_arch(archs, latency)
        model = self.model_for(space, archs, pool)
        log_latency = check_latencies(latency)
        posterior = model.condition(self.rows(model, space, archs), log_latency, step)
        if model.features.layer_count is not None and posterior.log_evidence is not None:
            # Whether layers cost an overhead of their own is the device's to say: on the VM
            # at batch 1 they did, at batch 8 the direction cost the ranking (docs/model-notes.md).
            plain = prior_only_model(space, count_layers=False)
            alone = plain.condition(self.rows(plain, space, archs), log_latency, step)
            if _likelier(alone, than=posterior):
                model, posterior = plain, alone
        return archs, latency, model, posterior

    def predict(
        self,
        space: SearchSpace,
        archs: Sequence[ArchLike],
        measured: Measurements | None = None,
        descriptor: Mapping[str, float] | None = None,
    ) -> LatencyPrediction:
        """Predicts ``archs`` on a device known by ``measured`` (and ``descriptor``). The
        service takes the same two steps, :meth:`posterior` (cached per device version) and
        :meth:`~gp.model.DevicePosterior.predict` (``service.registry.Registry.predict``)."""
        measured = Measurements.empty() if measured is None else measured
        model, posterior = self.posterior(space, measured, descriptor)
        return posterior.predict(self.rows(model, space, archs))

    def surprising(
        self,
        space: SearchSpace,
        measured: Measurements,
        descriptor: Mapping[str, float] | None = None,
        among: Sequence[ArchLike] | None = None,
        others_too: bool = False,
    ) -> SurpriseCheck:
        """The measured archs (canonical) of ``among`` (default: all of them; reference archs
        are searched but not named) whose latency the device's other measurements do not
        explain, as :func:`~gp.outliers.surprising_measurements` finds them. ``others_too``
        also names the other measured archs the check found among its sample, e.g. a wrong
        measurement stored before the upload ``among`` is: it drags every prediction of the
        device, and only an upload of its own would have named it.

        The check conditions on its own sample of the device (:func:`surprise_check_sample`),
        not on the posterior predictions use: its cost grows with the cube of what it is
        conditioned on, and it runs on every upload. So beyond ``SURPRISE_CHECK_MAX_ARCHS``
        distinct archs in ``among`` only a fixed half of that many are checked: to check
        more, give ``among`` in parts of at most that size.
        """
        _check_device_inputs(space, measured)
        wanted = space.canonicalize(measured.archs if among is None else among)
        sample, checked = surprise_check_sample(space, measured, wanted)
        archs, latency_ms, model, posterior = self._conditioned(space, sample, descriptor)
        named = set(space.canonicalize(sample.archs)) if others_too else checked
        candidates = [i for i, arch in enumerate(archs) if arch in named]
        # The latency as measured, not the exp of its log: 5 ms came back as 4.999999999999999.
        found = [
            (archs[s.position], replace(s, measured_ms=float(latency_ms[s.position])))
            for s in surprising_measurements(posterior, candidates)
        ]
        return SurpriseCheck(found, model.warnings)

    def suggest(
        self,
        space: SearchSpace,
        count: int,
        measured: Measurements | None = None,
        candidates: Sequence[ArchLike] | None = None,
        strategy: str = "",
        descriptor: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> Suggestion:
        """Chooses ``count`` archs to measure next. The service takes the same steps
        (:func:`suggestion_pool`, :meth:`posterior`, :meth:`suggest_from`) with the device's
        cached posterior, outside its lock (``service.registry.Registry.suggest``).

        Args:
            candidates: the pool, less the archs the device is conditioned on (its
                measurements, however spelt, and the descriptor's reference archs); for NB201
                None means the whole space. Required for other spaces.
        """
        measured = Measurements.empty() if measured is None else measured
        _check_device_inputs(space, measured)
        if candidates is not None and not isinstance(candidates, Sized):
            candidates = list(candidates)  # one pass: counted and read as a list
        pool = suggestion_pool(space, candidates, measured, descriptor)
        _check_count_fits_pool(count, pool, candidates)
        model, posterior = self.posterior(space, measured, descriptor, pool)
        # A pool-standardised posterior picks; the device's own answers, as predict would.
        answered_by = (
            self.posterior(space, measured, descriptor)
            if standardises_by_pool(space, measured.archs)
            else None
        )
        return self.suggest_from(
            model, posterior, space, pool, count, strategy, seed, answered_by=answered_by
        )

    def suggest_from(
        self,
        model: LatencyModel,
        posterior: DevicePosterior,
        space: SearchSpace,
        pool: Sequence[str],
        count: int,
        strategy: str = "",
        seed: int = 0,
        stop: StopCheck | None = None,
        answered_by: tuple[LatencyModel, DevicePosterior] | None = None,
        measured: int | None = None,
    ) -> Suggestion:
        """Chooses ``count`` of the canonical archs ``pool`` given the device's posterior (for
        callers that keep posteriors, like the service; ``stop``: see :func:`select_active`).

        ``answered_by``: the model and posterior that predict the picks, where they are not the
        ones that chose them: the device's own, when a posterior standardised by the pool
        (:func:`standardises_by_pool`) chose them, whose variances were tens to thousands of
        times smaller than the device's predictions.

        ``measured``: the archs the device is conditioned on, where ``posterior`` is conditioned
        on a subsample of them (see :func:`~gp.active.select_active`)."""
        rows = self.rows(model, space, pool)
        picks = select(posterior, rows, count, strategy, seed, stop, measured)
        chosen = [pool[i] for i in picks]
        if answered_by is None:
            return Suggestion(chosen, posterior.predict(rows[picks]), model.warnings)
        own_model, own_posterior = answered_by
        prediction = own_posterior.predict(self.rows(own_model, space, chosen))
        warnings = tuple(dict.fromkeys(model.warnings + own_model.warnings))
        return Suggestion(chosen, prediction, warnings)


def _check_device_inputs(space: object, measured: object) -> None:
    """Raises GPInputError for a space or measurements of another type: a space's name or a
    dict of arch -> ms met an AttributeError naming internals (a review, 2026-12-06)."""
    if not isinstance(space, SearchSpace):
        raise GPInputError(
            f"space must be a SearchSpace (gp.spaces.get_space(name)), got {space!r}"[:200]
        )
    if not isinstance(measured, Measurements):
        raise GPInputError(
            f"measured must be Measurements(archs, latency_ms), got {type(measured).__name__}"
        )


def _naming_source_measurements(name: str) -> Callable[[int], str]:
    """What an error says about source ``name``'s ``i``-th latency."""
    return lambda i: f"source {name!r}: measurement {i}"


def _check_count_fits_pool(
    count: int, pool: Sequence[str], candidates: Sequence[ArchLike] | None
) -> None:
    """Raises GPInputError where ``count`` exceeds a pool that leaving out archs the device is
    conditioned on (and repeats) made smaller than the candidates offered: the bare "count
    must be between 1 and the pool size 1" for 4 candidates given did not say why."""
    offered = _offered(candidates)
    if isinstance(candidates, Sized) and len(candidates) == 0:  # was "the pool size 0"
        raise GPInputError("candidates is empty (None means the whole NB201 space)")
    if not is_whole_number(count) or len(pool) >= min(count, offered):
        return
    if candidates is None:
        given = f"NB201's {offered:,}"
    else:
        given = f"the {offered:,} given"
    raise GPInputError(
        f"count {count} is more than the {len(pool):,} candidates left of {given}: archs the"
        " device is measured on (or has reference latencies for) and repeats are left out"
    )


def _offered(candidates: Sequence[ArchLike] | None) -> int:
    """How many candidates a caller offered: NB201's archs for None."""
    return NUM_ARCHS if candidates is None else len(candidates)


def standardises_by_pool(space: SearchSpace, conditioned: Sequence[ArchLike]) -> bool:
    """Whether a device's model in ``space`` standardises its features by a suggestion's
    candidate pool: in the vector space, while the distinct archs it is ``conditioned`` on
    are too few to standardise by. Raw features made the picks depend on the caller's units.
    Such a posterior is the pool's: not one to keep for predictions.

    Other spaces answer before reading ``conditioned``: putting a source device's 15,625
    archs in canonical form on every SuggestSamples cost the load test (service.loadtest) a
    quarter of its throughput."""
    if not isinstance(space, VectorSpace):
        return False
    return len(set(space.canonicalize(conditioned))) < MIN_STANDARDISING_ARCHS


def surprise_check_sample(
    space: SearchSpace, measured: Measurements, wanted: Sequence[str]
) -> tuple[Measurements, set[str]]:
    """What the surprise check conditions on, and which of the ``wanted`` archs (canonical) it
    checks: ``measured`` (every repeat of an arch kept together) cut to at most
    ``SURPRISE_CHECK_MAX_ARCHS`` distinct archs, the checked ones (a fixed sample of half the
    cap where more are wanted) and a fixed sample of the others. Each checked arch is still
    predicted from 50 or more others: on HELP's unseen devices 20 or 50 random measurements
    found a wrong one as often as each other (README, "Client").

    The samples depend on the sets of archs only, not on the order they were uploaded in: the
    same measurements gave another verdict uploaded in another order."""
    canonical = space.canonicalize(measured.archs)
    if len(set(canonical)) <= SURPRISE_CHECK_MAX_ARCHS:
        return measured, set(wanted) & set(canonical)
    # In the space's order, as suggestion pools are: sorted as strings, a vector device's
    # sample changed with a feature's units (a review, 2026-12-06). Ordered only here: it
    # parses each arch again, on every upload.
    distinct = space.distinct_in_order(canonical)
    asked = set(wanted)
    checked = [arch for arch in distinct if arch in asked]
    rng = np.random.default_rng(0)
    half = SURPRISE_CHECK_MAX_ARCHS // 2
    if len(checked) > half:
        checked = [checked[i] for i in rng.choice(len(checked), half, replace=False)]
    kept = set(checked)
    others = [arch for arch in distinct if arch not in kept]
    room = SURPRISE_CHECK_MAX_ARCHS - len(kept)
    kept |= {others[i] for i in rng.choice(len(others), room, replace=False)}
    return measured.of_archs(kept, canonical), set(checked)


def suggestion_pool(
    space: SearchSpace,
    candidates: Sequence[ArchLike] | None,
    measured: Measurements,
    descriptor: Mapping[str, float] | None,
) -> list[str]:
    """The distinct candidates, or for NB201 (None) the whole space, less the archs the device
    is conditioned on (:func:`conditioned_archs`): the pool suggestions are chosen from, in
    the space's order (:meth:`~gp.spaces.base.SearchSpace.distinct_in_order`)."""
    if candidates is None:
        if not isinstance(space, NASBench201Space):
            raise GPInputError(f"search space {space.name!r} needs explicit candidates")
        return unconditioned_archs(space, measured, descriptor)
    known = conditioned_archs(space, measured, descriptor)
    # One arch spelt twice would be two candidates, and a batch could pick both. Ordered as the
    # space orders them: the draws and the scoring sample are positions in the pool, and a pool
    # built from a Python set came in another order in each process, with other picks for the
    # same seed (a review, 2026-12-06).
    return [arch for arch in space.distinct_in_order(candidates) if arch not in known]


def conditioned_archs(
    space: SearchSpace, measured: Measurements, descriptor: Mapping[str, float] | None
) -> set[str]:
    """Every arch a device's posterior is conditioned on, as canonical strings: its
    measurements and, in NB201, the descriptor's reference archs. None is worth suggesting
    again."""
    return set(_with_reference_latencies(space, measured, descriptor)[0])


def unconditioned_archs(
    space: NASBench201Space, measured: Measurements, descriptor: Mapping[str, float] | None
) -> list[str]:
    """NB201's archs, in index order, less those the device is conditioned on: the pool
    suggestions come from when no candidates are given."""
    known = conditioned_archs(space, measured, descriptor)
    return [arch for arch in all_archs() if arch not in known]


def _with_reference_latencies(
    space: SearchSpace, measured: Measurements, descriptor: Mapping[str, float] | None
) -> tuple[list[str], np.ndarray]:
    """The archs (canonical) and latencies a device is conditioned on: its measurements and, in
    NB201, the descriptor's reference latencies (their archs are NB201's; another space ignores
    them)."""
    if descriptor is not None and not (
        isinstance(descriptor, Mapping) and all(isinstance(k, str) for k in descriptor)
    ):  # an int key raised a bare AttributeError (a review, 2026-12-07)
        raise GPInputError("descriptor must be a mapping of str keys to numbers")
    reference = {
        key: value
        for key, value in (descriptor or {}).items()
        if key.startswith(REFERENCE_LATENCY_PREFIX)
    }
    # A caller may spell a measured arch otherwise ("1,2" for the vector "1.0,2.0").
    measured_archs = space.canonicalize(measured.archs)
    if not reference or not isinstance(space, NASBench201Space):
        return measured_archs, measured.latency_ms
    known = set(measured_archs)
    extra = [reference_latency(space, key, value) for key, value in reference.items()]
    extra = [(a, v) for a, v in extra if a not in known]
    archs = measured_archs + [a for a, _ in extra]
    latency = np.concatenate([measured.latency_ms, [v for _, v in extra]])
    return archs, latency


def _one_per_arch(archs: list[str], latency_ms: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Each distinct canonical arch once (in first-seen order) with the median of its
    latencies. The intervals are scaled by leave-one-out residuals: an arch's other copies
    predicted each left-out copy almost exactly, so repeats made every interval too narrow."""
    if len(set(archs)) == len(archs):
        return archs, latency_ms
    positions: dict[str, list[int]] = {}
    for position, arch in enumerate(archs):
        positions.setdefault(arch, []).append(position)
    medians = [np.median(latency_ms[rows]) for rows in positions.values()]
    return list(positions), np.asarray(medians, dtype=np.float64)


def _in_order(archs: Any) -> Any:
    """``archs`` where it is a sequence or an array; an indexed column (a pandas Series, which
    is no Sequence) as a list, as iterating it gives them, whatever its labels. A set, a
    mapping, or an iterator that can be read once has no order of its own: a set paired its
    archs with the latencies in an order that changed from one process to the next (string
    hashing): 2.1 ms or 19.8 ms (a review, 2026-12-07)."""
    if isinstance(archs, Sequence | np.ndarray | torch.Tensor):
        return archs
    indexed = hasattr(archs, "__getitem__") and hasattr(archs, "__len__")
    if not indexed or isinstance(archs, Mapping | AbstractSet):
        raise InvalidArchitectureError(
            f"archs must be a list of architectures in the latencies' order, got a"
            f" {type(archs).__name__}"
        )
    try:
        return list(archs)
    except (KeyError, IndexError, TypeError) as exc:  # labelled, without an iteration of its own
        raise InvalidArchitectureError(
            f"archs must be a list of architectures in the latencies' order; a"
            f" {type(archs).__name__} could not be read in order ({type(exc).__name__}: {exc})"
        ) from None


def _check_tag(tag: object) -> None:
    """Refuses a tag that is no str: one was saved all the same, and then the file could not
    be loaded (a review, 2026-12-06)."""
    if not isinstance(tag, str):
        raise GPInputError(f"tag must be a str, got a {type(tag).__name__}")


def reference_latency(space: SearchSpace, key: str, value: float) -> tuple[str, float]:
    """A descriptor's ``latency:<arch>`` entry as (canonical arch, ms); the service checks a
    registration's by this too. Errors name the key: checked among the measurements, a bad
    one was reported as a measurement the device has not got.

    Raises:
        InvalidArchitectureError: the key names no arch of ``space``.
        InvalidMeasurementError: the value is no latency (:data:`LATENCY_RULE`).
    """
    where = f"descriptor {key!r}"
    try:
        arch = space.canonical(key[len(REFERENCE_LATENCY_PREFIX) :])
    except InvalidArchitectureError as exc:
        raise InvalidArchitectureError(f"{where}: {exc}") from None
    check_numbers(value, where=lambda _: where)
    try:
        latency = float(value)
    except (TypeError, ValueError):
        raise InvalidMeasurementError(f"{where}: latency {value!r} is not a number") from None
    check_latencies([latency], where=lambda _: where)
    return arch, latency


def _source_table(name: str, table: np.ndarray) -> np.ndarray:
    """A source's table as (15,625,) floats; GPInputError naming the source otherwise (a short
    table failed deep in the fit's least squares, a 2-D one as "too few devices")."""
    # As every latency is read: a plain float conversion took durations, bools and strings.
    values = as_latency_array(table, _naming_source_measurements(name), f"source {name!r}: ")
    if values.shape != (NUM_ARCHS,):
        raise GPInputError(
            f"source {name!r}: expected {NUM_ARCHS} latencies (one per NB201 arch, in "
            f"canonical index order), got shape {values.shape}"
        )
    return values


def _units_free_standardisation(
    encoding: torch.Tensor, names: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Per-column mean and sd of (n x d) ``encoding`` (n >= 2; columns named ``names``), in
    which every arch's features are the same whatever their units, and the warnings for the
    caller (:attr:`~gp.model.LatencyModel.warnings`): a column constant over
    ``encoding`` has no spread to scale by, so it is scaled by :data:`_LEAST_RELATIVE_SD` of
    its magnitude, as one that varies by less (an arch's relative difference from the value;
    scaled by the whole magnitude, an arch 1.5 times the value was predicted at 4.56 ms
    [2.23, 6.90] where a column varying by a hair gave 6.46 [1.51, 17.61], and the latency was
    2.04; a review, 2026-12-06). Scaled by 1, as :func:`~gp.model._standardisation`
    does, a constant column kept the caller's units: an arch differing in it got intervals
    that grew with them (x1000: upper bounds of 300-1,450 ms for archs predicted at 10 ms,
    against 10-13 ms). A column constant at 0 has no magnitude either and still keeps them:
    left out instead, an arch differing only in it would be predicted as confidently as the
    measured arch it then equals. A column that varies only by rounding
    (:data:`_CONSTANT_RELATIVE_SPREAD`) is constant too, and one that is zero up to rounding
    (:data:`_ZERO_RELATIVE_MAGNITUDE`) is constant at 0, with a warning naming it."""
    mean, sd = _standardisation(encoding)
    spread = encoding.amax(0) - encoding.amin(0)
    constant = (spread <= _CONSTANT_RELATIVE_SPREAD * mean.abs()) & (mean != 0)
    magnitude = encoding.abs().amax(0)
    rounded_zero = (magnitude <= _ZERO_RELATIVE_MAGNITUDE * magnitude.max()) & (magnitude > 0)
    warnings: tuple[str, ...] = ()
    if rounded_zero.any():
        columns = ", ".join(names[j] for j in rounded_zero.nonzero()[:, 0].tolist())
        warnings = (
            f"vector features {columns}: 0 up to rounding (at most"
            f" {float(magnitude[rounded_zero].max()):.3g} in magnitude beside features of up to"
            f" {float(magnitude.max()):.3g}), taken as 0: archs that differ in them only by"
            " rounding are predicted alike",
        )
        logger.warning("%s", warnings[0])
    sd = torch.where(rounded_zero, 1.0, sd)
    # A column varying by less than a few percent of its size is not scaled by that spread
    # either: just above _CONSTANT_RELATIVE_SPREAD an arch differing in it lay thousands of sds
    # out, and was predicted at 3 ms with an interval of 0-3.2 ms where the measurements gave
    # 11 ms (a review, 2026-12-06).
    sd = torch.maximum(sd, _LEAST_RELATIVE_SD * mean.abs())
    return (
        mean,
        torch.where(constant & ~rounded_zero, _LEAST_RELATIVE_SD * mean.abs(), sd),
        warnings,
    )


def _likelier(posterior: DevicePosterior, than: DevicePosterior) -> bool:
    """Whether the measurements are likelier under ``posterior``'s kernel than ``than``'s
    (each device's own evidence, the noise level integrated out)."""
    if posterior.log_evidence is None or than.log_evidence is None:
        return False
    return bool(posterior.log_evidence > than.log_evidence)


def prior_only_model(
    space: SearchSpace,
    universe: torch.Tensor | None = None,
    standardise_by: torch.Tensor | None = None,
    count_layers: bool = True,
) -> LatencyModel:
    """A model for a space without source tables: a level prior, the space's analytic work as
    the baseline (where it has one), plus the encoding kernel.

    ``universe``: (N x d) encodings of archs to address by index (``posterior(index, ...)``,
    as the benchmark does); the rows are the same as from their encodings.
    ``standardise_by``: (n x d) encodings whose column means and sds standardise every arch's
    (a vector space's, whose units are the caller's; see :func:`_units_free_standardisation`);
    else encodings are taken as they are.
    ``count_layers``: False leaves out the direction of the space's layer count, if it has one
    (a device whose measurements are likelier without it gets this model).
    """
    work = None
    if space.work_feature is not None and space.typical_work is not None:
        work = (space.feature_names.index(space.work_feature), space.typical_work)
    counted = None
    if count_layers and space.layer_count_feature and space.layer_count_spread is not None:
        column = space.feature_names.index(space.layer_count_feature)
        counted = (column, *space.layer_count_spread)
    prior_level = (_PRIOR_LEVEL_LOG_MS, _PRIOR_LEVEL_SD)
    encoding_stats = None
    warnings: tuple[str, ...] = ()
    if standardise_by is not None:
        mean, sd, warnings = _units_free_standardisation(standardise_by, space.feature_names)
        encoding_stats = (mean, sd)
    elif universe is not None:
        # Encodings are taken as they are: identity statistics keep a universe's rows alike.
        encoding_stats = (
            torch.zeros(space.dim, dtype=universe.dtype),
            torch.ones(space.dim, dtype=universe.dtype),
        )
    features = ArchFeatures(None, universe, encoding_stats, prior_level, work, counted)
    kernel = LatencyKernel(features.profile_dims, space.dim)
    # The ratio to the device's median: archs of one space differ by a few-fold.
    variances = [0.05] + [_LAYER_COUNT_PRIOR_VARIANCE] * (counted is not None)
    with torch.no_grad():
        kernel.profile.raw_variance.copy_(
            kernel.profile.raw_variance_constraint.inverse_transform(
                torch.tensor(variances, dtype=kernel.profile.raw_variance.dtype)
            )
        )
        kernel.linear.variance = 0.01
        kernel.residual.outputscale = 0.25
        kernel.raw_noise.copy_(kernel.raw_noise_constraint.inverse_transform(torch.tensor(0.01)))
    kernel.variance_ratio_pseudo_count = HAND_SET_VARIANCE_RATIO_PSEUDO_COUNT
    return LatencyModel(kernel, features, warnings)
