"""``LatencyClient``: the Python face of the ``latency.v1.LatencyEstimator`` gRPC service.

Example::

    from client import LatencyClient

    with LatencyClient("127.0.0.1:50051") as latency:
        result = latency.predict("pi4", ["|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
                                         "|none~0|none~1|avg_pool_3x3~2|"])
        print(result.mean_ms, result.lower_ms, result.upper_ms)
        latency.register_device("jetson")  # pi4 (HELP's raspi4) has measured every NB201 arch
        for pick in latency.suggest("jetson", count=5):
            print(pick.arch, pick.mean_ms, pick.std_ms)

Each attempt of a call has a deadline (``timeout_s``); a call is retried with exponential
backoff when the server answers UNAVAILABLE (unreachable, or its model still loading) or is
busy (grpc's RESOURCE_EXHAUSTED "Concurrent RPC limit exceeded!", or the service's "server
busy: ..." when half its workers are choosing suggestions: :class:`~client.errors.ServerBusyError`),
an upload also when its deadline passed (its request id keeps a repeat from being stored
twice), and raises the typed errors of :mod:`client.errors` otherwise. Architectures may be
NB201 cell strings, FBNet block lists (or comma-joined strings) and feature vectors (sequences
or numpy rows); see :func:`to_architecture`.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any, SupportsIndex, overload

import grpc
import numpy as np
import numpy.typing as npt
from grpc_health.v1 import health_pb2, health_pb2_grpc

from client.errors import (
    LIBRARY_SETTINGS,
    AlreadyExistsError,
    ClientInputError,
    DeadlineExceededError,
    GenericServiceError,
    InvalidArgumentError,
    LatencyServiceError,
    NotFoundError,
    ResourceExhaustedError,
    ServerBusyError,
    UnavailableError,
    from_rpc_error,
    no_answer_within,
    rename_item,
    write_may_have_been_carried_out,
)
from client.grammar import decimal
from client.measure.networks import (
    FBNET_BLOCKS,
    FBNET_LAYERS,
    NB201_OPS,
    NB201_SIZE,
    format_nb201,
)
from client.settings import (
    COUNT_MAX,
    DEFAULT_RETRIES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT_S,
    ENV_TARGET,
    ENV_TIMEOUT,
    ENV_TLS,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    SEED_MAX,
    SWITCH_OFF,
    SWITCH_ON,
)
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.addresses import dialled_target_problem, target_problem
from service.certificates import certificates_problem
from service.grpc_callers import ENV_CA_CERT, MAX_DEADLINE_S
from service.names import composed, token_file_named, token_problem

logger = logging.getLogger(__name__)


#: Most archs per Predict request: well under the server's default limit (100,000).
DEFAULT_BATCH_SIZE = 20_000
#: How the service states its batch limit (service.servicer's _check_batch).
_REQUEST_LIMIT = re.compile(r"(\d+) (\w+) in one request exceed the limit of (\d+)")
MESSAGE_LIMIT_BYTES = 64 * 1024 * 1024
#: Most bytes of archs per Predict request: long feature vectors fill the 64 MiB messages
#: before the count limit does (20,000 vectors of 500 floats are 80 MB).
REQUEST_BUDGET_BYTES = 16 * 1024 * 1024
#: Attempts at a split prediction whose parts came from different model versions (the device
#: was measured meanwhile) before giving up.
CONSISTENT_ATTEMPTS = 3
#: Longest pause between two retries of an UNAVAILABLE call.
MAX_BACKOFF_S = 10.0
#: The failures any call is retried on. A ServerBusyError is safe to repeat even for a write:
#: grpc's server (``_handle_call`` in grpc/_server.py) rejects a call beyond its concurrency
#: limit before it runs the handler, or the interceptors' wrapped behaviour (token check,
#: access log), and the service's own busy answer (SuggestSamples only) comes before any of
#: its work, so nothing was done.
RETRIED: tuple[type[LatencyServiceError], ...] = (UnavailableError, ServerBusyError)
#: Those of a call a repeat of which has no further effect (an upload's request id): one
#: whose deadline passed may have been carried out, and a retry learns whether it was.
RETRIED_ON_IDEMPOTENT = (*RETRIED, DeadlineExceededError)
#: How long ``wait_until_ready`` waits for a server that cannot be reached yet.
DEFAULT_START_GRACE_S = 30.0
#: Shortest deadline of one of ``wait_until_ready``'s health checks, even at the end of its wait.
READINESS_PROBE_S = 1.0
#: What ``wait_until_ready`` may be waiting for, and how it reports giving up on each.
_STARTING, _LOADING = "start", "load its model"
_GAVE_UP = {_STARTING: "could not be reached", _LOADING: "is still loading its model"}

NB201 = "nasbench201"
FBNET = "fbnet"
VECTOR = "vector"
#: Why an NB201 arch cannot be given by its index, in the refusal and the warning that say so.
NB201_INDICES_UNTAKEN = (
    "NB201 archs are cell strings ('|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'), not indices:"
    " NAS-Bench-201's API, HELP's tables and this service each order the"
    f" {NB201_SIZE:,} archs differently"
)
#: Descriptor keys ``latency:<nb201 arch>`` hold reference latencies (ms).
REFERENCE_LATENCY_PREFIX = "latency:"

#: A number the client takes for a latency, a feature or a descriptor value: numpy's too,
#: which a type checker refused though they worked (a review, 2026-12-06).
RealLike = float | np.floating[Any] | np.integer[Any]
#: A whole number the client takes for a count or a seed.
WholeLike = int | np.integer[Any]
#: What :func:`to_architecture` accepts for one architecture.
ArchLike = str | Sequence[str] | Sequence[RealLike] | np.ndarray | pb.Architecture

#: The fields of a ``Prediction`` message, also those of :class:`Predictions`.
PREDICTION_FIELDS = ("mean_ms", "variance_ms2", "lower_ms", "upper_ms")


# ---- results ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Predictions:
    """Predicted latencies of n architectures on one device (read-only arrays of shape ``(n,)``).

    ``p[i]`` is arch i's :class:`Prediction` (floats); ``p[2:5]``, ``p[[0, 7]]`` and
    ``p[p.upper_ms < 20]`` are the :class:`Predictions` of those archs, of the same model.

    Attributes:
        mean_ms: posterior mean latency (ms).
        variance_ms2: posterior variance of the latency (ms^2).
        lower_ms, upper_ms: central 90% interval of a measurement (noise included); where
            the uncertainty is large, upper_ms is at least mean + 1.645 sd (see the .proto).
        model_version: changes whenever the fit or the device's data changes.
        warnings: what the service's model assumed of the device's data to answer (a vector
            feature taken as 0, say), once each; also logged, the first time this client gets
            each for the device.
    """

    mean_ms: np.ndarray
    variance_ms2: np.ndarray
    lower_ms: np.ndarray
    upper_ms: np.ndarray
    model_version: str = ""
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.mean_ms)

    # The dataclass's own == compared arrays as truth values (numpy's "ambiguous" ValueError).
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Predictions):
            return NotImplemented
        return (self.model_version, self.warnings) == (other.model_version, other.warnings) and all(
            np.array_equal(getattr(self, name), getattr(other, name)) for name in PREDICTION_FIELDS
        )

    __hash__ = None  # type: ignore[assignment]  # numpy arrays are mutable and unhashable

    def __post_init__(self) -> None:
        # Every way of making one keeps its arrays read-only: a pickled copy (a process
        # pool's), unpickled through __reduce__, was writable.
        for name in PREDICTION_FIELDS:
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.flags.writeable or not array.flags.owndata:
                # A caller's own array, or a view of one, stays theirs to edit.
                array = _read_only(array.copy())
            object.__setattr__(self, name, array)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # By class and keywords, so that a subclass with fields of its own comes back whole.
        # Its own __init__'s fields alone: one of init=False was refused as a keyword.
        values = {field.name: getattr(self, field.name) for field in fields(self) if field.init}
        return _rebuilt, (type(self), values)

    @property
    def std_ms(self) -> np.ndarray:
        """Posterior standard deviation (ms)."""
        return np.sqrt(self.variance_ms2)

    @property
    def median_ms(self) -> np.ndarray:
        """The posterior median (ms), see :func:`lognormal_median_ms`."""
        return lognormal_median_ms(self.mean_ms, self.variance_ms2)

    # An index array first: numpy types every ndarray as SupportsIndex (a 0-d one is), so
    # after the int overload p[mask] was typed a Prediction.
    @overload
    def __getitem__(  # type: ignore[overload-overlap]
        self, index: slice | Sequence[int] | np.ndarray
    ) -> Predictions: ...

    @overload
    def __getitem__(self, index: SupportsIndex) -> Prediction: ...

    def __getitem__(
        self, index: SupportsIndex | slice | Sequence[int] | np.ndarray
    ) -> Prediction | Predictions:
        """One arch's :class:`Prediction` for an int (negative from the end), or the
        :class:`Predictions` of the archs a slice, an array of ints or a boolean mask picks;
        numpy's rules and IndexError either way."""
        picked = {name: getattr(self, name)[index] for name in PREDICTION_FIELDS}
        if np.ndim(picked["mean_ms"]) == 0:
            return Prediction(
                **{name: float(value) for name, value in picked.items()},
                model_version=self.model_version,
            )
        if np.ndim(picked["mean_ms"]) != 1:  # numpy took it as more axes (a 2-d index, True)
            raise IndexError(f"expected an int, a slice, ints or a boolean mask, got {index!r}")
        columns = {name: _read_only(value) for name, value in picked.items()}
        return Predictions(**columns, model_version=self.model_version, warnings=self.warnings)

    def __iter__(self) -> Iterator[Prediction]:
        return (self[i] for i in range(len(self)))


