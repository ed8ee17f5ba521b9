"""Model lifecycle: fit (or load) the shared estimator, cache device data, answer queries.

At start-up the :class:`Registry` finds the *source* devices in the store (those with all
15,625 NB201 measurements), and loads the fitted state cached beside the store
(``<store>.model.pt``) when its key (a hash of the sources' names and table contents and of
the fit settings) matches, both the key file's and the one saved in the model file (two
starts at once can leave one's key file beside the other's model); otherwise it logs why (the
key's inputs are kept in ``<store>.model.pt.inputs.json`` to compare), refits, logs how long
that took, and rewrites the cache. The fit is made at start-up only: a running server keeps it.

Per request it reads the device's current measurements (cached per device and space, keyed by
the device's version, so a write is visible to the very next read) and calls
:class:`gp.estimator.LatencyEstimator`. Uploads to a device and reads of its data take turns
(the device's lock); a suggestion's pick, seconds of work, runs on what it read, outside it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import stat
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

import numpy as np

from gp.active import StopCheck
from gp.errors import DatasetError, InvalidArchitectureError, NotFittedError
from gp.estimator import (
    FIT_REVISION,
    MIN_SOURCE_DEVICES,
    LatencyEstimator,
    Measurements,
    Suggestion,
    conditioned_archs,
    standardises_by_pool,
    suggestion_pool,
)
from gp.model import DevicePosterior, FitSettings, LatencyModel, LatencyPrediction
from gp.outliers import SurprisingMeasurement
from gp.spaces import NASBench201Space, SearchSpace
from gp.spaces.nasbench201 import NUM_ARCHS, arch_to_index
from gp.spaces.vector import VALUE_RULE, VectorSpace
from service.archs import SpaceKey, space_key
from service.errors import (
    CallEndedError,
    DeadlineExceededError,
    InvalidRequestError,
    NotReadyError,
)
from service.heap import HeapTrimmer
from service.names import vector_dim
from service.outputs import (
    link_target,
    owner_writable_like,
    remove_abandoned_temporaries,
    write_atomically,
)
from service.store import DeviceRecord, Store
from service.waiting import Ended, holding, never
from service.wording import PRIOR_GUESSES, quantity

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

NB201 = NASBench201Space.name
#: Device posteriors kept in memory (each holds an n x n Cholesky factor, n <= 1000).
POSTERIOR_CACHE_SIZE = 64
#: A Predict of at least this many NB201 archs computes (and caches) the whole space once:
#: with 1,000 conditioning points the variances cost ~0.6 s per 15,625 archs on 2 cores,
#: so repeated whole-space queries (a NAS loop's usual call) are then a lookup.
WHOLE_SPACE_THRESHOLD = 2_000
#: Archs predicted at a time outside the whole-space path: the n x m matrices of a posterior
#: of 1,000 measurements and its noise levels take about 0.3 GB per 8,192 archs.
PREDICT_CHUNK = 8_192
#: Whole-space NB201 predictions kept in memory (15,625 x 7 doubles, ~0.9 MB each).
WHOLE_SPACE_CACHE_SIZE = 32
#: Devices' measurements (per device and space) kept in memory; a source device's NB201 table
#: is ~2 MB, so a service with thousands of devices must not keep them all.
MEASUREMENT_CACHE_SIZE = 256
#: ... and at most this many rows of them (about 150 bytes a row: ~140 MB), the 27 HELP tables'
#: 421,875 included: 256 devices of full NB201 tables would have held ~570 MB.
MEASUREMENT_CACHE_ROWS = 1_000_000
#: What the fit key's "sources" hold: 2, each table's digest (before: each device's version).
KEY_FORMAT = 2
#: An arch measured this often counts at the median of its measurements, so one slip among them
#: is outvoted, and a median still surprising is the device's own: named as measured before an
#: upload until then (the warning says to measure it twice more), not on every later upload.
SETTLED_MEASUREMENTS = 3
#: Progress lines the source fit logs on its way: it takes minutes on a busy machine, and a
#: log silent from "fitting on ..." to "fitted in ..." read as a hung server.
FIT_PROGRESS_LINES = 5


def fit_progress(iterations: int, started: float) -> Callable[[int, float], None]:
    """The source fit's progress callback: logs the step reached, and the seconds since
    ``started``, at up to :data:`FIT_PROGRESS_LINES` evenly spaced steps before the last."""
    parts = FIT_PROGRESS_LINES + 1
    logged = {iterations * k // parts for k in range(1, parts)}

    def progress(iteration: int, loss: float) -> None:
        if (done := iteration + 1) in logged:
            elapsed = time.perf_counter() - started
            logger.info("fitting: step %d of %d after %.0f s", done, iterations, elapsed)

    return progress


class UploadCheck(NamedTuple):
    """What the check of an upload found (:meth:`Registry.surprising`)."""

    #: The upload's archs whose latency the device's other measurements do not explain.
    in_upload: list[tuple[str, SurprisingMeasurement]]
    #: Archs measured before the upload that the same check found.
    before: list[tuple[str, SurprisingMeasurement]]
    #: What the model that checked assumed of the device's data (LatencyModel.warnings).
    warnings: tuple[str, ...]


class DeviceState(NamedTuple):
    """A device's data in one space, read under its lock (:meth:`Registry.device_state`)."""

    measured: Measurements
    descriptor: dict[str, float] | None
    #: The model and posterior that Predict answers the device with.
    own: tuple[LatencyModel, DevicePosterior]


