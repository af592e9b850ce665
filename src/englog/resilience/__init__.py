"""Retries, circuit breakers and backoff, free of any transport: what to retry and
what counts as a failure are classifiers the caller passes in (the worker's gRPC ones
live in `englog.worker.grpc_errors`). Imports nothing of englog but `englog.errors`
(and `englog._lazy`)."""

from typing import TYPE_CHECKING

from englog._lazy import lazy_exports

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
__getattr__ = lazy_exports(
    __name__,
    {
        "englog.resilience.backoff": ("Backoff", "BackoffPolicy", "ExponentialBackoff"),
        "englog.resilience.breaker": (
            "BreakerPolicy",
            "BreakerState",
            "BreakerStats",
            "BreakerTransition",
            "CircuitBreaker",
            "CircuitOpenError",
        ),
        "englog.resilience.retry": (
            "FastPathRetrier",
            "Retrier",
            "RetryEvent",
            "RetryPolicy",
            "RetryStats",
            "is_transient",
            "no_code",
            "retry_call",
        ),
    },
)

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
