"""LatencyClient against a real in-process server on a loopback port."""

from __future__ import annotations

import csv
import io
import logging
import math
import pickle
import re
import ssl
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import client.api
from client import (
    AlreadyExistsError,
    ClientInputError,
    DeadlineExceededError,
    InvalidArgumentError,
    LatencyClient,
    LatencyServiceError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServerBusyError,
    UnauthenticatedError,
    UnavailableError,
)
from client.api import (
    NB201,
    DeleteResult,
    DeviceInfo,
    Prediction,
    Predictions,
    Suggestion,
    Suggestions,
    SurprisingMeasurement,
    to_architecture,
    to_architectures,
)
from service import servicer as servicer_module
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from service.config import ServiceConfig
from service.server import RunningServer, create_server
from service.wording import SERVER_BUSY
from tests.client.conftest import HEAVY, LIGHT
from tests.helpers import FakeRpcError
from tests.service import conftest as service_fixtures

FBNET_ARCH = ["k3_e1", "skip", "k5_e6", "k3_e3", "k5_e1_g2", "k3_e6"] * 3 + ["k5_e3"] * 4
CELLS = [
    "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
]


# ---- without a server ------------------------------------------------------------------------
def test_architecture_forms() -> None:
    assert to_architecture(LIGHT).search_space == "nasbench201"
    fb = to_architecture(FBNET_ARCH)
    assert fb.search_space == "fbnet" and fb.arch == ",".join(FBNET_ARCH)
    assert to_architecture(",".join(FBNET_ARCH)).search_space == "fbnet"
    vector = to_architecture(np.array([1.0, 2.5]))
    assert vector.search_space == "vector" and list(vector.features) == [1.0, 2.5]
    assert list(to_architecture("1, 2.5").features) == [1.0, 2.5]
    assert to_architecture([0, 1] * 11, search_space="fbnet").arch.startswith("0,1,0")
    assert len(to_architectures(LIGHT)) == 1  # a lone string is one arch, not its characters
    assert len(to_architectures(np.ones(3))) == 1
    assert [len(m.features) for m in to_architectures(np.ones((4, 3)))] == [3, 3, 3, 3]
    with pytest.raises(ClientInputError):
        to_architecture(3.5)  # type: ignore[arg-type]
    # A flat list of numbers, or of FBNet block names, cannot be many archs: it is one.
    (flat,) = to_architectures([0.5, 2, np.float32(1.5)])
    assert flat.search_space == "vector" and list(flat.features) == [0.5, 2.0, 1.5]
    (blocks,) = to_architectures(FBNET_ARCH)
    assert blocks.search_space == "fbnet" and blocks.arch == ",".join(FBNET_ARCH)
    assert len(to_architectures([FBNET_ARCH, FBNET_ARCH])) == 2


def test_the_client_and_the_server_read_numbers_by_one_grammar() -> None:
    """Two copies (the client may not import gp): a fix to one must reach the other."""
    from client.grammar import DECIMAL
    from gp.spaces.vector import DECIMAL as SERVERS

    assert (DECIMAL.pattern, DECIMAL.flags) == (SERVERS.pattern, SERVERS.flags)


def test_a_long_run_of_digits_is_refused_without_backtracking() -> None:
    """ "\\d+\\.?\\d*" matched the same digits two ways: refusing 20,000 of them and an "x"
    took 9 s, the server's worker holding the GIL (a review, 2026-12-06); 50,000 took a
    minute. Linear, it takes milliseconds: the bound is a hundred times that."""
    import time

    from client.grammar import is_decimal

    started = time.perf_counter()
    assert not is_decimal("1" * 50_000 + "x")
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize("element", ["1_0", "\u0661", "\uff11"])
def test_vector_text_is_read_as_decimals_only(element: str) -> None:
    """float() read "1_0" as 10 and other scripts' digits as 1: a typo was a vector of other
    values (a review, 2026-12-06). Refused as a vector's element, not read as FBNet blocks."""
    for space in (None, "vector"):
        with pytest.raises(ClientInputError, match=f"must hold numbers: .*{element!r}"):
            to_architecture(f"{element},2", search_space=space)
    assert list(to_architecture(" -1.5e3 , .5 ", search_space="vector").features) == [-1500, 0.5]
    assert list(to_architecture("\x1c1.,+2E1").features) == [1.0, 20.0]  # as before


@pytest.mark.parametrize("archs", [None, 5, np.float64(3.0), b"|none~0|"])
def test_archs_of_the_wrong_type_are_a_typed_error(archs: object) -> None:
    with pytest.raises(ClientInputError, match="archs must be an arch or an iterable"):
        to_architectures(archs)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(), (2, 2, 6)])
def test_an_archs_array_of_other_than_one_or_two_dimensions_is_named_by_its_shape(
    shape: tuple[int, ...],
) -> None:
    # A 0-d array raised numpy's bare TypeError, a 3-d one blamed the shape of a row.
    with pytest.raises(ClientInputError, match=rf"got shape {re.escape(str(shape))}"):
        to_architectures(np.ones(shape))


@pytest.mark.parametrize("shape", [(), (2, 6)])
def test_one_arch_given_as_an_array_of_other_than_one_dimension_is_named_by_its_shape(
    shape: tuple[int, ...],
) -> None:
    # A 0-d array is no sequence (numpy's bare TypeError), a 2-d one's rows no numbers.
    with pytest.raises(ClientInputError, match=rf"1-d, got shape {re.escape(str(shape))}"):
        to_architecture(np.ones(shape))


def test_an_arch_the_client_refuses_is_named_by_its_index() -> None:
    with pytest.raises(ClientInputError, match="^arch 2: cannot send an arch of type NoneType"):
        to_architectures([LIGHT, HEAVY, None])  # type: ignore[list-item]
    with LatencyClient("127.0.0.1:1") as latency:  # refused before any call
        with pytest.raises(ClientInputError, match="^measurement 1: cannot send an arch of type"):
            latency.add_measurements("pi4", [(LIGHT, 1.0), (None, 2.0)])


@pytest.mark.parametrize(
    ("archs", "given"),
    [
        (5, "5"),
        (np.int64(5), "5"),
        ([0, 1, 2], "a sequence of 3 number(s)"),
        (np.array([0, 1, 2]), "a sequence of 3 number(s)"),
        ([0.0, 1.0], "a sequence of 2 number(s)"),
        ("123", "'123'"),
        (["123"], "arch 0: '123'"),
        (np.array([[3], [4]]), "arch 0: a sequence of 1 number(s)"),
        ([LIGHT, HEAVY, 7], "arch 2: 7"),
    ],
)
def test_nb201_indices_are_refused_when_the_space_is_nasbench201(archs: Any, given: str) -> None:
    """Numbers went as the cell "0,1,2", which the server refused as a malformed cell
    ("expected 3 groups separated by '+'"), and a lone index as "archs must be an arch or an
    iterable": neither said indices are not taken, nor why."""
    expected = f"^{re.escape(given)} is not an NB201 arch; NB201 archs are cell strings"
    with pytest.raises(ClientInputError, match=expected) as refused:
        to_architectures(archs, search_space=NB201)
    assert "15,625 archs differently" in str(refused.value)


def test_an_nb201_index_measured_is_refused_naming_its_measurement() -> None:
    with LatencyClient("127.0.0.1:1") as latency:  # refused before any call
        with pytest.raises(ClientInputError, match="^measurement 1: 5 is not an NB201 arch"):
            pairs = [(LIGHT, 1.0), (5, 2.0)]
            latency.add_measurements("pi4", pairs, search_space=NB201)  # type: ignore[arg-type]


def _answered_without_a_server(monkeypatch: pytest.MonkeyPatch) -> LatencyClient:
    """A client whose predictions are answered here: what it warns of is decided before."""
    latency = LatencyClient("127.0.0.1:1")

    def reply(device: str, messages: list, start: int, stop: int) -> pb.PredictResponse:
        predictions = [pb.Prediction(mean_ms=1.0)] * (stop - start)
        return pb.PredictResponse(predictions=predictions, model_version="v1")

    monkeypatch.setattr(latency, "_predict_batch", reply)
    return latency


