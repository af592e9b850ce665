"""What a gRPC failure means to the worker: worth retrying, a sign the control plane
is unwell (for its circuit breaker), and its status name for logs and metrics.

Kept here, beside the only code that calls the server, so `englog.resilience` stays
generic (it takes these as classifiers) and the AI client never loads grpc."""

from __future__ import annotations

import grpc

from englog.resilience.retry import FastPathRetrier, RetryHook, RetryPolicy

RETRIABLE_CODES: frozenset[grpc.StatusCode] = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
# Only an unreachable, slow or overloaded server counts against the control plane's
# breaker; any other status means it answered.
BREAKER_FAILURE_CODES: frozenset[grpc.StatusCode] = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def status_code(exc: BaseException) -> grpc.StatusCode | None:
    """The gRPC status of an `RpcError` (sync or aio), None for anything else."""
    if not isinstance(exc, grpc.RpcError):
        return None
    code = getattr(exc, "code", None)
    if not callable(code):
        return None
    try:
        value = code()
    except Exception:
        return None
    return value if isinstance(value, grpc.StatusCode) else None


def grpc_code(exc: BaseException) -> str | None:
    """Status name such as "UNAVAILABLE" for log fields and metric labels."""
    code = status_code(exc)
    return code.name if code is not None else None


def is_retriable(exc: BaseException) -> bool:
    """Transient by nature: the retriable gRPC codes, timeouts and connection errors."""
    code = status_code(exc)
    if code is not None:
        return code in RETRIABLE_CODES
    return isinstance(exc, TimeoutError | ConnectionError)


def grpc_breaker_failure(exc: BaseException) -> bool:
    """Control-plane classifier: only an unreachable, slow or overloaded server is a
    failure; any other status means it answered."""
    code = status_code(exc)
    if code is not None:
        return code in BREAKER_FAILURE_CODES
    return isinstance(exc, ConnectionError | TimeoutError)


def control_plane_retrier(
    policy: RetryPolicy, *, on_retry: RetryHook | None = None
) -> FastPathRetrier:
    """The retrier of the worker's RPCs: gRPC classification, status names in stats."""
    return FastPathRetrier(policy, retry_on=is_retriable, describe=grpc_code, on_retry=on_retry)
