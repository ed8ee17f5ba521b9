"""What the model takes for a latency: its range, the rule's wording, and the check.

Apart from :mod:`gp.model` (no gpytorch): the dataset reader checks tables by it, and so runs
where only torch is installed (the example NAS loop reads HELP's tables with ``[measure]``).
"""

from __future__ import annotations

import numpy as np

# Physically plausible latencies (1 ns to ~3 h). Beyond them a measurement is a unit error or
# garbage, and values like 5e-324 ms break the Cholesky factor of every later posterior.
MIN_LATENCY_MS = 1e-6
MAX_LATENCY_MS = 1e7
LATENCY_RULE = f"must be finite and between {MIN_LATENCY_MS:g} and {MAX_LATENCY_MS:g} ms"


def first_out_of_range(latency_ms: np.ndarray) -> int | None:
    """The position of the first latency that breaks :data:`LATENCY_RULE` (NaN fails it), or
    None."""
    bad = np.flatnonzero(~((latency_ms >= MIN_LATENCY_MS) & (latency_ms <= MAX_LATENCY_MS)))
    return int(bad[0]) if bad.size else None