def test_numbers_read_as_vectors_that_look_like_nb201_indices_are_warned_of(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``predict("pi4", [0, 1, 2])`` was answered as one 3-feature vector nobody measured,
    and ``client predict -d pi4 123`` as a 1-feature one: the prior's guess, without a word."""
    latency = _answered_without_a_server(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        latency.predict("pi4", [0, 1, 2])
        latency.predict("pi4", np.array([5, 17, 300]))
        latency.predict("pi4", ["123", "4", "0.5"])
        latency.predict("pi4", np.array([[3], [4]]))
    warned = [r.getMessage() for r in caplog.records]
    flat = "archs, a flat list of whole numbers 0..15624 read as one vector, look like NB201"
    assert [w.startswith(flat) for w in warned] == [True, True, False, False]
    assert [w.split(" of one whole number")[0] for w in warned[2:]] == ["2 arch(s)", "2 arch(s)"]
    assert all("NB201 indices: NB201 archs are cell strings" in w for w in warned)
    assert all("search_space='vector' (--space vector)" in w for w in warned)


def test_suggest_and_the_writes_warn_of_nb201_indices_as_predict_does(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    latency = LatencyClient("127.0.0.1:1")
    replies = {
        "SuggestSamples": pb.SuggestSamplesResponse(),
        "AddMeasurements": pb.AddMeasurementsResponse(),
        "DeleteMeasurements": pb.DeleteMeasurementsResponse(),
    }
    monkeypatch.setattr(latency, "_call", lambda method, *args, **kwargs: replies[method])
    with caplog.at_level(logging.WARNING, logger="client.api"):
        latency.suggest("pi4", count=1, candidates=[5, 17, 300])
        latency.add_measurements("pi4", {"5": 3.0, "17": 4.0})
        latency.delete_measurements("pi4", [5, 17, 300], measurements=[([5], 3.0)])
    warned = [r.getMessage().split(" look like NB201 indices")[0] for r in caplog.records]
    flat = "archs, a flat list of whole numbers 0..15624 read as one vector,"
    singles = "arch(s) of one whole number 0..15624, read as vectors,"
    assert warned == [flat, f"2 {singles}", f"1 {singles}", flat]


@pytest.mark.parametrize(
    ("archs", "search_space"),
    [
        ([0, 1, 2], "vector"),
        (["123"], "vector"),
        ([0.0, 1.0, 2.0], None),  # floats are features, not indices
        (np.arange(3.0), None),
        ([[16, 32, 64]], None),  # a list of vectors says what it is
        ([0, 1, 0, 0, 1], None),  # one-hot
        ([[0.5], [2.5]], None),
    ],
)
def test_feature_vectors_are_not_warned_of_as_nb201_indices(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    archs: Any,
    search_space: str | None,
) -> None:
    latency = _answered_without_a_server(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        latency.predict("pi4", archs, search_space=search_space)
    assert caplog.records == []


def test_fbnet_block_indices_are_not_warned_of_as_nb201_indices(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    latency = _answered_without_a_server(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        latency.predict("pi4", [i % 9 for i in range(22)])
    (warned,) = [r.getMessage() for r in caplog.records]
    assert "look like FBNet block indices" in warned


def test_an_array_of_fbnet_block_names_is_one_arch_as_a_list_of_them_is() -> None:
    # Each block name was sent as an NB201 cell of its own.
    for dtype in (str, object):
        (message,) = to_architectures(np.array(FBNET_ARCH, dtype=dtype))
        assert message == to_architecture(FBNET_ARCH)
    assert len(to_architectures(np.array(CELLS))) == 3  # NB201 cells stay one arch each


def test_a_row_of_one_arch_string_is_that_arch() -> None:
    # Rows of a one-column table (csv.reader, fetchall(), a 2-d array) went as one FBNet
    # block each, and the server answered "expected 22 blocks, got 1" for NB201 cells.
    expected = to_architectures(CELLS)
    assert to_architectures([[cell] for cell in CELLS]) == expected
    assert to_architectures([(cell,) for cell in CELLS]) == expected
    assert to_architectures(np.array(CELLS).reshape(-1, 1)) == expected
    assert to_architecture([",".join(FBNET_ARCH)]) == to_architecture(FBNET_ARCH)
    assert to_architecture(["k3_e1"]).search_space == "fbnet"  # a block name stays a block


def test_a_list_of_nb201_ops_is_refused_with_its_cell_string() -> None:
    """It went as FBNet blocks, and the server answered "expected 22 blocks, got 6" (a user
    review)."""
    ops = ["nor_conv_3x3", "none", "skip_connect", "none", "none", "avg_pool_3x3"]
    cell = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    with pytest.raises(ClientInputError) as refused:
        to_architecture(ops)
    assert str(refused.value) == f"a list of 6 NB201 ops is no arch: give its cell string, {cell!r}"
    assert to_architecture(cell).arch == cell  # the string it names is the arch meant
    assert to_architecture(ops[:5] + ["k3_e1"]).search_space == "fbnet"  # not all ops: blocks


def test_a_flat_list_of_nb201_ops_given_as_archs_is_refused_with_its_cell_string() -> None:
    """predict("pi4", ops) sent each op as an arch of its own, and the server answered "arch 0:
    expected 3 groups ... in 'nor_conv_3x3'", as though six archs were meant; a list of that
    list was told its cell string (a NAS user's review, 2026-12-07)."""
    ops = ["nor_conv_3x3", "none", "skip_connect", "none", "none", "avg_pool_3x3"]
    cell = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    for given in (ops, tuple(ops), np.array(ops)):
        with pytest.raises(ClientInputError) as refused:
            to_architectures(given)
        message = f"a list of 6 NB201 ops is no arch: give its cell string, {cell!r}"
        assert str(refused.value) == message


def test_a_row_of_number_strings_is_a_vector_as_the_same_text_joined_is() -> None:
    """csv.reader rows of a feature file went as FBNet archs: "expected 22 blocks, got 4"."""
    rows = list(csv.reader(io.StringIO("1.5,1.2,1.1,0\n2,3,4,5\n")))
    assert to_architectures(rows) == to_architectures(["1.5,1.2,1.1,0", "2,3,4,5"])
    assert to_architecture(rows[0]).search_space == "vector"
    assert to_architecture(FBNET_ARCH).search_space == "fbnet"
    with pytest.raises(ClientInputError, match="not an NB201 arch"):
        to_architecture(rows[0], "nasbench201")


def test_an_arch_in_bytes_is_a_typed_error() -> None:
    # bytes are a sequence of ints: b"|...|" became a feature vector of its byte values.
    for archs in ([LIGHT.encode()], [bytearray(LIGHT.encode())]):
        with pytest.raises(ClientInputError, match="cannot send an arch of type byte"):
            to_architectures(archs)  # type: ignore[arg-type]


def test_requests_are_split_by_size_as_well_as_count() -> None:
    """20,000 vectors of 500 floats are 80 MB, over the 64 MiB message limit."""
    latency = LatencyClient("127.0.0.1:1", batch_size=20_000)
    long_rows = to_architectures(np.zeros((20_000, 500)))
    batches = list(latency._batches(long_rows))
    assert batches[0][0] == 0 and batches[-1][1] == 20_000 and len(batches) == 5
    sizes = [sum(m.ByteSize() for m in long_rows[a:b]) for a, b in batches]
    assert max(sizes) <= client.api.REQUEST_BUDGET_BYTES
    assert list(
        LatencyClient("127.0.0.1:1", batch_size=3)._batches(to_architectures(CELLS * 3))
    ) == [
        (0, 3),
        (3, 6),
        (6, 9),
    ]
    assert list(latency._batches([])) == [(0, 0)]  # the server still checks the device


def test_a_request_holds_as_many_archs_as_its_byte_budget_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request starts its byte count afresh: counting the arch that opens it twice cut
    every request after the first one arch short."""
    messages = to_architectures([LIGHT] * 9)
    monkeypatch.setattr(client.api, "REQUEST_BUDGET_BYTES", 3 * messages[0].ByteSize())
    latency = LatencyClient("127.0.0.1:1")
    assert list(latency._batches(messages)) == [(0, 3), (3, 6), (6, 9)]


def test_a_latency_below_the_expected_one_is_as_many_times_off() -> None:
    """A slip 4x too fast (a timer that missed the sync) is as far off as one 4x too slow."""
    fast = SurprisingMeasurement(CELLS[0], NB201, 2.0, 8.0, 6.0, 11.0, 1e-5)
    assert fast.factor == 4.0 and "4.0x off the 8 ms" in fast.describe()


def test_a_suggestion_reply_keeps_its_variance_and_features() -> None:
    message = pb.Suggestion(
        arch=pb.Architecture(search_space="vector", arch="1.0,2.0", features=[1.0, 2.0]),
        mean_ms=3.0,
        variance_ms2=16.0,
    )
    suggestion = Suggestion.from_message(message)
    assert (suggestion.arch, suggestion.search_space) == ("1.0,2.0", "vector")
    assert (suggestion.mean_ms, suggestion.std_ms, suggestion.features) == (3.0, 4.0, (1.0, 2.0))


def test_a_split_prediction_is_redone_until_one_model_version_made_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A device measured meanwhile made the parts of one split prediction disagree."""
    latency = LatencyClient("127.0.0.1:1", batch_size=1)
    versions = iter(["v1", "v2", "v2", "v2"])  # first attempt mixed, second consistent

    def reply(device: str, messages: list, start: int, stop: int) -> pb.PredictResponse:
        version = next(versions)
        return pb.PredictResponse(
            predictions=[pb.Prediction(mean_ms=float(start + 1))], model_version=version
        )

    monkeypatch.setattr(latency, "_predict_batch", reply)
    result = latency.predict("pi4", [LIGHT, HEAVY])
    assert result.model_version == "v2" and list(result.mean_ms) == [1.0, 2.0]
    always_mixed = iter(["a", "b"] * client.api.CONSISTENT_ATTEMPTS)
    monkeypatch.setattr(
        latency,
        "_predict_batch",
        lambda *args: pb.PredictResponse(
            predictions=[pb.Prediction(mean_ms=1.0)], model_version=next(always_mixed)
        ),
    )
    with pytest.raises(LatencyServiceError, match="changed during each of 3 attempts") as info:
        latency.predict("pi4", [LIGHT, HEAVY])
    assert info.value.code == "ABORTED"


def test_the_service_s_warnings_are_logged_once_each_for_a_split_prediction(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What the model assumed of the device's data (a vector feature taken as 0) reached the
    server's log alone; each request of a split prediction carries it."""
    latency = LatencyClient("127.0.0.1:1", batch_size=1)
    said = "vector features x2: 0 up to rounding (...), taken as 0"

    def reply(device: str, messages: list, start: int, stop: int) -> pb.PredictResponse:
        prediction = [pb.Prediction(mean_ms=1.0)]
        return pb.PredictResponse(predictions=prediction, model_version="v1", warnings=[said])

    monkeypatch.setattr(latency, "_predict_batch", reply)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        predicted = latency.predict("vec", [[1.0, 2.0, 0.0], [3.0, 4.0, 0.0], [5.0, 6.0, 0.0]])
    assert [r.getMessage() for r in caplog.records] == [f"vec: {said}"]
    assert predicted.warnings == (said,) and predicted[1:].warnings == (said,)


def test_an_upload_s_answer_keeps_and_logs_the_service_s_warnings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    latency = LatencyClient("127.0.0.1:1")
    said = "vector features x2: 0 up to rounding (...), taken as 0"
    reply = pb.AddMeasurementsResponse(accepted=1, model_version="v1", warnings=[said, said])
    monkeypatch.setattr(latency, "_write_once", lambda method, request: reply)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        added = latency.add_measurements("vec", [([1.0, 2.0, 0.0], 3.0)])
    assert [r.getMessage() for r in caplog.records] == [f"vec: {said}"]
    assert added.warnings == (said,) and added.accepted == 1


def test_a_loop_of_predictions_logs_each_of_the_service_s_warnings_once_a_device(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A NAS loop predicting thousands of times logged the same assumption on every call; each
    answer still carries it."""
    latency = LatencyClient("127.0.0.1:1")
    said, other = "feature x2 taken as 0", "feature x3 taken as 0"
    replies = iter([[said], [said], [said, other], [said]])

    def reply(device: str, messages: list, start: int, stop: int) -> pb.PredictResponse:
        prediction = [pb.Prediction(mean_ms=1.0)]
        return pb.PredictResponse(
            predictions=prediction, model_version="v1", warnings=next(replies)
        )

    monkeypatch.setattr(latency, "_predict_batch", reply)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        answers = [latency.predict(device, [[1.0, 2.0, 0.0]]) for device in ("a", "a", "a", "b")]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [f"a: {said}", f"a: {other}", f"b: {said}"]
    assert [answer.warnings for answer in answers] == [(said,), (said,), (said, other), (said,)]


def test_the_service_s_warnings_about_suggestions_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    latency = LatencyClient("127.0.0.1:1")
    said = "vector features x2: 0 up to rounding (...), taken as 0"
    reply = pb.SuggestSamplesResponse(model_version="v1", warnings=[said, said])
    monkeypatch.setattr(latency, "_call", lambda method, request: reply)
    with caplog.at_level(logging.WARNING, logger="client.api"):
        picks = latency.suggest("vec", 1, candidates=[[1.0, 2.0, 0.0], [3.0, 4.0, 0.0]])
    assert [r.getMessage() for r in caplog.records] == [f"vec: {said}"]
    assert picks.warnings == (said,) and picks[:1].warnings == (said,)


def test_a_split_prediction_is_attempted_three_times_before_giving_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    latency = LatencyClient("127.0.0.1:1", batch_size=1)
    starts: list[int] = []

    def always_mixed(device: str, messages: list, start: int, stop: int) -> pb.PredictResponse:
        starts.append(start)
        version = f"v{len(starts)}"  # every part from another model version
        return pb.PredictResponse(predictions=[pb.Prediction()], model_version=version)

    monkeypatch.setattr(latency, "_predict_batch", always_mixed)
    with pytest.raises(LatencyServiceError, match="changed during each of 3 attempts"):
        latency.predict("pi4", [LIGHT, HEAVY])
    assert starts == [0, 1] * 3


def test_wrong_argument_types_are_typed_errors(latency: LatencyClient) -> None:
    """Before, each of these ended in a TypeError or ValueError from protobuf or unpacking."""
    for call, fragment in [
        (lambda: latency.predict(3, [LIGHT]), "device must be a string"),  # type: ignore[arg-type]
        (lambda: latency.suggest("pi4", count=2.5), "count must be a whole number"),  # type: ignore[arg-type]
        (lambda: latency.register_device("x", descriptor={"a": "x"}), "'a': 'x' is not a number"),  # type: ignore[dict-item]
        (lambda: latency.add_measurements("pi4", [LIGHT]), "measurement 0: expected an (arch"),  # type: ignore[list-item]
        (lambda: LatencyClient(timeout_s=None), "got timeout_s=None"),  # type: ignore[arg-type]
        (lambda: latency.suggest("pi4", candidates=[]), "candidates is empty"),
    ]:
        with pytest.raises(ClientInputError) as info:
            call()
        assert fragment in str(info.value)
    with pytest.raises(NotFoundError):
        latency.predict("nope", [])  # no archs: the device is still checked
    assert len(latency.predict("pi4", [])) == 0
    # As [] is: an empty float array was one vector of no feature (INVALID_ARGUMENT).
    assert len(latency.predict("pi4", np.array([]))) == 0
    with pytest.raises(InvalidArgumentError, match="at least one feature"):  # 3 archs, not 0
        latency.predict("pi4", np.zeros((3, 0)), search_space="vector")
    alias = latency.register_device("tx2", aliases="nano2")  # one alias, not five letters
    assert alias.aliases == ("nano2",)


def test_a_latency_that_is_not_a_number_is_named_by_its_measurement(
    latency: LatencyClient,
) -> None:
    with pytest.raises(ClientInputError, match="measurement 1: latency 'fast' is not a number"):
        latency.add_measurements("pi4", [(LIGHT, 1.0), (HEAVY, "fast")])
    # Text is read as the CLI reads it: float() took "1_0" as 10 ms and full-width digits as
    # digits (a review, 2026-12-06).
    for text in ["1_0", "\uff11\uff12", "\u0661\u0662", b"1_0", np.bytes_(b"1_0")]:
        with pytest.raises(ClientInputError, match="is not a number"):
            latency.add_measurements("pi4", [(HEAVY, text)])
    latency.register_device("bytes-read")
    assert latency.add_measurements("bytes-read", [(HEAVY, b"2.5")]).accepted == 1


def test_arguments_the_wire_cannot_carry_are_typed_errors(latency: LatencyClient) -> None:
    """Each of these raised protobuf's bare TypeError or ValueError (the CLI's --count and
    --seed beyond the wire's int32 and int64 ended in a traceback)."""
    for call, fragment in [
        (lambda: latency.suggest("pi4", count=2**31), "count must be a whole number from 1"),
        (lambda: latency.suggest("pi4", count=-(2**40)), "count must be a whole number from 1"),
        (lambda: latency.suggest("pi4", seed=2**63), "seed must be a whole number from 0"),
        (lambda: latency.suggest("pi4", seed=1.5), "seed must be"),  # type: ignore[arg-type]
        (lambda: latency.suggest("pi4", strategy=1), "strategy must be a string"),  # type: ignore[arg-type]
        (lambda: latency.predict("pi4", [LIGHT], search_space=1), "search_space must be"),  # type: ignore[arg-type]
        (lambda: latency.device(3), "name must be a string"),  # type: ignore[arg-type]
        (lambda: latency.register_device("x", description=5), "description must be"),  # type: ignore[arg-type]
    ]:
        with pytest.raises(ClientInputError) as info:
            call()
        assert fragment in str(info.value)
    latency.register_device("fresh")
    assert len(latency.suggest("fresh", count=2, seed=np.int64(2**63 - 1))) == 2


def test_the_largest_count_and_seed_the_wire_carries_are_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    latency = LatencyClient("127.0.0.1:1")
    sent: list[pb.SuggestSamplesRequest] = []

    def call(method: str, request: pb.SuggestSamplesRequest) -> pb.SuggestSamplesResponse:
        sent.append(request)
        return pb.SuggestSamplesResponse()

    monkeypatch.setattr(latency, "_call", call)
    latency.suggest("pi4", count=2**31 - 1, seed=2**63 - 1)
    assert (sent[0].count, sent[0].seed) == (2**31 - 1, 2**63 - 1)


def test_a_closed_client_says_so(target: str) -> None:
    latency = LatencyClient(target)
    latency.close()
    with pytest.raises(ClientInputError, match="is closed"):
        latency.devices()


def test_a_client_closed_during_a_retry_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another thread closes the client while a call waits to retry: grpc's bare ValueError
    # ("Cannot invoke RPC on closed channel!") reached the caller.
    port = service_fixtures.free_port()
    latency = LatencyClient(f"127.0.0.1:{port}", retries=2, backoff_s=0.1)
    monkeypatch.setattr(client.api.time, "sleep", lambda _: latency.close())
    with pytest.raises(ClientInputError, match="is closed"):
        latency.devices()


def test_from_env_reads_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATENCY_TIMEOUT", "2.5")
    assert LatencyClient.from_env().timeout_s == 2.5
    for bad in ("soon", "0", "nan", "inf", "1_0"):  # float() read "1_0" as 10 s (a review)
        monkeypatch.setenv("LATENCY_TIMEOUT", bad)
        with pytest.raises(ClientInputError, match=f"LATENCY_TIMEOUT='{bad}'"):
            LatencyClient.from_env()
    assert LatencyClient.from_env(timeout_s=4.0).timeout_s == 4.0  # given: the variable unread


def test_a_timeout_beyond_what_grpc_can_carry_waits_instead_of_failing_at_once(
    target: str,
) -> None:
    """grpc answers DEADLINE_EXCEEDED, without asking, to a deadline past 2**63 ns after 1970:
    a timeout_s of 1e10 (or $LATENCY_TIMEOUT, --timeout), meant as no limit, failed every call."""
    with LatencyClient(target, timeout_s=1e10, retries=0) as latency:
        assert latency.devices()


def test_numpy_numbers_are_numbers(latency: LatencyClient) -> None:
    """protobuf takes numpy scalars; the type checks must too."""
    assert LatencyClient("127.0.0.1:1", batch_size=np.int64(100)).batch_size == 100
    info = latency.register_device("np-dev", descriptor={"memory_gb": np.float32(1.5)})
    assert info.descriptor == {"memory_gb": 1.5}
    assert len(latency.suggest("np-dev", count=np.int64(2))) == 2
    added = latency.add_measurements("np-dev", [np.array([LIGHT, 2.5], dtype=object)])
    assert added.accepted == 1
    with pytest.raises(ClientInputError):
        to_architecture(np.ones((2, 2)))
    with pytest.raises(ClientInputError):
        to_architecture([1.0, "x", None], search_space="vector")  # type: ignore[list-item]


def test_a_bool_is_not_a_number_to_the_client() -> None:
    with LatencyClient("127.0.0.1:1") as latency:  # refused before any call
        with pytest.raises(ClientInputError, match="'fast': True is not a number"):
            latency.register_device("x", descriptor={"fast": True})
    with pytest.raises(ClientInputError, match="got timeout_s=True"):
        LatencyClient(timeout_s=True)


def test_a_measurement_of_three_items_is_not_a_pair() -> None:
    with LatencyClient("127.0.0.1:1") as latency:  # refused before any call
        with pytest.raises(ClientInputError, match="measurement 1: expected an"):
            latency.add_measurements("pi4", [(LIGHT, 1.0), (LIGHT, 1.0, "ms")])


def test_pickling_a_client_says_to_open_one_per_process() -> None:
    with LatencyClient("127.0.0.1:1", token="s3cret") as latency:
        with pytest.raises(TypeError, match="LatencyClient cannot be pickled.*each process"):
            pickle.dumps(latency)


def test_repr_hides_the_token() -> None:
    with LatencyClient("127.0.0.1:1", token="s3cret") as latency:
        assert "s3cret" not in repr(latency)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("gpu-box:", "'gpu-box:' has an empty port (grpc would dial 443)"),
        ("[::1]:", "'[::1]:' has an empty port (grpc would dial 443)"),
        ("gpu-box:99999", "'gpu-box:99999': port 99999 is beyond 65535"),  # dialled at 34463
        ("127.0.0.1:65536", "'127.0.0.1:65536': port 65536 is beyond 65535"),  # at 0
    ],
)
def test_a_target_whose_port_grpc_would_misdial_is_refused(target: str, problem: str) -> None:
    """Only an empty target was refused; the CLI's --target refused these already."""
    with pytest.raises(ClientInputError) as caught:
        LatencyClient(target)
    assert str(caught.value) == f"target {problem}"


@pytest.mark.parametrize(
    "target",
    [
        "dns:///gpu-box:50051",
        "DNS:///gpu-box:50051",  # grpc reads schemes in any case
        "dns:gpu-box:",  # a URI: grpc's to read
        "ipv4:127.0.0.1:50051",
        "ipv6:[::1]:50051",
        "unix:/tmp/latency.sock",
        "unix-abstract:latency",
        "xds:///latency",
        "[::1]:50051",
        "gpu-box",  # grpc dials 443: right behind a TLS proxy
        "::1",  # an IPv6 address without brackets: a host, no port
        "gpu-box:https",  # a port by name
    ],
)
def test_every_grpc_target_form_is_taken(target: str) -> None:
    LatencyClient(target).close()


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ClientInputError):
        LatencyClient(timeout_s=0)
    for target in (None, 50051):  # grpc's AttributeError: ... has no attribute 'encode'
        with pytest.raises(ClientInputError, match="target must be a string"):
            LatencyClient(target)  # type: ignore[arg-type]
    for target in ("", "  "):  # grpc took them, and the first call failed as UNKNOWN
        with pytest.raises(ClientInputError, match="target is empty"):
            LatencyClient(target)
    for seconds in (math.nan, math.inf):  # every call failed at once as DEADLINE_EXCEEDED
        with pytest.raises(ClientInputError, match="finite"):
            LatencyClient(timeout_s=seconds)
        with pytest.raises(ClientInputError, match="finite"):
            LatencyClient(backoff_s=seconds)
    with pytest.raises(ClientInputError):
        LatencyClient(ca_cert="/nonexistent/ca.pem")


def test_settings_out_of_range_are_rejected_at_their_bounds() -> None:
    """A negative retries ended every call in "unreachable", a negative backoff in
    time.sleep's ValueError, and a batch_size of 0 left requests bounded by bytes alone."""
    for setting, value in (("retries", -1), ("backoff_s", -0.5), ("batch_size", 0)):
        with pytest.raises(ClientInputError, match=f"{setting}={value!r}"):
            LatencyClient(**{setting: value})
    LatencyClient(retries=0, backoff_s=0.0, batch_size=1).close()


def test_channels_carry_messages_up_to_the_message_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """grpc's default limit, 4 MiB, is under one request's REQUEST_BUDGET_BYTES."""
    opened: list[dict[str, Any]] = []

    def insecure_channel(target: str, options: Any) -> grpc.Channel:
        opened.append(dict(options))
        return real(target)

    real = grpc.insecure_channel
    monkeypatch.setattr(client.api.grpc, "insecure_channel", insecure_channel)
    LatencyClient("127.0.0.1:1", options=[("grpc.primary_user_agent", "nas")]).close()
    limit = client.api.MESSAGE_LIMIT_BYTES
    assert limit > client.api.REQUEST_BUDGET_BYTES
    assert opened == [
        {
            "grpc.max_send_message_length": limit,
            "grpc.max_receive_message_length": limit,
            "grpc.primary_user_agent": "nas",
        }
    ]


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CA certificate, PEM."""
    return service_fixtures.make_tls_files(tmp_path_factory.mktemp("tls")).ca


def test_ca_certificates_grpc_cannot_load_are_refused_naming_their_source(
    ca_pem: Path, tmp_path: Path
) -> None:
    """grpc took them, logged C-level errors ("Could not load any root certificate") and failed
    every call UNAVAILABLE after the retries; empty bytes made it trust the system's CAs."""
    der = tmp_path / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(ca_pem.read_text()))
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    key = ca_pem.with_name("ca.key")
    none_in = "no PEM certificate (-----BEGIN CERTIFICATE-----) in"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"root_certificates": b""}, f"{none_in} root_certificates: it is empty"),
        (
            {"root_certificates": bytes(ca_pem)},
            f"{none_in} root_certificates; {bytes(ca_pem)!r} is a file's path: give it as"
            " ca_cert=PATH",
        ),
        (
            {"root_certificates": der.read_bytes()},
            f"{none_in} root_certificates: convert a DER file with openssl x509 -inform der"
            " -in ca.der -out ca.pem",
        ),
        (
            {"ca_cert": der},
            f"{none_in} {der}: convert a DER file with openssl x509 -inform der -in {der}"
            f" -out {tmp_path / 'ca.pem'}",
        ),
        ({"ca_cert": key}, f"{none_in} {key}: it holds a private key, not a certificate"),
        (
            {"ca_cert": str(damaged)},
            f"the first PEM certificate in {damaged} does not parse (damaged or cut off?)",
        ),
    ]
    for settings, message in cases:
        with pytest.raises(ClientInputError) as caught:
            LatencyClient(**settings)
        assert str(caught.value) == message
    # What grpc loads is taken: a bundle damaged after its first certificate, text around it.
    bundle = b"# our CA\n" + ca_pem.read_bytes() + damaged.read_bytes()
    LatencyClient(root_certificates=bundle).close()
    LatencyClient(ca_cert=ca_pem).close()


def test_root_certificates_and_ca_cert_together_are_refused(
    ca_pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ca_cert was ignored without a word."""
    with pytest.raises(ClientInputError) as caught:
        LatencyClient(root_certificates=ca_pem.read_bytes(), ca_cert=ca_pem)
    assert str(caught.value) == (
        "give root_certificates or ca_cert, not both: which CA to trust is ambiguous"
    )
    # Given certificates stand for $LATENCY_CA_CERT, as a given token for $LATENCY_TOKEN.
    monkeypatch.setenv("LATENCY_CA_CERT", "/nonexistent/ca.pem")
    LatencyClient.from_env(root_certificates=ca_pem.read_bytes()).close()


@pytest.mark.parametrize("certificates", ["-----BEGIN CERTIFICATE-----\n", "ca.pem", 5])
def test_root_certificates_other_than_bytes_are_refused_by_name(certificates: object) -> None:
    """grpc raised a bare TypeError ("expected certificate to be bytes") from the channel."""
    with pytest.raises(ClientInputError) as caught:
        LatencyClient(root_certificates=certificates)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("root_certificates must be the PEM bytes of CA certificates, got")
    assert "read the file in binary" in message and "ca_cert=PATH" in message


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (5, "token must be a string, got int"),  # it was sent as "Bearer 5"
        (b"s3cret-token", "token must be a string, got bytes"),
        ("", "token is empty"),  # it was taken as no token
        ("two words", "token must be printable ASCII without spaces"),
        ("s3cret\n", "token must be printable ASCII without spaces"),  # every call: INTERNAL
        ("caf\u00e9-token", "token must be printable ASCII without spaces"),
    ],
)
def test_a_token_the_server_could_not_accept_is_refused_up_front(
    token: object, message: str
) -> None:
    with pytest.raises(ClientInputError) as caught:
        LatencyClient("127.0.0.1:1", token=token)  # type: ignore[arg-type]
    assert str(caught.value) == message  # the token itself is never quoted


def test_read_token_strips_and_checks_the_token_wherever_it_comes_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As the server does its own (service/auth.py); $LATENCY_TOKEN was sent as it was."""
    monkeypatch.setenv("LATENCY_TOKEN", " from-env\n")
    assert client.api.read_token() == "from-env"
    monkeypatch.setenv("LATENCY_TOKEN", "two words")
    with pytest.raises(ClientInputError, match=r"^\$LATENCY_TOKEN must be printable ASCII"):
        client.api.read_token()
    spaced, binary = tmp_path / "spaced", tmp_path / "binary"
    spaced.write_text("  two words \n")
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ClientInputError, match=f"^token file {spaced} must be printable ASCII"):
        client.api.read_token(spaced)
    with pytest.raises(ClientInputError, match=f"^token file {binary} is not text$"):
        client.api.read_token(binary)


def test_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("LATENCY_TARGET", "10.0.0.1:1234")
    monkeypatch.setenv("LATENCY_TOKEN", "from-env")
    monkeypatch.setenv("LATENCY_TOKEN_FILE", str(token_file))
    assert client.api.read_token() == "from-file"  # the file wins over the variable
    monkeypatch.delenv("LATENCY_TOKEN_FILE")
    assert client.api.read_token() == "from-env"
    with LatencyClient.from_env(timeout_s=5) as latency:
        assert latency.target == "10.0.0.1:1234" and latency.timeout_s == 5
        assert latency._metadata == (("authorization", "Bearer from-env"),)


@pytest.mark.parametrize("target", ["127.0.0.1", "host:", "host:70000"])
def test_from_env_refuses_a_target_the_cli_refuses(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """A host alone was dialled at port 443 (and failed there after retries), where the CLI
    refused it at once (a review, 2026-12-06)."""
    monkeypatch.setenv("LATENCY_TARGET", target)
    with pytest.raises(ClientInputError, match=r"^\$LATENCY_TARGET: "):
        LatencyClient.from_env()
    LatencyClient.from_env(target="127.0.0.1:50051").close()  # a given target is checked alone
    with pytest.raises(ClientInputError, match=rf"^target {re.escape(repr(target))}: "):
        LatencyClient.from_env(target=target)  # the example's --target 127.0.0.1 waited 30 s
    monkeypatch.setenv("LATENCY_TARGET", "dns:///localhost:50051")  # a grpc URI is grpc's
    LatencyClient.from_env().close()


def test_from_env_leaves_the_token_file_unread_when_given_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LATENCY_TOKEN_FILE", "/nonexistent/token")
    with LatencyClient.from_env(target="127.0.0.1:1", token="given") as latency:
        assert latency._metadata == (("authorization", "Bearer given"),)


def test_unreachable_server_is_retried_then_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(client.api.time, "sleep", pauses.append)
    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=3, backoff_s=0.1, timeout_s=5) as latency:
        with pytest.raises(UnavailableError) as caught:
            latency.devices()
    assert caught.value.code == "UNAVAILABLE" and caught.value.method == "ListDevices"
    assert isinstance(caught.value, LatencyServiceError)
    assert len(pauses) == 3 and pauses[1] > pauses[0]  # exponential backoff
    assert 0.075 <= pauses[0] <= 0.125


def test_backoff_doubles_up_to_its_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(client.api.time, "sleep", pauses.append)
    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=6, backoff_s=4.0, timeout_s=5) as latency:
        with pytest.raises(UnavailableError):
            latency.devices()
    assert len(pauses) == 6
    assert 0.75 * 8.0 <= pauses[1] <= 1.25 * 8.0
    # 4, 8, then the 10 s ceiling, each +-25% jitter.
    assert all(7.5 <= p <= 12.5 for p in pauses[2:])


