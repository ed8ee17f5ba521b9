"""The suite's own settings survive the scrub of the runner's environment (tests/__init__.py)."""

from __future__ import annotations

import re
from pathlib import Path

import tests


def test_every_latency_variable_the_suite_reads_is_kept() -> None:
    """The scrub dropped LATENCY_CRASH_CYCLES, so that the README's long crash run quietly
    ran the short one."""
    sources = Path(tests.__file__).parent.rglob("*.py")
    pattern = re.compile(r"environ(?:\.get\(|\[)\s*\"(LATENCY_[A-Z_]+)\"")
    read = {name for source in sources for name in pattern.findall(source.read_text())}
    assert "LATENCY_CRASH_CYCLES" in read
    assert read <= tests._SUITE_SETTINGS
