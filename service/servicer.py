"""The ``latency.v1.LatencyEstimator`` servicer: validation, then store and registry calls.

Every method validates the whole request before touching the store, so a rejected request
changes nothing. Errors map to status codes in :mod:`service.errors`.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import grpc

from gp.active import STRATEGIES as ACTIVE_STRATEGIES
from gp.errors import GPInputError
from gp.estimator import REFERENCE_LATENCY_PREFIX, reference_latency
from gp.latency import LATENCY_RULE, MAX_LATENCY_MS, MIN_LATENCY_MS
from gp.outliers import SurprisingMeasurement
from gp.spaces import SPACE_NAMES, NASBench201Space, SearchSpace, VectorSpace, get_space
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.archs import (
    ArchParser,
    ParsedArch,
    group_by_space,
    space_key,
    space_name,
    to_message,
)
from service.config import ENV_MAX_BATCH
from service.errors import (
    BatchTooLargeError,
    DeadlineExceededError,
    DeviceNotFoundError,
    InvalidRequestError,
    NotReadyError,
    ServerBusyError,
    ServiceError,
    grpc_errors,
)
from service.names import (
    TEXT_LAYOUT,
    name_problem,
    text_problem,
    unprintable_problem,
    vector_dim,
)
from service.registry import Registry, check_count
from service.store import DeviceRecord, MeasurementRow, Store
from service.waiting import CHECK_EVERY_S, Ended, holding, never
from service.wording import MEASURED_BEFORE, SERVER_BUSY, quantity

logger = logging.getLogger(__name__)
PageItem = TypeVar("PageItem", pb.Device, pb.Measurement)
#: AddMeasurements' surprising latencies, the upload's and those measured before it, and the
#: checking models' warnings.
Surprises = tuple[
    Sequence[pb.SurprisingMeasurement], Sequence[pb.SurprisingMeasurement], Sequence[str]
]

#: AddMeasurements' warning where it could not check an upload for surprising latencies.
UNCHECKED_WHILE_LOADING = (
    "this upload was not checked for surprising latencies: the model is still loading (a later"
    " upload's check also searches the device's earlier measurements)"
)
UNCHECKED_AFTER_A_FAULT = (
    "this upload was not checked for surprising latencies: the check failed (the server's log"
    " says why)"
)

STRATEGIES = ("", *ACTIVE_STRATEGIES)  # "" is the active default
#: Every device is sent in each ListDevices answer, so none may be large: without these, two
#: 40 MB descriptions made that answer exceed the message limit for every client.
MAX_DESCRIPTION_LENGTH = 10_000
MAX_ALIASES = 32
MAX_DESCRIPTOR_KEYS = 1_000
MAX_DESCRIPTOR_KEY_LENGTH = 200
#: ListDevices pages: devices per answer by default and at most, and an answer's size.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1_000
PAGE_BYTES = 2 * 1024 * 1024
#: What the rest of a page's answer may take: its next_page_token (a device name of at most 200
#: characters, 4 bytes each in UTF-8, or a row id) and its field's prefix.
PAGE_TOKEN_ROOM = 1024
#: What a device measured with vectors of one length needs to be measured with another.
UPLOAD_WAY_OUT = (
    "; to measure it with another encoding, delete its vectors first (DeleteMeasurements;"
    " `client delete --space vector`), or upload these under another device name"
)
#: How long a suggestion waits for a slot before it is turned away busy: a call that cannot
#: start holds its worker no longer, and its client waits out its backoff instead. At 1 s,
#: clients retrying suggestions kept the workers the slots leave free busy: a Predict took up
#: to 0.98 s (0.02 s at 0.1; a review, 2026-12-06).
SLOT_WAIT_S = CHECK_EVERY_S


class LatencyEstimatorServicer(pb_grpc.LatencyEstimatorServicer):
    """Implements the RPCs of ``proto/latency/v1/latency.proto``."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        max_batch: int = 100_000,
        importing: threading.Event | None = None,
        *,
        suggestion_slots: int,
        awaited_import: Path | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.max_batch = max_batch
        self.suggestion_slots = suggestion_slots
        self._free_suggestion_slots = threading.BoundedSemaphore(suggestion_slots)
        #: Set while the start imports its dataset: RegisterDevice waits for it (see there).
        self.importing = importing or threading.Event()
        #: The marker of an import another process (or none yet) is to finish, which this
        #: server does not: its removal ends ``importing``.
        self.awaited_import = awaited_import

    # ---- helpers -----------------------------------------------------------------------
    def _import_finished_elsewhere(self) -> bool:
        """Whether the import this server waits for, another process's, is done (its marker
        gone): a server started during one refused registrations until its restart (a
        review, 2026-12-06)."""
        if self.awaited_import is None or self.awaited_import.exists():
            return False
        self.importing.clear()
        # Its model was fitted on the tables there at its start: said, since no refusal now
        # asks for the restart that refits (a review, 2026-12-06).
        logger.warning(
            "the store's import that this server waited for is done: devices may register;"
            " its model was fitted on the tables imported by its start, and a restart fits"
            " on them all"
        )
        return True

    def _check_batch(self, what: str, size: int, remedy: str = "split the request") -> None:
        if size > self.max_batch:
            raise BatchTooLargeError(
                f"{size} {what} in one request exceed the limit of {self.max_batch}; {remedy}"
            )

    def _device(self, name: str) -> DeviceRecord:
        if not name:
            raise InvalidRequestError("device name is empty")
        return self.store.resolve(name)

    def _device_message(self, device: DeviceRecord) -> pb.Device:
        return pb.Device(
            name=device.name,
            aliases=device.aliases,
            descriptor=device.descriptor,
            description=device.description,
            measurement_count=device.measurement_count,
            source=device.name in self.registry.source_names,
        )

    # ---- RPCs --------------------------------------------------------------------------
    @grpc_errors
    def Predict(
        self, request: pb.PredictRequest, context: grpc.ServicerContext
    ) -> pb.PredictResponse:
        """Predicts every requested arch, grouped by space, answers in request order."""
        self._check_batch("archs", len(request.archs))
        device = self._device(request.device)
        ended = _ended(context)
        groups = group_by_space(ArchParser("arch", ended=ended).parse(request.archs))
        self.registry.require_ready()
        predictions: dict[int, pb.Prediction] = {}
        warnings: dict[str, None] = {}  # in order, once each
        with self.registry.consistent(device, context.time_remaining(), ended) as device:
            for group in groups.values():
                self._check_vector_length(device, group.space, f"arch {group.positions[0]}: ")
                result, said = self.registry.predict(device, group.space, group.archs, ended)
                warnings.update(dict.fromkeys(said))
                for j, position in enumerate(group.positions):
                    predictions[position] = pb.Prediction(
                        mean_ms=float(result.mean_ms[j]),
                        variance_ms2=float(result.var_ms2[j]),
                        lower_ms=float(result.lower_ms[j]),
                        upper_ms=float(result.upper_ms[j]),
                    )
            version = self.registry.model_version(device)
        ordered = [predictions[i] for i in range(len(request.archs))]
        return pb.PredictResponse(predictions=ordered, model_version=version, warnings=warnings)

    @grpc_errors
    def SuggestSamples(
        self, request: pb.SuggestSamplesRequest, context: grpc.ServicerContext
    ) -> pb.SuggestSamplesResponse:
        """Ranks the candidate pool (or NB201 minus measured) and returns ``count`` picks."""
        # Split, a suggestion's candidates would be two suggestions, each blind to the other.
        self._check_batch(
            "candidates", len(request.candidates), f"give fewer (or raise {ENV_MAX_BATCH})"
        )
        device = self._device(request.device)
        _check_suggest_options(request)
        ended = _ended(context)
        with self._suggestion_slot(context.time_remaining(), ended):
            return self._suggest(device, request, context, ended)

    def _suggestion_slot(
        self, remaining: float | None, ended: Ended
    ) -> AbstractContextManager[None]:
        """Holds one of the server's suggestion slots, or turns the call away busy (or ended
        by its deadline, where that came first)."""
        by_deadline = remaining is not None and remaining <= SLOT_WAIT_S

        def refusal() -> ServiceError:
            if by_deadline:
                return DeadlineExceededError(
                    "the deadline passed while the call waited for a suggestion slot: nothing"
                    " was done"
                )
            return ServerBusyError(
                f"{SERVER_BUSY}it is choosing {quantity(self.suggestion_slots, 'suggestion')}"
                " already, as many as it chooses at once (half its workers): nothing was done;"
                " retry after a pause"
            )

        wait = SLOT_WAIT_S if remaining is None else min(remaining, SLOT_WAIT_S)
        slot, what = self._free_suggestion_slots, "a suggestion slot"
        return holding(slot, wait, ended, what, refusal)

    def _suggest(
        self,
        device: DeviceRecord,
        request: pb.SuggestSamplesRequest,
        context: grpc.ServicerContext,
        ended: Ended,
    ) -> pb.SuggestSamplesResponse:
        name = space_name(request.search_space)
        parser = ArchParser("candidate", default_space=name, ended=ended)
        space = self._suggest_space(parser, name, request.candidates)
        candidates = self._candidates(parser, name, request.candidates)
        # Before the device's lock: a request bound to be refused waited behind uploads.
        check_count(request.count, candidates)
        with self.registry.consistent(device, context.time_remaining(), ended) as device:
            self._check_vector_length(device, space, "candidate 0: ")
            state = self.registry.device_state(device, space)
            version = self.registry.model_version(device)
        # Outside the device's lock, from what was read under it (see suggestion_inputs).
        inputs = self.registry.suggestion_inputs(device, space, request.count, candidates, state)
        result = self.registry.suggest(inputs, request.strategy, request.seed, stop=ended)
        suggestions = [
            pb.Suggestion(
                arch=to_message(space, arch),
                mean_ms=float(result.prediction.mean_ms[j]),
                variance_ms2=float(result.prediction.var_ms2[j]),
            )
            for j, arch in enumerate(result.archs)
        ]
        return pb.SuggestSamplesResponse(
            suggestions=suggestions, model_version=version, warnings=result.warnings
        )

    def _check_vector_length(
        self, device: DeviceRecord, space: SearchSpace, where: str, way_out: str = ""
    ) -> None:
        """Refuses vectors of a length the device has no measurements of while it has some of
        another: a mistaken encoding, whose answer would be the prior's (900 ms, sd 97,000 ms
        for a 3-feature query of a device measured with 4 features), given as if it knew. An
        upload of one would start a second model of the device, of its few vectors, and such
        queries would be answered from it. ``way_out`` ends the message."""
        if self._of_a_new_length(device, space):
            archs, _ = self.store.measurements(device.id, VectorSpace.name, device.version)
            _refuse_other_lengths(device, space, archs, where, way_out)

    def _of_a_new_length(self, device: DeviceRecord, space: SearchSpace) -> bool:
        """Whether ``space`` is of vectors of a length the device has no measurements of (that
        this server has seen)."""
        return (
            isinstance(space, VectorSpace)
            and not self.registry.measurements(device, space_key(space)).archs
        )

    @staticmethod
    def _suggest_space(
        parser: ArchParser, name: str, candidates: Sequence[pb.Architecture]
    ) -> SearchSpace:
        """The request's space (``name``: :func:`space_name`'s); for vectors its length comes
        from the first candidate."""
        if not candidates and name in SPACE_NAMES and name != NASBench201Space.name:
            raise InvalidRequestError(f"candidates are required for search space {name}")
        first = candidates[0] if candidates else None
        dim = None
        if first is not None:
            dim = len(first.features) or vector_dim(first.arch.strip())  # as parse_one counts
        try:
            return parser.space(name, dim)
        except GPInputError as exc:
            # An empty first vector is that candidate's fault, and says which it is.
            where = "candidate 0: " if first is not None and name == VectorSpace.name else ""
            raise InvalidRequestError(f"{where}{exc}") from None

    @staticmethod
    def _candidates(
        parser: ArchParser, name: str, candidates: Sequence[pb.Architecture]
    ) -> list[str] | None:
        if not candidates:
            return None
        parsed = parser.parse(candidates)
        expected = parser.space(name).name
        for i, item in enumerate(parsed):
            if item.space.name != expected:
                raise InvalidRequestError(
                    f"candidate {i}: search space {item.space.name!r} differs from the"
                    f" request's {expected!r}"
                )
        return [item.canonical for item in parsed]

    @grpc_errors
    def AddMeasurements(
        self, request: pb.AddMeasurementsRequest, context: grpc.ServicerContext
    ) -> pb.AddMeasurementsResponse:
        """Validates every measurement, then stores them all in one transaction."""
        self._check_batch("measurements", len(request.measurements))
        device = self._registered(request.device)
        rows, parsed = _measurement_rows(request.measurements, ended=_ended(context))
        _check_request_id(request.request_id)
        if not rows:  # a client checking its write access: nothing to store or recompute
            logger.debug("empty upload to %s: nothing stored", device.name)
            # Through the store all the same, which refuses it where a write would be lost.
            return self._added(self.store.add_batch(device.id, []).device, 0)
        # No answer about the device sees half of this.
        ended = _ended(context)
        with self.registry.consistent(device, context.time_remaining(), ended) as device:
            new_lengths = [
                g for g in group_by_space(parsed).values() if self._of_a_new_length(device, g.space)
            ]

            def refuse_new_lengths(stored: Callable[[str], list[str]]) -> None:
                # In the store's write transaction: two uploads of new lengths at once, through
                # two servers of one store, both found none measured (a review, 2026-12-06).
                archs = stored(VectorSpace.name)  # read once, for every group
                for group in new_lengths:
                    where = f"measurement {group.positions[0]}: "
                    _refuse_other_lengths(device, group.space, archs, where, UPLOAD_WAY_OUT)

            device, stored_now = self.store.add_batch(
                device.id,
                rows,
                request.request_id,
                context.time_remaining(),
                ended,
                refuse_new_lengths if new_lengths else None,
            )
            self.registry.invalidate(device.id)
            surprising = self._surprising(device, parsed, stored_now)
        if not stored_now:
            logger.info(
                "request %s to %s was stored before: not again", request.request_id, device.name
            )
        else:
            logger.info(
                "stored %s for %s (v%d)",
                quantity(len(rows), "measurement"),
                device.name,
                device.version,
            )
        return self._added(device, len(rows), surprising)

    def _registered(self, name: str) -> DeviceRecord:
        """The device a write names; its NOT_FOUND says how to register it."""
        try:
            return self._device(name)
        except DeviceNotFoundError as exc:
            raise DeviceNotFoundError(
                f"{exc}; register it first (RegisterDevice; `client register`)"
            ) from None

    @grpc_errors
    def DeleteMeasurements(
        self, request: pb.DeleteMeasurementsRequest, context: grpc.ServicerContext
    ) -> pb.DeleteMeasurementsResponse:
        """Validates every arch and measurement, then deletes in one transaction."""
        self._check_batch("archs", len(request.archs))
        self._check_batch("measurements", len(request.measurements))
        device = self._device(request.device)  # nothing to delete: no hint to register it
        ended = _ended(context)
        parser = ArchParser("arch", naming_stored=True, ended=ended)
        targets = [(a.space.name, a.canonical) for a in parser.parse(request.archs)]
        exact, _ = _measurement_rows(request.measurements, naming_stored=True, ended=ended)
        _check_request_id(request.request_id)
        # Under the device's lock, as an upload: no answer about the device sees half of it.
        with self.registry.device_lock(device, context.time_remaining(), ended):
            done = self.store.delete_batch(
                device.id, targets, request.request_id, context.time_remaining(), ended, exact
            )
            self.registry.invalidate(device.id)
        device, deleted, stored_now = done.device, done.deleted, done.stored
        named = [*targets, *((r.search_space, r.arch) for r in exact)]
        incomplete = bool(deleted) and self._emptied_source_archs(device, named)
        if stored_now:
            logger.info(
                "deleted %s of %s for %s (v%d)",
                quantity(deleted, "measurement"),
                quantity(len(set(named)), "arch"),
                device.name,
                device.version,
            )
            if incomplete:
                logger.warning(
                    "source device %s: NB201 measurements deleted; this server's fit keeps"
                    " them until it restarts, and the next start fits without %s unless its"
                    " table is completed again",
                    device.name,
                    device.name,
                )
        elif deleted:
            logger.info(
                "deletion %s of %s was stored before: not again", request.request_id, device.name
            )
        return pb.DeleteMeasurementsResponse(
            deleted=deleted,
            device_total=device.measurement_count,
            model_version=self.registry.model_version(device),
            source_table_incomplete=incomplete,
            unmatched_archs=[i for i, key in enumerate(targets) if key in done.unmatched_archs],
            unmatched_measurements=[
                i
                for i, row in enumerate(exact)
                if (row.search_space, row.arch, row.latency_ms) in done.unmatched_rows
            ],
        )

    def _emptied_source_archs(self, device: DeviceRecord, archs: Sequence[tuple[str, str]]) -> bool:
        """Whether a deletion of these archs left a source device's NB201 table without some
        of them: the running fit keeps them, and the next start fits without the device. A slip
        deleted beside the table's value (an exact row) leaves the table whole."""
        if device.name not in self.registry.source_names:
            return False
        named = {arch for space, arch in archs if space == NASBench201Space.name}
        return bool(named & self.store.wholly_deleted_archs(device.id, NASBench201Space.name))

    def _added(
        self, device: DeviceRecord, accepted: int, surprising: Surprises = ((), (), ())
    ) -> pb.AddMeasurementsResponse:
        uploaded, before, warnings = surprising
        return pb.AddMeasurementsResponse(
            accepted=accepted,
            device_total=device.measurement_count,
            model_version=self.registry.model_version(device),
            surprising=uploaded,
            surprising_before=before,
            warnings=warnings,
        )

    def _surprising(
        self, device: DeviceRecord, uploaded: Sequence[ParsedArch], stored_now: bool
    ) -> Surprises:
        """The uploaded archs whose latency the device's other measurements do not explain,
        and the archs measured before them that the same search found (none while the model
        is loading, or where the search failed: the upload is stored all the same, and a
        warning says it was not checked), each logged when ``stored_now``; with the checking
        models' warnings, once each. A retry of a stored upload is answered its
        own, not logged again, and none measured before it: it cannot tell them from the archs
        of uploads stored after its batch."""
        in_upload: list[pb.SurprisingMeasurement] = []
        before: list[pb.SurprisingMeasurement] = []
        warnings: list[str] = []
        for group in group_by_space(uploaded).values():
            try:
                check = self.registry.surprising(device, group.space, group.archs)
            except NotReadyError:
                # An empty list read as "checked, all fine" while a slip dragged every
                # prediction of the device (a user review).
                return (), (), (UNCHECKED_WHILE_LOADING,)
            except Exception:  # advisory: the upload is stored, and its answer must say so
                logger.exception("device %s: the check of its upload failed", device.name)
                return (), (), (UNCHECKED_AFTER_A_FAULT,)
            logged = device.name if stored_now else None
            in_upload += _surprise_messages(
                group.space, check.in_upload, logged, stored_before=False
            )
            if stored_now:
                before += _surprise_messages(group.space, check.before, logged, stored_before=True)
            warnings += check.warnings
        return in_upload, before, list(dict.fromkeys(warnings))

    @grpc_errors
    def RegisterDevice(
        self, request: pb.RegisterDeviceRequest, context: grpc.ServicerContext
    ) -> pb.Device:
        """Registers a device after checking its name, aliases, descriptor and description."""
        _check_names(request.name, request.aliases)
        descriptor = _check_descriptor(request.descriptor)
        description = _checked_description(request.description)
        if self.importing.is_set() and not self._import_finished_elsewhere():
            # A device registered meanwhile under a table's name got the table merged into its
            # own measurements; under an alias of one it stopped the start, and every restart.
            # "Retry shortly" alone was wrong for an interrupted import that a server without
            # --dataset never finishes (a review, 2026-12-06).
            raise NotReadyError(
                "the store's import of its dataset is not done: devices can be registered"
                " once it is (while a server or import-help imports it, retry shortly; if it"
                " was interrupted, finish it as the server's log says, and restart the server"
                " to fit on the tables)"
            )
        device = self.store.register_device(
            request.name,
            list(request.aliases),
            descriptor,
            description,
            context.time_remaining(),
            _ended(context),
        )
        logger.info("registered device %s (aliases %s)", device.name, device.aliases)
        return self._device_message(device)

    @grpc_errors
    def ListDevices(
        self, request: pb.ListDevicesRequest, context: grpc.ServicerContext
    ) -> pb.ListDevicesResponse:
        """A page of the registered devices, by name (see ListDevicesRequest)."""
        _check_page_size(request.page_size)
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        # One more than the page, to know whether another page follows.
        found = self.store.list_devices(after=self._name_after(request.page_token), limit=size + 1)
        page = _fill_page(map(self._device_message, found[:size]))
        more = len(page) < len(found)
        return pb.ListDevicesResponse(devices=page, next_page_token=page[-1].name if more else "")

    def _name_after(self, page_token: str) -> str:
        """The device name a ListDevices page token continues after ("": the first page)."""
        # The token is the last name listed, and devices are never removed: a string naming
        # none was not given by this RPC, and starting after it answers a silently partial list.
        try:
            if not page_token or self.store.resolve(page_token).name == page_token:
                return page_token
        except DeviceNotFoundError:
            pass
        raise _foreign_token(page_token)

    def _row_after(self, device: DeviceRecord, space: str, page_token: str) -> int:
        """The measurement row a ListMeasurements page token continues after (0: the first)."""
        if not page_token:
            return 0
        # The token is the last row listed. Anything else (another device's or space's row
        # included) was not given for this list, and starting after it would skip rows. A row
        # id has at most 19 digits, and int() refuses over 4,300 (a ValueError: INTERNAL).
        if (
            page_token.isascii()
            and page_token.isdigit()
            and len(page_token) <= len(str(2**63 - 1))
            and int(page_token) < 2**63
        ):
            row = int(page_token)
            # Deleted since it was listed, it still says where the listing goes on.
            if self.store.holds_row(device.id, space, row):
                return row
        raise _foreign_token(page_token)

    @grpc_errors
    def GetDevice(self, request: pb.GetDeviceRequest, context: grpc.ServicerContext) -> pb.Device:
        """One device by name or alias."""
        return self._device_message(self._device(request.name))

    @grpc_errors
    def ListMeasurements(
        self, request: pb.ListMeasurementsRequest, context: grpc.ServicerContext
    ) -> pb.ListMeasurementsResponse:
        """A device's measurements in one space, canonical, in upload order: all of them, or
        a page (see ListMeasurementsRequest)."""
        _check_page_size(request.page_size)
        device = self._device(request.device)
        name = space_name(request.search_space)
        after = self._row_after(device, name, request.page_token)
        # At most a batch a page: a page can be uploaded again in one AddMeasurements.
        size = min(request.page_size, self.max_batch)
        # One more than the page, to know whether another page follows.
        rows = self.store.measurement_rows(device.id, name, after, size + 1 if size else -1)
        dim = (vector_dim(rows[0][1]) if rows else 1) if name == VectorSpace.name else None
        space = get_space(name, dim)  # an unknown name (none stored under it): its error
        messages = (
            pb.Measurement(arch=to_message(space, arch), latency_ms=ms) for _, arch, ms in rows
        )
        if not size:  # all of them, as before pages existed
            return pb.ListMeasurementsResponse(measurements=messages)
        page = _fill_page(itertools.islice(messages, size))
        more = len(page) < len(rows)
        token = str(rows[len(page) - 1][0]) if more else ""
        return pb.ListMeasurementsResponse(measurements=page, next_page_token=token)