@pytest.mark.parametrize("jitter", [min, max], ids=["least", "most"])
def test_backoff_doubles_within_a_quarter_of_jitter(
    monkeypatch: pytest.MonkeyPatch, jitter: Callable[[float, float], float]
) -> None:
    """The pauses at either end of their jitter: random ones passed loose bounds by chance."""
    pauses: list[float] = []
    monkeypatch.setattr(client.api.time, "sleep", pauses.append)
    monkeypatch.setattr(client.api.random, "uniform", jitter)
    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=4, backoff_s=0.1) as latency:
        with pytest.raises(UnavailableError):
            latency.devices()
    factor = jitter(0.75, 1.25)
    assert pauses == pytest.approx([0.1 * factor, 0.2 * factor, 0.4 * factor, 0.8 * factor])


def test_wait_until_ready_waits_for_serving(health_only) -> None:
    target, servicer = health_only
    told: list[str] = []
    timer = threading.Timer(0.3, servicer.set, ("", health_pb2.HealthCheckResponse.SERVING))
    timer.start()
    with LatencyClient(target, timeout_s=5) as latency:
        latency.wait_until_ready(30, on_wait=told.append, poll_s=0.05)
    timer.join()
    assert len(told) == 1 and "load its model" in told[0]


def test_wait_until_ready_gives_up_on_a_server_that_stays_loading(health_only) -> None:
    target, _ = health_only
    with LatencyClient(target, timeout_s=5) as latency:
        with pytest.raises(UnavailableError, match="still loading its model after 0 s"):
            latency.wait_until_ready(0.2, poll_s=0.05)


