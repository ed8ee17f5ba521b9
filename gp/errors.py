"""Typed exceptions raised by the ``gp`` package.

Every error a caller can cause with bad input is a subclass of :class:`GPInputError`
(itself a :class:`ValueError`), so the service can map it to INVALID_ARGUMENT without
catching unrelated failures.
"""

from __future__ import annotations


class GPError(Exception):
    """Base class of every error raised on purpose by ``gp``."""


class GPInputError(GPError, ValueError):
    """The caller passed something malformed; the message names what and why."""


class InvalidArchitectureError(GPInputError):
    """An architecture string, block list or feature vector is malformed."""


class UnknownSearchSpaceError(GPInputError):
    """A search-space name is not one of the known spaces."""


class InvalidMeasurementError(GPInputError):
    """A latency is NaN, infinite, zero or negative, or otherwise unusable."""


class DatasetError(GPError):
    """A dataset directory is missing files or holds tables of the wrong shape."""


class SelectionStoppedError(GPError):
    """Active selection was stopped by its caller's ``stop`` check (say, a call that ended)."""


class NotFittedError(GPError):
    """The model was asked to predict before its source hyperparameters were fitted."""
