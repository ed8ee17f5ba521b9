"""The request guard's deadline check, on the handler itself.

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


def _guarded(ran: list[object]) -> grpc.RpcMethodHandler:
    def behavior(request: object, context: object) -> pb.Device:
        ran.append(request)
        return pb.Device(name="pi4")

    handler = grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=pb.GetDeviceRequest.FromString,
        response_serializer=pb.Device.SerializeToString,
    )
    details = SimpleNamespace(method="/latency.v1.LatencyEstimator/GetDevice")
    return RequestGuardInterceptor(1 << 20).wrap(handler, details)  # type: ignore[arg-type]


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