def _refuse_other_lengths(
    device: DeviceRecord, space: SearchSpace, archs: Sequence[str], where: str, way_out: str
) -> None:
    """Refuses ``space``'s vectors where the device's measured ``archs`` are all of other
    lengths (see ``_check_vector_length``)."""
    # Its own length too, where all its vectors of it are beyond the space's bound now.
    measured = sorted({vector_dim(arch) for arch in archs} - {space.dim})
    if measured:
        lengths = " or ".join(str(dim) for dim in measured)
        raise InvalidRequestError(
            f"{where}expected {lengths} features (the length of {device.name}'s measured"
            f" vectors), got {space.dim}{way_out}"
        )


def _ended(context: grpc.ServicerContext) -> Ended:
    """Whether the call has ended: its deadline passed, or its client cancelled it or left."""
    return lambda: not context.is_active()


def _fill_page(messages: Iterable[PageItem]) -> list[PageItem]:
    """The messages up to the one that would take an answer past PAGE_BYTES (at least one)."""
    page: list[PageItem] = []
    budget = PAGE_BYTES - PAGE_TOKEN_ROOM
    for message in messages:
        # With its field's tag and length prefix, 2-4 bytes each: a page of 19,023 short
        # measurements ended 38 KB past 2 MiB (a review, 2026-12-06).
        size = message.ByteSize()
        budget -= 1 + _varint_bytes(size) + size
        if page and budget < 0:
            break
        page.append(message)
    return page


