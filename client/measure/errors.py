"""Errors raised by the measurement harness."""

from __future__ import annotations

from client.errors import LatencyClientError


class MeasureError(LatencyClientError):
    """Base class of every error the measurement harness raises on purpose: a NAS loop that
    measures and queries catches both with ``except LatencyClientError``."""


class ArchitectureError(MeasureError, ValueError):
    """An architecture string that names no network of its search space."""


class TimingError(MeasureError, ValueError):
    """Timing settings that cannot give a measurement (no runs, a non-positive batch...)."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        #: The setting at fault where one alone is: the CLI names its option.
        self.setting = setting
