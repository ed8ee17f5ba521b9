"""Counts in messages ("1 arch", "2 archs"), and the hints at a server that speaks TLS or not."""

from __future__ import annotations

from service.wording import no_tls_hint, quantity, tls_hint


def test_one_is_singular_and_any_other_count_plural() -> None:
    assert quantity(1, "arch") == "1 arch"
    assert [quantity(n, "arch") for n in (0, 2)] == ["0 archs", "2 archs"]
    assert quantity(1, "batch", "batches") == "1 batch"
    assert quantity(3, "batch", "batches") == "3 batches"


def test_the_tls_hint_is_given_only_for_grpcs_words_of_a_tls_server() -> None:
    assert tls_hint("Socket closed", "--ca").endswith("connect with --ca")
    assert tls_hint("failed to connect to all addresses", "--ca") == ""  # nothing listening


def test_the_no_tls_hint_is_given_only_for_grpcs_words_of_a_plaintext_server() -> None:
    handshake = (
        "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: ...WRONG_VERSION_NUMBER"
    )
    assert no_tls_hint(handshake, "--ca").endswith("drop --ca")
    assert no_tls_hint("failed to connect to all addresses", "--ca") == ""  # nothing listening
    assert no_tls_hint("CERTIFICATE_VERIFY_FAILED", "--ca") == ""  # TLS, another CA
