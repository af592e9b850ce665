"""Errors of the AI backends, translated at the boundary from ollama/httpx ones so
nothing from a client library leaks into task handlers::

    EnglogError
    └── AIError (retriable: bool, retry_after: seconds or None)
        ├── AIUnavailable      the LLM server is down, busy, slow or its circuit is open
        │   └── AICircuitOpen  the breaker refused the call; retry_after says when to probe
        ├── AIInvalidAnswer    the model answered, but never in the schema (after repairs)
        └── AINonRetriable     a request that cannot succeed (bad request)
            └── AIModelMissing the server does not have the model (`ollama pull` it)

Task handlers turn `retriable` and `retry_after` into the task's retry decision
(`englog.tasks`)."""

from __future__ import annotations

from englog.errors import EnglogError


class AIError(EnglogError):
    """Base of AI failures; `retriable` says whether another attempt may help,
    `retry_after` (seconds) when, if the raiser knows."""

    retriable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AIUnavailable(AIError):
    """Connection refused or reset, timeout, 5xx or 503 busy: worth another attempt later."""


class AICircuitOpen(AIUnavailable):
    """The backend's breaker is open: no call was made."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, retry_after=retry_after_s)
        self.retry_after_s = retry_after_s


class AIInvalidAnswer(AIError):
    """The model kept answering outside the schema or was cut off by its token limit."""


class AINonRetriable(AIError):
    """A 4xx such as a missing model: repeating the request cannot help."""

    retriable = False


class AIModelMissing(AINonRetriable):
    """The LLM server lacks the model: this server cannot answer until someone pulls it,
    but a stand-in backend (`--ai-fallback degrade`) or another worker can."""
