"""The request guard's checks (deadline, undecodable request, answer size), on the handler
itself.

In test_fuzz's queued-write test grpc (1.85 here) dropped the call whose deadline passed in the
queue before its handler ran, so that test never reached this check (disabling it passed
test_fuzz and test_errors): here a context says how much time is left.
"""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest

from service._proto.latency.v1 import latency_pb2 as pb
from service.guard import RequestGuardInterceptor
from tests.helpers import CallAborted, FakeCallContext


def _guarded(ran: list[object], max_message_bytes: int = 1 << 20) -> grpc.RpcMethodHandler:
    def behavior(request: object, context: object) -> pb.Device:
        ran.append(request)
        return pb.Device(name="pi4")

    handler = grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=pb.GetDeviceRequest.FromString,
        response_serializer=pb.Device.SerializeToString,
    )
    details = SimpleNamespace(method="/latency.v1.LatencyEstimator/GetDevice")
    return RequestGuardInterceptor(max_message_bytes).wrap(handler, details)  # type: ignore[arg-type]


def test_a_call_whose_deadline_passed_is_refused_before_it_runs() -> None:
    ran: list[object] = []
    context = FakeCallContext(remaining=0.0)  # grpc's time_remaining() stops at 0
    with pytest.raises(CallAborted):
        _guarded(ran).unary_unary(pb.GetDeviceRequest(name="pi4"), context)
    assert context.status == (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "the deadline passed before the call ran",
    )
    assert ran == []


@pytest.mark.parametrize("remaining", [None, 0.5])
def test_a_call_without_deadline_or_with_time_left_runs(remaining: float | None) -> None:
    ran: list[object] = []
    context = FakeCallContext(remaining)
    answer = _guarded(ran).unary_unary(pb.GetDeviceRequest(name="pi4"), context)
    assert answer.name == "pi4" and len(ran) == 1 and context.status is None


def test_an_answer_may_take_the_whole_message_limit_and_no_more() -> None:
    size = pb.Device(name="pi4").ByteSize()
    answer = _guarded([], size).unary_unary(pb.GetDeviceRequest(name="pi4"), FakeCallContext(None))
    assert answer.name == "pi4"
    context = FakeCallContext(None)
    with pytest.raises(CallAborted):
        _guarded([], size - 1).unary_unary(pb.GetDeviceRequest(name="pi4"), context)
    assert context.status == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"the answer would be {size} bytes, over the {size - 1} a message may carry: ask for"
        " less (ListMeasurements: a page_size)",
    )


def test_request_bytes_that_are_no_message_are_the_caller_s_error() -> None:
    ran: list[object] = []
    guarded = _guarded(ran)
    context = FakeCallContext(None)
    with pytest.raises(CallAborted):
        guarded.unary_unary(guarded.request_deserializer(b"\xff\xff\xff"), context)
    assert context.status == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "request bytes are not a valid message for /latency.v1.LatencyEstimator/GetDevice"
        " (DecodeError)",
    )
    assert ran == []