def _varint_bytes(value: int) -> int:
    """The bytes protobuf encodes the non-negative ``value`` in."""
    return max(1, (value.bit_length() + 6) // 7)


def _check_page_size(page_size: int) -> None:
    if page_size < 0:
        raise InvalidRequestError(f"page_size must be 0 or more, got {page_size}")


def _foreign_token(page_token: str) -> InvalidRequestError:
    return InvalidRequestError(f"page_token {page_token[:40]!r} is not one this RPC gave")


def _check_suggest_options(request: pb.SuggestSamplesRequest) -> None:
    if request.strategy not in STRATEGIES:
        raise InvalidRequestError(
            f"unknown strategy {request.strategy!r}; expected"
            f" {', '.join(map(repr, STRATEGIES[:-1]))} or {STRATEGIES[-1]!r}"
        )
    if request.count < 1:
        raise InvalidRequestError(f"count must be at least 1, got {request.count}")
    if request.seed < 0:
        raise InvalidRequestError(f"seed must be non-negative, got {request.seed}")


def _measurement_rows(
    measurements: Sequence[pb.Measurement], naming_stored: bool = False, ended: Ended = never
) -> tuple[list[MeasurementRow], list[ParsedArch]]:
    """Validates measurements (``naming_stored``: a deletion's, whose archs are parsed as
    :class:`ArchParser` says; ``ended``: the call's, asked as they are read); raises
    InvalidRequestError naming the first bad one.

    Returns:
        The rows to store (or delete), and each one's parsed arch.
    """
    parser = ArchParser("measurement", naming_stored=naming_stored, ended=ended)
    rows, archs = [], []
    for i, measurement in enumerate(measurements):
        latency = measurement.latency_ms
        if not MIN_LATENCY_MS <= latency <= MAX_LATENCY_MS:  # NaN fails too
            raise InvalidRequestError(f"measurement {i}: latency {latency!r} ms {LATENCY_RULE}")
        if not measurement.HasField("arch"):
            raise InvalidRequestError(f"measurement {i}: arch is missing")
        parsed = parser.parse_at(i, measurement.arch)
        rows.append(MeasurementRow(parsed.space.name, parsed.canonical, float(latency)))
        archs.append(parsed)
    return rows, archs


def _surprise_messages(
    space: SearchSpace,
    found: Sequence[tuple[str, SurprisingMeasurement]],
    log_for: str | None,
    stored_before: bool,
) -> list[pb.SurprisingMeasurement]:
    """The answer's messages for ``found``, each logged as the device ``log_for``'s (None: a
    retry's answer, not logged again)."""
    if log_for is not None:
        for arch, surprise in found:
            _log_surprising(log_for, arch, surprise, stored_before)
    return [_surprising_message(space, arch, surprise) for arch, surprise in found]


def _log_surprising(
    device: str, arch: str, surprise: SurprisingMeasurement, stored_before: bool
) -> None:
    # The median of the arch's measurements, not necessarily one uploaded; beyond 1e-6 the
    # p-value tells the model's far tails, not a chance (a unit slip gave 2e-171).
    logger.warning(
        "device %s: %s%s at %.4g ms (the median of its measurements), %.1fx off the %.4g ms"
        " (90%%: %.4g-%.4g) its other measurements predict (p%s); stored and used as measured",
        device,
        MEASURED_BEFORE if stored_before else "",
        arch,
        surprise.measured_ms,
        surprise.factor,
        surprise.expected_ms,
        surprise.lower_ms,
        surprise.upper_ms,
        "<1e-06" if surprise.p_value < 1e-6 else f"={surprise.p_value:.1g}",
    )


def _surprising_message(
    space: SearchSpace, arch: str, surprise: SurprisingMeasurement
) -> pb.SurprisingMeasurement:
    return pb.SurprisingMeasurement(
        arch=to_message(space, arch),
        latency_ms=surprise.measured_ms,
        expected_ms=surprise.expected_ms,
        lower_ms=surprise.lower_ms,
        upper_ms=surprise.upper_ms,
        p_value=surprise.p_value,
    )


def _check_names(name: str, aliases: Sequence[str]) -> None:
    _refuse(name_problem("device name", name))
    if len(aliases) > MAX_ALIASES:
        raise InvalidRequestError(f"{len(aliases)} aliases, more than the limit of {MAX_ALIASES}")
    for i, alias in enumerate(aliases):
        _refuse(name_problem(f"alias {i}", alias))


def _check_text(label: str, value: str) -> None:
    _refuse(text_problem(label, value))


def _check_request_id(request_id: str) -> None:
    if request_id:  # stored with the batch and logged on a retry
        _check_text("request_id", request_id)


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise InvalidRequestError(problem)


def _checked_description(description: str) -> str:
    """Free text of at most MAX_DESCRIPTION_LENGTH characters, lines and tabs included, but no
    other character a name may not hold: every device table prints it, an escape sequence there
    cleared or recoloured the terminal of whoever listed the devices, and a direction override
    reversed the rest of the row. A Windows line break (CRLF) is kept as a line feed: one pasted
    from a Windows file was refused (a wire review); a carriage return alone, which overwrites
    a printed row, is still refused."""
    if len(description) > MAX_DESCRIPTION_LENGTH:  # as sent: CRLFs count twice
        raise InvalidRequestError(
            f"description is longer than {MAX_DESCRIPTION_LENGTH:,} characters"
        )
    description = description.replace("\r\n", "\n")
    problem = unprintable_problem("description", description, allowed=TEXT_LAYOUT)
    if problem is not None:
        raise InvalidRequestError(problem)
    return description


def _check_descriptor(descriptor: Mapping[str, float]) -> dict[str, float]:
    """At most MAX_DESCRIPTOR_KEYS keys, each non-empty, printable and at most
    MAX_DESCRIPTOR_KEY_LENGTH characters; values must be finite; ``latency:<arch>`` keys must
    name NB201 archs."""
    if len(descriptor) > MAX_DESCRIPTOR_KEYS:
        raise InvalidRequestError(
            f"descriptor has {len(descriptor):,} keys, more than the limit of"
            f" {MAX_DESCRIPTOR_KEYS:,}"
        )
    space = NASBench201Space()
    checked = {}
    for key, value in sorted(descriptor.items()):
        if not key:
            raise InvalidRequestError("descriptor has an empty key")
        if len(key) > MAX_DESCRIPTOR_KEY_LENGTH:
            raise InvalidRequestError(
                f"descriptor key {key[:20]!r}... is longer than {MAX_DESCRIPTOR_KEY_LENGTH}"
                " characters"
            )
        if problem := unprintable_problem("descriptor key", key):
            raise InvalidRequestError(problem)  # stored and listed back, as names are
        if not math.isfinite(value):
            raise InvalidRequestError(f"descriptor {key!r}: value {value!r} must be finite")
        if _misnamed_reference_key(key, space):
            raise InvalidRequestError(
                f"descriptor {key!r}: reference latencies are keyed"
                f" {REFERENCE_LATENCY_PREFIX!r} in lower case, then the NB201 arch"
            )
        if key.startswith(REFERENCE_LATENCY_PREFIX):
            try:  # as the model reads it
                arch, _ = reference_latency(space, key, value)
            except GPInputError as exc:
                raise InvalidRequestError(str(exc)) from None
            key = REFERENCE_LATENCY_PREFIX + arch
        checked[key] = float(value)
    return checked


def _misnamed_reference_key(key: str, space: NASBench201Space) -> bool:
    """Whether ``key`` is a reference latency's under another name: in other case
    ("Latency:..."), or an NB201 arch alone or after another latency prefix ("|...|",
    "latency_ms:|...|"). Each was kept as a plain fact, the device then predicted as if
    unmeasured (reviews, 2026-12-06 and 2026-12-07). Other facts of an arch keep their
    names (client measure's "measure.reference_ms:|...|")."""
    if key.startswith(REFERENCE_LATENCY_PREFIX):
        return False
    if key[: len(REFERENCE_LATENCY_PREFIX)].casefold() == REFERENCE_LATENCY_PREFIX:
        return True
    head, _, tail = key.rpartition(":")  # arch strings hold no colon
    # "latency_ms:", not "latency_sd:" or "latency_p90:", another fact of the arch.
    if head and not re.fullmatch(r"latency[ _.-]?(ms|msec|milliseconds)?", head.casefold()):
        return False
    try:
        return tail.startswith("|") and bool(space.canonical(tail))
    except ValueError:
        return False
