"""Requests that are not the message they claim to be end INVALID_ARGUMENT.

grpc hands the request bytes to the generated deserializer before any servicer code
runs; when they do not parse, grpc itself answers UNKNOWN ("Unexpected DecodeError")
and logs a traceback at ERROR, as if the server were at fault. This interceptor gives
every method a deserializer that cannot fail (an undecodable message becomes a
`Malformed` marker) and ends such a call with INVALID_ARGUMENT naming the message type
and the parser's reason, before the servicer (or its authentication) sees it. Streamed
requests are checked one message at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError


@dataclass(frozen=True, slots=True)
class Malformed:
    """What a request that does not parse becomes."""

    message_type: str
    reason: str

    def detail(self) -> str:
        return f"malformed {self.message_type}: {self.reason}"


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    message_type = getattr(deserialize, "__qualname__", "request").split(".")[0]

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, RecursionError) as exc:
            return Malformed(message_type, str(exc) or type(exc).__name__)

    return parse


async def _refuse(context: grpc.aio.ServicerContext, request: Malformed) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.detail())
    raise AssertionError("unreachable")  # abort raises


async def _checked(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Malformed):
            await _refuse(context, request)
        yield request


def _unary_unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await _refuse(context, request)
        return await behavior(request, context)

    return guarded


def _unary_stream(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    # grpc tells streaming behaviours apart by their kind: this must be an async
    # generator function itself, so it re-yields (one hop per message, not per task).
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if isinstance(request, Malformed):
            await _refuse(context, request)
        async for response in behavior(request, context):
            yield response

    return guarded


def _stream_unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return await behavior(_checked(requests, context), context)

    return guarded


def _stream_stream(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    async def guarded(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for response in behavior(_checked(requests, context), context):
            yield response

    return guarded


def guard(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that cannot fail and behaviours that refuse what
    did not parse."""
    h: Any = handler
    return h._replace(  # type: ignore[no-any-return]
        request_deserializer=_tolerant(h.request_deserializer),
        unary_unary=h.unary_unary and _unary_unary(h.unary_unary),
        unary_stream=h.unary_stream and _unary_stream(h.unary_stream),
        stream_unary=h.stream_unary and _stream_unary(h.stream_unary),
        stream_stream=h.stream_stream and _stream_stream(h.stream_stream),
    )


class MalformedRequestGuard(grpc.aio.ServerInterceptor):
    """Server interceptor applying `guard` to every method (wrapped once per method)."""

    def __init__(self) -> None:
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        found = self._guarded.get(method)
        if found is not None:
            return found
        handler = await continuation(handler_call_details)
        if handler is None or not hasattr(handler, "_replace"):
            return handler
        guarded = self._guarded[method] = guard(handler)
        return guarded
