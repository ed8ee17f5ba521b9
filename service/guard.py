"""Request guards around every unary RPC: undecodable bytes, expired deadlines, and answers
too large to send.

grpc answers a request whose bytes do not parse with INTERNAL ("Exception deserializing
request!") and runs a handler even when the caller's deadline passed while the call waited
in the queue. A hostile or confused client can cause both, so neither may look like a server
bug or, for a write, store data the caller already gave up on. An answer over the message
limit grpc fails to send only after the handler returned: the access log and metrics counted
the call OK while the client got RESOURCE_EXHAUSTED.

:class:`UnaryInterceptor` and :func:`wrap_unary` are what the interceptors (auth, telemetry,
this guard) share: the first picks the unary handlers out, the second swaps a handler's
behaviour or deserializer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

logger = logging.getLogger(__name__)

Behavior = Callable[[Any, grpc.ServicerContext], Any]
Continuation = Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None]


def wrap_unary(
    handler: grpc.RpcMethodHandler,
    behavior: Behavior | None = None,
    deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """A unary-unary handler like ``handler`` with its behaviour or deserializer replaced."""
    return grpc.unary_unary_rpc_method_handler(
        behavior or handler.unary_unary,
        request_deserializer=deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class UnaryInterceptor(grpc.ServerInterceptor):
    """An interceptor that rewraps unary-unary handlers (every RPC of this service); others,
    like reflection's stream, pass through."""

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return self.wrap(handler, handler_call_details)

    def wrap(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        """The handler to run instead of ``handler``."""
        raise NotImplementedError


class _Undecodable:
    """Stands in for a request whose bytes did not parse (a deserializer cannot abort)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class RequestGuardInterceptor(UnaryInterceptor):
    """INVALID_ARGUMENT for undecodable requests, DEADLINE_EXCEEDED before running late ones,
    RESOURCE_EXHAUSTED for answers over ``max_message_bytes``."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes

    def wrap(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method = details.method
        deserialize = handler.request_deserializer
        behavior = handler.unary_unary

        def safe_deserialize(data: bytes) -> Any:
            if deserialize is None:
                return data
            try:
                return deserialize(data)
            except Exception as exc:  # any parse failure is the caller's, not ours
                return _Undecodable(type(exc).__name__)

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"request bytes are not a valid message for {method} ({request.reason})",
                )
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                # The caller has already seen DEADLINE_EXCEEDED: doing the work (or storing a
                # batch) now would only surprise it.
                context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the call ran"
                )
            response = behavior(request, context)
            size = response.ByteSize() if isinstance(response, Message) else 0
            if size > self.max_message_bytes:
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the answer would be {size:,} bytes, over the {self.max_message_bytes:,}"
                    " a message may carry: ask for less (ListMeasurements: a page_size)",
                )
            return response

        return wrap_unary(handler, guarded, safe_deserialize)