@dataclass(frozen=True)
class Prediction:
    """The predicted latency of one architecture: ``predictions[i]`` of :class:`Predictions`.

    Attributes:
        mean_ms, variance_ms2, lower_ms, upper_ms, model_version: as in :class:`Predictions`,
            this arch's.
    """

    mean_ms: float
    variance_ms2: float
    lower_ms: float
    upper_ms: float
    model_version: str = ""

    @property
    def std_ms(self) -> float:
        """Posterior standard deviation (ms)."""
        return math.sqrt(self.variance_ms2)

    @property
    def median_ms(self) -> float:
        """The posterior median (ms), see :func:`lognormal_median_ms`."""
        return float(lognormal_median_ms(self.mean_ms, self.variance_ms2))


def lognormal_median_ms(mean_ms: npt.ArrayLike, variance_ms2: npt.ArrayLike) -> np.ndarray:
    """The posterior median under a log-normal reading of the mean and variance,
    ``mean^2 / median^2 = 1 + var / mean^2``: the better point estimate for relative error
    when the uncertainty is large (a device with no measurements, whose scale is log-normal).
    Once a device has measurements the service's latency is Gaussian and this is within
    ``sqrt(1 + var / mean^2)`` of its median, under 1% at a 14% sd."""
    mean, variance = np.asarray(mean_ms), np.asarray(variance_ms2)
    return mean / np.sqrt(1.0 + variance / mean**2)


@dataclass(frozen=True)
class Suggestion:
    """One architecture the service suggests measuring next, with its current prediction.

    Attributes:
        arch: the canonical arch string (a vector's comma-joined features), ready to pass back
            to ``add_measurements``.
        search_space: ``"nasbench201"``, ``"fbnet"`` or ``"vector"``.
        mean_ms, variance_ms2: the posterior mean (ms) and variance (ms^2) of its latency.
        features: the feature vector of a ``"vector"`` arch, else empty.
    """

    arch: str
    search_space: str
    mean_ms: float
    variance_ms2: float
    features: tuple[float, ...] = ()

    @property
    def std_ms(self) -> float:
        """Posterior standard deviation (ms)."""
        return math.sqrt(self.variance_ms2)

    @classmethod
    def from_message(cls, message: pb.Suggestion) -> Suggestion:
        """The pick a ``Suggestion`` message holds (:meth:`LatencyClient.suggest` makes them)."""
        return cls(
            arch=message.arch.arch,
            search_space=message.arch.search_space,
            mean_ms=message.mean_ms,
            variance_ms2=message.variance_ms2,
            features=tuple(message.arch.features),
        )


#: Suggestions a repr shows.
REPR_ITEMS = 3


@dataclass(frozen=True, repr=False)
class Suggestions(Sequence[Suggestion]):
    """The suggestions of one call, in pick order (a sequence of :class:`Suggestion`; a slice
    is :class:`Suggestions` too). ``model_version`` is the model that picked them; ``warnings``
    what the service's models assumed of the device's data to pick and answer them (as
    :attr:`Predictions.warnings`)."""

    items: tuple[Suggestion, ...]
    model_version: str = ""
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Suggestion: ...

    @overload
    def __getitem__(self, index: slice) -> Suggestions: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Suggestion | Suggestions:
        # A slice keeps .archs and .model_version (it was a bare tuple), and the overloads
        # give a type checker Suggestion for picks[0] rather than Any.
        if isinstance(index, slice):
            return Suggestions(self.items[index], self.model_version, self.warnings)
        return self.items[index]

    def __iter__(self) -> Iterator[Suggestion]:
        return iter(self.items)

    @property
    def archs(self) -> list[str]:
        """The suggested arch strings, in pick order."""
        return [item.arch for item in self.items]

    def __repr__(self) -> str:
        # The first few: every item printed 3 MB for 15,625 picks (a review, 2026-12-06).
        shown = ", ".join(repr(item) for item in self.items[:REPR_ITEMS])
        more = f", ... {len(self.items) - REPR_ITEMS} more" if len(self.items) > REPR_ITEMS else ""
        return (
            f"Suggestions(items=({shown}{more}), model_version={self.model_version!r},"
            f" warnings={self.warnings!r})"
        )


#: Smallest p-value a warning prints as a number: further out it tells the model's tails
#: (Student-t at 30 sds) rather than a chance to rely on; a unit slip printed "p=2e-171".
SMALLEST_P_SHOWN = 1e-6


def p_value_text(p_value: float) -> str:
    """``p=0.0004``, or ``p<1e-06`` below :data:`SMALLEST_P_SHOWN`."""
    return f"p<{SMALLEST_P_SHOWN:.0e}" if p_value < SMALLEST_P_SHOWN else f"p={p_value:.1g}"


@dataclass(frozen=True)
class SurprisingMeasurement:
    """An uploaded latency far outside what the device's other measurements predict for its
    arch (a two-sided p below 0.001, Bonferroni-adjusted over the device's measurements it
    was predicted among, and 1.5 times or more off).
    Often a mistake (a unit slip, a disturbed run), sometimes true of the device: the service
    stores it and uses it as measured either way.

    Attributes:
        arch, search_space: the arch, canonical.
        latency_ms: what the model uses: the median of the arch's measurements, so measuring
            it twice more outvotes one wrong value (or ``delete_measurements`` deletes it).
        expected_ms: the median the device's other measurements predict for it.
        lower_ms, upper_ms: their 90% interval.
        p_value: the chance of a measurement this far out among the device's (at most 100
            of them, the check's sample), were the model right.
    """

    arch: str
    search_space: str
    latency_ms: float
    expected_ms: float
    lower_ms: float
    upper_ms: float
    p_value: float

    @property
    def factor(self) -> float:
        """How many times larger or smaller than expected the latency is (1 or more)."""
        return max(self.latency_ms / self.expected_ms, self.expected_ms / self.latency_ms)

    def describe(self) -> str:
        """One line for a warning. The latency is the median of the arch's measurements, not
        necessarily one the user took: an arch measured 35 ms and then 3.5 ms was "measured
        19.24 ms"."""
        return (
            f"{self.arch} at {self.latency_ms:.4g} ms (the median of its measurements),"
            f" {self.factor:.1f}x off the {self.expected_ms:.4g} ms"
            f" (90%: {self.lower_ms:.4g}-{self.upper_ms:.4g}) the device's other measurements"
            f" predict ({p_value_text(self.p_value)})"
        )

    @classmethod
    def from_message(cls, message: pb.SurprisingMeasurement) -> SurprisingMeasurement:
        """The measurement a ``SurprisingMeasurement`` message names (as an upload's answer
        lists them)."""
        return cls(
            arch=message.arch.arch,
            search_space=message.arch.search_space,
            latency_ms=message.latency_ms,
            expected_ms=message.expected_ms,
            lower_ms=message.lower_ms,
            upper_ms=message.upper_ms,
            p_value=message.p_value,
        )


