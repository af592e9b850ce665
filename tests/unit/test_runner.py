"""The worker's runner on its own: every way a handler ends becomes exactly one result."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from englog.domain.tasks import ResultOutcome
from englog.tasks.base import HandlerRegistry, NonRetriableError, TaskContext, TaskError
from englog.worker.assignment import Assignment
from englog.worker.runner import (
    MAX_RESULT_BYTES,
    CancelReason,
    FinishedResult,
    ProgressEvent,
    Runner,
)


class Harness:
    def __init__(self, registry: HandlerRegistry, concurrency: int = 2) -> None:
        self.results: list[FinishedResult] = []
        self.progress: list[tuple[str, float]] = []
        self.done = asyncio.Event()
        self.runner = Runner(registry, concurrency, "w-test", self._result, self._progress)

    def _result(self, r: FinishedResult) -> None:
        self.results.append(r)
        self.done.set()

    def _progress(self, e: ProgressEvent) -> None:
        self.progress.append((e.task_id, e.percent))

    def submit(
        self, task_id: str, type_: str, attempt: int = 1, timeout_s: float = 5.0, **payload: Any
    ) -> None:
        self.runner.submit(
            Assignment(
                task_id=task_id,
                type=type_,
                attempt=attempt,
                payload=json.dumps(payload).encode(),
                timeout_s=timeout_s,
            )
        )

    async def wait_results(self, n: int, within: float = 10.0) -> list[FinishedResult]:
        async with asyncio.timeout(within):
            while len(self.results) < n:
                self.done.clear()
                await self.done.wait()
        return self.results


def registry_with(**handlers: Any) -> HandlerRegistry:
    registry = HandlerRegistry()
    for name, func in handlers.items():
        registry.register(name, func)
    return registry


async def test_sync_handlers_get_a_thread_each_and_their_full_deadline() -> None:
    def block(ctx: TaskContext, payload: dict[str, Any]) -> str:
        time.sleep(0.5)
        return threading.current_thread().name

    h = Harness(registry_with(block=block), concurrency=8)
    for i in range(8):
        h.submit(f"t{i}", "block", timeout_s=3.0)
    results = await h.wait_results(8)
    assert [r.outcome for r in results] == [ResultOutcome.COMPLETED] * 8
    assert all(json.loads(r.result).startswith("englog-handler") for r in results)
    h.runner.close()


async def test_deadline_errors_and_bad_results_are_classified() -> None:
    async def slow(ctx: TaskContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(10)

    async def bad(ctx: TaskContext, payload: dict[str, Any]) -> None:
        raise NonRetriableError("payload.x is required")

    async def crash(ctx: TaskContext, payload: dict[str, Any]) -> None:
        raise KeyError("boom")

    async def exits(ctx: TaskContext, payload: dict[str, Any]) -> None:
        raise SystemExit(3)

    async def huge(ctx: TaskContext, payload: dict[str, Any]) -> str:
        return "x" * (MAX_RESULT_BYTES + 1)

    async def nan(ctx: TaskContext, payload: dict[str, Any]) -> float:
        return float("nan")

    h = Harness(
        registry_with(slow=slow, bad=bad, crash=crash, exits=exits, huge=huge, nan=nan),
        concurrency=8,
    )
    h.submit("slow", "slow", timeout_s=0.2)
    for name in ("bad", "crash", "exits", "huge", "nan"):
        h.submit(name, name)
    h.submit("unknown", "no_such_type")
    by_id = {r.task_id: r for r in await h.wait_results(7)}
    assert by_id["slow"].error.startswith("deadline exceeded") and by_id["slow"].retriable
    assert (by_id["bad"].error, by_id["bad"].retriable) == ("payload.x is required", False)
    assert by_id["crash"].retriable and "KeyError" in by_id["crash"].error
    assert "SystemExit" in by_id["exits"].error
    assert "too large" in by_id["huge"].error and not by_id["huge"].retriable
    assert "JSON" in by_id["nan"].error and not by_id["nan"].retriable
    assert "no handler" in by_id["unknown"].error and not by_id["unknown"].retriable
    assert all(r.outcome is ResultOutcome.FAILED for r in by_id.values())
    assert h.runner.active_count == 0


@pytest.mark.parametrize(
    ("reason", "outcome", "retriable"),
    [
        (CancelReason.SERVER, ResultOutcome.CANCELLED, False),
        (CancelReason.SHUTDOWN, ResultOutcome.FAILED, True),
    ],
)
async def test_cancellation_reports_why(
    reason: CancelReason, outcome: ResultOutcome, retriable: bool
) -> None:
    started = asyncio.Event()

    async def wait(ctx: TaskContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)

    h = Harness(registry_with(wait=wait))
    h.submit("t", "wait")
    await started.wait()
    assert h.runner.cancel("t", reason)
    [r] = await h.wait_results(1)
    assert (r.outcome, r.retriable, r.error) == (outcome, retriable, reason.value)


async def test_a_newer_attempt_supersedes_the_old_one() -> None:
    async def wait(ctx: TaskContext, payload: dict[str, Any]) -> int:
        await asyncio.sleep(0.2 if ctx.attempt == 2 else 30)
        return ctx.attempt

    h = Harness(registry_with(wait=wait))
    h.submit("t", "wait", attempt=1)
    h.submit("t", "wait", attempt=2)
    h.submit("t", "wait", attempt=2)  # a repeated delivery of the same attempt is ignored
    results = await h.wait_results(2)
    assert [(r.attempt, r.outcome) for r in results] == [
        (1, ResultOutcome.FAILED),
        (2, ResultOutcome.COMPLETED),
    ]
    assert results[0].error == CancelReason.SUPERSEDED.value


async def test_drain_waits_then_cancels_leftovers() -> None:
    async def quick(ctx: TaskContext, payload: dict[str, Any]) -> str:
        ctx.progress(50, "half")
        await asyncio.sleep(0.05)
        return "ok"

    async def forever(ctx: TaskContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(60)

    h = Harness(registry_with(quick=quick, forever=forever))
    h.submit("q", "quick")
    h.submit("f", "forever")
    await h.runner.drain(0.5)
    by_id = {r.task_id: r for r in h.results}
    assert by_id["q"].outcome is ResultOutcome.COMPLETED
    assert by_id["f"].error == CancelReason.SHUTDOWN.value and by_id["f"].retriable
    assert ("q", 50.0) in h.progress


async def test_handlers_get_the_runners_ai_backend_and_retry_after_is_kept() -> None:
    """The AI backend is passed in (no process-wide one) and reaches handlers as
    `ctx.ai`; a TaskError's `retry_after` reaches the finished result."""
    backend = object()
    seen: list[object] = []

    async def uses_ai(ctx: TaskContext, payload: dict[str, Any]) -> None:
        seen.append(ctx.ai)
        raise TaskError("circuit open", retriable=True, retry_after=7.5)

    registry = registry_with(uses_ai=uses_ai)
    results: list[FinishedResult] = []
    done = asyncio.Event()

    def on_result(r: FinishedResult) -> None:
        results.append(r)
        done.set()

    runner = Runner(registry, 1, "w-ai", on_result, lambda e: None, ai=backend)  # type: ignore[arg-type]
    runner.submit(Assignment(task_id="t", type="uses_ai", attempt=1, timeout_s=5.0))
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [backend]
    assert (results[0].retriable, results[0].retry_after_s) == (True, 7.5)
    runner.close()
