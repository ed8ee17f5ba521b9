"""Counts in messages: "1 arch", "2 archs"."""

from __future__ import annotations

from service.wording import quantity


def test_one_is_singular_and_any_other_count_plural() -> None:
    assert quantity(1, "arch") == "1 arch"
    assert [quantity(n, "arch") for n in (0, 2)] == ["0 archs", "2 archs"]
    assert quantity(1, "batch", "batches") == "1 batch"
    assert quantity(3, "batch", "batches") == "3 batches"
