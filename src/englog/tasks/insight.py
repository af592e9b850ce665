"""`insight_generation`: facts and a narrative about a set of entries.

The backend is the worker's, given to the handler as `ctx.ai`: builtin when none is
set, so the task runs anywhere; the worker passes another (Ollama) when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from englog.ai.backend import AIBackend
from englog.ai.builtin import BuiltinBackend
from englog.ai.errors import AIError, AIUnavailable
from englog.ai.schemas import InsightRequest, WeeklyReportRequest, describe_validation_error
from englog.domain.tasks import DEFAULT_TIMEOUTS_S
from englog.resilience.backoff import Backoff, BackoffPolicy
from englog.tasks.base import NonRetriableError, TaskContext, TaskError, handler

__all__ = [
    "INSIGHT_TIMEOUT_S",
    "AIBackend",
    "backend_of",
    "insight_generation",
    "parse_ai_request",
    "parse_payload",
    "run_backend",
    "write",
]

INSIGHT_TIMEOUT_S = DEFAULT_TIMEOUTS_S["insight_generation"]

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A", InsightRequest, WeeklyReportRequest)


def parse_payload(model: type[M], payload: Any, task_type: str) -> M:
    """Validate a payload; a bad one can never succeed, so it is non-retriable."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        detail = describe_validation_error(exc)
        raise NonRetriableError(f"invalid {task_type} payload: {detail}") from exc


def parse_ai_request(model: type[A], payload: Any, task_type: str) -> A:
    """An AI task's payload, valid and with at least one entry (else non-retriable)."""
    req = parse_payload(model, payload, task_type)
    if not req.entries:
        raise NonRetriableError(
            f"invalid {task_type} payload: entries: at least one entry is required"
        )
    return req


def backend_of(ctx: TaskContext) -> AIBackend:
    """The worker's backend for this task, builtin when the context carries none."""
    return ctx.ai if ctx.ai is not None else BuiltinBackend()


def backend_name(backend: AIBackend) -> str:
    return str(getattr(backend, "name", type(backend).__name__))


# While the LLM is unavailable a running AI task waits in place (its lease is kept by
# heartbeats, and the worker takes no new AI tasks meanwhile) instead of spending one of
# its attempts; it gives up this much before its deadline, as a retriable failure.
WAIT_MARGIN_S = 5.0
WAIT_BACKOFF = BackoffPolicy(initial_s=0.5, max_s=5.0)


async def run_backend(ctx: TaskContext, backend: AIBackend, call: Callable[[], Awaitable[M]]) -> M:
    """Run a backend call, turning AI errors into task errors with their retry meaning.
    An unavailable backend is waited for (until it is usable again or the deadline
    nears): `--ai-fallback wait` keeps AI work queued, it does not burn attempts."""
    backoff = Backoff(WAIT_BACKOFF)
    while True:
        try:
            return await call()
        except AIUnavailable as exc:
            last = exc
        except AIError as exc:
            raise TaskError(str(exc), retriable=exc.retriable, retry_after=exc.retry_after) from exc
        usable = getattr(backend, "usable", None)
        ctx.progress(50, f"waiting for the AI backend: {last}")
        while True:
            if ctx.time_left <= WAIT_MARGIN_S:
                raise TaskError(str(last), retriable=True, retry_after=last.retry_after) from last
            await asyncio.sleep(min(backoff.next_delay(), ctx.time_left - WAIT_MARGIN_S))
            if not callable(usable) or usable()[0]:
                break


async def write(
    ctx: TaskContext,
    scope: str,
    what: str,
    generate: Callable[[AIBackend], Awaitable[BaseModel]],
) -> dict[str, Any]:
    """The shared course of an AI handler: progress, the backend call with its retry
    meaning, the result as JSON."""
    backend = backend_of(ctx)
    ctx.progress(10, f"computing facts {scope}")
    ctx.progress(50, f"writing {what} ({backend_name(backend)})")
    result = await run_backend(ctx, backend, lambda: generate(backend))
    ctx.progress(100, "done")
    return result.model_dump(mode="json")


@handler("insight_generation", timeout_s=INSIGHT_TIMEOUT_S, requires=("ai",))
async def insight_generation(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    req = parse_ai_request(InsightRequest, payload, "insight_generation")
    scope = f"over {len(req.entries)} entries"
    return await write(ctx, scope, "narrative", lambda backend: backend.generate_insight(req))
