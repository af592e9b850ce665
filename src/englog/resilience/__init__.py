"""Retries, circuit breakers and backoff; imports nothing else of englog. Constants
(RETRIABLE_CODES, DEFAULT_*_POLICY) live in their modules."""

from englog.resilience.backoff import Backoff, BackoffPolicy
from englog.resilience.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    CircuitOpenError,
    grpc_breaker_failure,
)
from englog.resilience.retry import (
    Retrier,
    RetryPolicy,
    RetryStats,
    grpc_code,
    is_retriable,
    retry_call,
    status_code,
)

__all__ = [
    "Backoff",
    "BackoffPolicy",
    "BreakerPolicy",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "Retrier",
    "RetryPolicy",
    "RetryStats",
    "grpc_breaker_failure",
    "grpc_code",
    "is_retriable",
    "retry_call",
    "status_code",
]
