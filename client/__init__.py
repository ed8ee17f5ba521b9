"""Client library and CLI of the NAS latency service.

``from client import LatencyClient`` is the library's entry point; the names below are loaded
on first use, so ``client --help`` and :mod:`client.measure` do not pay for grpc and numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.api import (
        AddResult,
        DeleteResult,
        DeviceInfo,
        LatencyClient,
        Prediction,
        Predictions,
        Suggestion,
        Suggestions,
        SurprisingMeasurement,
    )
    from client.errors import (
        AlreadyExistsError,
        ClientInputError,
        DeadlineExceededError,
        GenericServiceError,
        InvalidArgumentError,
        LatencyClientError,
        LatencyServiceError,
        NotFoundError,
        PermissionDeniedError,
        ResourceExhaustedError,
        ServerBusyError,
        UnauthenticatedError,
        UnavailableError,
    )

__all__ = [
    "AddResult",
    "AlreadyExistsError",
    "ClientInputError",
    "DeadlineExceededError",
    "DeleteResult",
    "DeviceInfo",
    "GenericServiceError",
    "InvalidArgumentError",
    "LatencyClient",
    "LatencyClientError",
    "LatencyServiceError",
    "NotFoundError",
    "PermissionDeniedError",
    "Prediction",
    "Predictions",
    "ResourceExhaustedError",
    "ServerBusyError",
    "Suggestion",
    "Suggestions",
    "SurprisingMeasurement",
    "UnauthenticatedError",
    "UnavailableError",
]
_MODULE_OF = {name: "client.errors" if name.endswith("Error") else "client.api" for name in __all__}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'client' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    # The lazy names too, for a REPL's or an editor's completion of ``client.``.
    return sorted(set(globals()) | set(__all__))
