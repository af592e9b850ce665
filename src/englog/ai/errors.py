"""Errors of the AI backends, translated at the boundary from ollama/httpx ones so
nothing from a client library leaks into task handlers::

    AIError (retriable: bool)
    ├── AIUnavailable      the LLM server is down, busy, slow or its circuit is open
    │   └── AICircuitOpen  the breaker refused the call; retry_after_s says when to probe
    ├── AIInvalidAnswer    the model answered, but never in the schema (after repairs)
    └── AINonRetriable     a request that cannot succeed (model missing, bad request)

Task handlers turn `retriable` into the task's retry decision (`englog.tasks`)."""

from __future__ import annotations


class AIError(Exception):
    """Base of AI failures; `retriable` says whether another attempt may help."""

    retriable = True

    def __init__(self, message: str) -> None:
        super().__init__(message)


class AIUnavailable(AIError):
    """Connection refused or reset, timeout, 5xx or 503 busy: worth another attempt later."""


class AICircuitOpen(AIUnavailable):
    """The backend's breaker is open: no call was made."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AIInvalidAnswer(AIError):
    """The model kept answering outside the schema or was cut off by its token limit."""


class AINonRetriable(AIError):
    """A 4xx such as a missing model: repeating the request cannot help."""

    retriable = False
