"""What a device name or alias, another short text of a request, or a write token may be,
and how long a stored vector arch is.

The servicer and the token check apply these rules; they import neither grpc nor ``gp``, so
that the client, which already imports this package's stubs, checks a name by the same rules
before work that precedes its registration (``client measure --register`` times the reference
archs first), and a token before it sends one.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

MAX_NAME_LENGTH = 200
#: Unicode categories a name may not hold: controls, formats (direction overrides, zero-width
#: characters), line and paragraph separators.
UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: What a bearer token may hold: visible ASCII. Metadata values must be ASCII (grpc fails the
#: call with INTERNAL "Invalid metadata" otherwise), and whitespace would not survive
#: ``Bearer <token>`` parsing.
TOKEN_PATTERN = re.compile(r"[\x21-\x7e]+")
#: The unprintable characters free text (a device's description) may hold: it has lines.
TEXT_LAYOUT = "\n\t"


def is_unprintable(character: str, allowed: str = "") -> bool:
    """Whether ``character`` is of an UNPRINTABLE category and not one of ``allowed``."""
    return character not in allowed and unicodedata.category(character) in UNPRINTABLE


def text_problem(label: str, value: str) -> str | None:
    """Why ``value`` is not a valid short text (control or format characters, more than
    MAX_NAME_LENGTH characters), or None; messages start with ``label``."""
    problem = unprintable_problem(label, value)
    if problem is None and len(value) > MAX_NAME_LENGTH:
        return f"{label} is longer than {MAX_NAME_LENGTH} characters"
    return problem


def unprintable_problem(label: str, value: str, allowed: str = "") -> str | None:
    """Why ``value`` holds an unprintable character other than ``allowed`` ones, or None;
    the message quotes at most its first 40 characters."""
    # A line break, escape sequence or direction override would forge log lines and garble
    # tables.
    if any(is_unprintable(c, allowed) for c in value):
        return f"{label} {value[:40]!r} has a control or format character"
    # Python's stand-ins for bytes that are not UTF-8 (a file or argument name): SQLite and
    # protobuf cannot encode them, and an import ended in a UnicodeEncodeError traceback.
    if any("\ud800" <= c <= "\udfff" for c in value):
        return f"{label} {value[:40]!r} is not UTF-8 text"
    return None


def name_problem(label: str, value: str) -> str | None:
    """Why ``value`` is not a valid device name or alias (empty, leading or trailing
    whitespace, or a :func:`text_problem`), or None."""
    if not value:
        return f"{label} is empty"
    if value != value.strip():
        return f"{label} {value!r} has leading or trailing whitespace"
    # Measured as stored: 150 "e" + combining accents are 150 characters once composed (and
    # a few characters, as U+0958, two).
    stored = composed(value)
    if len(stored) > MAX_NAME_LENGTH >= len(value):
        return f"{label} is longer than {MAX_NAME_LENGTH} characters in Unicode's composed form"
    return text_problem(label, stored)


def vector_dim(canonical: str) -> int:
    """The length of a canonical vector string (``"0.5,2"``: 2); the client counts a listing's
    by this too, without the modelling stack."""
    return canonical.count(",") + 1 if canonical else 0


def composed(name: str) -> str:
    """``name`` in Unicode's composed form (NFC), as the store keeps device names: "café"
    typed decomposed is the same device."""
    return unicodedata.normalize("NFC", name)


def token_problem(label: str, token: str) -> str | None:
    """Why ``token`` cannot be a write token (empty, or not :data:`TOKEN_PATTERN`), or None;
    the message starts with ``label`` and never quotes the token."""
    if not token:
        return f"{label} is empty"
    if not TOKEN_PATTERN.fullmatch(token):
        return f"{label} must be printable ASCII without spaces"
    return None


def token_file_named(path: str | Path) -> str:
    """How a message names a token file it could not read: by its path where that reads as
    one (the file, or a folder holding it, exists), else not at all, as a token given in the
    path's place by mistake (``LATENCY_TOKEN_FILE=$TOKEN``) would be printed."""
    path = Path(path)
    if _names_a_place(path) or (os.sep in str(path) and _names_a_place(path.parent)):
        return f"token file {path}"
    return "the token file (its path, which names nothing here, not shown: it may be a token)"


def _names_a_place(path: Path) -> bool:
    """Whether something is at ``path``, or may be where this process may not look (a folder
    it cannot search); not for a name too long for a file (a JWT) or one holding a NUL."""
    try:
        return path.exists()
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
