"""Every error status, with the store checked unchanged after each rejected request."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from gp.errors import SelectionStoppedError
from gp.estimator import LatencyEstimator
from gp.spaces.fbnet import random_archs
from gp.spaces.nasbench201 import all_archs
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.config import ServiceConfig
from service.errors import (
    MAX_DETAILS,
    StoreAccessError,
    StoreBusyError,
    StoreCorruptError,
    StoreIOError,
    bounded,
    grpc_errors,
)
from service.server import RunningServer, create_server
from service.wording import NOTHING_DONE_KEY
from tests.helpers import CallAborted, FakeCallContext
from tests.service.conftest import fit_settings, nb201

ARCHS = all_archs()
OK = ARCHS[0]
Stub = pb_grpc.LatencyEstimatorStub


def m(arch: pb.Architecture | str, latency: float = 1.0) -> pb.Measurement:
    message = nb201(arch) if isinstance(arch, str) else arch
    return pb.Measurement(arch=message, latency_ms=latency)


def add(device: str, *measurements: pb.Measurement) -> Callable[[Stub], object]:
    request = pb.AddMeasurementsRequest(device=device, measurements=measurements)
    return lambda stub: stub.AddMeasurements(request)


def delete(device: str, *archs: pb.Architecture, request_id: str = "") -> Callable[[Stub], object]:
    request = pb.DeleteMeasurementsRequest(device=device, archs=archs, request_id=request_id)
    return lambda stub: stub.DeleteMeasurements(request)


def predict(device: str, *archs: pb.Architecture) -> Callable[[Stub], object]:
    return lambda stub: stub.Predict(pb.PredictRequest(device=device, archs=archs))


def suggest(**fields: object) -> Callable[[Stub], object]:
    return lambda stub: stub.SuggestSamples(pb.SuggestSamplesRequest(**fields))


def register(
    name: str, aliases: tuple[str, ...] = (), **fields: object
) -> Callable[[Stub], object]:
    request = pb.RegisterDeviceRequest(name=name, aliases=aliases, **fields)
    return lambda stub: stub.RegisterDevice(request)


INVALID = grpc.StatusCode.INVALID_ARGUMENT
CASES: dict[str, tuple[Callable[[Stub], object], grpc.StatusCode, str]] = {
    "add: malformed arch": (add("pi4", m(OK), m("|bad~0|")), INVALID, "measurement 1:"),
    "add: NaN latency": (add("pi4", m(OK), m(OK, float("nan"))), INVALID, "measurement 1: latency"),
    "add: inf latency": (add("pi4", m(OK, float("inf"))), INVALID, "measurement 0: latency"),
    "add: zero latency": (add("pi4", m(OK), m(OK, 0.0)), INVALID, "must be finite and between"),
    "add: negative latency": (add("pi4", m(OK, -2.0)), INVALID, "measurement 0"),
    "add: subnormal latency": (add("pi4", m(OK), m(OK, 5e-324)), INVALID, "measurement 1"),
    "add: absurd latency": (add("pi4", m(OK, 1e300)), INVALID, "measurement 0: latency"),
    "add: unknown space": (
        add("pi4", m(pb.Architecture(search_space="darts", arch="x"))),
        INVALID,
        "measurement 0: unknown search space 'darts'",
    ),
    "add: vector length mismatch": (
        add(
            "pi4",
            m(pb.Architecture(search_space="vector", features=[1, 2])),
            m(pb.Architecture(search_space="vector", features=[1, 2, 3])),
        ),
        INVALID,
        "measurement 1: expected 2 features",
    ),
    "add: missing arch": (
        add("pi4", m(OK), pb.Measurement(latency_ms=1.0)),
        INVALID,
        "measurement 1: arch is missing",
    ),
    "add: empty device": (add("", m(OK)), INVALID, "device name is empty"),
    "add: unknown device": (
        add("nope", m(OK)),
        grpc.StatusCode.NOT_FOUND,
        "register it first (RegisterDevice; `client register`)",
    ),
    "predict: malformed arch": (predict("pi4", nb201(OK), nb201("junk")), INVALID, "arch 1:"),
    "predict: unknown space": (
        predict("pi4", pb.Architecture(search_space="darts", arch="x")),
        INVALID,
        "arch 0: unknown search space",
    ),
    "predict: fbnet wrong block": (
        predict("pi4", pb.Architecture(search_space="fbnet", arch="k3_e1,nope")),
        INVALID,
        "arch 0:",
    ),
    "predict: vector length": (
        predict(
            "pi4",
            pb.Architecture(search_space="vector", features=[1]),
            pb.Architecture(search_space="vector", features=[1, 2]),
        ),
        INVALID,
        "arch 1: expected 1 features",
    ),
    "predict: features of an nb201 arch": (
        predict("pi4", pb.Architecture(arch=OK, features=[1.0])),
        INVALID,
        "arch 0: features apply only to the 'vector' space, not 'nasbench201'",
    ),
    "predict: empty vector": (
        predict("pi4", pb.Architecture(search_space="vector", arch="")),
        INVALID,
        "arch 0: a vector arch needs at least one feature",
    ),
    "predict: empty device": (predict("", nb201(OK)), INVALID, "device name is empty"),
    "predict: unknown device": (predict("nope", nb201(OK)), grpc.StatusCode.NOT_FOUND, "nope"),
    "suggest: count 0": (suggest(device="pi4", count=0), INVALID, "count must be at least 1"),
    "suggest: negative seed": (
        suggest(device="pi4", count=1, seed=-1),
        INVALID,
        "seed must be non-negative",
    ),
    "suggest: count > pool": (
        suggest(
            device="pi4",
            count=3,
            search_space="fbnet",
            candidates=[pb.Architecture(arch=a) for a in random_archs(2, 0)],
        ),
        INVALID,
        "pool size 2",
    ),
    "suggest: every candidate measured": (
        suggest(device="pi4", count=1, candidates=[nb201(OK), nb201(ARCHS[1])]),
        INVALID,
        "raspi4: every candidate given is measured or a reference arch",
    ),
    "suggest: fbnet without candidates": (
        suggest(device="pi4", count=1, search_space="fbnet"),
        INVALID,
        "candidates are required for search space fbnet",
    ),
    "suggest: vector without candidates": (
        suggest(device="pi4", count=1, search_space="vector"),
        INVALID,
        "candidates are required for search space vector",
    ),
    "suggest: unknown strategy": (
        suggest(device="pi4", count=1, strategy="best"),
        INVALID,
        "unknown strategy 'best'; expected '', 'active', 'greedy' or 'random'",
    ),
    "suggest: bad candidate": (
        suggest(device="pi4", count=1, candidates=[nb201(OK), nb201("x")]),
        INVALID,
        "candidate 1:",
    ),
    "suggest: candidate in other space": (
        suggest(
            device="pi4",
            count=1,
            search_space="fbnet",
            candidates=[pb.Architecture(arch=random_archs(1, 0)[0]), nb201(OK)],
        ),
        INVALID,
        "candidate 1:",
    ),
    "suggest: unknown device": (suggest(device="x", count=1), grpc.StatusCode.NOT_FOUND, "'x'"),
    "register: empty name": (register(""), INVALID, "device name is empty"),
    "register: empty alias": (register("new", ("a", "")), INVALID, "alias 1 is empty"),
    "register: line break in name": (register("a\nb"), INVALID, "control or format character"),
    "register: direction override": (register("a\u202eb"), INVALID, "control or format character"),
    "register: line separator": (register("a\u2028b"), INVALID, "control or format character"),
    "register: escape in alias": (register("new", ("\x1b[2J",)), INVALID, "alias 0"),
    "register: name too long": (register("n" * 201), INVALID, "longer than 200 characters"),
    "register: padded name": (register("new "), INVALID, "'new ' has leading or trailing"),
    "register: padded alias": (register("new", ("a", " b")), INVALID, "alias 1 ' b' has leading"),
    "register: name taken": (register("raspi4"), grpc.StatusCode.ALREADY_EXISTS, "raspi4"),
    "register: name is an alias": (register("pi4"), grpc.StatusCode.ALREADY_EXISTS, "pi4"),
    "register: alias taken": (
        register("new", ("fresh", "pi4")),
        grpc.StatusCode.ALREADY_EXISTS,
        "'pi4' is already taken by device 'raspi4'",
    ),
    "register: alias is a name": (
        register("new", ("pixel3",)),
        grpc.StatusCode.ALREADY_EXISTS,
        "pixel3",
    ),
    "register: alias repeats name": (
        register("d2", ("d2",)),
        INVALID,
        "name/alias 'd2' is given more than once",
    ),
    "register: alias repeated": (
        register("new", ("a", "b", "a")),
        INVALID,
        "name/alias 'a' is given more than once",
    ),
    "register: empty descriptor key": (
        register("new", descriptor={"": 1.0}),
        INVALID,
        "descriptor has an empty key",
    ),
    "register: descriptor key too long": (
        register("new", descriptor={"k" * 201: 1.0}),
        INVALID,
        "descriptor key 'kkkkkkkkkkkkkkkkkkkk'... is longer than 200 characters",
    ),
    "register: descriptor key with an escape sequence": (
        register("new", descriptor={"x\nFAKE\x1b[31m": 1.0}),
        INVALID,
        "descriptor key 'x\\nFAKE\\x1b[31m' has a control or format character",
    ),
    "register: a reference latency's key in other case": (
        # Kept as a plain fact before, and the device predicted as if unmeasured (a review).
        register("new", descriptor={"Latency:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 1}),
        INVALID,
        "descriptor 'Latency:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|': reference latencies"
        " are keyed"
        " 'latency:' in lower case, then the NB201 arch",
    ),
    "register: a reference latency keyed by another prefix": (
        # Kept as a plain fact too, the arch predicted from the prior (a user review).
        register(
            "new", descriptor={"latency_ms:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 1}
        ),
        INVALID,
        "descriptor 'latency_ms:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|': reference"
        " latencies are keyed 'latency:' in lower case, then the NB201 arch",
    ),
    "register: a reference latency keyed by another prefix in other case": (
        # As a spreadsheet's header writes it: kept as a plain fact, as "Latency:" was.
        register(
            "new", descriptor={"Latency_ms:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 1}
        ),
        INVALID,
        "descriptor 'Latency_ms:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|': reference"
        " latencies are keyed 'latency:' in lower case, then the NB201 arch",
    ),
    "register: a reference latency keyed by its arch alone": (
        register("new", descriptor={"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 1}),
        INVALID,
        "descriptor '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|': reference latencies are"
        " keyed 'latency:' in lower case, then the NB201 arch",
    ),
    "register: too many descriptor keys": (
        register("new", descriptor={f"k{i}": 1.0 for i in range(1001)}),
        INVALID,
        "descriptor has 1,001 keys, more than the limit of 1,000",
    ),
    "register: too many aliases": (
        register("new", tuple(f"a{i}" for i in range(33))),
        INVALID,
        "33 aliases, more than the limit of 32",
    ),
    "register: description too long": (
        register("new", description="x" * 10_001),
        INVALID,
        "description is longer than 10,000 characters",
    ),
    "register: escape in description": (
        register("new", description="fast \x1b[2J\x1b[31mred"),
        INVALID,
        "description 'fast \\x1b[2J\\x1b[31mred' has a control or format character",
    ),
    "register: direction override in description": (
        register("new", description="Jetson \u202egnp.exe"),
        INVALID,
        "description 'Jetson \\u202egnp.exe' has a control or format character",
    ),
    "register: line separator in description": (
        register("new", description="one\u2028two"),
        INVALID,
        "description 'one\\u2028two' has a control or format character",
    ),
    "register: bad reference arch": (
        register("new", descriptor={"latency:nope": 1.0}),
        INVALID,
        "descriptor 'latency:nope'",
    ),
    "register: a reference latency out of range": (
        register("new", descriptor={f"latency:{OK}": 0.0}),
        INVALID,
        "': latency 0.0 ms must be",
    ),
    "register: description too long as sent (a CRLF counts two)": (
        register("new", description="x" * 9_999 + "\r\n"),
        INVALID,
        "description is longer than 10,000 characters",
    ),
    "register: NaN descriptor": (
        register("new", descriptor={"ram": float("nan")}),
        INVALID,
        "must be finite",
    ),
    "delete: malformed arch": (delete("pi4", nb201(OK), nb201("|bad~0|")), INVALID, "arch 1:"),
    "delete: non-finite vector": (
        delete(
            "pi4",
            pb.Architecture(search_space="vector", features=[1, 2]),
            pb.Architecture(search_space="vector", features=[1, math.inf, 3]),
        ),
        INVALID,
        "arch 1: element 1 is inf; values must be finite",
    ),
    "delete: request_id with a line break": (
        delete("pi4", nb201(OK), request_id="a\nb"),
        INVALID,
        "request_id",
    ),
    "delete: unknown device": (
        delete("nobody", nb201(OK)),
        grpc.StatusCode.NOT_FOUND,
        "unknown device 'nobody'",
    ),
    "get: unknown device": (
        lambda stub: stub.GetDevice(pb.GetDeviceRequest(name="x")),
        grpc.StatusCode.NOT_FOUND,
        "unknown device 'x'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_status_and_store_unchanged(case: str, server: RunningServer, stub: Stub) -> None:
    call, code, fragment = CASES[case]
    before = server.store.table_counts()
    with pytest.raises(grpc.RpcError) as info:
        call(stub)
    assert info.value.code() == code, info.value.details()
    assert fragment in info.value.details()
    assert server.store.table_counts() == before


@pytest.mark.parametrize(
    ("call", "code", "start"),
    [
        # Within the longest name looked up (a longer one is quoted in 40 characters).
        (lambda stub: stub.GetDevice(pb.GetDeviceRequest(name="x" * 1_500)), "NOT_FOUND", ""),
        (predict("pi4", nb201("y" * 20_000)), "INVALID_ARGUMENT", "arch 0: "),
        (
            predict("pi4", pb.Architecture(search_space="\U0001f600" * 2_000)),
            "INVALID_ARGUMENT",
            "",
        ),
        (suggest(device="pi4", count=1, strategy="s" * 20_000), "INVALID_ARGUMENT", ""),
    ],
    ids=["device", "arch", "space", "strategy"],
)
def test_a_message_quoting_long_input_keeps_its_status(
    stub: Stub, call: Callable[[Stub], object], code: str, start: str
) -> None:
    """Before, the quoted input made the trailers exceed grpc's 16 KiB: the client got
    RESOURCE_EXHAUSTED ("Stream removed") instead of the error."""
    with pytest.raises(grpc.RpcError) as info:
        call(stub)
    assert info.value.code().name == code, info.value.details()
    assert info.value.details().startswith(start) and " ... " in info.value.details()
    assert len(info.value.details()) <= MAX_DETAILS


@pytest.fixture
def small_batch_server(
    store_path: Path, model_cache: dict[str, LatencyEstimator]
) -> Iterator[RunningServer]:
    """A server whose batch limit is 3."""
    config = ServiceConfig(
        address="127.0.0.1:0", store_path=store_path, fit=fit_settings(), max_batch=3
    )
    running = create_server(config, model_cache)
    running.warm_up()
    yield running
    running.stop(grace=0)


@pytest.mark.parametrize(
    "call",
    [
        add("pi4", *[m(a) for a in ARCHS[:4]]),
        predict("pi4", *[nb201(a) for a in ARCHS[:4]]),
        suggest(device="pi4", count=1, candidates=[nb201(a) for a in ARCHS[:4]]),
    ],
    ids=["add", "predict", "suggest"],
)
def test_batch_limit_is_resource_exhausted(
    small_batch_server: RunningServer, call: Callable[[Stub], object]
) -> None:
    before = small_batch_server.store.table_counts()
    with grpc.insecure_channel(f"127.0.0.1:{small_batch_server.port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            call(pb_grpc.LatencyEstimatorStub(channel))
        ok = pb_grpc.LatencyEstimatorStub(channel).AddMeasurements(
            pb.AddMeasurementsRequest(device="pi4", measurements=[m(a) for a in ARCHS[:3]])
        )
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceed the limit of 3" in info.value.details()
    # Split, a suggestion's candidates would be two suggestions: it had said to split them.
    suggesting = "candidates" in info.value.details()
    assert ("split the request" in info.value.details()) != suggesting
    assert suggesting == info.value.details().endswith("give fewer (or raise LATENCY_MAX_BATCH)")
    assert ok.accepted == 3
    assert small_batch_server.store.table_counts()["measurements"] == before["measurements"] + 3


@pytest.mark.parametrize(
    ("remaining", "code"),
    [(None, grpc.StatusCode.CANCELLED), (-0.5, grpc.StatusCode.DEADLINE_EXCEEDED)],
)
def test_suggestions_stopped_by_the_call_take_its_status(
    remaining: float | None, code: grpc.StatusCode
) -> None:
    """A client that cancelled its SuggestSamples (no deadline) was logged and counted
    DEADLINE_EXCEEDED."""

    class Servicer:
        @grpc_errors
        def SuggestSamples(self, request: object, context: object) -> None:
            raise SelectionStoppedError("stopped after 3 of 50 picks")

    context = FakeCallContext(remaining)  # a call that ended while its handler picked
    with pytest.raises(CallAborted):
        Servicer().SuggestSamples(None, context)
    assert context.status == (code, "stopped after 3 of 50 picks")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StoreCorruptError("store s.sqlite is corrupt; restore it from a backup"), "DATA_LOSS"),
        (StoreAccessError("cannot read store s.sqlite: Permission denied"), "UNAVAILABLE"),
    ],
)
def test_a_store_found_unusable_while_serving_says_so_to_the_client(
    server: RunningServer, stub: Stub, monkeypatch: pytest.MonkeyPatch, error: Exception, code: str
) -> None:
    """They were INTERNAL "internal error: StoreCorruptError": the message saying what to do
    reached only the server's log (a review, 2026-12-06)."""

    def unusable(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(server.store, "list_devices", unusable)
    with pytest.raises(grpc.RpcError) as info:
        stub.ListDevices(pb.ListDevicesRequest())
    assert (info.value.code().name, info.value.details()) == (code, str(error))


def test_an_unknown_search_space_of_candidates_is_not_blamed_on_one(
    server: RunningServer, stub: Stub
) -> None:
    """The request's own field, not its first candidate's (the space says how each is read)."""
    request = pb.SuggestSamplesRequest(
        device="pi4", count=1, search_space="darts", candidates=[pb.Architecture(arch="x")]
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.SuggestSamples(request)
    assert info.value.details().startswith("unknown search space 'darts'")


def test_a_bug_is_internal_and_its_message_stays_in_the_server_s_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client learns the error's type alone: its text may name the server's files."""

    class Servicer:
        @grpc_errors
        def Predict(self, request: object, context: object) -> None:
            raise RuntimeError("secret at /srv/private/store.sqlite")

    context = FakeCallContext(None)
    with pytest.raises(CallAborted):
        Servicer().Predict(None, context)
    assert context.status == (grpc.StatusCode.INTERNAL, "internal error: RuntimeError")
    assert "secret at /srv/private/store.sqlite" in caplog.text  # with its traceback


def _refused_by_a_write(error: StoreBusyError) -> StoreBusyError:
    error.nothing_done = True  # as the store's write transaction marks it
    return error


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (StoreBusyError("store s.sqlite is busy (locked by another process); try again"), "INFO"),
        (_refused_by_a_write(StoreBusyError("store s.sqlite is busy; try again")), "INFO"),
        (StoreIOError("store s.sqlite: disk I/O error"), "WARNING"),
        (StoreCorruptError("store s.sqlite is corrupt"), "WARNING"),
    ],
)
def test_a_store_s_faults_are_warned_of_but_a_busy_store_is_not(
    error: StoreBusyError | StoreIOError | StoreCorruptError,
    level: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full disk, lost access or corruption is the operator's to fix; a lock held by another
    process passes, and clients retry it."""

    class Servicer:
        @grpc_errors
        def AddMeasurements(self, request: object, context: object) -> None:
            raise error

    caplog.set_level(logging.INFO, logger="service.errors")
    context = FakeCallContext(None)
    with pytest.raises(CallAborted):
        Servicer().AddMeasurements(None, context)
    (record,) = [r for r in caplog.records if r.name == "service.errors"]
    assert record.levelname == level and str(error) in record.getMessage()
    # A write the store's lock refused stored nothing, and says so: a client need not warn of
    # a maybe-stored write.
    said = ((NOTHING_DONE_KEY, "1"),) if error.nothing_done else ()
    assert context.trailing_metadata == said


def test_a_message_of_the_longest_length_sent_is_sent_whole() -> None:
    assert bounded("x" * MAX_DETAILS) == "x" * MAX_DETAILS
    elided = bounded("a" * 300 + "b" * 201)
    assert len(elided) <= MAX_DETAILS and elided.startswith("a" * 247 + " ... ")
    assert elided.endswith("b" * 201)
