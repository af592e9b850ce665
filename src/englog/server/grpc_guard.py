"""Calls are refused before their message is read when they carry no valid worker
token, and requests that are not the message they claim to be end INVALID_ARGUMENT.

Authentication first (issue 22): the interceptor sees a call's metadata before grpc
receives its message. A call without a known worker token gets a handler that ends it
UNAUTHENTICATED without reading the request at all (a request-streaming handler, which
reads only when asked), so twenty 15 MB `RegisterWorker` calls with no token cost no
memory. Each method has its own receive limit (`METHOD_LIMITS`): a message over it is
refused RESOURCE_EXHAUSTED before it is parsed (grpc's own limit is per server).

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

from englog.server.worker_auth import WorkerAuth, bearer
from englog.store.base import StoreError

KIB = 1024
MIB = 1024 * KIB
_SERVICE = "/englog.v1.WorkerService/"
# The most a request of each method may hold; others DEFAULT_LIMIT. Reports carry
# results (cut at 8 MiB by workers); the rest are small.
METHOD_LIMITS: dict[str, int] = {
    _SERVICE + "RegisterWorker": 64 * KIB,
    _SERVICE + "WorkerHeartbeat": 256 * KIB,
    _SERVICE + "StreamTasks": 256 * KIB,
    _SERVICE + "UpdateTaskProgress": 64 * KIB,
    _SERVICE + "ReportTaskResult": 16 * MIB,
    _SERVICE + "ReportTaskResults": 16 * MIB,
    _SERVICE + "HealthCheck": 4 * KIB,
}
DEFAULT_LIMIT = 64 * KIB
# Answered without a worker token (load balancers' health probes).
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/",)


@dataclass(frozen=True, slots=True)
class Malformed:
    """What a request that does not parse (or is over its method's limit) becomes."""

    message_type: str
    reason: str
    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT

    def detail(self) -> str:
        if self.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
            return f"{self.message_type} too large: {self.reason}"
        return f"malformed {self.message_type}: {self.reason}"


def _tolerant(
    deserialize: Callable[[bytes], Any] | None, limit: int = DEFAULT_LIMIT
) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    message_type = getattr(deserialize, "__qualname__", "request").split(".")[0]

    def parse(data: bytes) -> Any:
        if len(data) > limit:
            return Malformed(
                message_type,
                f"{len(data)} bytes, larger than the method's limit of {limit}",
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
        try:
            return deserialize(data)
        except (DecodeError, RecursionError) as exc:
            return Malformed(message_type, str(exc) or type(exc).__name__)

    return parse


async def _refuse(context: grpc.aio.ServicerContext, request: Malformed) -> NoReturn:
    await context.abort(request.code, request.detail())
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


def guard(handler: grpc.RpcMethodHandler, limit: int = DEFAULT_LIMIT) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that cannot fail (nor parse more than `limit`
    bytes) and behaviours that refuse what did not parse."""
    h: Any = handler
    return h._replace(  # type: ignore[no-any-return]
        request_deserializer=_tolerant(h.request_deserializer, limit),
        unary_unary=h.unary_unary and _unary_unary(h.unary_unary),
        unary_stream=h.unary_stream and _unary_stream(h.unary_stream),
        stream_unary=h.stream_unary and _stream_unary(h.stream_unary),
        stream_stream=h.stream_stream and _stream_stream(h.stream_stream),
    )


def refusal(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, detail: str) -> Any:
    """A handler for `handler`'s method that ends the call with `code` and never reads
    its request: request-streaming, so grpc receives a message only when asked."""
    h: Any = handler

    async def refuse_unary(_: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, detail)

    async def refuse_stream(
        _: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        await context.abort(code, detail)
        yield None  # pragma: no cover - abort raises; this makes it a generator

    if h.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream, None, h.response_serializer)
    return grpc.stream_unary_rpc_method_handler(refuse_unary, None, h.response_serializer)


class MalformedRequestGuard(grpc.aio.ServerInterceptor):
    """Server interceptor applying `guard` to every method (wrapped once per method)
    and, given `auth`, refusing calls without a known worker token unread."""

    def __init__(self, auth: WorkerAuth | None = None) -> None:
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}
        self._auth = auth

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        found = self._guarded.get(method)
        if found is None:
            handler = await continuation(handler_call_details)
            if handler is None or not hasattr(handler, "_replace"):
                return handler
            limit = METHOD_LIMITS.get(method, DEFAULT_LIMIT)
            found = self._guarded[method] = guard(handler, limit)
        if self._auth is None or method.startswith(PUBLIC_PREFIXES):
            return found
        token = bearer(handler_call_details.invocation_metadata)
        if token is None:
            return refusal(found, grpc.StatusCode.UNAUTHENTICATED, "missing worker token")
        try:
            identity = await self._auth.identify(token)
        except StoreError as exc:
            detail = f"store unavailable: {exc}"
            return refusal(found, grpc.StatusCode.UNAVAILABLE, detail)
        if identity is None:
            return refusal(found, grpc.StatusCode.UNAUTHENTICATED, "invalid worker token")
        return found
