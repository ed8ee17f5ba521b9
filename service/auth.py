"""Bearer-token authorisation of the write RPCs (AddMeasurements, DeleteMeasurements,
RegisterDevice).

When a token is configured (``--token-file``/``LATENCY_TOKEN_FILE`` or ``LATENCY_TOKEN``) a
write must carry the metadata ``authorization: Bearer <token>``: without it the call fails
with UNAUTHENTICATED, with another token PERMISSION_DENIED. Reads stay open: predictions are
cheap to recompute, measurements cost hours of device time.

The token is compared in constant time and never logged, put in an error message or a repr.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path
from typing import Any

import grpc

from service.config import ENV_TOKEN, ENV_TOKEN_FILE, ServiceConfig
from service.errors import ConfigError
from service.guard import UnaryInterceptor, wrap_unary
from service.names import token_file_named, token_problem

logger = logging.getLogger(__name__)

_SERVICE = "/latency.v1.LatencyEstimator/"
WRITE_METHODS = frozenset(
    _SERVICE + method for method in ("AddMeasurements", "DeleteMeasurements", "RegisterDevice")
)
AUTHORIZATION = "authorization"
_MIN_TOKEN_LENGTH = 16


def load_token(config: ServiceConfig) -> str | None:
    """The configured write token (file content stripped of surrounding whitespace), or None.

    Raises:
        ConfigError: the file cannot be read, or the token is empty or not visible ASCII.
    """
    if config.token_file is not None:
        source = f"token file {config.token_file}"
        token = _read_token_file(config.token_file)
    elif config.token is not None:
        source, token = ENV_TOKEN, config.token.strip()
    else:
        return None
    # The client checks its token by the same rule (client/api.py), so both sides agree.
    if problem := token_problem(source, token):
        raise ConfigError(problem)
    if len(token) < _MIN_TOKEN_LENGTH:
        logger.warning(
            "the write token is short (< %d characters): easy to guess", _MIN_TOKEN_LENGTH
        )
    return token


def _read_token_file(path: Path) -> str:
    where = f"{token_file_named(path)} (--token-file/{ENV_TOKEN_FILE})"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:  # its message quoted a byte of the token and where it lies
        raise ConfigError(f"{where} is not text") from None
    except OSError as exc:  # its own message repeats the path
        raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
    warn_if_readable_by_others(path, "token file")
    return text


def warn_if_readable_by_others(path: Path, what: str) -> None:
    """Warns where the secret ``path`` (``what``: "token file", "TLS key") is readable by
    users other than its owner."""
    try:
        status = path.stat()
    except OSError:  # read just now: gone since, and its reader says so
        return
    # Another user's (root:ssl-cert 0640) this server reads through its group: "chmod 600"
    # would lock it out of its own key (a review).
    own = status.st_uid == os.geteuid()
    if status.st_mode & (0o077 if own else 0o007):
        advice = "chmod 600 it" if own else "chmod o-rwx it"
        logger.warning("%s %s is readable by other users (%s)", what, path, advice)


def bearer_token(metadata: Any) -> str | None:
    """The token of the call's single ``authorization: Bearer ...`` entry, or None."""
    values = [value for key, value in metadata or () if key.lower() == AUTHORIZATION]
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenAuthInterceptor(UnaryInterceptor):
    """Refuses write RPCs that lack the configured bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def __repr__(self) -> str:
        return "TokenAuthInterceptor(token=<hidden>)"

    def wrap(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        if details.method not in WRITE_METHODS:
            return handler
        presented = bearer_token(details.invocation_metadata)
        if presented is None:
            return _refusal(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                "this call needs the metadata 'authorization: Bearer <token>'",
            )
        if not hmac.compare_digest(presented.encode(), self._token):
            return _refusal(
                handler, grpc.StatusCode.PERMISSION_DENIED, "the bearer token is not accepted"
            )
        return handler


def _refusal(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    # The request unread: a 64 MiB upload without a token was parsed whole before its refusal,
    # 2.5 s and 1.6 GB of the server's (a review, 2026-12-06).
    return wrap_unary(handler, refuse, deserializer=_unread)


def _unread(data: bytes) -> bytes:
    """The deserializer of a request refused whatever it holds: nothing read (None would be
    grpc's sign of a request that could not be read, INTERNAL)."""
    return b""
