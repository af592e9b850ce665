"""Built-in task handlers: registration, payload validation, progress, results."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

import englog.tasks
from englog.ai.builtin import BuiltinBackend
from englog.ai.errors import AIError, AINonRetriable
from englog.ai.sample import load_sample_week
from englog.ai.schemas import Insight, InsightRequest, WeeklyReport, WeeklyReportRequest
from englog.domain.entries import Entry
from englog.errors import EnglogError
from englog.tasks import NonRetriableError, TaskContext, TaskError, registry
from englog.tasks.insight import insight_generation
from englog.tasks.testing import noop, sleep, sleep_blocking
from englog.tasks.weekly_report import weekly_report


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, percent: float, message: str) -> None:
        self.calls.append((percent, message))

    @property
    def percents(self) -> list[float]:
        return [p for p, _ in self.calls]


@pytest.fixture
def progress() -> Recorder:
    return Recorder()


@pytest.fixture
def ctx(progress: Recorder) -> TaskContext:
    return TaskContext(
        task_id="t-1", type="test", attempt=1, deadline=time.time() + 60, _progress=progress
    )


def stored_payloads() -> list[dict[str, Any]]:
    """Entries exactly as the server sends them: `Entry.to_payload()`."""
    now = datetime(2026, 11, 23, tzinfo=UTC)
    return [
        Entry(**item, id=f"e{i}", user_id="u1", created_at=now, updated_at=now).to_payload()
        for i, item in enumerate(load_sample_week())
    ]


# --- registration ------------------------------------------------------------------------


def test_importing_tasks_registers_builtin_handlers() -> None:
    assert {"insight_generation", "weekly_report", "noop", "sleep", "sleep_blocking"} <= set(
        registry.names()
    )
    assert registry.get("sleep_blocking").is_async is False  # type: ignore[union-attr]
    for name in ("insight_generation", "weekly_report", "noop", "sleep"):
        assert registry.get(name).is_async is True  # type: ignore[union-attr]
    assert englog.tasks.__all__ == sorted(englog.tasks.__all__)
    assert registry.get("insight_generation").timeout_s  # type: ignore[union-attr]


# --- AI handlers ---------------------------------------------------------------------------


async def test_insight_generation(ctx: TaskContext, progress: Recorder) -> None:
    payload = {"insight_type": "productivity", "entries": stored_payloads(), "context": None}
    result = await insight_generation(ctx, payload)
    assert progress.percents == [10.0, 50.0, 100.0]
    assert "computing facts" in progress.calls[0][1]
    assert progress.calls[-1][1] == "done"
    assert result["backend"] == "builtin" and result["entry_count"] == 43
    assert Insight.model_validate(result).insight_type == "productivity"
    assert set(result) >= {
        "title",
        "summary",
        "key_points",
        "recommendations",
        "confidence",
        "confidence_components",
        "degraded",
        "facts",
        "period_start",
    }


async def test_weekly_report(ctx: TaskContext, progress: Recorder) -> None:
    payload = {"week_start": "2026-11-16", "week_end": "2026-11-22", "entries": stored_payloads()}
    result = await weekly_report(ctx, payload)
    assert progress.percents == [10.0, 50.0, 100.0]
    assert WeeklyReport.model_validate(result).week_end.isoformat() == "2026-11-22"
    assert result["time_breakdown"]["development"] == 855.0


def sample_entry(**changes: Any) -> dict[str, Any]:
    return {**load_sample_week()[0], **changes}


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"entries": [sample_entry()]}, "insight_type"),
        ({"insight_type": "happiness", "entries": [sample_entry()]}, "insight_type"),
        ({"insight_type": "productivity"}, "entries"),
        ({"insight_type": "productivity", "entries": []}, "entries"),
        ({"insight_type": "productivity", "entries": "all"}, "entries"),
        (
            {"insight_type": "productivity", "entries": [sample_entry(type="napping")]},
            "entries[0].type",
        ),
        (
            {
                "insight_type": "productivity",
                "entries": [sample_entry(end_time="2026-11-16T08:00:00+01:00")],
            },
            "end_time must be after start_time",
        ),
        ({"insight_type": "productivity", "entries": [sample_entry()], "extra": 1}, "extra"),
        (["not", "a", "dict"], "payload"),
    ],
)
async def test_insight_rejects_bad_payloads(ctx: TaskContext, payload: Any, named: str) -> None:
    with pytest.raises(NonRetriableError, match="insight_generation") as info:
        await insight_generation(ctx, payload)
    assert named in str(info.value)
    assert info.value.retriable is False


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"week_end": "2026-11-22", "entries": [sample_entry()]}, "week_start"),
        ({"week_start": "2026-11-16", "week_end": "soon", "entries": [sample_entry()]}, "week_end"),
        (
            {"week_start": "2026-11-22", "week_end": "2026-11-16", "entries": [sample_entry()]},
            "week_end must not be before week_start",
        ),
        (
            {"week_start": "2026-01-01", "week_end": "2026-12-31", "entries": [sample_entry()]},
            "at most 31 days",
        ),
        ({"week_start": "2026-11-16", "week_end": "2026-11-22", "entries": []}, "entries"),
    ],
)
async def test_weekly_report_rejects_bad_payloads(
    ctx: TaskContext, payload: Any, named: str
) -> None:
    with pytest.raises(NonRetriableError, match="weekly_report") as info:
        await weekly_report(ctx, payload)
    assert named in str(info.value)


class FakeBackend:
    name = "fake"

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.builtin = BuiltinBackend()

    async def generate_insight(self, req: InsightRequest) -> Insight:
        self.seen.append(req)
        result = await self.builtin.generate_insight(req)
        return result.model_copy(update={"backend": "fake", "degraded": True})

    async def generate_weekly_report(self, req: WeeklyReportRequest) -> WeeklyReport:
        self.seen.append(req)
        return await self.builtin.generate_weekly_report(req)

    async def health(self) -> dict[str, Any]:
        return {"backend": "fake", "status": "healthy"}


async def test_backend_comes_from_the_context(ctx: TaskContext, progress: Recorder) -> None:
    """The worker's backend reaches handlers as `ctx.ai`; there is no process-wide one,
    so two contexts (two workers in one process) use their own."""
    payload = {"insight_type": "time_management", "entries": [sample_entry()]}
    assert (await insight_generation(ctx, payload))["backend"] == "builtin"
    fake = FakeBackend()
    ctx.ai = fake  # type: ignore[assignment]
    result = await insight_generation(ctx, payload)
    assert result["backend"] == "fake" and result["degraded"] is True
    assert len(fake.seen) == 1
    assert "fake" in progress.calls[-2][1]
    report = {"week_start": "2026-11-16", "week_end": "2026-11-22", "entries": stored_payloads()}
    assert (await weekly_report(ctx, report))["backend"] == "builtin"  # fake returns builtin's
    assert len(fake.seen) == 2
    other = TaskContext(task_id="t-2", type="test", attempt=1, deadline=time.time() + 60)
    assert (await insight_generation(other, payload))["backend"] == "builtin"


async def test_ai_retry_after_travels_on_the_task_error(ctx: TaskContext) -> None:
    """An open AI circuit says when to probe again; the handler's TaskError keeps it
    for the runner instead of dropping it."""

    class Refusing(FakeBackend):
        async def generate_insight(self, req: InsightRequest) -> Insight:
            raise AINonRetriable("model gone")

    class Open(FakeBackend):
        async def generate_insight(self, req: InsightRequest) -> Insight:
            raise AIError("busy, come back later", retry_after=12.5)

    payload = {"insight_type": "patterns", "entries": [sample_entry()]}
    ctx.ai = Open()  # type: ignore[assignment]
    with pytest.raises(TaskError) as info:
        await insight_generation(ctx, payload)
    assert info.value.retriable and info.value.retry_after == 12.5
    assert isinstance(info.value, EnglogError)
    ctx.ai = Refusing()  # type: ignore[assignment]
    with pytest.raises(TaskError) as info:
        await insight_generation(ctx, payload)
    assert not info.value.retriable and info.value.retry_after is None


# --- testing handlers --------------------------------------------------------------------


async def test_noop_returns_its_payload(ctx: TaskContext) -> None:
    payload = {"a": [1, 2], "b": {"c": None}}
    assert await noop(ctx, payload) == {"a": [1, 2], "b": {"c": None}}


async def test_sleep_reports_progress(ctx: TaskContext, progress: Recorder) -> None:
    assert await sleep(ctx, {"seconds": 0.01}) == {"slept": 0.01}
    assert progress.percents == [10.0 * i for i in range(1, 11)]
    assert progress.calls[-1][1] == "slept 0.01 of 0.01 s"


async def test_sleep_accepts_zero_and_ints(ctx: TaskContext) -> None:
    assert await sleep(ctx, {"seconds": 0}) == {"slept": 0.0}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"seconds": -1},
        {"seconds": 3601},
        {"seconds": "5"},
        {"seconds": True},
        {"seconds": float("nan")},
        None,
    ],
)
async def test_sleep_rejects_bad_seconds(ctx: TaskContext, payload: Any) -> None:
    with pytest.raises(NonRetriableError, match="sleep payload") as info:
        await sleep(ctx, payload)
    assert "seconds" in str(info.value) or "payload:" in str(info.value)


async def test_sleep_blocking_runs_in_a_thread_without_blocking_the_loop(
    ctx: TaskContext, progress: Recorder
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    result = await asyncio.to_thread(sleep_blocking, ctx, {"seconds": 0.1})
    task.cancel()
    assert result == {"slept": 0.1}
    assert ticks >= 5
    assert progress.percents[-1] == 100.0 and len(progress.calls) == 10


def test_sleep_blocking_stops_when_cancelled(ctx: TaskContext) -> None:
    ctx.cancel_event.set()
    with pytest.raises(TaskError) as info:
        sleep_blocking(ctx, {"seconds": 10})
    assert info.value.retriable is True
    with pytest.raises(NonRetriableError, match="seconds"):
        sleep_blocking(ctx, {"seconds": -2})
