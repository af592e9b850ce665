"""The one root of englog's exceptions, so a caller can catch everything englog raises
on purpose with a single `except EnglogError`. Each area keeps its own subtree in its
own module; library errors (grpc, httpx, ollama, sqlite) are translated at the
boundary with `raise ... from exc`. Classes that callers also catch by a builtin
(ValueError, ConnectionError) keep that second base::

    EnglogError
    ├── InvalidTransition (+ValueError)     englog.domain.tasks: a state change the
    │                                       lifecycle forbids
    ├── StoreError                          englog.store.base: the store failed (retry)
    │   ├── StoreClosed
    │   └── InvalidData                     a value the database can never hold (NUL in
    │                                       text, NaN in JSON): bad input, no retry
    ├── IdempotencyKeyReused                englog.store.base: same key, other request
    ├── CircuitOpenError                    englog.resilience.breaker: refused, retry_after
    ├── AIError                             englog.ai.errors (retriable, retry_after)
    │   ├── AIUnavailable
    │   │   └── AICircuitOpen
    │   ├── AIInvalidAnswer
    │   └── AINonRetriable
    ├── TaskError                           englog.tasks.base (retriable, retry_after):
    │   └── NonRetriableError               raised by handlers, read by the runner
    ├── SessionLost, ChannelClosed (+ConnectionError), OutboxError, HandlerLoadError,
    │   CredentialRefused                   englog.worker: the worker's own failures
    ├── ApiError                            englog.server.http.errors: an HTTP 4xx/5xx
    ├── NotRetriable                        englog.server.queue: retry of a live task
    ├── Conflict                            englog.store.accounts: a taken name or email
    ├── SignInRefused                       englog.server.signin_throttle (retry_after
    │                                       when throttled)
    ├── WeakPassword, BadCsv (+ValueError)  englog.domain: a refused password, a file
    │                                       that is not an englog export
    ├── SignInRequired, Forbidden, CsrfRejected, NotFound, FormProblem (+ValueError)
    │                                       englog.web: answered as pages
    ├── CertError                           englog.certs
    ├── UpError                             englog.up: `englog up` cannot start
    ├── MaintenanceError                    englog.store.maintenance: `englog db ...`
    └── ClientError                         englog.client.errors
        ├── ConfigError
        ├── TransportError → ServerUnreachable
        ├── ApiError → Unauthorized, Forbidden, NotFound, Conflict, ValidationFailed
        ├── TaskFailed → TaskCancelled
        └── Timeout

Retry timing travels on the error: `retry_after` (seconds, None when the raiser has
no opinion) is set by whoever knows when another try may help (an open circuit, a
busy model) and read by the code that schedules the next try: the task runner, which
reports a handler's as `TaskResult.retry_after_s`, and the server, which then waits at
least that long (capped at an hour) before the task's next attempt.
"""

from __future__ import annotations


class EnglogError(Exception):
    """Base of every error englog raises on purpose. `retry_after`: seconds before
    another try may help, None when unknown (the caller's backoff decides)."""

    retry_after: float | None = None