def test_wait_until_ready_takes_a_server_without_health_as_ready() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # no services at all
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with LatencyClient(f"127.0.0.1:{port}", timeout_s=5) as latency:
            latency.wait_until_ready(0.0)
    finally:
        server.stop(None)


def test_wait_until_ready_gives_up_on_an_unreachable_server_after_the_start_grace() -> None:
    port = service_fixtures.free_port()
    told: list[str] = []
    with LatencyClient(f"127.0.0.1:{port}", retries=0, timeout_s=5) as latency:
        with pytest.raises(UnavailableError, match="could not be reached after 0 s") as caught:
            latency.wait_until_ready(600, on_wait=told.append, poll_s=0.05, start_grace_s=0.3)
    assert caught.value.method == "Check"
    assert told == [f"waiting for the latency service at 127.0.0.1:{port} to start"]


def test_wait_until_ready_keeps_to_its_start_grace_with_the_clients_retries() -> None:
    # Each health check is one attempt: the client's retries (0.5 + 1 + 2 s of backoff) made
    # a 0.3 s grace last over 2.6 s.
    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=3, timeout_s=30) as latency:
        started = time.monotonic()
        with pytest.raises(UnavailableError, match="could not be reached"):
            latency.wait_until_ready(600, poll_s=0.05, start_grace_s=0.3)
    assert time.monotonic() - started < 1.5


def test_wait_until_ready_gives_up_on_an_unreachable_server_after_a_shorter_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A timeout_s below start_grace_s bounds the wait for a server to start too."""

    def sleep(seconds: float) -> None:
        raise AssertionError(f"waited {seconds} s past a timeout_s of 0")

    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=0, timeout_s=5) as latency:
        monkeypatch.setattr(client.api.time, "sleep", sleep)
        with pytest.raises(UnavailableError, match="could not be reached after 0 s"):
            latency.wait_until_ready(0.0, start_grace_s=600)


def test_wait_until_ready_pauses_no_longer_than_what_is_left_of_its_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_sleep = time.sleep
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        real_sleep(min(seconds, 0.3))

    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=0, timeout_s=5) as latency:
        monkeypatch.setattr(client.api.time, "sleep", sleep)
        with pytest.raises(UnavailableError, match="could not be reached"):
            latency.wait_until_ready(600, poll_s=1000, start_grace_s=0.3)
    assert pauses and max(pauses) <= 0.3


def test_wait_until_ready_gives_each_health_check_what_is_left_of_its_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Due by the end of timeout_s (not the client's longer deadline, nor start_grace_s), and
    never below READINESS_PROBE_S: a server that hangs must not hold the wait past either."""
    deadlines: list[float] = []

    def check(request: health_pb2.HealthCheckRequest, **kwargs: Any) -> Any:
        deadlines.append(kwargs["timeout"])
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    with LatencyClient("127.0.0.1:1", timeout_s=60) as latency:
        monkeypatch.setattr(latency._health, "Check", check)
        latency.wait_until_ready(5.0, start_grace_s=30)
        latency.wait_until_ready(0.0)
    assert deadlines[0] <= 5.0 and deadlines[1] == client.api.READINESS_PROBE_S == 1.0


@pytest.mark.parametrize("wait", [math.nan, -1.0, "5"])
def test_wait_until_ready_refuses_a_wait_that_is_no_duration(wait: object) -> None:
    # NaN compares false with everything: the wait for an unreachable server never ended.
    port = service_fixtures.free_port()
    with LatencyClient(f"127.0.0.1:{port}", retries=0) as latency:
        for name in ("timeout_s", "poll_s", "start_grace_s"):
            waits: dict[str, Any] = {"timeout_s": 1.0, name: wait}
            with pytest.raises(ClientInputError, match=name):
                latency.wait_until_ready(**waits)


def test_wait_until_ready_waits_for_a_server_that_is_still_starting() -> None:
    # The server binds its port only after a while, as one just launched does after its imports.
    port = service_fixtures.free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)

    def listen() -> None:  # adding the port binds it
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()

    timer = threading.Timer(0.5, listen)
    timer.start()
    told: list[str] = []
    try:
        with LatencyClient(f"127.0.0.1:{port}", retries=0, timeout_s=5) as latency:
            latency.wait_until_ready(60, on_wait=told.append, poll_s=0.05)
    finally:
        timer.join()
        server.stop(None)
    assert len(told) == 1 and told[0].endswith("to start")


def test_wait_until_ready_gives_a_server_down_late_in_the_wait_its_whole_start_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The grace ran from the wait's start: a server restarted after it was given up at once,
    though it had been down for less than a second (a review, 2026-12-06)."""
    started = time.monotonic()
    probes: list[str | None] = []

    def readiness(deadline: float) -> str | None:
        waited = time.monotonic() - started
        probes.append(client.api._LOADING if waited < 0.4 else None)
        if len(probes) > 1 and probes[-1] is None and client.api._STARTING not in probes:
            probes[-1] = client.api._STARTING  # down once, then back and serving
        return probes[-1]

    with LatencyClient("127.0.0.1:1", timeout_s=5) as latency:
        monkeypatch.setattr(latency, "_readiness", readiness)
        latency.wait_until_ready(30, poll_s=0.05, start_grace_s=0.2)
    assert probes[-2:] == [client.api._STARTING, None]


# ---- against the real server -----------------------------------------------------------------
def test_predict_nb201(latency: LatencyClient) -> None:
    result = latency.predict("pi4", [LIGHT, HEAVY, *CELLS])
    assert len(result) == 5 and result.model_version
    for values in (result.mean_ms, result.variance_ms2, result.lower_ms, result.upper_ms):
        assert values.shape == (5,) and values.dtype == np.float64
    assert np.all(result.lower_ms < result.median_ms) and np.all(result.median_ms < result.upper_ms)
    assert np.all(result.variance_ms2 > 0)
    assert result.mean_ms[1] > 2 * result.mean_ms[0]  # nine 3x3 convs vs nothing
    by_name = latency.predict("raspi4", HEAVY)  # one string, the device's real name
    assert by_name.mean_ms[0] == pytest.approx(result.mean_ms[1])
    with pytest.raises(ValueError, match="read-only"):  # a frozen result: it stays as served
        result.mean_ms[0] = 0.0
    device = latency.device("pi4")
    assert hash(device) == hash(latency.device("raspi4")) and device in {device}


def test_predict_batches_large_inputs(target: str) -> None:
    archs = [*CELLS, LIGHT, HEAVY] * 5
    with LatencyClient(target, batch_size=4, timeout_s=60) as small:
        batched = small.predict("pi4", archs)
    with LatencyClient(target, timeout_s=60) as large:
        whole = large.predict("pi4", archs)
    assert len(batched) == 25
    np.testing.assert_allclose(batched.mean_ms, whole.mean_ms)
    np.testing.assert_allclose(batched.upper_ms, whole.upper_ms)


def test_predict_fbnet_and_vectors(latency: LatencyClient) -> None:
    latency.register_device("phone")
    as_list = latency.predict("phone", [FBNET_ARCH])
    as_text = latency.predict("phone", ",".join(FBNET_ARCH))
    assert as_list.mean_ms[0] == as_text.mean_ms[0] > 0
    vectors = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    latency.add_measurements("phone", [(vectors[0], 3.0), ([3.0, 4.0], 5.0)])
    result = latency.predict("phone", vectors)
    assert len(result) == 3 and np.all(result.mean_ms > 0)
    assert abs(result.median_ms[0] - 3.0) < abs(result.median_ms[2] - 3.0)


def test_fbnet_block_indices_read_as_a_vector_are_warned_of(
    latency: LatencyClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, HW-NAS-Bench's encoding of an FBNet arch (22 indices 0..8) was predicted as a
    vector nobody measured (900 ms, sd 190,000 ms) without a word."""
    latency.register_device("phone")
    indices = [i % 9 for i in range(22)]
    with caplog.at_level(logging.WARNING, logger="client.api"):
        latency.predict("phone", [indices, indices[::-1], [0.5] * 22])
        latency.add_measurements("phone", [(",".join(map(str, indices)), 30.0)])
        latency.suggest("phone", count=1, candidates=[indices[::-1]], strategy="random")
    warned = [r.getMessage() for r in caplog.records]
    assert warned[0].startswith("2 arch(s) of 22 whole numbers 0..8, read as feature vectors,")
    assert "search_space='fbnet' (--space fbnet)" in warned[0]
    assert [w.split(" ")[0] for w in warned] == ["2", "phone:", "1", "1"]
    assert warned[1].startswith("phone: no vector measurements: these are the prior's guesses")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="client.api"):
        latency.predict("phone", indices, search_space="vector")
        latency.predict("phone", indices, search_space="fbnet")
    # No word of indices; the service's, that phone has no FBNet measurement, alone.
    assert [r.getMessage().split(":")[:2] for r in caplog.records] == [
        ["phone", " no fbnet measurements"]
    ]


