"""What trusted CA certificates may be: the one check of the client's ``root_certificates`` and
``ca_cert`` (library and CLI), of ``service health --ca`` and of ``serve --tls-cert`` (which must
also be valid now).

grpc takes any bytes as root certificates. Those it cannot load (a DER file, a path given as
bytes, a damaged PEM block) made it log C-level errors ("Could not load any root certificate")
and fail every call UNAVAILABLE after the retries; empty bytes made it trust the system's CAs
instead of the one meant, and a server with a private CA failed every handshake.

Imports only the standard library, so the client uses it without the server's modules.
"""

from __future__ import annotations

import re
import ssl
import time
from pathlib import Path

PEM_CERTIFICATE_START = "-----BEGIN CERTIFICATE-----"
#: One PEM certificate block; grpc skips any text around the blocks (comments, a key).
PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
#: The start of a PEM private key: PKCS#8 (``PRIVATE KEY``) or an algorithm's own (``EC ...``).
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
#: A passphrase-protected PEM key: PKCS#8's ``ENCRYPTED PRIVATE KEY``, or the ``Proc-Type``
#: header of an algorithm's own (``openssl ec -aes256``). grpc takes no passphrase.
PEM_ENCRYPTED_KEY = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4, *ENCRYPTED")
#: How DER, the binary form, starts: an ASN.1 SEQUENCE.
DER_START = b"\x30"


def certificates_problem(data: bytes, source: Path | str) -> str | None:
    """Why grpc cannot load a CA certificate from ``data``, or None.

    Args:
        data: what would be given to ``grpc.ssl_channel_credentials``.
        source: where it came from, named by the message: the file (a Path) or the parameter
            (a str) that held it.
    """
    blocks = PEM_CERTIFICATE.findall(data)
    if not blocks:
        return f"no PEM certificate ({PEM_CERTIFICATE_START}) in {source}{_hint(data, source)}"
    # grpc loads the blocks up to the first that does not parse, and fails with none: a bundle
    # damaged after its first certificate still works, so only the first is checked.
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=blocks[0].decode("ascii") + "\n")
    except (ssl.SSLError, UnicodeDecodeError):
        return f"the first PEM certificate in {source} does not parse (damaged or cut off?)"
    return None


def _hint(data: bytes, source: Path | str) -> str:
    """What the content of a source without PEM certificates looks like, and what to do."""
    if not data.strip():
        return ": it is empty"
    if data.startswith(DER_START):
        der = source if isinstance(source, Path) else Path("ca.der")
        pem = der.with_suffix(".pem")
        if pem == der:  # a DER file named .pem: openssl must not write over what it reads
            pem = der.with_name(f"{der.stem}-converted.pem")
        return f": convert a DER file with openssl x509 -inform der -in {der} -out {pem}"
    if PEM_PRIVATE_KEY.search(data):
        return ": it holds a private key, not a certificate"
    return ""


def private_key_problem(data: bytes, source: Path) -> str | None:
    """Why the file ``source``, read as ``data``, holds no PEM private key that grpc can use
    (none, or an encrypted one), or None."""
    if PEM_PRIVATE_KEY.search(data):
        if PEM_ENCRYPTED_KEY.search(data):
            # ssl asked for the passphrase on the terminal ("Enter PEM pass phrase:"), and
            # without one said "[Errno 22] Invalid argument".
            plain = source.with_name(f"{source.stem}-decrypted{source.suffix}")
            return (
                f"the private key in {source} is encrypted, and grpc takes no passphrase:"
                f" decrypt it with openssl pkey -in {source} -out {plain}"
            )
        return None
    if not data.strip():
        hint = ": it is empty"
    elif PEM_CERTIFICATE.search(data):
        hint = ": it holds a certificate, not a key"
    else:
        hint = ""
    return f"no PEM private key (-----BEGIN PRIVATE KEY-----) in {source}{hint}"


#: A server certificate expiring within this many days is warned of at start.
EXPIRY_WARNING_DAYS = 14


def validity_problem(path: Path, now: float | None = None) -> str | None:
    """Why the first certificate in the PEM file ``path`` is not valid at ``now`` (default:
    the present), or None. A server's expired certificate passed every start-up check, and
    every client's handshake failed with grpc's few words ("Socket closed", UNAVAILABLE).

    ssl has no public parser of a certificate file; where CPython's ``_test_decode_cert`` is
    missing, or the file is one it cannot read (the PEM checks name those), nothing is said.
    """
    validity = _validity(path)
    if validity is None:
        return None
    (starts, not_before), (ends, not_after) = validity
    now = time.time() if now is None else now
    if now > ends:
        return f"{path} expired on {not_after}"
    if now < starts:
        return f"{path} is not valid before {not_before} (is this machine's clock right?)"
    return None


def expiry_warning(path: Path, now: float | None = None) -> str | None:
    """What to say where the certificate in ``path`` expires within
    :data:`EXPIRY_WARNING_DAYS`, or None: it is read at start, and once expired every client's
    handshake fails with nothing in the server's log (a review, 2026-12-06)."""
    validity = _validity(path)
    if validity is None:
        return None
    _, (ends, not_after) = validity
    days = (ends - (time.time() if now is None else now)) / 86_400
    if not 0 <= days <= EXPIRY_WARNING_DAYS:
        return None
    left = f"{days:.1f} days" if days >= 1 else f"{days * 24:.1f} hours"
    return (
        f"{path} expires on {not_after}, in {left}: renew it and restart the service"
        " (it is read at start)"
    )


def _validity(path: Path) -> tuple[tuple[float, str], tuple[float, str]] | None:
    """(start, as written) and (end, as written) of the first certificate in ``path``, or
    None where it cannot be read (see :func:`validity_problem`)."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    try:
        fields = decode(str(path))
        starts = ssl.cert_time_to_seconds(fields["notBefore"])
        ends = ssl.cert_time_to_seconds(fields["notAfter"])
    except (ssl.SSLError, OSError, KeyError, ValueError):
        return None
    return (starts, fields["notBefore"]), (ends, fields["notAfter"])
