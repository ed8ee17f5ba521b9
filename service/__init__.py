"""The gRPC server of the latency estimator (see ``python -m service --help``)."""

from importlib import metadata

#: The distribution the gp, service and client packages are installed as.
DISTRIBUTION = "nas-latency-estimator"


def installed_version() -> str:
    """The installed release (pyproject's version), which ``--version`` prints and ``serve``
    logs: a user reporting a bug could not say which build ran (a review, 2026-12-06).
    "unknown" where the packages run from a tree no installer recorded."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