def test_suggest(latency: LatencyClient) -> None:
    latency.register_device("phone")  # pi4 measured all of NB201: nothing left to suggest
    picks = latency.suggest("phone", count=3)
    assert len(picks) == 3 and picks.model_version
    assert all(p.search_space == "nasbench201" and p.mean_ms > 0 for p in picks)
    assert math.isclose(picks[0].std_ms ** 2, picks[0].variance_ms2)
    pool = [LIGHT, HEAVY, *CELLS]
    chosen = latency.suggest("phone", count=2, candidates=pool, strategy="random", seed=3)
    assert set(chosen.archs) <= set(pool) and len(chosen) == 2
    assert latency.suggest("phone", count=2, candidates=pool, strategy="random", seed=3) == chosen
    with pytest.raises(InvalidArgumentError, match="every candidate"):  # all measured on pi4
        latency.suggest("pi4", count=2, candidates=pool)
    fbnet = latency.suggest("phone", count=1, candidates=[FBNET_ARCH, FBNET_ARCH[::-1]])
    assert fbnet[0].search_space == "fbnet"
    vectors = latency.suggest("phone", count=2, candidates=np.arange(12.0).reshape(6, 2))
    assert [len(v.features) for v in vectors] == [2, 2]


@pytest.mark.parametrize(
    "options",
    # A value grpc refuses raised its bare TypeError (a review, 2026-12-06).
    [
        [("a",)],
        ["grpc.enable_retries"],
        [(1, 2)],
        5,
        "abc",
        [("grpc.keepalive_time_ms", None)],
        # Beyond C's int: grpc's bare OverflowError (a review, 2026-12-07).
        [("grpc.max_receive_message_length", 2**31)],
        [("grpc.max_receive_message_length", np.uint64(2**63))],
    ],
)
def test_malformed_channel_options_are_a_client_input_error(options: object) -> None:
    # grpc raised a bare ValueError or TypeError ("need more than 1 value to unpack").
    with pytest.raises(ClientInputError, match="options must be"):
        LatencyClient("127.0.0.1:1", options=options)  # type: ignore[arg-type]


def test_numpy_integers_are_channel_option_values_grpc_reads() -> None:
    """numpy's integers were refused; passed on, grpc takes one without a word and ignores it
    (a limit of 1 byte let a health check through), so they are passed as Python's."""
    options = [("grpc.max_receive_message_length", np.int64(1 << 20))]
    with LatencyClient("127.0.0.1:1", options=options):
        pass
    ((_, value),) = client.api._checked_options(options)
    assert type(value) is int and value == 1 << 20
    flags = client.api._checked_options([("grpc.enable_retries", np.True_), ("x", False)])
    assert flags == [("grpc.enable_retries", 1), ("x", 0)]
    assert all(type(flag) is int for _, flag in flags)


def test_a_target_with_spaces_around_it_is_refused() -> None:
    """Every call failed, after its retries, with grpc's "Misformatted domain name"."""
    with pytest.raises(ClientInputError, match="has spaces around it"):
        LatencyClient(" 127.0.0.1:1")


def test_a_long_suggestions_repr_shows_the_first_few() -> None:
    """It printed every suggestion: 3 MB for the whole NB201 space (a review, 2026-12-06)."""
    from client.api import Suggestion, Suggestions

    items = tuple(Suggestion(f"arch{i}", "nasbench201", 1.0, 0.5) for i in range(1000))
    picks = Suggestions(items, "v-1")
    text = repr(picks)
    assert len(text) < 600 and "arch2" in text and "arch3" not in text
    assert "... 997 more" in text and "model_version='v-1'" in text


def test_predictions_compare_by_value() -> None:
    # The dataclass's == raised numpy's "truth value of an array is ambiguous".
    def made(mean: list[float], version: str = "v-1") -> Predictions:
        arrays = {name: np.asarray(mean) for name in client.api.PREDICTION_FIELDS}
        return Predictions(**arrays, model_version=version)

    assert made([1.0, 2.0]) == made([1.0, 2.0])
    assert made([1.0, 2.0]) != made([1.0, 3.0])
    assert made([1.0, 2.0]) != made([1.0, 2.0], "v-2")
    assert made([1.0]) != made([1.0, 1.0])
    # Each field on its own: with every array made alike, a comparison of the means alone (or
    # one that left the service's warnings out) passed the lines above.
    for name in client.api.PREDICTION_FIELDS:
        assert made([1.0, 2.0]) != replace(made([1.0, 2.0]), **{name: np.array([1.0, 2.5])}), name
    assert made([1.0]) != replace(made([1.0]), warnings=("a vector feature taken as 0",))


def predictions_of(mean: list[float], version: str = "v-1") -> Predictions:
    """Predictions of means ``mean`` (ms), an sd of 10% and an interval of +-20%."""
    mean_ms = np.asarray(mean)
    arrays = (mean_ms, (0.1 * mean_ms) ** 2, mean_ms - 0.2 * mean_ms, mean_ms + 0.2 * mean_ms)
    return Predictions(*(client.api._read_only(values) for values in arrays), version)


def test_one_archs_prediction_is_an_index_away() -> None:
    """Predictions could not be indexed: a NAS loop spelt p.mean_ms[i], p.upper_ms[i]... out."""
    p = predictions_of([10.0, 20.0, 40.0])
    assert p[1] == Prediction(20.0, 4.0, 16.0, 24.0, "v-1")
    assert p[-1] == p[np.int64(2)] == Prediction(40.0, 16.0, 32.0, 48.0, "v-1")
    assert type(p[0].mean_ms) is float and p[0].std_ms == pytest.approx(1.0)
    assert p[2].median_ms == pytest.approx(p.median_ms[2])
    assert list(p) == [p[0], p[1], p[2]]
    for index in (3, -4):
        with pytest.raises(IndexError, match="out of bounds"):  # numpy's own
            p[index]


@pytest.mark.parametrize(
    "index, kept",
    [
        (slice(1, None), [20.0, 40.0]),
        (slice(None, None, -1), [40.0, 20.0, 10.0]),
        ([2, 0], [40.0, 10.0]),
        (np.array([0, 0]), [10.0, 10.0]),
        (np.array([True, False, True]), [10.0, 40.0]),
        (np.array([], dtype=int), []),
    ],
)
def test_a_subset_of_predictions_is_predictions_of_the_same_model(
    index: object, kept: list[float]
) -> None:
    p = predictions_of([10.0, 20.0, 40.0])
    subset = p[index]  # type: ignore[index]
    assert subset == predictions_of(kept)
    with pytest.raises(ValueError, match="read-only"):  # frozen as a served result is
        subset.mean_ms[...] = 0.0


@pytest.mark.parametrize("index", [np.array([True, False]), np.array([[0]]), (0, 0), 1.0])
def test_an_index_that_picks_no_archs_is_an_index_error(index: object) -> None:
    with pytest.raises(IndexError):
        predictions_of([10.0, 20.0, 40.0])[index]  # type: ignore[index]


def test_a_slice_of_suggestions_is_suggestions() -> None:
    picks = Suggestions(tuple(Suggestion(arch, NB201, 1.0, 0.25) for arch in CELLS), "v-1")
    head = picks[:2]  # was a bare tuple: no .archs, no .model_version
    assert isinstance(head, Suggestions) and head.model_version == "v-1"
    assert head.archs == CELLS[:2]
    assert picks[np.int64(1)].arch == CELLS[1] and picks[-1].arch == CELLS[-1]


def test_register_add_and_list(latency: LatencyClient) -> None:
    info = latency.register_device(
        "jetson", aliases=["nano"], descriptor={"memory_gb": 4}, description="Jetson Nano"
    )
    assert (info.name, info.aliases, info.descriptor) == ("jetson", ("nano",), {"memory_gb": 4.0})
    before = latency.predict("nano", LIGHT)
    added = latency.add_measurements("nano", {LIGHT: 2.0, HEAVY: 40.0})
    assert (added.accepted, added.device_total) == (2, 2)
    after = latency.predict("jetson", LIGHT)
    assert after.model_version == added.model_version != before.model_version
    assert abs(after.median_ms[0] - 2.0) < abs(before.median_ms[0] - 2.0)
    names = {d.name: d for d in latency.devices()}
    assert set(names) == {*service_fixtures.TEST_DEVICES, "jetson"}
    assert names["jetson"].measurement_count == 2 and not names["jetson"].source
    assert names["raspi4"].source and "pi4" in names["raspi4"].aliases
    assert latency.device("nano").description == "Jetson Nano"


def test_register_takes_no_aliases_as_none_and_names_arguments_of_the_wrong_type(
    latency: LatencyClient,
) -> None:
    """aliases=None, as descriptor=None, raised a bare TypeError ('NoneType' object is not
    iterable), as did a number; a descriptor given as pairs an AttributeError."""
    assert latency.register_device("no-aliases", aliases=None).aliases == ()
    for fields, fragment in (
        ({"aliases": 5}, "aliases must be a string or a sequence of strings, got int"),
        ({"descriptor": [("memory_gb", 4.0)]}, "descriptor must be a mapping, got list"),
    ):
        with pytest.raises(ClientInputError, match=re.escape(fragment)):
            latency.register_device("wrongly-typed", **fields)  # type: ignore[arg-type]


def test_add_measurements_refuses_pairs_of_the_wrong_type_before_sending(
    latency: LatencyClient,
) -> None:
    """None or a number as ``pairs`` raised a bare TypeError ('NoneType' object is not
    iterable), and a latency of True was stored as 1 ms (register_device refuses a bool)."""
    for pairs, fragment in (
        (None, "pairs must be (arch, latency_ms) pairs or a mapping, got NoneType"),
        (5, "pairs must be (arch, latency_ms) pairs or a mapping, got int"),
        ([(LIGHT, True)], "measurement 0: latency True is not a number"),
    ):
        with pytest.raises(ClientInputError, match=re.escape(fragment)):
            latency.add_measurements("pi4", pairs)  # type: ignore[arg-type]
    assert latency.device("pi4").measurement_count == 15_625


def test_an_int_too_large_for_a_float_is_a_typed_error(latency: LatencyClient) -> None:
    """An int beyond 1e308 (a latency, a feature, a descriptor value) raised float()'s bare
    OverflowError, where any other number the server cannot take is a typed error."""
    huge = 10**400
    for call, fragment in (
        (lambda: latency.add_measurements("pi4", [(LIGHT, huge)]), "measurement 0: latency"),
        (lambda: latency.predict("pi4", [[1.0, 2.0], [huge, 1.0]]), "arch 1: a feature vector"),
        (lambda: latency.register_device("huge", descriptor={"x": huge}), "descriptor 'x'"),
    ):
        with pytest.raises(ClientInputError, match=re.escape(fragment)):
            call()


