"""What the PEM checks say of files grpc cannot use, at the cases the start-up tests miss."""

from __future__ import annotations

import ssl
from pathlib import Path

from service.certificates import certificates_problem, private_key_problem
from tests.service.conftest import TlsFiles

NO_CERTIFICATE = "no PEM certificate (-----BEGIN CERTIFICATE-----) in"


def test_a_der_file_named_pem_is_converted_to_another_name(
    tls_files: TlsFiles, tmp_path: Path
) -> None:
    """``-in ca.pem -out ca.pem`` would have openssl write over the file it reads."""
    der = tmp_path / "ca.pem"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(tls_files.ca.read_text()))
    assert certificates_problem(der.read_bytes(), der) == (
        f"{NO_CERTIFICATE} {der}: convert a DER file with openssl x509 -inform der -in {der}"
        f" -out {tmp_path / 'ca-converted.pem'}"
    )


def test_a_certificate_block_with_bytes_beyond_ascii_is_said_not_to_parse() -> None:
    damaged = b"-----BEGIN CERTIFICATE-----\nMII\xff\xfe\n-----END CERTIFICATE-----\n"
    assert certificates_problem(damaged, "root_certificates") == (
        "the first PEM certificate in root_certificates does not parse (damaged or cut off?)"
    )


def test_a_file_of_whitespace_is_said_to_be_empty(tmp_path: Path) -> None:
    blank = tmp_path / "blank.pem"
    assert certificates_problem(b" \n\n", blank) == f"{NO_CERTIFICATE} {blank}: it is empty"
    assert private_key_problem(b"\n", blank) == (
        f"no PEM private key (-----BEGIN PRIVATE KEY-----) in {blank}: it is empty"
    )


def test_only_the_first_certificate_of_a_bundle_is_checked(tls_files: TlsFiles) -> None:
    """grpc loads a bundle's blocks up to the first that does not parse: one damaged after a
    good one still works, one damaged first does not."""
    good = tls_files.ca.read_bytes()
    damaged = b"-----BEGIN CERTIFICATE-----\nMIIBcut\n-----END CERTIFICATE-----\n"
    assert certificates_problem(good + damaged, "root_certificates") is None
    assert certificates_problem(damaged + good, "root_certificates") == (
        "the first PEM certificate in root_certificates does not parse (damaged or cut off?)"
    )