class SuggestionInputs(NamedTuple):
    """What a device's suggestion is chosen from, read under its lock
    (:meth:`Registry.suggestion_inputs`)."""

    space: SearchSpace
    #: The device's measurements in ``space`` (at the version read).
    measured: Measurements
    #: Its descriptor, where its posterior is conditioned on it (NB201's reference archs).
    descriptor: dict[str, float] | None
    #: The canonical archs it may be suggested: candidates it is not yet conditioned on.
    pool: list[str]
    #: How many to choose.
    picks: int
    #: The model and posterior that Predict answers the device with.
    own: tuple[LatencyModel, DevicePosterior]
    #: How many archs the device is conditioned on, where its posterior counts a subsample.
    conditioned: int | None


class LruCache(Generic[K, V]):
    """A mapping of at most ``capacity`` entries that forgets the least recently used one, and
    also as many as keep the entries' ``weight`` (none by default) within ``max_weight`` (the
    newest entry stays, whatever its weight).

    Not thread-safe: the registry guards its caches with one lock.
    """

    def __init__(
        self, capacity: int, weight: Callable[[V], int] = lambda _: 0, max_weight: int = 0
    ) -> None:
        self.capacity = capacity
        self.max_weight = max_weight
        self._weight = weight
        self._items: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}
        #: The weights' sum over the entries.
        self.weight = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: K, value: V) -> None:
        self._forget(key)
        self._items[key] = value
        self._weights[key] = self._weight(value)
        self.weight += self._weights[key]
        while len(self._items) > self.capacity or (
            len(self._items) > 1 and self.weight > self.max_weight
        ):
            self._forget(next(iter(self._items)))

    def drop(self, stale: Callable[[K], bool]) -> None:
        """Forgets every entry whose key is ``stale``."""
        for key in [k for k in self._items if stale(k)]:
            self._forget(key)

    def _forget(self, key: K) -> None:
        if key in self._items:
            del self._items[key]
            self.weight -= self._weights.pop(key)


def check_count(count: int, candidates: Sequence[str] | None) -> None:
    """Refuses ``count`` above the number of candidates given (NB201's space without them):
    repeats included, since like measured ones they leave the answer shorter, and the caller
    cannot tell which."""
    offered = NUM_ARCHS if candidates is None else len(candidates)
    if count > offered:
        raise InvalidRequestError(
            f"count must be between 1 and the pool size {offered}, got {count}"
        )


def _predicted_in_chunks(
    posterior: DevicePosterior,
    rows: Callable[[Sequence[str]], torch.Tensor],
    archs: Sequence[str],
    ended: Ended,
) -> LatencyPrediction:
    """``posterior.predict(rows(archs))``, PREDICT_CHUNK archs at a time, stopping where the
    call has ended: 100,000 vectors at once took 2.4 GB for 9 s, and long vectors' parsing
    and prediction ran on past their deadline holding the device's lock (a review,
    2026-12-06)."""
    parts = []
    for start in range(0, max(len(archs), 1), PREDICT_CHUNK):
        if start and ended():
            raise CallEndedError("the call ended while its archs were predicted")
        parts.append(posterior.predict(rows(archs[start : start + PREDICT_CHUNK])))
    return LatencyPrediction.concatenated(parts)


