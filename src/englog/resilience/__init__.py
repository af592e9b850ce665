"""Retries, circuit breakers and backoff, free of any transport: what to retry and
what counts as a failure are classifiers the caller passes in (the worker's gRPC ones
live in `englog.worker.grpc_errors`). Imports nothing of englog but `englog.errors`."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from englog.resilience.backoff import Backoff, BackoffPolicy, ExponentialBackoff
    from englog.resilience.breaker import (
        BreakerPolicy,
        BreakerState,
        BreakerStats,
        BreakerTransition,
        CircuitBreaker,
        CircuitOpenError,
    )
    from englog.resilience.retry import (
        FastPathRetrier,
        Retrier,
        RetryEvent,
        RetryPolicy,
        RetryStats,
        is_transient,
        no_code,
        retry_call,
    )

# Names are imported on first use: `englog.domain` needs only the backoff, and should
# not load the breaker and retrier (and structlog with them) for every CLI start.
_LAZY = {
    **dict.fromkeys(
        ("Backoff", "BackoffPolicy", "ExponentialBackoff"), "englog.resilience.backoff"
    ),
    **dict.fromkeys(
        (
            "BreakerPolicy",
            "BreakerState",
            "BreakerStats",
            "BreakerTransition",
            "CircuitBreaker",
            "CircuitOpenError",
        ),
        "englog.resilience.breaker",
    ),
    **dict.fromkeys(
        (
            "FastPathRetrier",
            "Retrier",
            "RetryEvent",
            "RetryPolicy",
            "RetryStats",
            "is_transient",
            "no_code",
            "retry_call",
        ),
        "englog.resilience.retry",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Backoff",
    "BackoffPolicy",
    "BreakerPolicy",
    "BreakerState",
    "BreakerStats",
    "BreakerTransition",
    "CircuitBreaker",
    "CircuitOpenError",
    "ExponentialBackoff",
    "FastPathRetrier",
    "Retrier",
    "RetryEvent",
    "RetryPolicy",
    "RetryStats",
    "is_transient",
    "no_code",
    "retry_call",
]
