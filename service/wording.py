"""How the tools word a count in a message: "1 arch", "2 archs", never "1 archs".

Imports only the standard library, so the client uses it without the server's modules.
"""

from __future__ import annotations


def quantity(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, in the plural (``plural``, else ``noun`` + "s") unless one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