def _prior_guess_warning(
    space: SearchSpace, model: LatencyModel, posterior: DevicePosterior
) -> tuple[str, ...]:
    """The warning that predictions are the prior's guesses: of a device with no measurements
    in a space without source tables (FBNet and vectors; NB201 too before a fit), such as an
    FBNet arch on a device measured on NB201 alone (all-k5_e6: 129 ms, sd 1,069 ms), which a
    table of means reads as a prediction. In the answer, not in the CLI alone, so that a NAS
    loop calling the library learns it too."""
    if posterior.count or model.kernel.sources is not None:
        return ()
    # `measure` builds NB201 and FBNet networks; vectors are the caller's own encoding. The
    # RPC first: a NAS loop in another language has no `client` command.
    how = f"AddMeasurements; the Python CLI: client add --space {space.name}"
    if space.name != "vector":
        how += f" or client measure --space {space.name}"
    return (
        f"no {space.name} {PRIOR_GUESSES}, not this device's latencies (see the sd);"
        f" measure a few on it first ({how})",
    )


class Registry:
    """Owns the fitted estimator and the per-device measurement cache.

    Args:
        store: the device store.
        fit: settings of the source fit.
        max_conditioning: most distinct archs a posterior is conditioned on; beyond it a fixed
            pseudo-random sample of them is used (an exact GP on 15,625 points would not fit
            memory).
        model_path: where the fitted state is cached; ``<store>.model.pt`` by default.
        memory_cache: fitted estimators by fit key, consulted before the file and filled after
            a fit (lets servers in one process, e.g. tests, share one fit).
        on_fit: called as ``on_fit(stage, seconds)`` after the start-up fit or load
            (``"startup"``) and after each device posterior is built (``"device"``).
    """

    def __init__(
        self,
        store: Store,
        fit: FitSettings | None = None,
        max_conditioning: int = 1000,
        model_path: Path | None = None,
        memory_cache: MutableMapping[str, LatencyEstimator] | None = None,
        on_fit: Callable[[str, float], None] | None = None,
    ) -> None:
        self.store = store
        self.fit_settings = fit or FitSettings()
        self.max_conditioning = max_conditioning
        self.model_path = model_path or Path(f"{store.path}.model.pt")
        self.memory_cache = memory_cache if memory_cache is not None else {}
        self.on_fit = on_fit or (lambda stage, seconds: None)
        self.ready = threading.Event()
        self.fit_hash = ""
        self._key_payload: dict[str, object] = {}
        self.source_names: frozenset[str] = frozenset()
        self._estimator: LatencyEstimator | None = None
        self._cache_lock = threading.Lock()
        # Weak: a lock lives while a call holds or waits for it, and the next call makes a new
        # one; kept for good, a server of millions of devices held ~180 B for each.
        self._device_locks: weakref.WeakValueDictionary[int, threading.RLock]
        self._device_locks = weakref.WeakValueDictionary()
        self._measurements: LruCache[tuple[int, SpaceKey], tuple[int, Measurements]]
        self._measurements = LruCache(
            MEASUREMENT_CACHE_SIZE, lambda entry: len(entry[1].archs), MEASUREMENT_CACHE_ROWS
        )
        self._posteriors: LruCache[tuple[int, int, SpaceKey], tuple[LatencyModel, DevicePosterior]]
        self._posteriors = LruCache(POSTERIOR_CACHE_SIZE)
        self._whole_space: LruCache[tuple[int, int], LatencyPrediction]
        self._whole_space = LruCache(WHOLE_SPACE_CACHE_SIZE)
        #: Returns what evicted posteriors freed to the system (service.heap).
        self.heap = HeapTrimmer()

    # ---- start-up ----------------------------------------------------------------------
    def start(self) -> None:
        """Loads the cached fit if it matches the store's sources, else refits; then ready."""
        started = time.perf_counter()
        # A start killed while it wrote the cache left its temporary file (2-5 MB) beside it.
        remove_abandoned_temporaries(link_target(self.model_path).parent)
        sources = self._source_tables()
        self.source_names = frozenset(sources)
        self._key_payload = self._key_inputs(sources)
        self.fit_hash = fit_key(self._key_payload)
        estimator = self.memory_cache.get(self.fit_hash) or self._load_cached()
        self._estimator = estimator or self._fit(sources)
        self.memory_cache[self.fit_hash] = self._estimator
        if self._estimator.nasbench201 is not None:
            self._estimator.all_nasbench201_rows()  # build once, before threads share it
        self.ready.set()
        seconds = time.perf_counter() - started
        self.on_fit("startup", seconds)
        logger.info(
            "model %s ready (%s) in %.1f s",
            self.fit_hash[:8],
            quantity(len(sources), "source device"),
            seconds,
        )

    def _source_tables(self) -> dict[str, np.ndarray]:
        """Complete NB201 tables by device name (duplicates averaged), canonical order."""
        counts = self.store.space_counts()
        tables = {}
        for device in self.store.list_devices():
            if counts.get((device.id, NB201), 0) < NUM_ARCHS:
                continue
            table = _complete_table(*self.store.measurements(device.id, NB201))
            if table is not None:
                tables[device.name] = table
        return tables

    def _key_inputs(self, sources: dict[str, np.ndarray]) -> dict[str, object]:
        """What the fit key hashes; kept beside the cache so a refit can say what changed."""
        digests = {name: table_digest(sources[name]) for name in sorted(sources)}
        settings = json.loads(json.dumps(dataclasses.asdict(self.fit_settings)))
        return {
            "sources": digests,
            "settings": settings,
            "revision": FIT_REVISION,
            "format": KEY_FORMAT,
        }

    @property
    def _key_path(self) -> Path:
        return Path(f"{self.model_path}.key")

    @property
    def _inputs_path(self) -> Path:
        return Path(f"{self.model_path}.inputs.json")

    def _stale_reason(self) -> str:
        """Why the cached fit does not match: the operator sees a refit of a minute coming."""
        try:
            cached = json.loads(self._inputs_path.read_text())
        except (OSError, ValueError):
            return "the cached fit was made for other sources, settings or code"
        return describe_key_change(cached, self._key_payload)

    def _load_cached(self) -> LatencyEstimator | None:
        try:
            if self._key_path.read_text().strip() != self.fit_hash:
                logger.info(
                    "not reusing the cached model %s: %s", self.model_path, self._stale_reason()
                )
                return None
            estimator = LatencyEstimator.load(self.model_path)
            if estimator.tag != self.fit_hash:
                logger.info(
                    "not reusing the cached model %s: %s",
                    self.model_path,
                    _other_fit(estimator.tag, self.fit_hash),
                )
                return None
        except FileNotFoundError as exc:
            if exc.filename == str(self._key_path) and self.model_path.exists():
                # Said "no cached model" of a model file that was there (a review, 2026-12-06).
                logger.info(
                    "not reusing the cached model %s: its key file %s is missing (a start"
                    " stopped while it wrote the cache, or only the model was copied)",
                    self.model_path,
                    self._key_path,
                )
            else:
                logger.info("no cached model at %s", self.model_path)
            return None
        # A corrupt cache is only a reason to refit; a bug (in the stale reason, say) is not
        # one to hide as a refit on every start (a design review).
        except (NotFittedError, OSError, UnicodeDecodeError) as exc:
            # One line: the error names the cause; a traceback would bury the refit notice.
            logger.warning("ignoring unreadable model cache %s: %s", self.model_path, exc)
            return None
        logger.info("loaded cached model %s from %s", self.fit_hash[:8], self.model_path)
        self._narrow_cache_modes()
        return estimator

    def _narrow_cache_modes(self) -> None:
        """Takes from the cache's files what the store's permissions do not allow: written
        before they followed the store's, a reused cache stayed readable by all beside a
        private store until the next refit (a review)."""
        allowed = owner_writable_like(self.store.path)
        for path in (self.model_path, self._inputs_path, self._key_path):
            with suppress(OSError):  # another user's file: left as it is
                mode = stat.S_IMODE(path.stat().st_mode)
                if mode & ~allowed:
                    path.chmod(mode & allowed)
                    logger.info("%s: permissions narrowed to the store's", path)

    def _fit(self, sources: dict[str, np.ndarray]) -> LatencyEstimator:
        if len(sources) < MIN_SOURCE_DEVICES:
            logger.warning(
                "only %s in the store, of the %d a fit needs: predictions use the prior only"
                " (import more with `python -m service import-help DIR`; a table left"
                " incomplete by a deletion counts again once its archs are measured again)",
                quantity(len(sources), "complete NB201 source table"),
                MIN_SOURCE_DEVICES,
            )
            return LatencyEstimator(None)
        started = time.perf_counter()
        logger.info(
            "fitting on %s: %s", quantity(len(sources), "source device"), ", ".join(sorted(sources))
        )
        progress = fit_progress(self.fit_settings.iterations, started)
        estimator = LatencyEstimator.fit(sources, self.fit_settings, progress, tag=self.fit_hash)
        logger.info("fitted in %.1f s", time.perf_counter() - started)
        self._save(estimator)
        return estimator

    def _save(self, estimator: LatencyEstimator) -> None:
        """Writes the fit (its key in it: the estimator's tag) and its key file beside the store;
        a cache that cannot be written (disk full, no permission) costs a refit at the next
        start, not this start's fit. Whatever order two starts' writes land in, a key file
        beside another fit's model costs a refit, as the key in the model then differs."""
        try:
            # The store's permissions: the fit holds its sources' names and per-arch
            # deviations, and came out readable by all beside a private store (an operator's
            # review).
            mode = owner_writable_like(self.store.path)
            write_atomically(self.model_path, estimator.to_bytes(), mode)
            payload = json.dumps(self._key_payload, sort_keys=True)
            write_atomically(self._inputs_path, payload, mode)
            write_atomically(self._key_path, self.fit_hash, mode)
        except Exception as exc:  # OSError from a write, or whatever serialising the state raises
            logger.warning(
                "cannot write the model cache %s (%s): serving this fit, but the next start refits",
                self.model_path,
                exc,
            )

    # ---- queries -----------------------------------------------------------------------
    @property
    def estimator(self) -> LatencyEstimator:
        """The fitted estimator; NotReadyError while the model loads."""
        self.require_ready()
        assert self._estimator is not None  # require_ready checked it (for the type checker)
        return self._estimator

    def require_ready(self) -> None:
        """Raises NotReadyError while the model loads: a call answers UNAVAILABLE before it
        does any work."""
        if not self.ready.is_set() or self._estimator is None:
            raise NotReadyError("the model is still loading; retry shortly")

    def model_version(self, device: DeviceRecord) -> str:
        """``<fit hash[:8]>-<device version>``: changes with the fit or the device's data."""
        return f"{self.fit_hash[:8]}-{device.version}"

    @contextmanager
    def device_lock(
        self, device: DeviceRecord, timeout: float | None = None, ended: Ended = never
    ) -> Iterator[None]:
        """Holds the device's lock (re-entrant), which every upload to the device and every
        answer about it hold, waiting at most ``timeout`` seconds for it (None: no limit),
        and no longer than the call waiting lasts (``ended``).

        Raises:
            DeadlineExceededError: the lock stayed held by other calls for ``timeout``.
            CallEndedError: the call ended while it waited.
        """
        with self._cache_lock:
            lock = self._device_locks.setdefault(device.id, threading.RLock())
        refusal = functools.partial(
            DeadlineExceededError,
            f"the deadline passed while the call waited for device {device.name}, busy with"
            " other calls (an upload, a posterior being built): nothing was done",
        )
        with holding(lock, timeout, ended, f"device {device.name}", refusal):
            yield

    @contextmanager
    def consistent(
        self, device: DeviceRecord, timeout: float | None = None, ended: Ended = never
    ) -> Iterator[DeviceRecord]:
        """Holds the device's lock (waiting as :meth:`device_lock` does) and yields its record
        as of now: no upload through this server changes the device meanwhile, so everything
        answered under it, model version included, is of that one version (a record read
        before the lock may be stale)."""
        with self.device_lock(device, timeout, ended):
            yield self.store.get(device.id)

    def measurements(self, device: DeviceRecord, key: SpaceKey) -> Measurements:
        """The device's measurements in one space at the version of ``device`` (cached)."""
        cache_key = (device.id, key)
        with self._cache_lock:
            cached = self._measurements.get(cache_key)
        if cached is not None and cached[0] == device.version:
            return cached[1]
        archs, latency = self.store.measurements(device.id, key[0], device.version)
        if key[0] == "vector":
            keep = [i for i, a in enumerate(archs) if vector_dim(a) == key[1]]
            vectors = VectorSpace(key[1])
            usable = [i for i in keep if _accepted(vectors, archs[i])]
            if len(usable) < len(keep):
                logger.warning(
                    "device %s: left out of its model: %s outside what the space now accepts"
                    " (%s; stored before that bound)",
                    device.name,
                    quantity(len(keep) - len(usable), "stored vector measurement"),
                    VALUE_RULE,
                )
            archs, latency = [archs[i] for i in usable], latency[usable]
        measured = Measurements(archs, latency)
        with self._cache_lock:
            self._measurements.put(cache_key, (device.version, measured))
        return measured

    def invalidate(self, device_id: int) -> None:
        """Drops what is cached of a device: its measurements, posteriors and whole-space
        predictions (the version check makes this an optimisation)."""

        def stale(key: tuple[object, ...]) -> bool:  # every cache key starts with the id
            return key[0] == device_id

        with self._cache_lock:
            for cache in (self._measurements, self._posteriors, self._whole_space):
                cache.drop(stale)

    def _conditioning(self, measured: Measurements, space: SearchSpace) -> Measurements:
        """The measurements of at most ``max_conditioning`` distinct archs, a fixed sample of
        them beyond that, each with all its measurements: the model takes an arch at their
        median. Drawn from the archs in the space's order, so that it depends on them, not on
        the order they were uploaded in (it did, and so did the device's predictions), nor on
        a vector feature's units (as strings it did; a review, 2026-12-06)."""
        if len(set(measured.archs)) <= self.max_conditioning:
            return measured  # before the ordering, which parses every arch: a posterior's path
        distinct = space.distinct_in_order(measured.archs)
        # Archs, not rows: rows drawn apart split an arch's repeats, and one slip of three
        # entered alone, its two right values left out (a review, 2026-12-06).
        drawn = np.random.default_rng(0).choice(len(distinct), self.max_conditioning, replace=False)
        return measured.of_archs({distinct[i] for i in drawn})

    def _descriptor(self, device: DeviceRecord, space: SearchSpace) -> dict[str, float] | None:
        # Reference latencies in the descriptor are NB201 archs; other spaces ignore them.
        return device.descriptor if space.name == NB201 else None

    def posterior(
        self, device: DeviceRecord, space: SearchSpace
    ) -> tuple[LatencyModel, DevicePosterior]:
        """The device's posterior in ``space`` at its current version (LRU-cached)."""
        key = (device.id, device.version, space_key(space))
        with self._cache_lock:
            cached = self._posteriors.get(key)
        if cached is not None:
            return cached
        measured = self.measurements(device, space_key(space))
        result = self._built_posterior(space, measured, self._descriptor(device, space))
        with self._cache_lock:
            self._posteriors.put(key, result)
        # The build's temporaries and the posterior it evicted (or an upload dropped) are free
        # now; unreturned, the server's RSS grew with every device queried (service.heap).
        self.heap.release_free_heap()
        return result

    def _built_posterior(
        self,
        space: SearchSpace,
        measured: Measurements,
        descriptor: dict[str, float] | None,
        pool: Sequence[str] = (),
    ) -> tuple[LatencyModel, DevicePosterior]:
        """The posterior of ``measured`` (at most ``max_conditioning``), built now and timed."""
        started = time.perf_counter()
        conditioning = self._conditioning(measured, space)
        result = self.estimator.posterior(space, conditioning, descriptor, pool)
        self.on_fit("device", time.perf_counter() - started)
        return result

    def predict(
        self, device: DeviceRecord, space: SearchSpace, archs: Sequence[str], ended: Ended = never
    ) -> tuple[LatencyPrediction, tuple[str, ...]]:
        """Predicts canonical ``archs`` of ``space`` on ``device``; with the warnings of the
        model that did (:attr:`~gp.model.LatencyModel.warnings`).

        Raises:
            CallEndedError: the call ended (``ended``) between two chunks of archs.
        """
        estimator = self.estimator
        with self.device_lock(device):
            model, posterior = self.posterior(device, space)
            key = (device.id, device.version)
            with self._cache_lock:
                whole = self._whole_space.get(key)
            use_whole = whole is not None or len(archs) >= WHOLE_SPACE_THRESHOLD
            warnings = model.warnings + _prior_guess_warning(space, model, posterior)
            if model is not estimator.nasbench201 or not use_whole:
                rows = functools.partial(estimator.rows, model, space)
                return _predicted_in_chunks(posterior, rows, archs, ended), warnings
            if whole is None:
                whole = posterior.predict(estimator.all_nasbench201_rows())
            with self._cache_lock:
                self._whole_space.put(key, whole)
        index = np.array([arch_to_index(a) for a in archs], dtype=np.int64)
        return whole.take(index), warnings

    def surprising(
        self, device: DeviceRecord, space: SearchSpace, archs: Sequence[str]
    ) -> UploadCheck:
        """Which of the device's measured canonical ``archs`` of ``space`` its other
        measurements do not explain, at its current version, and which of its archs measured
        before them the same search found, but fewer than ``SETTLED_MEASUREMENTS`` times
        (:meth:`~gp.estimator.LatencyEstimator.surprising`, ``others_too``): the two lists,
        most surprising first, and the checking model's warnings.

        Raises:
            NotReadyError: the model is still loading.
        """
        with self.device_lock(device):
            measured = self.measurements(device, space_key(space))
            descriptor = self._descriptor(device, space)
            check = self.estimator.surprising(space, measured, descriptor, archs, others_too=True)
        uploaded, counts = set(archs), Counter(measured.archs)
        before = [(a, s) for a, s in check.found if a not in uploaded]
        return UploadCheck(
            [(a, s) for a, s in check.found if a in uploaded],
            [(a, s) for a, s in before if counts[a] < SETTLED_MEASUREMENTS],
            check.warnings,
        )

    def device_state(self, device: DeviceRecord, space: SearchSpace) -> DeviceState:
        """The device's measurements in ``space``, descriptor and posterior, read under its
        lock: taken under :meth:`consistent`, they are of the version it yields."""
        with self.device_lock(device):
            measured = self.measurements(device, space_key(space))
            descriptor = self._descriptor(device, space)
            # Only NB201 devices are also conditioned on reference archs (their descriptor's).
            own = self.posterior(device, space)  # the cached one Predict uses
        return DeviceState(measured, descriptor, own)

    def suggestion_inputs(
        self,
        device: DeviceRecord,
        space: SearchSpace,
        count: int,
        candidates: Sequence[str] | None,
        state: DeviceState | None = None,
    ) -> SuggestionInputs:
        """What a suggestion of up to ``count`` archs of the candidates (NB201 by default: the
        whole space) is chosen from: the archs the device is not yet conditioned on
        (measurements and reference archs), and its posterior, read under the device's lock
        (:meth:`device_state`; ``state`` where the caller read it). The pool is built, and the
        pick made (:meth:`suggest`), without the lock: 800 candidates of 10,000 features are
        parsed for seconds, and every Predict of the device waited for them (a review,
        2026-12-06). Candidates of other spaces are required, as SuggestSamples checks before
        it calls this.

        Raises:
            InvalidRequestError: ``count`` above the number of candidates given (repeats
                included: like measured ones, they leave the answer shorter, and the caller
                cannot tell which), or none left unmeasured.
        """
        check_count(count, candidates)
        measured, descriptor, own = state or self.device_state(device, space)
        # Beyond max_conditioning the posterior counts a subsample: the share of drawn picks
        # is over every arch the device is conditioned on (a loop of single picks alternates),
        # not stuck at the subsample's count.
        conditioned = (
            len(conditioned_archs(space, measured, descriptor))
            if len(measured.archs) > self.max_conditioning
            else None
        )
        pool = suggestion_pool(space, candidates, measured, descriptor)
        if not pool:
            raise InvalidRequestError(_nothing_left(device, candidates is None))
        # Fewer than count when measured archs leave the pool: the caller cannot tell which.
        picks = min(count, len(pool))
        return SuggestionInputs(space, measured, descriptor, pool, picks, own, conditioned)

    def suggest(
        self, inputs: SuggestionInputs, strategy: str, seed: int, stop: StopCheck | None = None
    ) -> Suggestion:
        """Chooses ``inputs.picks`` of its pool. It holds no lock: an active pick takes seconds,
        and had held the device's lock throughout, so that every Predict of the device waited,
        each holding one of the server's few workers. ``stop`` ends an active pick early (the
        call is over)."""
        space, own = inputs.space, inputs.own
        model, posterior = own
        answered_by = None
        if standardises_by_pool(space, inputs.measured.archs):
            # This posterior is the pool's: Predict's cached one must not become it, and
            # answers the picks (Suggestion.variance_ms2: "as Predict answers").
            model, posterior = self._built_posterior(
                space, inputs.measured, inputs.descriptor, inputs.pool
            )
            answered_by = own
        chosen = self.estimator.suggest_from(
            model,
            posterior,
            space,
            inputs.pool,
            inputs.picks,
            strategy,
            seed,
            stop,
            answered_by,
            inputs.conditioned,
        )
        # The picks' predictions are Predict's (the device's own model): its warning too.
        guess = _prior_guess_warning(space, *own)
        return dataclasses.replace(chosen, warnings=chosen.warnings + guess)


