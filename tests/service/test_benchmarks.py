"""Wire-level benchmarks (skipped by default; run with
``pytest tests/service/test_benchmarks.py --benchmark-only``)."""

from __future__ import annotations

import itertools

from gp.spaces.nasbench201 import all_archs
from service._proto.latency.v1 import latency_pb2 as pb
from service._proto.latency.v1 import latency_pb2_grpc as pb_grpc
from tests.service.conftest import nb201

ARCHS = all_archs()


def test_predict_one_arch(benchmark, stub: pb_grpc.LatencyEstimatorStub) -> None:  # noqa: ANN001
    request = pb.PredictRequest(device="pi4", archs=[nb201(ARCHS[123])])
    reply = benchmark(stub.Predict, request)
    assert len(reply.predictions) == 1


def test_predict_all_nb201(benchmark, stub: pb_grpc.LatencyEstimatorStub) -> None:  # noqa: ANN001
    request = pb.PredictRequest(device="pi4", archs=[nb201(a) for a in ARCHS])
    reply = benchmark.pedantic(stub.Predict, (request,), rounds=5, warmup_rounds=1)
    assert len(reply.predictions) == len(ARCHS)


def test_add_10_then_predict(benchmark, stub: pb_grpc.LatencyEstimatorStub) -> None:  # noqa: ANN001
    stub.RegisterDevice(pb.RegisterDeviceRequest(name="bench"))
    batches = itertools.count()
    query = pb.PredictRequest(device="bench", archs=[nb201(a) for a in ARCHS[:100]])

    def add_then_predict() -> pb.PredictResponse:
        start = 10 * next(batches) % len(ARCHS)
        measurements = [
            pb.Measurement(arch=nb201(a), latency_ms=5.0 + i)
            for i, a in enumerate(ARCHS[start : start + 10])
        ]
        stub.AddMeasurements(pb.AddMeasurementsRequest(device="bench", measurements=measurements))
        return stub.Predict(query)

    reply = benchmark.pedantic(add_then_predict, rounds=20, warmup_rounds=1)
    assert len(reply.predictions) == 100
