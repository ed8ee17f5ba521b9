"""How the client reads a number written as text: a latency in a file or an option, a vector
element in an arch string. Imports nothing heavy, so the CLI reads it without loading grpc."""

from __future__ import annotations

import re

#: A decimal number, an exponent allowed, or inf/nan (refused later, with their own message).
#: float() reads more: "1_0" as 10, Arabic-Indic or full-width digits (reviews, 2026-12-06).
DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf(inity)?|nan)", re.I | re.A)


def is_decimal(text: str) -> bool:
    """Whether ``text``, surrounding whitespace aside, is a :data:`DECIMAL`."""
    return DECIMAL.fullmatch(text.strip()) is not None