@dataclass(frozen=True)
class AddResult:
    """What AddMeasurements stored.

    Attributes:
        accepted: measurements stored by this call (an arch measured again counts again); a
            repeat under a stored ``request_id`` stores nothing and reports those stored then.
        device_total: the device's measurements in all search spaces after this call.
        model_version: the device's model version after this call (it changes with every
            upload that stores something).
        surprising: the archs of this upload whose latency the device's other measurements
            do not explain, most surprising first (none while the server's model loads: a
            warning then says the upload was not checked).
        surprising_before: the device's archs measured before this upload that the same
            check found: a wrong one drags every prediction, and is named on each upload
            until the arch has 3 measurements (measure it twice more); none on a retry of an
            upload stored before (its ``request_id``).
        warnings: what the model that checked the upload assumed of the device's data, as
            :attr:`Predictions.warnings`, or that no model could check it.
    """

    accepted: int
    device_total: int
    model_version: str
    surprising: tuple[SurprisingMeasurement, ...] = ()
    surprising_before: tuple[SurprisingMeasurement, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_message(
        cls, message: pb.AddMeasurementsResponse, warnings: tuple[str, ...] = ()
    ) -> AddResult:
        """An upload's answer, with the ``warnings`` its call carried
        (:meth:`LatencyClient.add_measurements` makes them)."""
        return cls(
            accepted=message.accepted,
            device_total=message.device_total,
            model_version=message.model_version,
            surprising=tuple(SurprisingMeasurement.from_message(m) for m in message.surprising),
            surprising_before=tuple(
                SurprisingMeasurement.from_message(m) for m in message.surprising_before
            ),
            warnings=warnings,
        )


@dataclass(frozen=True)
class DeleteResult:
    """What DeleteMeasurements deleted.

    Attributes:
        deleted: measurements deleted by this call, every one of each arch given and those
            of each pair's value (a repeat of a deletion under its ``request_id``: deleted
            then); 0 where the device had none of them, and then nothing changed.
        device_total: the device's measurements in all search spaces after this call.
        model_version: the device's model version after this call (it changes with every
            deletion that deletes something).
        source_table_incomplete: the device is a source of the server's fit, and the
            deletion left its NB201 table without an arch: the server's next start fits
            without it (its running fit keeps the deleted latencies until then).
        unmatched_archs: indices into the ``archs`` given of those the device had no
            measurement of (each deleted nothing); empty on a repeat under a ``request_id``,
            and from servers older than this field.
        unmatched_measurements: the same, into the ``measurements`` given: pairs whose arch
            had no measurement of exactly that latency.
    """

    deleted: int
    device_total: int
    model_version: str
    source_table_incomplete: bool = False
    unmatched_archs: tuple[int, ...] = ()
    unmatched_measurements: tuple[int, ...] = ()

    @classmethod
    def from_message(cls, message: pb.DeleteMeasurementsResponse) -> DeleteResult:
        """A deletion's answer (:meth:`LatencyClient.delete_measurements` makes them)."""
        return cls(
            deleted=message.deleted,
            device_total=message.device_total,
            model_version=message.model_version,
            source_table_incomplete=message.source_table_incomplete,
            unmatched_archs=tuple(message.unmatched_archs),
            unmatched_measurements=tuple(message.unmatched_measurements),
        )


@dataclass(frozen=True)
class DeviceInfo:
    """A registered device."""

    name: str
    aliases: tuple[str, ...] = ()
    descriptor: dict[str, float] = field(default_factory=dict)
    description: str = ""
    measurement_count: int = 0
    source: bool = False

    # The generated hash would hash the descriptor, a dict, and raise TypeError; equal devices
    # have equal names and counts, so this one agrees with ==.
    def __hash__(self) -> int:
        return hash((self.name, self.aliases, self.measurement_count))

    @property
    def reference_archs(self) -> frozenset[str]:
        """The NB201 archs of the descriptor's reference latencies (canonical, as the service
        stores them): its NB201 predictions are conditioned on them like on measurements."""
        prefix = REFERENCE_LATENCY_PREFIX
        return frozenset(key[len(prefix) :] for key in self.descriptor if key.startswith(prefix))

    @classmethod
    def from_message(cls, message: pb.Device) -> DeviceInfo:
        """The device a ``Device`` message describes (:meth:`LatencyClient.device` and
        :meth:`~LatencyClient.devices` make them)."""
        return cls(
            name=message.name,
            aliases=tuple(message.aliases),
            descriptor=dict(message.descriptor),
            description=message.description,
            measurement_count=message.measurement_count,
            source=message.source,
        )


def _rebuilt(cls: type[Predictions], values: dict[str, Any]) -> Predictions:
    """A pickled :class:`Predictions` (or subclass) made again, through its ``__post_init__``."""
    return cls(**values)


def request_limit(error: ResourceExhaustedError, what: str) -> int | None:
    """The most ``what`` ("archs", "candidates", ...) the server takes in one request, where
    ``error`` is its refusal of a request of more (of a server run with a low
    LATENCY_MAX_BATCH); None for another refusal."""
    found = _REQUEST_LIMIT.search(error.message)
    if found is None or found[2] != what or not 0 < int(found[3]) < int(found[1]):
        return None
    return int(found[3])


def _read_only(values: list[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    array.flags.writeable = False  # results are frozen: ``p.mean_ms *= 2`` raises, not edits
    return array


# ---- architectures ---------------------------------------------------------------------------
def infer_space(arch: str) -> str:
    """The search space a string names: ``|...|`` cells are NB201, all-number lists vectors,
    other comma lists FBNet blocks."""
    text = arch.strip()
    if text.startswith("|") or "," not in text:
        # Single tokens go to NB201 too: the server then names what is wrong with them.
        return VECTOR if _looks_numeric(text) else NB201
    tokens = [token.strip() for token in text.split(",")]
    return VECTOR if all(_looks_numeric(token) for token in tokens) else FBNET


def _looks_numeric(text: str) -> bool:
    """Whether ``text`` is meant as a number: what float() reads, "1_0" and other scripts'
    digits too, which are then refused as a vector's element ("must hold numbers: ... '1_0'")
    rather than read as FBNet blocks ("expected 22 blocks"; a review, 2026-12-06)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_architecture(arch: ArchLike, search_space: str | None = None) -> pb.Architecture:
    """The ``Architecture`` message of one arch.

    Args:
        arch: an NB201 cell string, an FBNet block list or comma-joined string, a feature
            vector (sequence of numbers or 1-d numpy array), an ``Architecture`` message, or
            a one-item sequence of an arch string (a row of a one-column table).
        search_space: forces the space; inferred per arch when None (see :func:`infer_space`).

    Raises:
        ClientInputError: ``arch`` is none of the above, or numbers with ``search_space``
            ``"nasbench201"`` (an index: NB201 archs are taken as cell strings only).
    """
    if isinstance(arch, pb.Architecture):
        return arch
    _check_space(search_space)
    if isinstance(arch, str):
        return _text_architecture(arch, search_space)
    return _items_architecture(_arch_items(arch, search_space), search_space)


def _text_architecture(arch: str, search_space: str | None) -> pb.Architecture:
    """The message of an arch given as text: a cell string, FBNet blocks or numbers."""
    _check_text(arch, "arch")
    inferred = infer_space(arch)
    if search_space == NB201 and inferred == VECTOR:
        raise _nb201_numbers_refused(repr(arch.strip()))
    space = search_space or inferred
    if space == VECTOR:
        return pb.Architecture(search_space=VECTOR, features=_floats(arch.split(",")))
    return pb.Architecture(search_space=space, arch=arch.strip())


def _arch_items(arch: object, search_space: str | None) -> list[Any]:
    """The items of an arch given as a sequence or 1-d array; refuses any other type."""
    if isinstance(arch, np.ndarray) and arch.ndim != 1:
        raise ClientInputError(f"an arch array must be 1-d, got shape {arch.shape}")
    if search_space == NB201 and _is_real(arch):
        raise _nb201_numbers_refused(str(arch))
    # bytes are a Sequence of ints: b"|...|" was sent as a feature vector of its byte values.
    if isinstance(arch, bytes | bytearray) or not isinstance(arch, Sequence | np.ndarray):
        raise ClientInputError(f"cannot send an arch of type {type(arch).__name__}")
    return list(arch)


def _items_architecture(items: list[Any], search_space: str | None) -> pb.Architecture:
    """The message of an arch given as items: a table row, FBNet blocks or numbers."""
    if len(items) == 1 and isinstance(items[0], str) and items[0].strip() not in FBNET_BLOCKS:
        # A row of a one-column table (csv.reader, fetchall(), a 2-d array of arch strings):
        # its string is the arch. An NB201 cell went as one FBNet block ("expected 22 blocks").
        return to_architecture(items[0], search_space)
    if _is_nb201_op_list(items):  # went as FBNet blocks: "expected 22 blocks, got 6"
        raise ClientInputError(
            f"a list of 6 NB201 ops is no arch: give its cell string, {format_nb201(items)!r}"
        )
    if items and all(isinstance(item, str) for item in items):
        # A csv.reader row of numbers is a vector, as the same text joined is, not FBNet
        # blocks ("expected 22 blocks, got 4"); any other strings are blocks, one alone too.
        joined = ",".join(items)
        numbers = infer_space(joined) == VECTOR
        return to_architecture(joined, search_space or (VECTOR if numbers else FBNET))
    space = search_space or VECTOR
    if space == VECTOR:
        return pb.Architecture(search_space=VECTOR, features=_floats(items))
    if space == NB201 and items and all(_is_real(item) for item in items):
        raise _nb201_numbers_refused(f"a sequence of {len(items)} number(s)")
    # Non-vector spaces given as numbers (e.g. FBNet block indices): the server parses the list.
    return pb.Architecture(search_space=space, arch=",".join(_block_text(item) for item in items))


def _is_nb201_op_list(items: list[Any]) -> bool:
    """Whether ``items`` are an NB201 cell's 6 edge ops, in the cell string's order."""
    return len(items) == 6 and all(isinstance(i, str) and i in NB201_OPS for i in items)


def _block_text(item: object) -> str:
    """An FBNet block as the server parses it: a whole float as its int. np.loadtxt reads
    block indices as 6.0, which the server refused ("unknown block '6.0'") after the warning
    of block indices had said to give search_space='fbnet' (a review, 2026-12-06)."""
    if _is_real(item) and math.isfinite(item) and float(item).is_integer():  # type: ignore[arg-type]
        return str(int(item))  # type: ignore[call-overload]
    return str(item)


def _nb201_numbers_refused(given: str) -> ClientInputError:
    """The refusal of numbers given as an NB201 arch: an index of one of the NB201 orders that
    disagree, most likely, which the server refused as a malformed cell string."""
    return ClientInputError(f"{given} is not an NB201 arch; {NB201_INDICES_UNTAKEN}")


def _warn_of_indices(
    messages: Sequence[pb.Architecture], search_space: str | None, archs: object = None
) -> None:
    """Warns when vectors were inferred from what reads as another space's indices: answered
    as a vector space the device has no measurements of, such an arch got the prior's guess
    (900 ms, sd 190,000 ms) silently. ``archs``: the argument ``messages`` were read from,
    whose form (one flat list) they no longer show; None where there is none."""
    if search_space is not None:
        return
    _warn_of_block_indices(messages)
    _warn_of_nb201_indices(messages, archs)


def _warn_of_block_indices(messages: Sequence[pb.Architecture]) -> None:
    """Warns of vectors of 22 whole numbers 0..8, HW-NAS-Bench's encoding of FBNet archs."""
    count = sum(1 for message in messages if _looks_like_block_indices(message.features))
    if count:
        logger.warning(
            "%d arch(s) of %d whole numbers 0..%d, read as feature vectors, look like FBNet"
            " block indices: give search_space='fbnet' (--space fbnet) for those, or 'vector'"
            " to keep them vectors",
            count,
            FBNET_LAYERS,
            len(FBNET_BLOCKS) - 1,
        )


def _looks_like_block_indices(features: Sequence[float]) -> bool:
    return len(features) == FBNET_LAYERS and all(
        value.is_integer() and 0 <= value < len(FBNET_BLOCKS) for value in features
    )


def _warn_of_nb201_indices(messages: Sequence[pb.Architecture], archs: object) -> None:
    """Warns of vectors that read as NB201 indices, which the service does not take: vectors
    of one whole number 0..15624, whatever its type (``client predict -d pi4 123``, a file of
    one index a line, rows ``[[5], [17]]``: a 1-feature encoding is rare), or ``archs``
    itself a flat list or 1-d array of ints (Python's or numpy's; floats are features)
    0..15624, read as one vector. A flat list of 0s and 1s only (one-hot and adjacency
    encodings) or of FBNet block indices (warned of on their own) is left alone; a real
    vector of whole numbers is kept quiet by search_space='vector'."""
    singles = sum(1 for message in messages if _looks_like_an_nb201_index(message.features))
    highest = NB201_SIZE - 1
    suspects = []
    if singles:
        suspects.append(f"{singles} arch(s) of one whole number 0..{highest}, read as vectors,")
    if _looks_like_nb201_indices(archs):
        suspects.append(f"archs, a flat list of whole numbers 0..{highest} read as one vector,")
    for suspect in suspects:
        logger.warning(
            "%s look like NB201 indices: %s; give cell strings, or search_space='vector'"
            " (--space vector) to keep them vectors",
            suspect,
            NB201_INDICES_UNTAKEN,
        )


def _looks_like_an_nb201_index(features: Sequence[float]) -> bool:
    return len(features) == 1 and features[0].is_integer() and 0 <= features[0] < NB201_SIZE


def _looks_like_nb201_indices(archs: object) -> bool:
    """``archs`` is a flat list or 1-d array of ints 0..15624, some above 1, that are not
    FBNet block indices (see :func:`_warn_of_nb201_indices`)."""
    if isinstance(archs, str | bytes | bytearray) or not isinstance(archs, Sequence | np.ndarray):
        return False
    if isinstance(archs, np.ndarray) and archs.ndim != 1:
        return False
    values = list(archs)
    return (
        len(values) > 1
        and all(_is_whole(value) and 0 <= value < NB201_SIZE for value in values)
        and max(values) > 1
        and not _looks_like_block_indices([float(value) for value in values])
    )


def _floats(items: Iterable[object]) -> list[float]:
    try:
        return [_float(item) for item in items]
    except (TypeError, ValueError, OverflowError) as exc:  # overflow: an int beyond 1e308
        hint = _pair_hint(items)
        raise ClientInputError(f"a feature vector must hold numbers: {exc}{hint}") from None


def _float(item: object) -> float:
    """A number (a vector element, a latency) as a float; text as
    :func:`client.grammar.decimal` reads it."""
    if isinstance(item, bytes | bytearray):  # np.bytes_ too: float() read b"1_0" as 10
        item = item.decode("ascii")  # UnicodeDecodeError is a ValueError: not a number
    if isinstance(item, str):
        return decimal(item)
    return float(item)  # type: ignore[arg-type]


def _pair_hint(items: Iterable[object]) -> str:
    """What to add where a "feature vector" is an arch string and a number: an ``(arch,
    latency_ms)`` pair given where archs were asked for."""
    pair = list(items)
    arch = pair[0] if len(pair) == 2 and _is_real(pair[1]) else None
    if isinstance(arch, str) and ("|" in arch or "," in arch):
        return (
            "; it is an arch and a number, as an (arch, latency_ms) pair is: give the archs"
            " alone (or the pairs as measurements, where a call takes them)"
        )
    return ""


def to_architectures(
    archs: ArchLike | Iterable[ArchLike], search_space: str | None = None
) -> list[pb.Architecture]:
    """Messages for many archs; a lone string, a flat list of numbers and a list of FBNet block
    names are one arch each, and a 2-d array one arch per row.

    Raises:
        ClientInputError: ``archs`` is not an arch or an iterable of them, or holds numbers
            with ``search_space`` ``"nasbench201"`` (see :func:`to_architecture`).
    """
    _check_space(search_space)
    if isinstance(archs, str | pb.Architecture):
        return [to_architecture(archs, search_space)]
    if search_space == NB201 and _is_real(archs):
        raise _nb201_numbers_refused(str(archs))
    if isinstance(archs, bytes | bytearray) or not isinstance(archs, Iterable):
        raise ClientInputError(
            f"archs must be an arch or an iterable of archs, got {type(archs).__name__}"
        )
    if isinstance(archs, Sequence) and _is_one_arch(archs):
        return [to_architecture(archs, search_space)]
    if isinstance(archs, np.ndarray):
        if archs.shape[:1] == (0,):  # as [] is: np.array([]) was one vector of no feature
            return []
        if archs.ndim not in (1, 2):  # a 0-d array cannot be iterated, a 3-d one has no rows
            raise ClientInputError(
                f"an archs array must be 1-d or 2-d (one arch per row), got shape {archs.shape}"
            )
        # One arch, as the same values in a list are: numbers, or FBNet block names.
        if archs.ndim == 1 and (archs.dtype.kind in "iuf" or _is_one_arch(archs.tolist())):
            return [to_architecture(archs, search_space)]
        if archs.ndim == 2 and archs.dtype.kind in "iuf" and search_space in (None, VECTOR):
            # The fast path for large feature matrices: one float list per row.
            return [pb.Architecture(search_space=VECTOR, features=row) for row in archs.tolist()]
    items = enumerate(archs)  # type: ignore[arg-type]
    return [_nth_architecture("arch", i, arch, search_space) for i, arch in items]


def _nth_architecture(
    what: str, index: int, arch: Any, search_space: str | None
) -> pb.Architecture:
    """``to_architecture``, whose refusal names the arch as the server's do (``arch 3: ...``):
    in a list of thousands, the type alone does not find it."""
    try:
        return to_architecture(arch, search_space)
    except ClientInputError as exc:
        raise ClientInputError(f"{what} {index}: {exc}") from None


def _seconds_from_env(text: str) -> float:
    """``$LATENCY_TIMEOUT``'s value: finite seconds above 0."""
    try:
        seconds = decimal(text)  # float() read "1_0" as 10 s (a review, 2026-12-06)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ClientInputError(f"{ENV_TIMEOUT}={text!r}: expected seconds above 0")
    return seconds


def _switch_from_env(name: str, text: str) -> bool:
    """An on/off variable's value, in the words the CLI's flags take from the environment."""
    word = text.strip().lower()
    if word not in SWITCH_ON | SWITCH_OFF:
        raise ClientInputError(f"{name}={text!r}: expected 1, true, yes or on (0, false, no, off)")
    return word in SWITCH_ON


def _is_real(value: object) -> bool:
    """A real number, numpy's included; not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_seconds(name: str, value: object) -> None:
    """A wait in seconds: a real number, 0 or more (infinity included: no limit); never NaN,
    which compares false with everything and would wait forever."""
    if not (_is_real(value) and value >= 0):  # type: ignore[operator]
        raise ClientInputError(f"{name} must be a number of seconds, 0 or more; got {value!r}")


def _is_whole(value: object) -> bool:
    """A whole number, numpy's included; not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise ClientInputError(f"{what} must be a string, got {type(value).__name__}")
    try:
        value.encode()
    except UnicodeEncodeError:
        # Bytes of a command-line argument that are not UTF-8 reach Python as lone surrogates,
        # which protobuf refused in a bare UnicodeEncodeError.
        raise ClientInputError(f"{what} {value!r} is not UTF-8 text") from None


def new_request_id() -> str:
    """A fresh id for a write, to give as its ``request_id`` where the caller must know it
    before the call ends (a call cut off by Ctrl-C carries none out)."""
    return uuid.uuid4().hex


def _request_id(request_id: object) -> str:
    """A write's id: the caller's, checked, or a fresh one for None. One id for a write and
    its retries: a retry after a lost answer is not carried out twice."""
    if request_id is None:
        return new_request_id()
    _check_text(request_id, "request_id")
    if not request_id:  # the wire's "no id": retries could carry the write out twice
        raise ClientInputError("request_id is empty: give None for a fresh one")
    return str(request_id)


def _alias_list(aliases: object) -> list[str]:
    """The aliases of ``register_device``: None or one string or an iterable of strings."""
    if aliases is None:
        return []
    if isinstance(aliases, str):
        return [aliases]
    if not isinstance(aliases, Iterable):
        raise ClientInputError(
            f"aliases must be a string or a sequence of strings, got {type(aliases).__name__}"
        )
    found = list(aliases)
    for alias in found:
        _check_text(alias, "alias")
    return found


def _measurements(
    name: str,
    pairs: Mapping[str, RealLike] | Iterable[tuple[ArchLike, RealLike]],
    search_space: str | None,
) -> list[pb.Measurement]:
    """The messages of ``(arch, latency_ms)`` pairs or a mapping arch -> latency_ms, the
    argument ``name``."""
    if not isinstance(pairs, Iterable):
        raise ClientInputError(
            f"{name} must be (arch, latency_ms) pairs or a mapping, got {type(pairs).__name__}"
        )
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return [_measurement(i, pair, search_space) for i, pair in enumerate(items)]


def _measurement(index: int, pair: object, search_space: str | None) -> pb.Measurement:
    """The message of one ``(arch, latency_ms)`` pair; errors name it by ``index``."""
    if isinstance(pair, str) or not isinstance(pair, Sequence | np.ndarray) or len(pair) != 2:
        raise ClientInputError(f"measurement {index}: expected an (arch, latency_ms) pair")
    arch, latency = pair
    try:
        if isinstance(latency, bool | np.bool_):  # float() makes True 1 ms
            raise TypeError
        # Text as the CLI reads it: float() took "1_0" as 10 ms (a review, 2026-12-06).
        latency_ms = _float(latency)
    except (TypeError, ValueError):
        message = f"measurement {index}: latency {latency!r} is not a number"
        raise ClientInputError(message) from None
    except OverflowError:  # an int beyond 1e308, whose repr is hundreds of digits
        raise ClientInputError(f"measurement {index}: latency is too large for a float") from None
    architecture = _nth_architecture("measurement", index, arch, search_space)
    return pb.Measurement(arch=architecture, latency_ms=latency_ms)


def _check_space(search_space: object) -> None:
    """A forced search space is a name; None lets each arch say."""
    if search_space is not None:
        _check_text(search_space, "search_space")


def _is_one_arch(items: Sequence[object]) -> bool:
    """A flat list of numbers (a feature vector), of FBNet block names (one block per layer) or
    of an NB201 cell's 6 ops (which :func:`to_architecture` refuses, naming the cell string:
    sent as 6 archs, the server said "arch 0: expected 3 groups"): no number, block name or
    op is an arch of its own."""
    if not items:
        return False
    if all(_is_real(item) for item in items) or _is_nb201_op_list(list(items)):
        return True
    return all(isinstance(item, str) and item.strip() in FBNET_BLOCKS for item in items)


def _check_token(token: object, label: str = "token") -> None:
    """A bearer token: a str the server would accept (service/names.py's rule, which it
    applies to its own); before, ``token=5`` was sent as "Bearer 5", ``""`` as no token, and
    one with a space or an accent failed every call, writes and reads alike."""
    _check_text(token, label)
    if problem := token_problem(label, token):  # type: ignore[arg-type]
        raise ClientInputError(problem)


def read_token(token_file: str | Path | None = None) -> str | None:
    """The bearer token: ``token_file``, else ``$LATENCY_TOKEN_FILE``, else ``$LATENCY_TOKEN``;
    stripped of surrounding whitespace, as the server strips its own.

    Raises:
        ClientInputError: the token file cannot be read, or the token is empty or holds
        whitespace or a character other than printable ASCII.
    """
    path = token_file or os.environ.get(ENV_TOKEN_FILE) or None
    if path is None:
        if not (token := os.environ.get(ENV_TOKEN)):
            return None
        label = f"${ENV_TOKEN}"
    else:
        label = token_file_named(path)
        try:
            token = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClientInputError(f"cannot read {label}: {exc.strerror}") from None
        except UnicodeDecodeError:  # a binary file: it was a traceback
            raise ClientInputError(f"{label} is not text") from None
    _check_token(token.strip(), label)
    return token.strip()


def read_ca_cert(path: str | Path) -> bytes:
    """The PEM bytes of the CA certificate at ``path``.

    Raises:
        ClientInputError: the file cannot be read, or holds no PEM certificate grpc can load
        (a DER file, say: see :func:`service.certificates.certificates_problem`).
    """
    try:
        certificates = Path(path).read_bytes()
    except OSError as exc:
        raise ClientInputError(f"cannot read CA certificate {path}: {exc.strerror}") from None
    if problem := certificates_problem(certificates, Path(path)):
        raise ClientInputError(problem)
    return certificates


def _check_root_certificates(root_certificates: object) -> None:
    """PEM bytes or None. A str is refused rather than encoded: it is as often a path (``ca_cert``
    and other libraries' ``verify=`` take one) as PEM text, and grpc's bare TypeError ("expected
    certificate to be bytes") named neither the argument nor what to pass."""
    if root_certificates is None:
        return
    if not isinstance(root_certificates, bytes):
        raise ClientInputError(
            "root_certificates must be the PEM bytes of CA certificates, got"
            f" {type(root_certificates).__name__}: read the file in binary"
            " (Path(...).read_bytes()) or give its path as ca_cert=PATH"
        )
    if problem := certificates_problem(root_certificates, "root_certificates"):
        if _names_a_file(root_certificates):
            problem += f"; {root_certificates!r} is a file's path: give it as ca_cert=PATH"
        raise ClientInputError(problem)


def _names_a_file(data: bytes) -> bool:
    """Whether ``data`` is the path of a file (a path's bytes passed for the file's)."""
    try:
        return b"\n" not in data and Path(os.fsdecode(data)).is_file()
    except (OSError, ValueError):  # too long a name, a NUL byte: certificates, not a path
        return False


def _check_client_settings(
    timeout_s: float, retries: int, backoff_s: float, batch_size: int
) -> None:
    """Refuses settings of the wrong type or range, naming them all in one message."""
    counts_ok = all(_is_whole(n) for n in (retries, batch_size))
    # NaN passes every comparison below, and a NaN or infinite deadline failed every call at
    # once with DEADLINE_EXCEEDED (a NaN backoff with grpc's bare ValueError).
    seconds_ok = all(_is_real(x) and math.isfinite(x) for x in (timeout_s, backoff_s))
    if not (counts_ok and seconds_ok) or (
        timeout_s <= 0 or retries < 0 or batch_size < 1 or backoff_s < 0
    ):
        raise ClientInputError(
            "timeout_s and batch_size must be positive, retries and backoff_s not negative"
            " (batch_size and retries whole numbers, timeout_s and backoff_s finite);"
            f" got timeout_s={timeout_s!r},"
            f" batch_size={batch_size!r}, retries={retries!r}, backoff_s={backoff_s!r}"
        )


def _open_channel(
    target: str, root_certificates: bytes | None, tls: bool, options: Sequence[tuple[str, Any]]
) -> grpc.Channel:
    """A TLS channel when ``root_certificates`` are given (trusting them) or ``tls`` is
    (trusting the system's CAs), else a plain one; either carries messages up to
    MESSAGE_LIMIT_BYTES."""
    channel_options = [
        ("grpc.max_send_message_length", MESSAGE_LIMIT_BYTES),
        ("grpc.max_receive_message_length", MESSAGE_LIMIT_BYTES),
        *_checked_options(options),
    ]
    if tls or root_certificates is not None:
        # None: grpc's default roots, the system's CAs (or $GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.secure_channel(target, credentials, options=channel_options)
    return grpc.insecure_channel(target, options=channel_options)


def _checked_options(options: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``options`` as a list of ``(name, value)`` pairs; grpc's own errors for anything else
    ("need more than 1 value to unpack") do not say which argument is wrong."""
    items = [] if isinstance(options, str) or not isinstance(options, Iterable) else list(options)
    # A value grpc takes: another raised its bare TypeError at the channel (a review).
    pairs = all(
        isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) and _is_option_value(i[1])
        for i in items
    )
    if not pairs or (options and not items):
        raise ClientInputError(
            f"options must be (name, value) pairs of grpc options, each value a str, bytes or"
            f" an int of C's int range; got {options!r}"
        )
    # numpy's integers as Python's: grpc took a numpy one without a word, and ignored it.
    return [
        (name, int(v) if isinstance(v, numbers.Integral | np.bool_) else v) for name, v in items
    ]


def _is_option_value(value: object) -> bool:
    """A value grpc's channel takes: a str, bytes, or a whole number (a bool included, numpy's
    too) that fits C's int; one beyond raised grpc's bare OverflowError (a review)."""
    if isinstance(value, np.bool_):
        return True
    if isinstance(value, numbers.Integral):
        return -(2**31) <= int(value) < 2**31
    return isinstance(value, str | bytes)


# ---- the client ------------------------------------------------------------------------------
class LatencyClient:
    """A connection to the latency service.

    Args:
        target: ``host:port`` of the server, or another grpc target (``unix:PATH``,
            ``dns:///host:port``); a port left empty or beyond 65535 is refused.
        token: bearer token sent as ``authorization`` metadata on every call (the server
            requires one for writes when it is configured so): printable ASCII without
            spaces, as the server requires. Never logged.
        root_certificates: PEM CA certificates, as bytes; a TLS channel is used when given.
        ca_cert: path of a PEM CA certificate file (instead of ``root_certificates``: not both).
        tls: connect by TLS, trusting the system's CAs, when neither is given (a server whose
            certificate a public CA signed); either of them implies TLS.
        timeout_s: deadline of each RPC attempt (default 30 s).
        retries: extra attempts of a call that failed with UNAVAILABLE or
            :class:`~client.errors.ServerBusyError` (the default 3 span about 3.5 s of
            backoff, less than a server's restart: see ``wait_until_ready``); uploads,
            deletions and registrations also when their deadline passed (a repeat of one the
            server carried out does nothing more).
        backoff_s: pause before the first retry; doubles (with jitter) up to 10 s.
        batch_size: most archs per Predict request; larger inputs are split transparently.
        options: extra gRPC channel options, ``(name, value)`` pairs.

    One client may be shared by threads (its gRPC channel is thread-safe). It cannot be
    pickled: the workers of a process pool each open their own (``LatencyClient.from_env()``).

    Raises:
        ClientInputError: a setting of the wrong type or range, or CA certificates
            (``ca_cert`` or ``root_certificates``) that cannot be read or hold no PEM certificate.
        Nothing is sent yet: an unreachable server fails the first call (or
        ``wait_until_ready``) with :class:`UnavailableError`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        root_certificates: bytes | None = None,
        ca_cert: str | Path | None = None,
        tls: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = 0.5,
        batch_size: int = DEFAULT_BATCH_SIZE,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        _check_text(target, "target")  # grpc's own refusal is a bare AttributeError
        if not target.strip():  # grpc accepts it and every call fails UNKNOWN
            raise ClientInputError(f"target is empty: give host:port, e.g. {DEFAULT_TARGET}")
        if target != target.strip():  # every call failed, after retries, "misformatted"
            raise ClientInputError(f"target {target!r} has spaces around it")
        # Only the port: a target may be any of grpc's, unlike the CLI's --target (host:port).
        if problem := target_problem(target):
            raise ClientInputError(f"target {problem}")
        _check_client_settings(timeout_s, retries, backoff_s, batch_size)
        if root_certificates is not None and ca_cert is not None:  # ca_cert was ignored
            raise ClientInputError(
                "give root_certificates or ca_cert, not both: which CA to trust is ambiguous"
            )
        _check_root_certificates(root_certificates)
        if not isinstance(tls, bool):  # "no" would have been true
            raise ClientInputError(f"tls must be True or False, got {type(tls).__name__}")
        if token is not None:
            _check_token(token)
        self._closed = False
        self.target = target
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.batch_size = int(batch_size)
        self._metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
        if ca_cert is not None:
            root_certificates = read_ca_cert(ca_cert)
        self._channel = _open_channel(target, root_certificates, tls, options)
        self._stub = pb_grpc.LatencyEstimatorStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        # (device, text) of the service's warnings logged so far: a NAS loop predicting
        # thousands of times would otherwise log the same assumption on every call.
        self._logged_warnings: set[tuple[str, str]] = set()

    @classmethod
    def from_env(cls, **overrides: Any) -> LatencyClient:
        """A client configured like the CLI: ``$LATENCY_TARGET``, the token from
        ``$LATENCY_TOKEN_FILE`` or ``$LATENCY_TOKEN``, ``$LATENCY_CA_CERT``,
        ``$LATENCY_TLS``, ``$LATENCY_TIMEOUT``; ``overrides`` win."""
        settings: dict[str, Any] = {"target": os.environ.get(ENV_TARGET) or DEFAULT_TARGET}
        # The CLI's check of a host and port: a host alone was dialled at port 443 (a review,
        # 2026-12-06). A grpc URI (dns:///host:port), which the CLI does not take, is grpc's.
        if "target" not in overrides and (problem := dialled_target_problem(settings["target"])):
            raise ClientInputError(f"${ENV_TARGET}: {problem} (e.g. {DEFAULT_TARGET})")
        # A given one alike: the example's --target 127.0.0.1 waited 30 s for port 443.
        given = overrides.get("target")
        if isinstance(given, str) and (problem := dialled_target_problem(given)):
            raise ClientInputError(f"target {given!r}: {problem} (e.g. {DEFAULT_TARGET})")
        # Given certificates stand for $LATENCY_CA_CERT, as a given token for the token's
        # variables: with both, the client would refuse the pair.
        if "root_certificates" not in overrides:
            settings["ca_cert"] = os.environ.get(ENV_CA_CERT) or None
        # A given token leaves $LATENCY_TOKEN_FILE unread: a stale path must not refuse it.
        if "token" not in overrides:
            settings["token"] = read_token()
        if "tls" not in overrides and (tls := os.environ.get(ENV_TLS)):
            settings["tls"] = _switch_from_env(ENV_TLS, tls)
        if "timeout_s" not in overrides and (timeout := os.environ.get(ENV_TIMEOUT)):
            settings["timeout_s"] = _seconds_from_env(timeout)
        settings.update(overrides)
        return cls(**settings)

    def __reduce__(self) -> Any:
        # What pickle said of the channel ("no default __reduce__ due to non-trivial
        # __cinit__") named neither the client nor what to do instead.
        raise TypeError(
            "a LatencyClient cannot be pickled (it holds an open gRPC channel): open one in"
            " each process, e.g. with LatencyClient.from_env()"
        )

    def __repr__(self) -> str:  # leaves the token out
        return f"LatencyClient(target={self.target!r}, timeout_s={self.timeout_s})"

    # ---- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Closes the channel. Calling it again does nothing; a call still in flight in another
        thread, and any call made afterwards, raises :class:`ClientInputError` ("... is
        closed"). ``with`` closes on exit."""
        self._closed = True
        self._channel.close()

    def __enter__(self) -> LatencyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---- transport ---------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        request: Any,
        stub: Any = None,
        *,
        idempotent: bool = False,
        retries: int | None = None,
        timeout_s: float | None = None,
        on_retry: Callable[[LatencyServiceError], None] | None = None,
    ) -> Any:
        """One RPC with a deadline; UNAVAILABLE and a busy server are retried, every failure
        raised typed.

        ``stub``: the service that has ``method``, the latency service when None.
        ``idempotent``: a repeat has no further effect (an upload's request id), so a call
        whose deadline passed, and which the server may have carried out, is retried too.
        ``retries``, ``timeout_s``: this call's, instead of the client's.
        ``on_retry``: told each error that is retried.
        """
        retries = self.retries if retries is None else retries
        delay = self.backoff_s
        waits = 0  # attempts that waited out their deadline, not those refused at once
        for attempt in range(retries + 1):
            # Checked before every attempt: another thread may close the client during a
            # backoff, and grpc then raises a bare ValueError.
            if self._closed:
                raise self._closed_error()
            try:
                rpc = getattr(self._stub if stub is None else stub, method)
                deadline_s = self.timeout_s if timeout_s is None else timeout_s
                deadline_s = min(deadline_s, MAX_DEADLINE_S)
                return rpc(request, timeout=deadline_s, metadata=self._metadata)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, method, self.target)
                if self._closed and error.code == "CANCELLED":  # closed while in flight
                    raise self._closed_error() from None
            except ValueError:  # "Cannot invoke RPC on closed channel!": closed just now
                if not self._closed:
                    raise
                raise self._closed_error() from None
            waits += isinstance(error, DeadlineExceededError)
            retryable = RETRIED_ON_IDEMPOTENT if idempotent else RETRIED
            if not isinstance(error, retryable) or attempt == retries:
                if isinstance(error, DeadlineExceededError):
                    error.waited = (deadline_s, waits)
                    error.message += no_answer_within(*error.waited, LIBRARY_SETTINGS)
                raise error
            # Jitter keeps many clients from retrying in lock-step after a restart.
            pause = delay * random.uniform(0.75, 1.25)
            logger.info("%s: %s; retry %d in %.1f s", method, error, attempt + 1, pause)
            if on_retry is not None:
                on_retry(error)
            time.sleep(pause)
            delay = min(delay * 2, MAX_BACKOFF_S)
        raise AssertionError("unreachable")  # pragma: no cover

    def _closed_error(self) -> ClientInputError:
        return ClientInputError(f"this LatencyClient ({self.target}) is closed")

    def wait_until_ready(
        self,
        timeout_s: float,
        on_wait: Callable[[str], None] | None = None,
        poll_s: float = 1.0,
        start_grace_s: float = DEFAULT_START_GRACE_S,
    ) -> None:
        """Returns once the server reports SERVING (its model is loaded), waiting at most
        ``timeout_s``.

        A freshly started server fits its model before it answers Predict or SuggestSamples;
        work that takes minutes on the client side (timing networks) should not start before.
        A server without the gRPC health service is taken as ready.

        Args:
            timeout_s: longest wait for a server that is up but still loading.
            on_wait: told, with a sentence to show, when waiting starts and when what is
                awaited changes (the server starting, then loading its model).
            poll_s: pause between two health checks.
            start_grace_s: longest wait (within ``timeout_s``) for a server that cannot be
                reached yet: one started moments ago binds its port only after its imports
                (4 s on a 2-core VM), while a mistyped address should fail soon.

        Raises:
            UnavailableError: the server could not be reached within ``start_grace_s``, or
            is still not SERVING after ``timeout_s`` (each health check is one attempt, not
            retried, so the wait overruns these by at most a second).
            ClientInputError: a wait that is negative, NaN or not a number.
        """
        for name, value in (
            ("timeout_s", timeout_s),
            ("poll_s", poll_s),
            ("start_grace_s", start_grace_s),
        ):
            _check_seconds(name, value)
        started = time.monotonic()
        told = ""
        # The grace runs from when the server stopped answering: from the wait's start, a
        # server restarted late in a long load was given up at its first failed probe (a
        # review, 2026-12-06).
        unreachable_since: float | None = None
        probed = started
        while (pending := self._readiness(started + timeout_s)) is not None:
            now = time.monotonic()
            if pending != _STARTING:
                unreachable_since = None
            elif unreachable_since is None:
                unreachable_since = probed  # down since the probe that failed was sent
            left = started + timeout_s - now
            if unreachable_since is not None:
                left = min(left, unreachable_since + start_grace_s - now)
            if left <= 0:
                limit = min(timeout_s, start_grace_s) if pending == _STARTING else timeout_s
                raise UnavailableError(
                    f"the latency service at {self.target} {_GAVE_UP[pending]} after {limit:.0f} s",
                    method="Check",
                    target=self.target,
                )
            if pending != told and on_wait is not None:
                on_wait(f"waiting for the latency service at {self.target} to {pending}")
            told = pending
            time.sleep(min(poll_s, left))
            probed = time.monotonic()

    def _readiness(self, deadline: float) -> str | None:
        """None when the server can take work, else what it is still doing (``_STARTING`` or
        ``_LOADING``).

        One probe, not retried and due by ``deadline`` (``time.monotonic()``; at least
        READINESS_PROBE_S): ``wait_until_ready`` polls itself, and the client's own retries and
        deadline would overrun its ``timeout_s`` and ``start_grace_s`` by seconds.
        """
        probe_s = min(self.timeout_s, max(deadline - time.monotonic(), READINESS_PROBE_S))
        request = health_pb2.HealthCheckRequest()
        try:
            reply = self._call("Check", request, stub=self._health, retries=0, timeout_s=probe_s)
        except (UnavailableError, DeadlineExceededError):  # a server that hangs is not up yet
            return _STARTING
        except GenericServiceError as error:
            if error.code == "UNIMPLEMENTED":
                return None
            raise
        return None if reply.status == health_pb2.HealthCheckResponse.SERVING else _LOADING

    # ---- RPCs --------------------------------------------------------------------------------
    def predict(
        self,
        device: str,
        archs: ArchLike | Iterable[ArchLike],
        search_space: str | None = None,
    ) -> Predictions:
        """Predicts the latency of ``archs`` on ``device`` (name or alias), in input order.

        Args:
            device: the device's name or alias.
            archs: one arch or many (see :func:`to_architectures`); split into requests of at
                most ``batch_size``.
            search_space: forces the space of every arch; inferred per arch when None.

        Returns:
            :class:`Predictions`: arrays of shape ``(n,)`` (float64, ms and ms^2), one entry
            per arch in input order, and the ``model_version`` that made them all.

        Raises:
            NotFoundError: unknown device. InvalidArgumentError: a malformed arch (the message
            names its index in ``archs``, from 0). GenericServiceError (``ABORTED``): the
            parts of a split prediction kept coming from different model versions.
            ClientInputError: ``device`` or ``archs`` of the wrong type.
        """
        _check_text(device, "device")
        messages = to_architectures(archs, search_space)
        _warn_of_indices(messages, search_space, archs)
        for _ in range(CONSISTENT_ATTEMPTS):
            replies = self._predict_batches(device, messages)
            versions = {reply.model_version for reply in replies}
            if len(versions) == 1:
                break
            logger.info("%s changed during a split prediction (%s); again", device, versions)
        else:
            raise GenericServiceError(
                f"{device}'s model changed during each of {CONSISTENT_ATTEMPTS} attempts at a"
                f" prediction split into {len(replies)} requests (it is being measured); retry",
                code="ABORTED",
                method="Predict",
                target=self.target,
            )
        warnings = self._service_warnings(
            device, [text for reply in replies for text in reply.warnings]
        )
        columns = {
            name: _read_only([getattr(p, name) for reply in replies for p in reply.predictions])
            for name in PREDICTION_FIELDS
        }
        return Predictions(**columns, model_version=replies[0].model_version, warnings=warnings)

    def _service_warnings(self, device: str, warnings: Iterable[str]) -> tuple[str, ...]:
        """What the service's model assumed of ``device``'s data to answer, once each; logs
        those this client has not logged for ``device`` before."""
        once = tuple(dict.fromkeys(warnings))
        for text in once:
            if (device, text) not in self._logged_warnings:
                self._logged_warnings.add((device, text))
                logger.warning("%s: %s", device, text)
        return once

    def _predict_batches(
        self, device: str, messages: list[pb.Architecture]
    ) -> list[pb.PredictResponse]:
        """One answer per request of :meth:`_batches`; split again, by the server's own batch
        limit, where it refuses a request as beyond it."""

        def sent() -> list[pb.PredictResponse]:
            return [self._predict_batch(device, messages, *b) for b in self._batches(messages)]

        try:
            return sent()
        except ResourceExhaustedError as error:
            # A server run with LATENCY_MAX_BATCH below batch_size refused every large predict,
            # and the CLI had no way to split finer (a review, 2026-12-06). The limit is held
            # against the request refused, not batch_size: another thread may have lowered it.
            limit = request_limit(error, "archs")
            if limit is None:
                raise
            self.batch_size = min(self.batch_size, limit)
            logger.info("%s takes at most %d archs a request: split so", self.target, limit)
            return sent()

    def _batches(self, messages: list[pb.Architecture]) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of consecutive requests, each within ``batch_size`` archs and
        ``REQUEST_BUDGET_BYTES``; one empty request for no archs (the server still checks the
        device)."""
        start, size = 0, 0
        for stop, message in enumerate(messages):
            bytes_ = message.ByteSize()
            if stop > start and (
                stop - start == self.batch_size or size + bytes_ > REQUEST_BUDGET_BYTES
            ):
                yield start, stop
                start, size = stop, 0
            size += bytes_
        yield start, len(messages)

    def _predict_batch(
        self, device: str, messages: list[pb.Architecture], start: int, stop: int
    ) -> pb.PredictResponse:
        request = pb.PredictRequest(device=device, archs=messages[start:stop])
        try:
            return self._call("Predict", request)
        except InvalidArgumentError as error:  # the server counts within the request
            rename_item(error, lambda index: f"arch {start + index}")
            raise

    def suggest(
        self,
        device: str,
        count: WholeLike = 10,
        candidates: Iterable[ArchLike] | np.ndarray | None = None,
        strategy: str | None = None,
        search_space: str | None = None,
        seed: WholeLike = 0,
    ) -> Suggestions:
        """The ``count`` architectures whose measurement would teach the model most.

        Args:
            device: the device's name or alias.
            count: how many to pick at most (fewer where fewer candidates are left
                unmeasured); from 1 to the number of candidates given, repeats included
                (15,625 without candidates).
            candidates: the pool, less what the device is conditioned on: its measurements
                and its descriptor's reference archs (:attr:`DeviceInfo.reference_archs`);
                None means every such NB201 arch left (other spaces need candidates). Sent in
                one request, as picks are joint.
            strategy: ``"active"`` (the server's default: half drawn from the pool, half by
                expected variance reduction), ``"greedy"`` (all by variance reduction) or
                ``"random"``.
            search_space: the pool's space; inferred from the first candidate when None.
            seed: seeds the ``"random"`` strategy, the ``"active"`` strategy's draws, and the
                sample of a pool over 512 archs that ``"active"`` and ``"greedy"`` score picks
                on (greedy picks from such a pool change with it too).

        Returns:
            :class:`Suggestions`, each with its current prediction (ms), and the
            ``model_version`` that picked them.

        Raises:
            NotFoundError: unknown device. InvalidArgumentError: ``count`` above the number
            of candidates given, an unknown strategy, a malformed candidate, no candidates for
            a space other than NB201, or every candidate already measured or a reference arch.
            ClientInputError: arguments of the wrong type, ``count`` below 1 or above
            ``COUNT_MAX``, or an empty ``candidates``. ResourceExhaustedError: more
            candidates than the server takes in one request (its ``LATENCY_MAX_BATCH``).
        """
        _check_text(device, "device")
        # Below 1 too: one below the wire's int32 was protobuf's bare ValueError.
        if not (_is_whole(count) and 1 <= count <= COUNT_MAX):
            raise ClientInputError(
                f"count must be a whole number from 1 up to {COUNT_MAX}, got {count!r}"
            )
        if not (_is_whole(seed) and 0 <= seed <= SEED_MAX):
            raise ClientInputError(
                f"seed must be a whole number from 0 to {SEED_MAX}, got {seed!r}"
            )
        if strategy is not None:
            _check_text(strategy, "strategy")
        pool = [] if candidates is None else to_architectures(candidates, search_space)
        _warn_of_indices(pool, search_space, candidates)
        if candidates is not None and not pool:
            raise ClientInputError(
                "candidates is empty: pass None to pick from every unmeasured NB201 arch"
            )
        space = search_space or (pool[0].search_space if pool else NB201)
        request = pb.SuggestSamplesRequest(
            device=device,
            count=int(count),
            search_space=space,
            candidates=pool,
            strategy=strategy or "",
            seed=int(seed),
        )
        reply = self._call("SuggestSamples", request)
        warnings = self._service_warnings(device, reply.warnings)
        items = tuple(Suggestion.from_message(message) for message in reply.suggestions)
        return Suggestions(items, reply.model_version, warnings)

    def add_measurements(
        self,
        device: str,
        pairs: Mapping[str, RealLike] | Iterable[tuple[ArchLike, RealLike]],
        search_space: str | None = None,
        request_id: str | None = None,
    ) -> AddResult:
        """Stores measured latencies (ms) of ``device``: all of them, or none on any error.

        Args:
            device: a registered device's name or alias.
            pairs: ``(arch, latency_ms)`` pairs, or a mapping arch string -> latency_ms. Sent in
                one request so the server's all-or-nothing guarantee holds.
            search_space: forces the space of every arch; inferred per arch when None.
            request_id: the upload's id (e.g. a UUID; at most 200 characters, no control,
                format or line-separator characters), to give again, with the same pairs in
                the same order, when repeating an upload this client gave up on
                (its error's ``maybe_carried_out``: it may have been stored): the device
                stores an id's upload once and answers a repeat with its state. None: a fresh
                id, which this call's own retries reuse, and which its error carries
                (``LatencyServiceError.request_id``).

        No pairs store nothing, but the call is checked as any write: it raises when the token
        is missing or wrong, or the device unknown, before any measuring is done.

        A source device of the fitted model (``pi4`` after ``import-help``) takes NB201 ones
        into its table and keeps others as its own beside it, and the server refits at its next
        start either way: measure a machine of your own under a name of its own.

        Raises:
            NotFoundError: unknown device (register it first). InvalidArgumentError: a
            malformed arch or a latency that is not finite or not within 1e-6 to 1e7 ms (the
            message names its index in ``pairs``, from 0), or a ``request_id`` the device
            stored another request under. ClientInputError: an item that is not an
            ``(arch, latency_ms)`` pair of the right types, or a ``request_id`` that is not a
            non-empty string. ResourceExhaustedError: more pairs than the server takes in one
            request (its ``LATENCY_MAX_BATCH``; sent in one request, they are not split).
        """
        _check_text(device, "device")
        upload_id = _request_id(request_id)
        measurements = _measurements("pairs", pairs, search_space)
        _warn_of_indices([m.arch for m in measurements], search_space)
        request = pb.AddMeasurementsRequest(
            device=device, measurements=measurements, request_id=upload_id
        )
        reply = self._write_once("AddMeasurements", request)
        return AddResult.from_message(reply, self._service_warnings(device, reply.warnings))

    def delete_measurements(
        self,
        device: str,
        archs: ArchLike | Iterable[ArchLike] = (),
        search_space: str | None = None,
        request_id: str | None = None,
        measurements: Mapping[str, RealLike] | Iterable[tuple[ArchLike, RealLike]] = (),
    ) -> DeleteResult:
        """Deletes every measurement of ``archs``, and the exact ``measurements``, (each in
        its search space) of ``device``, as one write: a wrong one (a unit slip, an
        :attr:`AddResult.surprising` latency) stops dragging the device's predictions, which
        the next call makes without it.

        Args:
            device: a registered device's name or alias.
            archs: one arch or many (see :func:`to_architectures`), sent in one request; an
                arch measured several times loses every measurement.
            search_space: forces the space of every arch; inferred per arch when None.
            request_id: the deletion's id, as :meth:`add_measurements` takes it: a repeat
                under it, with the same archs and measurements, deletes nothing more. None: a
                fresh id, which this call's own retries reuse, and which its error carries.
            measurements: ``(arch, latency_ms)`` pairs (or a mapping), as
                :meth:`add_measurements` takes them: of each arch only the measurements whose
                stored latency equals ``latency_ms`` exactly are deleted (a slip beside a
                source device's table value, one wrong measurement of three). Stored
                latencies are the floats uploaded, so the value uploaded, or the one
                :meth:`measurements` lists, matches; a rounded one does not.

        Archs and pairs the device has no measurements of are no error: ``deleted`` counts
        what was deleted. Deleting every measurement of an NB201 arch of a source device
        (``pi4`` after ``import-help``) leaves its table incomplete: the server's next start
        fits the model without it, until the arch is measured again. Until that start, the
        running server's fit keeps the deleted latencies, and its predictions of that device
        (and of devices like it) do not change.

        Raises:
            NotFoundError: unknown device. InvalidArgumentError: a malformed arch (the message
            names its index in ``archs``, or ``measurement N`` in ``measurements``, from 0),
            a latency that is not finite or not within 1e-6 to 1e7 ms, or a ``request_id``
            the device stored another request under. ClientInputError: arguments of the
            wrong type, or an empty ``request_id``.
        """
        _check_text(device, "device")
        if isinstance(archs, Mapping):
            # Read as its keys, {arch: wrong latency} deleted every measurement of each arch.
            raise ClientInputError(
                "archs is a mapping: to delete only its latencies, pass it as measurements=;"
                " to delete every measurement of its archs, pass list(archs)"
            )
        deletion_id = _request_id(request_id)
        messages = to_architectures(archs, search_space)
        exact = _measurements("measurements", measurements, search_space)
        _warn_of_indices([*messages, *(m.arch for m in exact)], search_space, archs)
        request = pb.DeleteMeasurementsRequest(
            device=device, archs=messages, measurements=exact, request_id=deletion_id
        )
        return DeleteResult.from_message(self._write_once("DeleteMeasurements", request))

    def _write_once(self, method: str, request: Any) -> Any:
        """``method`` with a ``request`` whose request_id makes repeating it safe: retried
        also when its deadline passed (it may have been carried out, and a retry learns
        whether it was), and its error carries the id (``LatencyServiceError.request_id``) to
        repeat it under, and whether any attempt may have been carried out."""
        retried: list[LatencyServiceError] = []
        try:
            return self._call(method, request, idempotent=True, on_retry=retried.append)
        except LatencyServiceError as exc:
            exc.request_id = request.request_id
            exc.maybe_carried_out = write_may_have_been_carried_out(exc, retried)
            raise

    def register_device(
        self,
        name: str,
        aliases: str | Sequence[str] | None = (),
        descriptor: Mapping[str, RealLike] | None = None,
        description: str = "",
    ) -> DeviceInfo:
        """Registers a device. Descriptor keys ``latency:<nb201 arch>`` are reference latencies
        (ms) that condition NB201 predictions like measurements.

        Raises:
            AlreadyExistsError: the name or an alias is taken. InvalidArgumentError: an empty
            name or alias, one with leading or trailing whitespace or control characters, or a
            descriptor value that is not finite. ClientInputError: arguments of the wrong type.
        """
        _check_text(name, "name")
        _check_text(description, "description")
        aliases = _alias_list(aliases)
        if not isinstance(descriptor, Mapping | None):
            raise ClientInputError(f"descriptor must be a mapping, got {type(descriptor).__name__}")
        values = {}
        for key, value in (descriptor or {}).items():
            _check_text(key, "descriptor key")
            if not _is_real(value):
                raise ClientInputError(f"descriptor {key!r}: {value!r} is not a number")
            try:
                values[key] = float(value)
            except OverflowError:  # an int beyond 1e308
                raise ClientInputError(f"descriptor {key!r}: too large for a float") from None
        request = pb.RegisterDeviceRequest(
            name=name, aliases=aliases, descriptor=values, description=description
        )
        retried: list[LatencyServiceError] = []
        try:
            # Retried past its deadline too, as an upload is: the server may have registered
            # it, and a caller's own retry then failed, the name taken by its own device.
            reply = self._call("RegisterDevice", request, idempotent=True, on_retry=retried.append)
            return DeviceInfo.from_message(reply)
        except AlreadyExistsError:
            # UNAVAILABLE or DEADLINE_EXCEEDED may come after the server registered it (a
            # connection lost on the way back): the retry then found its own device and
            # failed (a review, 2026-12-06).
            if retried and (mine := self._registered_as_asked(request)) is not None:
                return mine
            raise

    def _registered_as_asked(self, request: pb.RegisterDeviceRequest) -> DeviceInfo | None:
        """The device named by ``request`` if it is registered just as the request asks."""
        try:
            found = self.device(request.name)
        except NotFoundError:
            return None
        # As the store keeps them: a name typed decomposed is stored composed.
        asked = (composed(request.name), {composed(a) for a in request.aliases})
        if (found.name, set(found.aliases)) != asked or found.descriptor != request.descriptor:
            return None
        return found if found.description == request.description else None

    def devices(self) -> list[DeviceInfo]:
        """Every registered device, by name (every page of ListDevices)."""
        found: list[DeviceInfo] = []
        token = ""
        while True:
            reply = self._call("ListDevices", pb.ListDevicesRequest(page_token=token))
            found += [DeviceInfo.from_message(d) for d in reply.devices]
            token = reply.next_page_token
            if not token:
                return found

    def device(self, name: str) -> DeviceInfo:
        """One device by name or alias (NotFoundError if none)."""
        _check_text(name, "name")
        return DeviceInfo.from_message(self._call("GetDevice", pb.GetDeviceRequest(name=name)))

    def measurements(
        self, device: str, search_space: str = "nasbench201"
    ) -> list[tuple[str, float]]:
        """A device's stored measurements in one space: ``(canonical arch, latency_ms)`` pairs
        in upload order (a source device lists its whole imported table; a vector's arch is
        its comma-joined features), gathered from every page of ListMeasurements.

        Raises:
            NotFoundError: unknown device. InvalidArgumentError: unknown search space.
        """
        _check_text(device, "device")
        _check_text(search_space, "search_space")
        found: list[tuple[str, float]] = []
        token = ""
        while True:
            # The server also ends a page before 2 MiB; one older than pages answers all at
            # once, with no token.
            request = pb.ListMeasurementsRequest(
                device=device,
                search_space=search_space,
                page_size=DEFAULT_BATCH_SIZE,
                page_token=token,
            )
            reply = self._call("ListMeasurements", request)
            found += [(m.arch.arch, m.latency_ms) for m in reply.measurements]
            token = reply.next_page_token
            if not token:
                return found