def describe_key_change(cached: dict[str, object], current: dict[str, object]) -> str:
    """One phrase per input of the fit key that differs between ``cached`` and ``current``."""
    reasons = []
    before, now = _mapping(cached, "sources"), _mapping(current, "sources")
    if added := sorted(set(now) - set(before)):
        reasons.append(f"new source device(s) {', '.join(added)}")
    if removed := sorted(set(before) - set(now)):
        # Gone from the store, or (far likelier) an arch of their table deleted.
        reasons.append(f"source device(s) without a complete NB201 table now {', '.join(removed)}")
    if cached.get("format") != current.get("format"):
        # Every source's entry differs in kind: naming them all as changed would mislead.
        reasons.append("the fit key now holds each source table's contents (code upgrade)")
    elif changed := sorted(n for n in set(now) & set(before) if now[n] != before[n]):
        reasons.append(f"NB201 measurements of source device(s) {', '.join(changed)} changed")
    was, is_now = _mapping(cached, "settings"), _mapping(current, "settings")
    if settings := sorted(k for k in set(was) | set(is_now) if was.get(k) != is_now.get(k)):
        changes = ", ".join(f"{k} {was.get(k)} -> {is_now.get(k)}" for k in settings)
        reasons.append(f"other fit settings ({changes})")
    if cached.get("revision") != current.get("revision"):
        reasons.append(
            f"fit revision {cached.get('revision')} -> {current.get('revision')} (code upgrade)"
        )
    return "; ".join(reasons) or "the cached fit's key differs"


