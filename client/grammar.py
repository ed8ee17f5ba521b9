"""How the client reads a number written as text: a latency in a file or an option, a vector
element in an arch string. Imports nothing heavy, so the CLI reads it without loading grpc."""

from __future__ import annotations

import re

#: A decimal number, an exponent allowed, or inf/nan (refused later, with their own message).
#: float() reads more: "1_0" as 10, Arabic-Indic or full-width digits (reviews, 2026-12-06).
#: No two parts may take the same digits: "\d+\.?\d*" took 9 s to refuse 20,000 of them, the
#: server's worker holding the GIL meanwhile. gp.spaces.vector has the same (a test keeps it).
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf(inity)?|nan)", re.I | re.A)


def is_decimal(text: str) -> bool:
    """Whether ``text``, surrounding whitespace aside, is a :data:`DECIMAL`."""
    return DECIMAL.fullmatch(text.strip()) is not None


def decimal(text: str) -> float:
    """``text`` as a float where :func:`is_decimal`; raises ValueError otherwise."""
    if not is_decimal(text):
        raise ValueError(f"could not convert string to float: {text!r}")
    return float(text.strip())  # float() refuses separators strip() drops ("\x1c")
