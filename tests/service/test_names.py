"""The rules for names, short texts and write tokens, at their edges (service.names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.names import (
    MAX_NAME_LENGTH,
    TEXT_LAYOUT,
    name_problem,
    token_file_named,
    token_problem,
    unprintable_problem,
)


def test_a_name_of_the_maximum_length_is_taken_and_one_more_is_refused() -> None:
    assert name_problem("device name", "n" * MAX_NAME_LENGTH) is None
    assert name_problem("device name", "n" * (MAX_NAME_LENGTH + 1)) == (
        f"device name is longer than {MAX_NAME_LENGTH} characters"
    )


def test_a_name_is_measured_in_its_composed_form_as_it_is_stored() -> None:
    """Names are stored composed (NFC): 150 "e" + combining acute are 150 characters there, and
    were refused as longer than 200 (a review, 2026-12-06); U+0958 composes to two, so 200 of
    them, at the limit as typed, are over it composed, and the message says so."""
    assert name_problem("device name", "e\u0301" * 150) is None
    for typed in (150, MAX_NAME_LENGTH):
        assert name_problem("device name", "\u0958" * typed) == (
            f"device name is longer than {MAX_NAME_LENGTH} characters in Unicode's composed form"
        )


def test_every_unprintable_category_is_refused_in_a_name() -> None:
    # Cc (escape), Cf (direction override), Zl (line separator), Zp (paragraph separator)
    for character in ("\x1b", "\u202e", "\u2028", "\u2029"):
        problem = name_problem("device name", f"a{character}b")
        assert problem is not None and problem.endswith("has a control or format character")


def test_a_refused_text_is_quoted_only_up_to_40_characters() -> None:
    """A 10,000-character description with one escape must not come back whole in the error."""
    value = "\x1b" + "x" * 9_999
    assert unprintable_problem("description", value) == (
        f"description {value[:40]!r} has a control or format character"
    )


def test_a_token_is_visible_ascii_only() -> None:
    assert token_problem("token", "\x21" + "a" * 30 + "\x7e") is None
    for bad in ("abc\x7fdef", "abc def", "abc\tdef"):  # DEL, space, tab: not visible
        assert token_problem("token", bad) == "token must be printable ASCII without spaces"


def test_a_token_file_is_named_unless_its_path_may_be_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token given in the path's place is not printed (one too long for a file name was a
    traceback that printed it); a file in a folder this process may not search is named."""
    held = tmp_path / "token"
    held.write_text("x")
    assert token_file_named(held) == f"token file {held}"
    assert token_file_named(tmp_path / "missing") == f"token file {tmp_path / 'missing'}"
    for token in ("Zq8s3cretTOKENvalue123", "Zq8s3cret" * 40):
        assert "s3cret" not in token_file_named(token)

    def refused(self: Path) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "exists", refused)
    assert token_file_named(held) == f"token file {held}"


def test_free_text_may_hold_line_breaks_and_tabs_but_a_name_may_not() -> None:
    """A device's description has lines; its name is one line of a table."""
    text = "Jetson Nano\n\tpower mode 10 W"
    assert unprintable_problem("description", text, allowed=TEXT_LAYOUT) is None
    assert unprintable_problem("description", "a\x1bb", allowed=TEXT_LAYOUT) is not None
    assert name_problem("device name", text) is not None