def _other_fit(saved_key: str, fit_hash: str) -> str:
    """Why a cached model whose key file matched holds another fit than ``fit_hash``'s."""
    if not saved_key:
        return "the model file holds no fit key (written by older code)"
    return (
        f"the model file holds fit {saved_key[:8]}, not {fit_hash[:8]}: another start, with"
        " other sources or settings, wrote it beside this fit's key file (two starts at once,"
        " or that start's key file could not be written)"
    )


def _mapping(key_inputs: dict[str, object], name: str) -> dict[str, object]:
    value = key_inputs.get(name)
    return value if isinstance(value, dict) else {}


def table_digest(table: np.ndarray) -> str:
    """A source's entry in the fit key: its table's contents, all the fit reads of it. A
    device's version also changes with writes the fit never reads (another space's
    measurements or deletions), each costing a refit of a minute; and a table read while an
    upload lands is keyed as it was read, not as the upload left it."""
    return hashlib.sha256(np.ascontiguousarray(table, dtype=np.float64).tobytes()).hexdigest()


def fit_key(key_inputs: dict[str, object]) -> str:
    """The cached fit's key: a hash of its inputs (``Registry._key_inputs``)."""
    return hashlib.sha256(json.dumps(key_inputs, sort_keys=True).encode()).hexdigest()


def _nothing_left(device: DeviceRecord, whole_space: bool) -> str:
    if whole_space:
        return f"device {device.name} has measured all {NUM_ARCHS} NB201 archs: nothing is left"
    # Reference archs (the descriptor's) condition the device as measurements do.
    return (
        f"device {device.name}: every candidate given is measured or a reference arch,"
        " nothing is left to suggest"
    )


def _accepted(space: SearchSpace, canonical: str) -> bool:
    """Whether ``space`` accepts a stored arch as it stands today."""
    try:
        space.canonical(canonical)
    except InvalidArchitectureError:
        return False
    return True


def _complete_table(archs: list[str], latency: np.ndarray) -> np.ndarray | None:
    """(15,625,) mean latency per canonical index, or None unless every arch is measured."""
    try:
        index = np.array([arch_to_index(a) for a in archs], dtype=np.int64)
    except InvalidArchitectureError as exc:  # a stored arch that no longer parses
        raise DatasetError(f"stored NB201 arch does not parse: {exc}") from exc
    counts = np.bincount(index, minlength=NUM_ARCHS)
    if (counts == 0).any():
        return None
    return np.bincount(index, weights=latency, minlength=NUM_ARCHS) / counts