def test_server_errors_are_typed(latency: LatencyClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        latency.predict("no-such-device", LIGHT)
    assert "no-such-device" in caught.value.message and caught.value.code == "NOT_FOUND"
    with pytest.raises(InvalidArgumentError) as bad:
        latency.predict("pi4", [LIGHT, "|bogus~0|"])
    assert "arch 1" in str(bad.value) and isinstance(bad.value, ValueError)
    with pytest.raises(AlreadyExistsError):
        latency.register_device("pi4")
    with pytest.raises(InvalidArgumentError):
        latency.add_measurements("pi4", [(LIGHT, -1.0)])
    with pytest.raises(ClientInputError):
        latency.suggest("pi4", count=0)
    with pytest.raises(ClientInputError):
        latency.add_measurements("pi4", [(LIGHT, "fast")])  # type: ignore[list-item]


def test_a_malformed_arch_is_named_by_its_index_in_the_whole_input(target: str) -> None:
    """Split into requests of 2, the server counts within each: arch 5 is its arch 1."""
    with LatencyClient(target, batch_size=2, retries=0) as latency:
        with pytest.raises(InvalidArgumentError) as bad:
            latency.predict("pi4", [LIGHT] * 5 + ["|bogus~0|"])
    assert str(bad.value).startswith("arch 5: ")


def test_client_errors_are_not_retried(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(client.api.time, "sleep", pauses.append)
    latency.retries = 3
    with pytest.raises(NotFoundError):
        latency.device("nobody")
    assert pauses == []


def test_devices_gathers_every_page(latency: LatencyClient) -> None:
    before = {d.name for d in latency.devices()}
    for i in range(101):  # the server's pages hold 100
        latency.register_device(f"paged{i:03d}")
    names = [d.name for d in latency.devices()]
    assert names == sorted(names) and set(names) == before | {f"paged{i:03d}" for i in range(101)}


def test_measurements_past_the_message_limit_come_in_pages(
    store_path: Path, model_cache: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, one ListMeasurements answered all: a source's table (1.8 MB) from a server
    whose messages end at 1 MiB was RESOURCE_EXHAUSTED."""
    monkeypatch.setattr(servicer_module, "PAGE_BYTES", 256 * 1024)
    running = service_fixtures.start_server(store_path, model_cache, max_message_bytes=1 << 20)
    try:
        with LatencyClient(f"127.0.0.1:{running.port}", retries=0) as latency:
            listed = latency.measurements("pi4")
        assert len(listed) == 15_625 and len(set(listed)) == 15_625
    finally:
        running.stop(grace=0)


def answer_lost_once(
    rpc: Callable[..., Any], answer: grpc.RpcError, sent: list[str], field: str
) -> Callable[..., Any]:
    """``rpc`` whose first call is carried out but answered ``answer`` (its answer lost on
    the way back); each request's ``field`` is appended to ``sent``."""

    def call(request: Any, **kwargs: Any) -> Any:
        sent.append(getattr(request, field))
        reply = rpc(request, **kwargs)
        if len(sent) == 1:
            raise answer
        return reply

    return call


@pytest.mark.parametrize(
    "answer",
    [
        # A stopping server committed the upload after answering UNAVAILABLE.
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Cancelling all calls"),
        # An upload still running at its deadline may have been stored.
        FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
    ],
    ids=["unavailable", "deadline"],
)
def test_a_retried_upload_whose_answer_was_lost_is_stored_once(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch, answer: grpc.RpcError
) -> None:
    """Before, the library stored such an upload twice on UNAVAILABLE, and on a passed deadline
    the caller could not tell whether it was stored (running it again stored it twice)."""
    device = f"lossy-{answer.code().name.lower()}"
    latency.register_device(device)
    stub = latency._stub
    sent: list[str] = []
    stored_but_answer_lost = answer_lost_once(stub.AddMeasurements, answer, sent, "request_id")
    monkeypatch.setattr(stub, "AddMeasurements", stored_but_answer_lost)
    monkeypatch.setattr(client.api.time, "sleep", lambda seconds: None)
    latency.retries = 2
    result = latency.add_measurements(device, [(LIGHT, 2.0), (HEAVY, 9.0)])
    assert len(sent) == 2 and sent[0] == sent[1] != ""
    assert result.device_total == 2 == latency.device(device).measurement_count
    latency.add_measurements(device, [(LIGHT, 2.0)])  # a new upload gets a new id
    assert latency.device(device).measurement_count == 3


REFUSED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused"
)


@pytest.mark.parametrize(
    ("answers", "maybe"),
    [
        ([(grpc.StatusCode.UNAVAILABLE, REFUSED)] * 3, False),
        ([(grpc.StatusCode.UNAVAILABLE, "errors resolving nowhere.invalid:50051")] * 3, False),
        ([(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{SERVER_BUSY}try again")] * 3, False),
        (
            [(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
            + [(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{SERVER_BUSY}try again")] * 2,
            True,
        ),
        (
            [(grpc.StatusCode.UNAVAILABLE, "Socket closed")]
            + [(grpc.StatusCode.UNAVAILABLE, REFUSED)] * 2,
            True,
        ),
        (
            [(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
            + [(grpc.StatusCode.UNAVAILABLE, REFUSED)] * 2,
            True,
        ),
        # A repeat of a write the service had carried out is answered with its result: a
        # refusal of the request itself says the late attempt stored nothing.
        (
            [(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
            + [(grpc.StatusCode.INVALID_ARGUMENT, "request_id 'x' was used for another")],
            False,
        ),
        (
            [(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
            + [(grpc.StatusCode.NOT_FOUND, "unknown device 'pi4'")],
            False,
        ),
    ],
    ids=[
        "refused",
        "unresolved",
        "busy",
        "late-then-busy",
        "lost-then-refused",
        "late-then-refused",
        "late-then-invalid",
        "late-then-unknown",
    ],
)
def test_a_failed_write_says_whether_an_attempt_may_have_been_carried_out(
    latency: LatencyClient,
    monkeypatch: pytest.MonkeyPatch,
    answers: list[tuple[grpc.StatusCode, str]],
    maybe: bool,
) -> None:
    """A connection refused sent nothing: the CLI said such an upload "may have been stored all
    the same" (a review, 2026-12-07). One attempt sent and unanswered may have been."""
    for method in ("AddMeasurements", "DeleteMeasurements"):
        left = list(answers)

        def fail(request: Any, left: list = left, **kwargs: Any) -> None:
            raise FakeRpcError(*left.pop(0))

        monkeypatch.setattr(latency._stub, method, fail)
        monkeypatch.setattr(client.api.time, "sleep", lambda seconds: None)
        latency.retries = len(answers) - 1
        with pytest.raises(LatencyServiceError) as failed:
            if method == "AddMeasurements":
                latency.add_measurements("pi4", [(LIGHT, 2.0)])
            else:
                latency.delete_measurements("pi4", LIGHT)
        assert left == [] and len(failed.value.request_id) == 32
        assert failed.value.maybe_carried_out is maybe


def test_a_write_the_service_turned_away_as_its_store_was_locked_is_not_maybe_stored(
    server: RunningServer, latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UNAVAILABLE alone could be a write cut off once sent: the service says, in the call's
    trailing metadata, that it did nothing of it."""
    from service.errors import StoreBusyError

    def locked(*args: object, **kwargs: object) -> None:  # the write lock never came
        raise StoreBusyError("store s.sqlite is busy (locked by another process); try again")

    latency.register_device("locked-out")
    monkeypatch.setattr(server.store, "_locked_transaction", locked)
    with pytest.raises(UnavailableError) as refused:
        latency.add_measurements("locked-out", [(LIGHT, 2.0)])
    assert refused.value.nothing_done and not refused.value.maybe_carried_out


def test_a_registration_whose_answer_was_lost_returns_the_device_it_registered(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry found the device its first attempt had registered and raised AlreadyExists:
    a NAS loop stopped, its device registered (a review, 2026-12-06). Another device of that
    name is still refused."""
    stub = latency._stub
    real = stub.RegisterDevice
    sent: list[str] = []
    lost = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Stream removed")
    registered_but_answer_lost = answer_lost_once(real, lost, sent, "name")

    monkeypatch.setattr(stub, "RegisterDevice", registered_but_answer_lost)
    monkeypatch.setattr(client.api.time, "sleep", lambda seconds: None)
    latency.retries = 2
    found = latency.register_device("lost-answer", ["lost"], {"memory_gb": 4.0}, "a board")
    assert len(sent) == 2
    assert (found.name, found.aliases, found.descriptor) == (
        "lost-answer",
        ("lost",),
        {"memory_gb": 4.0},
    )
    sent.clear()

    def unavailable_once(request, **kwargs):
        sent.append(request.name)
        if len(sent) == 1:
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Stream removed")
        return real(request, **kwargs)

    monkeypatch.setattr(stub, "RegisterDevice", unavailable_once)
    with pytest.raises(AlreadyExistsError):  # retried, but not as asked: not ours
        latency.register_device("lost-answer", ["lost"], {"memory_gb": 8.0}, "a board")
    assert len(sent) == 2
    monkeypatch.setattr(stub, "RegisterDevice", real)
    with pytest.raises(AlreadyExistsError):  # not retried: someone else's, whatever it holds
        latency.register_device("lost-answer", ["lost"], {"memory_gb": 4.0}, "a board")
    # A name typed decomposed is stored composed: still this call's own device.
    monkeypatch.setattr(stub, "RegisterDevice", registered_but_answer_lost)
    sent.clear()
    decomposed = unicodedata.normalize("NFD", "café-board")
    found = latency.register_device(decomposed)
    assert found.name == unicodedata.normalize("NFC", "café-board") and len(sent) == 2
    # Its deadline passed after the server registered it: retried, and found as asked.
    late = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    monkeypatch.setattr(stub, "RegisterDevice", answer_lost_once(real, late, sent, "name"))
    sent.clear()
    assert latency.register_device("late-answer").name == "late-answer" and len(sent) == 2


def test_a_read_whose_deadline_passed_is_not_retried(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read has no outcome to learn; the deadline is the caller's budget for it."""
    calls: list[object] = []

    def too_slow(request, **kwargs):
        calls.append(request)
        raise FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    monkeypatch.setattr(latency._stub, "GetDevice", too_slow)
    latency.retries = 2
    latency.timeout_s = 7.5
    with pytest.raises(DeadlineExceededError) as late:
        latency.device("pi4")
    assert len(calls) == 1
    # grpc's "Deadline Exceeded" alone said nothing a caller could act on (a review).
    assert str(late.value) == (
        "Deadline Exceeded (no answer within 7.5 s: timeout_s) [DEADLINE_EXCEEDED]"
    )


def test_a_write_past_its_deadline_says_how_often_it_waited(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write is retried when its deadline passes: it waited three times as long as one
    attempt's deadline, which the message gave as the wait (a review, 2026-12-06)."""

    def too_slow(request, **kwargs):
        raise FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    monkeypatch.setattr(latency._stub, "RegisterDevice", too_slow)
    latency.retries, latency.timeout_s, latency.backoff_s = 2, 7.5, 0.001
    with pytest.raises(DeadlineExceededError) as late:
        latency.register_device("slow")
    assert "(no answer within 7.5 s, 3 times: timeout_s, retries)" in str(late.value)


def test_attempts_refused_at_once_are_not_counted_as_waits(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two UNAVAILABLE answers and then a deadline waited once, not "3 times" (a review)."""
    answers = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]

    def refused_then_slow(request, **kwargs):
        code = answers.pop(0) if answers else grpc.StatusCode.DEADLINE_EXCEEDED
        raise FakeRpcError(code, "Deadline Exceeded" if not answers else "gone")

    monkeypatch.setattr(latency._stub, "GetDevice", refused_then_slow)
    latency.retries, latency.timeout_s, latency.backoff_s = 3, 2.0, 0.001
    with pytest.raises(DeadlineExceededError) as late:
        latency.device("pi4")
    assert str(late.value).endswith("(no answer within 2 s: timeout_s) [DEADLINE_EXCEEDED]")


def test_batch_limit_is_resource_exhausted(store_path: Path, model_cache: dict) -> None:
    config = ServiceConfig(
        address="127.0.0.1:0", store_path=store_path, fit=service_fixtures.fit_settings()
    )
    config.max_batch = 3
    running = create_server(config, model_cache)
    running.warm_up()
    try:
        with LatencyClient(f"127.0.0.1:{running.port}", retries=0) as latency:
            with pytest.raises(ResourceExhaustedError):
                latency.suggest("pi4", count=1, candidates=[LIGHT, HEAVY, *CELLS])
            latency.batch_size = 3  # predictions are split below the limit instead
            assert len(latency.predict("pi4", [LIGHT, HEAVY, *CELLS])) == 5
    finally:
        running.stop(grace=0)


def test_the_services_own_resource_exhausted_is_not_retried(
    store_path: Path, model_cache: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unlike a busy server's, a request over the limits fails the same way every time."""
    pauses: list[float] = []
    monkeypatch.setattr(client.api.time, "sleep", pauses.append)
    running = service_fixtures.start_server(store_path, model_cache, max_batch=3)
    try:
        with LatencyClient(f"127.0.0.1:{running.port}", retries=3) as latency:
            with pytest.raises(ResourceExhaustedError) as caught:
                latency.suggest("pi4", count=1, candidates=[LIGHT, HEAVY, *CELLS])
    finally:
        running.stop(grace=0)
    assert not isinstance(caught.value, ServerBusyError) and pauses == []


def test_measure_s_fbnet_pool_is_cut_to_the_servers_batch_limit(
    store_path: Path, model_cache: dict
) -> None:
    """Its 2,000 random archs were refused by a server of a lower limit, once the device had
    been registered, and no option made the pool smaller (a review, 2026-12-06)."""
    from client.measure import loop

    running = service_fixtures.start_server(store_path, model_cache, max_batch=30)
    try:
        with LatencyClient(f"127.0.0.1:{running.port}") as latency:
            latency.register_device("fbnet-pool")
            picks = loop.suggest(latency, "fbnet-pool", 10, "fbnet", strategy="random")
            assert len(picks) == 10 and set(picks) <= set(loop.random_archs(30, "fbnet", seed=0))
            # Round after round the pool is drawn outside what was measured: the fourth round
            # of 10 from 30 archs found none left (a review, 2026-12-06).
            for _ in range(4):
                latency.add_measurements("fbnet-pool", [(arch, 5.0) for arch in picks])
                picks = loop.suggest(latency, "fbnet-pool", 10, "fbnet", strategy="random")
                assert len(picks) == 10
            with pytest.raises(ResourceExhaustedError, match="give --suggested 30 or fewer"):
                loop.suggest(latency, "fbnet-pool", 31, "fbnet", strategy="random")
    finally:
        running.stop(grace=0)


def test_a_predict_beyond_the_servers_batch_limit_is_split_by_it(
    store_path: Path,
    model_cache: dict,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server run with LATENCY_MAX_BATCH below the client's 20,000 refused every larger
    predict ("split the request"), which the CLI could not (a review, 2026-12-06)."""
    running = service_fixtures.start_server(store_path, model_cache, max_batch=3)
    archs = [LIGHT, HEAVY, *CELLS, LIGHT]
    caplog.set_level(logging.INFO, logger="client.api")  # its line once failed to format
    try:
        with LatencyClient(f"127.0.0.1:{running.port}") as latency:
            # Two threads at once: the second's refusal named the limit the first had set,
            # and it was raised instead of split (a review, 2026-12-06).
            barrier, real = threading.Barrier(2, timeout=30), latency._predict_batch
            first: set[int] = set()

            def together(*args: Any) -> Any:
                if threading.get_ident() not in first:
                    first.add(threading.get_ident())
                    barrier.wait()
                return real(*args)

            monkeypatch.setattr(latency, "_predict_batch", together)
            with futures.ThreadPoolExecutor(2) as pool:
                splits = list(pool.map(lambda _: latency.predict("pi4", archs), range(2)))
            assert latency.batch_size == 3
            monkeypatch.setattr(latency, "_predict_batch", real)
            whole = [latency.predict("pi4", arch).mean_ms[0] for arch in archs]
    finally:
        running.stop(grace=0)
    for split in splits:
        np.testing.assert_allclose(split.mean_ms, whole, rtol=1e-12)
    assert "takes at most 3 archs a request: split so" in caplog.text


def test_deadline_exceeded(latency: LatencyClient) -> None:
    latency.timeout_s = 1e-4
    with pytest.raises(DeadlineExceededError):
        latency.predict("pi4", [LIGHT, HEAVY, *CELLS] * 200)


@pytest.fixture
def loading_server(store_path: Path, model_cache: dict) -> Iterator[RunningServer]:
    """A server that listens but has not loaded its model yet (model RPCs: UNAVAILABLE)."""
    config = ServiceConfig(
        address="127.0.0.1:0", store_path=store_path, fit=service_fixtures.fit_settings()
    )
    running = create_server(config, model_cache)
    yield running
    running.stop(grace=0)


def test_unavailable_while_loading_is_retried(
    loading_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        loading_server.warm_up()  # the model becomes ready while the client backs off

    monkeypatch.setattr(client.api.time, "sleep", pause)
    with LatencyClient(f"127.0.0.1:{loading_server.port}", retries=2) as latency:
        assert len(latency.predict("pi4", LIGHT)) == 1
    assert len(pauses) == 1


class _TokenChecker(pb_grpc.LatencyEstimatorServicer):
    """Answers ListDevices only to callers that send ``authorization: Bearer good``."""

    def ListDevices(
        self, request: pb.ListDevicesRequest, context: grpc.ServicerContext
    ) -> pb.ListDevicesResponse:
        if ("authorization", "Bearer good") not in context.invocation_metadata():
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        return pb.ListDevicesResponse(devices=[pb.Device(name="ok")])


class _Stalling(pb_grpc.LatencyEstimatorServicer):
    """Holds ListDevices until released, as a busy server would."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def ListDevices(
        self, request: pb.ListDevicesRequest, context: grpc.ServicerContext
    ) -> pb.ListDevicesResponse:
        self.entered.set()
        self.release.wait(10)
        return pb.ListDevicesResponse()


def test_a_call_in_flight_when_another_thread_closes_the_client_says_it_is_closed() -> None:
    # It raised GenericServiceError "Channel closed! [CANCELLED]", unlike any later call.
    servicer = _Stalling()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_LatencyEstimatorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    latency = LatencyClient(f"127.0.0.1:{port}", retries=0, timeout_s=10)
    try:
        with futures.ThreadPoolExecutor(max_workers=1) as pool:
            call = pool.submit(latency.devices)
            assert servicer.entered.wait(10)
            latency.close()
            with pytest.raises(ClientInputError, match="is closed"):
                call.result(timeout=10)
    finally:
        servicer.release.set()
        server.stop(None)


def test_token_is_sent_as_bearer_metadata() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_LatencyEstimatorServicer_to_server(_TokenChecker(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with LatencyClient(f"127.0.0.1:{port}", token="good") as latency:
            assert [d.name for d in latency.devices()] == ["ok"]
        with LatencyClient(f"127.0.0.1:{port}", token="bad") as latency:
            with pytest.raises(UnauthenticatedError, match="bearer token"):
                latency.devices()
    finally:
        server.stop(0)


class _OneSlot(_Stalling):
    """Holds ListDevices until released; records the uploads that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[str] = []

    def AddMeasurements(
        self, request: pb.AddMeasurementsRequest, context: grpc.ServicerContext
    ) -> pb.AddMeasurementsResponse:
        self.uploads.append(request.request_id)
        return pb.AddMeasurementsResponse(accepted=len(request.measurements))


@dataclass
class BusyServer:
    """A server that takes one call at a time, that one a ListDevices held in flight: grpc
    turns every other call away with "Concurrent RPC limit exceeded!" until ``free_slot``."""

    target: str
    servicer: _OneSlot
    held: futures.Future[list[DeviceInfo]]

    def free_slot(self) -> None:
        self.servicer.release.set()
        self.held.result(timeout=10)


@pytest.fixture
def busy_server() -> Iterator[BusyServer]:
    servicer = _OneSlot()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), maximum_concurrent_rpcs=1)
    pb_grpc.add_LatencyEstimatorServicer_to_server(servicer, server)
    target = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    with (
        LatencyClient(target, retries=0, timeout_s=20) as holder,
        futures.ThreadPoolExecutor(max_workers=1) as pool,
    ):
        busy = BusyServer(target, servicer, pool.submit(holder.devices))
        assert servicer.entered.wait(10)
        try:
            yield busy
        finally:
            busy.free_slot()
            server.stop(None)


@pytest.mark.parametrize("call", ["read", "upload"])
def test_a_call_a_busy_server_turned_away_is_retried(
    busy_server: BusyServer, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """Before, grpc's RESOURCE_EXHAUSTED "Concurrent RPC limit exceeded!" (past 256 calls in
    flight) failed the call at once, though the service never saw it."""
    real_sleep = time.sleep
    pauses: list[float] = []

    def pause(seconds: float) -> None:  # the slot frees while the client backs off
        pauses.append(seconds)
        busy_server.free_slot()
        real_sleep(0.05)  # grpc counts the call done just after its answer

    monkeypatch.setattr(client.api.time, "sleep", pause)
    with LatencyClient(busy_server.target, retries=5, backoff_s=0.01, timeout_s=10) as latency:
        if call == "read":
            assert latency.devices() == []
        else:
            assert latency.add_measurements("jetson", {LIGHT: 2.0}).accepted == 1
            # The attempts turned away never reached the service.
            assert len(busy_server.servicer.uploads) == 1
    assert 1 <= len(pauses) <= 5 and 0.0075 <= pauses[0] <= 0.0125


def test_a_server_that_stays_busy_fails_after_the_retries(
    busy_server: BusyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(client.api.time, "sleep", pauses.append)
    with LatencyClient(busy_server.target, retries=3, backoff_s=0.1, timeout_s=10) as latency:
        with pytest.raises(ServerBusyError, match="Concurrent RPC limit exceeded!") as caught:
            latency.device("pi4")
    assert isinstance(caught.value, ResourceExhaustedError)
    assert caught.value.code == "RESOURCE_EXHAUSTED" and caught.value.method == "GetDevice"
    assert len(pauses) == 3 and pauses[1] > pauses[0]  # exponential backoff, as UNAVAILABLE's


# ---- against the real server with TLS and a write token --------------------------------------
SECRET = "client-test-token-0123456789abcdef"


@pytest.fixture
def secure_server(store_path: Path, model_cache: dict, tmp_path: Path) -> Iterator[RunningServer]:
    """The real server speaking TLS only, writes guarded by :data:`SECRET`."""
    tls = service_fixtures.make_tls_files(tmp_path / "tls")
    running = service_fixtures.start_server(
        store_path, model_cache, tls_cert=tls.cert, tls_key=tls.key, token=SECRET
    )
    running.ca = tls.ca  # type: ignore[attr-defined]
    yield running
    running.stop(grace=0)


def test_tls_and_token_against_the_real_server(secure_server: RunningServer) -> None:
    target, ca = f"127.0.0.1:{secure_server.port}", secure_server.ca  # type: ignore[attr-defined]
    with LatencyClient(target, ca_cert=ca, token=SECRET, retries=0) as latency:
        assert latency.register_device("jetson").name == "jetson"
        assert latency.add_measurements("jetson", {LIGHT: 2.0}).accepted == 1
        assert len(latency.predict("jetson", [LIGHT, HEAVY])) == 2
    with LatencyClient(target, root_certificates=ca.read_bytes(), retries=0) as reader:
        assert "jetson" in {d.name for d in reader.devices()}  # reads need no token
        with pytest.raises(UnauthenticatedError) as refused:
            reader.register_device("intruder")
        # The server's words alone spoke of metadata (a user review).
        assert str(refused.value).endswith(
            "; give the client the token: token=, or $LATENCY_TOKEN_FILE or $LATENCY_TOKEN read"
            " by LatencyClient.from_env() [UNAUTHENTICATED]"
        )
    with LatencyClient(target, ca_cert=ca, token="wrong-token", retries=0) as wrong:
        with pytest.raises(PermissionDeniedError) as caught:
            wrong.add_measurements("jetson", {LIGHT: 1.0})
        assert "wrong-token" not in str(caught.value)
    with LatencyClient(target, retries=0, timeout_s=5) as plaintext:
        with pytest.raises(UnavailableError):
            plaintext.devices()


def test_tls_takes_a_bool_and_latency_tls_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A str was truthy: tls="no" would have meant TLS."""
    with pytest.raises(ClientInputError, match="tls must be True or False, got str"):
        LatencyClient("127.0.0.1:1", tls="no")  # type: ignore[arg-type]
    monkeypatch.setenv("LATENCY_TLS", "maybe")
    with pytest.raises(ClientInputError, match="LATENCY_TLS='maybe': expected 1, true, yes"):
        LatencyClient.from_env()
    opened: list[bool] = []

    def open_channel(target: str, roots: bytes | None, tls: bool, options: Any) -> grpc.Channel:
        opened.append(tls)
        return grpc.insecure_channel(target)

    monkeypatch.setattr(client.api, "_open_channel", open_channel)
    # t, y, f and n too: the CLI's --tls reads $LATENCY_TLS by typer's words, and the library
    # must read them alike, or one variable would mean two things.
    for word in ("Yes", "0", "off", "1", "t", "Y", "f", "N"):
        monkeypatch.setenv("LATENCY_TLS", word)
        LatencyClient.from_env().close()
    assert opened == [True, False, False, True, True, True, False, False]


def test_wait_until_ready_returns_at_once_from_a_serving_server(latency: LatencyClient) -> None:
    told: list[str] = []
    latency.wait_until_ready(5, on_wait=told.append)
    assert told == []


def test_a_surprising_measurement_is_described_as_the_median_it_counts_at() -> None:
    """An arch measured 35 ms, then 3.5 ms, counts at their median: the warning said
    "measured 19.24 ms", a latency nobody measured, and printed p-values like 2e-171."""
    surprise = SurprisingMeasurement(
        arch="a",
        search_space="nasbench201",
        latency_ms=19.24,
        expected_ms=3.418,
        lower_ms=2.938,
        upper_ms=3.91,
        p_value=2e-171,
    )
    assert surprise.describe() == (
        "a at 19.24 ms (the median of its measurements), 5.6x off the 3.418 ms"
        " (90%: 2.938-3.91) the device's other measurements predict (p<1e-06)"
    )
    assert "(p=0.0004)" in replace(surprise, p_value=4e-4).describe()


def test_an_upload_the_client_gave_up_on_is_repeated_under_its_request_id(
    latency: LatencyClient,
) -> None:
    """The proto's request_id was not the caller's to give: the library drew a fresh one per
    call, so an upload repeated after its retries ran out (the server restarting, a passed
    deadline) was stored twice when the first attempt had been stored."""
    latency.register_device("repeated")
    pairs = [(LIGHT, 2.0), (HEAVY, 9.0)]
    first = latency.add_measurements("repeated", pairs, request_id="upload-1")
    again = latency.add_measurements("repeated", pairs, request_id="upload-1")
    assert (first.accepted, again.accepted) == (2, 2)
    assert again.device_total == 2 == latency.device("repeated").measurement_count
    assert again.model_version == first.model_version
    with pytest.raises(InvalidArgumentError, match="another request"):
        latency.add_measurements("repeated", [(LIGHT, 3.0)], request_id="upload-1")
    for request_id, fragment in ((5, "request_id must be a string"), ("", "request_id is empty")):
        with pytest.raises(ClientInputError, match=fragment):
            latency.add_measurements("repeated", pairs, request_id=request_id)  # type: ignore[arg-type]
    assert latency.device("repeated").measurement_count == 2


def test_a_failed_upload_carries_the_id_that_repeats_it(latency: LatencyClient) -> None:
    """Given no id, a failed upload's id was the library's secret, so the caller could not
    repeat it under that id: its error now carries it."""
    latency.register_device("failing")
    with pytest.raises(InvalidArgumentError) as failed:
        latency.add_measurements("failing", [(LIGHT, -1.0)])
    assert len(failed.value.request_id) == 32  # a fresh UUID's hex
    with pytest.raises(InvalidArgumentError) as given:
        latency.add_measurements("failing", [(LIGHT, -1.0)], request_id="mine")
    assert given.value.request_id == "mine"


def test_a_deleted_slip_is_predicted_as_before_it(latency: LatencyClient) -> None:
    """Before, a surprising latency could only be outvoted by measuring its arch twice more."""
    latency.register_device("slip")
    latency.add_measurements("slip", [(cell, 20.0 + i) for i, cell in enumerate(CELLS)])
    before = latency.predict("slip", [LIGHT, HEAVY])
    latency.add_measurements("slip", [(HEAVY, 40_000.0)])  # seconds typed as ms, 1000x
    assert latency.predict("slip", HEAVY).mean_ms[0] > 10 * before.mean_ms[1]
    deleted = latency.delete_measurements("slip", [HEAVY, LIGHT])  # LIGHT: never measured
    assert deleted == DeleteResult(1, len(CELLS), deleted.model_version, unmatched_archs=(1,))
    after = latency.predict("slip", [LIGHT, HEAVY])
    assert after.model_version == deleted.model_version != before.model_version
    assert after == replace(before, model_version=after.model_version)
    assert latency.device("slip").measurement_count == len(CELLS)


def test_a_deletion_repeated_under_its_request_id_deletes_nothing_more(
    latency: LatencyClient,
) -> None:
    latency.register_device("undo")
    latency.add_measurements("undo", [(LIGHT, 2.0), (HEAVY, 9.0)])
    first = latency.delete_measurements("undo", LIGHT, request_id="undo-1")
    latency.add_measurements("undo", [(LIGHT, 2.5)])  # measured again meanwhile
    again = latency.delete_measurements("undo", LIGHT, request_id="undo-1")
    assert (first.deleted, again.deleted) == (1, 1)
    assert latency.measurements("undo") == [(HEAVY, 9.0), (LIGHT, 2.5)]
    with pytest.raises(InvalidArgumentError, match="another request") as reused:
        latency.delete_measurements("undo", HEAVY, request_id="undo-1")
    assert reused.value.request_id == "undo-1"
    with pytest.raises(InvalidArgumentError, match="arch 1: ") as failed:
        latency.delete_measurements("undo", [HEAVY, "|bad|"])
    assert len(failed.value.request_id) == 32  # a fresh UUID's hex, to repeat it under
    with pytest.raises(ClientInputError, match="request_id is empty"):
        latency.delete_measurements("undo", HEAVY, request_id="")
    assert latency.device("undo").measurement_count == 2


def test_exact_measurements_delete_only_the_wrong_one_of_an_arch(latency: LatencyClient) -> None:
    """Deleting the arch deleted its two good measurements with the wrong one."""
    latency.register_device("three")
    latency.add_measurements("three", [(LIGHT, 2.0), (LIGHT, 2000.0), (LIGHT, 2.1), (HEAVY, 9.0)])
    listed = latency.measurements("three")
    wrong = [pair for pair in listed if pair[1] > 100]  # as listed: the stored float
    deleted = latency.delete_measurements("three", measurements=wrong, request_id="exact-1")
    assert (deleted.deleted, deleted.device_total) == (1, 3)
    again = latency.delete_measurements("three", measurements=wrong, request_id="exact-1")
    assert again == deleted
    assert latency.measurements("three") == [(LIGHT, 2.0), (LIGHT, 2.1), (HEAVY, 9.0)]
    # A mapping, and archs beside pairs; a value that matches nothing deletes nothing.
    both = latency.delete_measurements("three", [HEAVY], measurements={LIGHT: 2.1})
    assert (both.deleted, both.device_total) == (2, 1)
    assert latency.delete_measurements("three", measurements=[(LIGHT, 2.05)]).deleted == 0
    with pytest.raises(InvalidArgumentError, match="measurement 1: latency nan ms"):
        latency.delete_measurements("three", measurements=[(LIGHT, 2.0), (LIGHT, math.nan)])
    with pytest.raises(ClientInputError, match="measurements must be .arch, latency_ms. pairs"):
        latency.delete_measurements("three", measurements=2.0)  # type: ignore[arg-type]
    assert latency.measurements("three") == [(LIGHT, 2.0)]
    # A mapping as archs: read as its keys, it deleted every measurement of each arch.
    with pytest.raises(ClientInputError, match="pass it as measurements="):
        latency.delete_measurements("three", {LIGHT: 2.0})  # type: ignore[arg-type]
    assert latency.measurements("three") == [(LIGHT, 2.0)]


def test_suggestions_of_a_space_without_measurements_warn_as_predictions_do(
    latency: LatencyClient,
) -> None:
    """Their predictions are Predict's, the prior's guesses, which Predict's answer said and
    SuggestSamples' did not (a review, 2026-12-06)."""
    latency.register_device("nb201-only-picks")
    latency.add_measurements("nb201-only-picks", [(LIGHT, 2.0)])
    blocks = [",".join(["k3_e1"] * 21 + [block]) for block in ("skip", "k5_e6")]
    picks = latency.suggest("nb201-only-picks", 1, candidates=blocks, search_space="fbnet")
    (said,) = picks.warnings
    assert said.startswith("no fbnet measurements: these are the prior's guesses")
    assert latency.suggest("nb201-only-picks", 1, strategy="random").warnings == ()
    # NB201's fitted model has its sources: a device with no measurement is no prior's guess.
    latency.register_device("nb201-none")
    assert latency.predict("nb201-none", [LIGHT]).warnings == ()


def test_fbnet_block_indices_read_as_floats_are_sent_as_ints(latency: LatencyClient) -> None:
    """np.loadtxt reads block indices as 6.0, which the server refused as "unknown block '6.0'"
    after the warning of block indices had said to give search_space='fbnet'."""
    rows = np.loadtxt(io.StringIO("6 " + "1 " * 21 + "\n" + "0 " * 22))
    sent = to_architectures(rows, "fbnet")
    assert [m.arch for m in sent] == ["6," + ",".join(["1"] * 21), ",".join(["0"] * 22)]
    latency.register_device("floats")
    assert len(latency.predict("floats", rows, search_space="fbnet")) == 2
    assert to_architecture([6.5] + [1] * 21, "fbnet").arch.startswith("6.5,1,")  # the server's


def test_an_arch_given_with_its_latency_where_archs_are_asked_is_named_so() -> None:
    """An (arch, latency_ms) row given to predict was "a feature vector must hold numbers"."""
    with pytest.raises(ClientInputError, match="it is an arch and a number, as an .arch, latency"):
        to_architectures([(LIGHT, 5.0)])
    with pytest.raises(ClientInputError, match="must hold numbers: could not convert") as refused:
        to_architectures([("fast", 5.0)])
    assert "an arch and a number" not in str(refused.value)


def test_predictions_stay_read_only_when_pickled_or_copied() -> None:
    """A process pool's pickled copy of a Predictions had writable arrays."""
    import copy

    own = np.array([1.0, 2.0])
    view = own.view()
    view.flags.writeable = False
    predictions = Predictions(own, own, view, own, "v-1", ("said",))
    own[0] = 5.0  # the caller's array, and a read-only view of it, stay theirs
    assert predictions.mean_ms.tolist() == [1.0, 2.0] == predictions.lower_ms.tolist()
    for copied in (pickle.loads(pickle.dumps(predictions)), copy.deepcopy(predictions)):
        assert copied == predictions
        with pytest.raises(ValueError, match="read-only"):
            copied.mean_ms[0] = 0.0
    # A subclass with a field of its own comes back whole, of its class.
    tagged = _TaggedPredictions(own, own, own, own, "v-1", (), "mine")
    for copied in (pickle.loads(pickle.dumps(tagged)), copy.copy(tagged)):
        assert isinstance(copied, _TaggedPredictions) and copied.tag == "mine"


@dataclass(frozen=True, eq=False)
class _TaggedPredictions(Predictions):
    tag: str = ""
    derived: float = field(init=False, default=0.0)  # no keyword of __init__: not pickled


def test_a_client_retries_three_times_by_default_each_attempt_for_30_s() -> None:
    """As the README says ("The default 3 retries wait ..."), and the docstring and --help."""
    with LatencyClient("127.0.0.1:1") as latency:
        assert (latency.retries, latency.timeout_s) == (3, 30.0)


def test_leaving_a_with_block_closes_the_client() -> None:
    with LatencyClient("127.0.0.1:1", retries=0, timeout_s=2) as latency:
        pass
    with pytest.raises(ClientInputError, match="is closed"):
        latency.devices()


def test_a_retried_registration_finding_another_description_is_not_its_own(
    latency: LatencyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first attempt lost, the retry finds the name taken: by a device that differs only in
    its description, which is someone else's."""
    latency.register_device("desc-board", ["d"], {"memory_gb": 4.0}, "mine")
    stub = latency._stub
    real, sent = stub.RegisterDevice, []

    def unavailable_once(request: Any, **kwargs: Any) -> Any:
        sent.append(request.name)
        if len(sent) == 1:
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Stream removed")
        return real(request, **kwargs)

    monkeypatch.setattr(stub, "RegisterDevice", unavailable_once)
    monkeypatch.setattr(client.api.time, "sleep", lambda seconds: None)
    latency.retries = 2
    with pytest.raises(AlreadyExistsError):
        latency.register_device("desc-board", ["d"], {"memory_gb": 4.0}, "someone else's")
    assert len(sent) == 2


def test_a_surprising_upload_s_answer_carries_the_service_s_figures(
    latency: LatencyClient,
) -> None:
    """A latency typed in seconds among milliseconds comes back with the latency the device's
    other measurements predict, their interval and the p-value, as the service gave them: the
    CLI's warning prints them ("(p<1e-06)"). Before, no test read the p-value through the
    client, so an AddResult that lost it (every warning saying "p=1") passed."""
    from gp.data import load_help_dataset
    from gp.spaces.nasbench201 import all_archs

    table, archs = load_help_dataset(service_fixtures.DATASET).table("fpga"), all_archs()
    picks = [int(i) for i in np.random.default_rng(0).choice(len(archs), 12, replace=False)]
    latency.register_device("fpga-figures")
    latency.add_measurements("fpga-figures", [(archs[i], float(table[i])) for i in picks[:-1]])
    slipped, right = archs[picks[-1]], float(table[picks[-1]])
    added = latency.add_measurements("fpga-figures", [(slipped, right / 1000)])
    [surprise] = added.surprising
    assert (surprise.arch, surprise.latency_ms) == (slipped, pytest.approx(right / 1000))
    assert surprise.lower_ms < surprise.expected_ms < surprise.upper_ms
    assert surprise.expected_ms == pytest.approx(right, rel=0.3) and surprise.factor > 100
    assert 0 <= surprise.p_value < 1e-3
    assert "(p<1e-06)" in surprise.describe()
