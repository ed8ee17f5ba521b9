"""Test constants and helpers shared by the conftests and the tests (plain module, no fixtures).

The real latency tables are read from ``$LATENCY_DATASET_DIR`` or
``../shared/datasets/help-nasbench201`` beside the checkout.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import torch
from torch import nn

from gp.estimator import LatencyEstimator
from gp.model import FitSettings
from service.config import ServiceConfig
from service.server import RunningServer, create_server

REPO = Path(__file__).resolve().parents[1]
DATASET = Path(
    os.environ.get("LATENCY_DATASET_DIR", REPO.parent / "shared" / "datasets" / "help-nasbench201")
)
TEST_DEVICES = ("1080ti_1", "silver_4114", "pixel3", "raspi4")
FIT_ITERATIONS = 5
STORE_NAME = "store.sqlite"


def fit_settings() -> FitSettings:
    return FitSettings(iterations=FIT_ITERATIONS)


def copy_store(source_dir: Path, target_dir: Path) -> Path:
    """Copies the store file and its model cache; returns the new store path."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for path in source_dir.iterdir():
        if path.name.startswith(STORE_NAME):
            shutil.copy2(path, target_dir / path.name)
    return target_dir / STORE_NAME


def start_server(
    store_path: Path, model_cache: dict[str, LatencyEstimator], **settings: object
) -> RunningServer:
    """An in-process server on a free loopback port with ``settings``, model ready."""
    config = ServiceConfig(
        address="127.0.0.1:0", store_path=store_path, fit=fit_settings(), **settings
    )  # type: ignore[arg-type]
    running = create_server(config, model_cache)
    running.warm_up()
    return running


@contextmanager
def files_capped_at(size: int) -> Iterator[None]:
    """No file this process writes grows past ``size`` bytes while the block runs: a write
    beyond fails (EFBIG; Python ignores SIGXFSZ), as on a disk that fails, and SQLite says
    "disk I/O error"."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def run_python(
    argv: Sequence[str],
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` run from the checkout with it importable, under the command ``prefix``
    (a private mount's, say) where given; ``env`` adds to the environment."""
    return subprocess.run(
        [*prefix, sys.executable, *argv],
        cwd=REPO,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def mount_namespace(script: str, folder: Path) -> list[str]:
    """``unshare`` running ``sh -c script FOLDER COMMAND...`` as root of private user and mount
    namespaces, so that its mounts (which, unlike chmod, hold for root too) end with the
    command; skips the test where this machine refuses it (tried once on ``folder``)."""
    command = ["unshare", "--map-root-user", "--mount", "sh", "-c", script]
    try:
        probe = subprocess.run([*command, str(folder), "true"], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("the unshare command is needed for a private mount")
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private mount here: {probe.stderr.strip()}")
    return command


def write_help_dataset(root: Path, tables: dict[str, list[float]]) -> Path:
    """A HELP-format dataset at ``root``: the arch index, and one latency list per table (no
    reference archs)."""
    from gp.spaces.nasbench201 import all_archs

    (root / "latency").mkdir(parents=True)
    torch.save({arch: i for i, arch in enumerate(all_archs())}, root / "str_arch2idx.pt")
    for stem, latency in tables.items():
        torch.save(latency, root / "latency" / f"{stem}.pt")
    return root


def count_cost(blocks: Sequence[nn.Module], size: int) -> list[tuple[int, int]]:
    """(MACs, params) of each block, run in order on a 1 x 3 x size x size input.

    MACs: conv ``out.numel() * c_in/groups * k*k``, linear ``in*out``; pools one add per
    element read. Parameters: ``sum(p.numel())``. The forward pass runs on the meta device:
    only shapes are computed, so the check is fast however busy the CPU is.
    """
    flops = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal flops
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            flops += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            flops += module.in_features * module.out_features
        elif isinstance(module, nn.AvgPool2d):
            flops += output.numel() * module.kernel_size**2
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            flops += inputs[0].numel()

    counted = (nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
    modules = [m for block in blocks for m in block.modules() if isinstance(m, counted)]
    handles = [m.register_forward_hook(hook) for m in modules]
    results = []
    x = torch.zeros(1, 3, size, size, device="meta")
    with torch.no_grad():
        for block in blocks:
            flops = 0
            x = block.to("meta").eval()(x)
            results.append((flops, sum(p.numel() for p in block.parameters())))
    for handle in handles:
        handle.remove()
    return results


def reference_totals(blocks: list[nn.Module]) -> tuple[int, int]:
    costs = count_cost(blocks, 32)
    return sum(f for f, _ in costs), sum(p for _, p in costs)


def assert_calls_end_at_their_deadline(
    server: RunningServer, calls: Sequence[tuple[Callable, object]], timeout: float
) -> None:
    """Each ``(stub method, request)`` call with ``timeout`` ends DEADLINE_EXCEEDED, and soon
    after no worker of ``server`` is busy with it (a waiter held its worker past the deadline)."""
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=timeout)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_no_worker_busy(server)


def assert_calls_end_when_cancelled(
    server: RunningServer, calls: Sequence[tuple[Callable, object]]
) -> None:
    """Each ``(stub method, request)`` call, given no deadline, is cancelled by its client once
    it is being handled, and soon after no worker of ``server`` is busy with it (a waiter held
    its worker until what it waited for was free)."""
    for call, request in calls:
        future = call.future(request)
        assert busy_workers(server, 1) == 1, "the call never reached its handler"
        future.cancel()
        assert future.cancelled()
        assert_no_worker_busy(server)


def assert_no_worker_busy(server: RunningServer) -> None:
    """No worker of ``server`` is busy, at the latest 10 s from now."""
    assert busy_workers(server, 0) == 0


def busy_workers(server: RunningServer, expected: int) -> int:
    """How many workers of ``server`` are busy once ``expected`` are, or after 10 s."""
    waited = time.monotonic() + 10.0
    while server.metrics.busy() != expected and time.monotonic() < waited:
        time.sleep(0.01)
    return server.metrics.busy()


def assert_another_writers_temporary_file_is_left_alone(
    write: Callable[[Path, str], object], out: Path, in_flight: Path
) -> None:
    """``write(out, ...)`` leaves ``in_flight``, another writer's temporary file of ``out``
    under the name a shared temporary name would take, as it was."""
    in_flight.write_text("another writer's")
    write(out, "this writer's")
    assert out.read_text() == "this writer's"
    assert in_flight.read_text() == "another writer's"


def assert_a_longest_name_is_written(write: Callable[[Path, str], object], folder: Path) -> None:
    """``write`` takes a file name as long as a name may be (255 bytes), leaving only it."""
    out = folder / ("r" * 255)
    write(out, "figures")
    assert [(p.name, p.read_text()) for p in folder.iterdir()] == [(out.name, "figures")]


class CallAborted(Exception):
    """What :meth:`FakeCallContext.abort` raises, as grpc's abort raises to end the handler."""


class FakeCallContext:
    """The context of a unary call with ``remaining`` seconds left (None: no deadline), which
    records the status it is aborted with."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining
        self.status: tuple[grpc.StatusCode, str] | None = None
        self.trailing_metadata: tuple[tuple[str, str], ...] = ()

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing_metadata = metadata

    def time_remaining(self) -> float | None:
        return self.remaining

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.status = (code, details)
        raise CallAborted(details)


class FakeRpcError(grpc.RpcError):
    """An error the channel raises, with its status code and details (grpc's may be None)."""

    def __init__(self, code: grpc.StatusCode | None, details: str | None) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details
