"""What the web app asks of the store (issue 14): browser sessions that expire and are
signed out on the server, the operators' counts and per-minute throughput, and the
user list. Runs on SQLite and PostgreSQL (the `store` fixture of conftest.py)."""

from __future__ import annotations

import pytest

from englog.domain.tasks import NewTask, ReportedResult, ResultOutcome, TaskStatus
from englog.store import Claim, Store, WorkerInfo
from englog.store.records import WebSession

T0 = 1_700_000_000.0


def session(n: int, expires_at: float) -> WebSession:
    return WebSession(f"id{n}", f"token{n}", f"csrf{n}", T0, expires_at)


async def test_a_web_session_lives_until_it_expires_or_is_deleted(store: Store) -> None:
    await store.create_web_session(session(1, T0 + 100))
    await store.create_web_session(session(2, T0 + 10))

    assert await store.get_web_session("id1", T0 + 50) == session(1, T0 + 100)
    assert await store.get_web_session("id2", T0 + 10) is None  # expired at its instant
    assert await store.get_web_session("nope", T0) is None

    assert await store.delete_web_session("id1") is True
    assert await store.delete_web_session("id1") is False
    assert await store.get_web_session("id1", T0) is None


async def test_expired_web_sessions_are_pruned_and_live_ones_kept(store: Store) -> None:
    for n in range(5):
        await store.create_web_session(session(n, T0 + 10 * n))
    assert await store.prune_web_sessions(T0 + 25) == 3  # expiring at 0, 10, 20
    assert await store.prune_web_sessions(T0 + 25) == 0
    assert await store.get_web_session("id3", T0) is not None
    assert await store.get_web_session("id4", T0) is not None


async def test_users_are_listed_by_name(store: Store) -> None:
    bo = await store.create_user("bo", "h-bo", T0)
    al = await store.create_user("al", "h-al", T0)
    assert await store.list_users() == [al, bo]


async def finish(store: Store, outcomes: list[ResultOutcome], at: float) -> None:
    """Submit, lease and end one task per outcome, at time `at`."""
    tasks = await store.submit_tasks([NewTask("echo", {}, max_attempts=1) for _ in outcomes], at)
    await store.register_worker(WorkerInfo("w", "w", ("echo",)), "s", at)
    claimed = await store.claim_tasks(Claim("w", {"echo": len(tasks)}, len(tasks)), at)
    assert len(claimed) == len(tasks)
    reports = [
        ReportedResult(t.id, 1, "w", outcome, error="boom", retriable=False)
        for t, outcome in zip(claimed, outcomes, strict=True)
    ]
    await store.report_results(reports, at)


async def test_counts_by_status_and_type(store: Store) -> None:
    await store.submit_tasks([NewTask("echo", {}), NewTask("echo", {}), NewTask("sleep", {})], T0)
    await finish(store, [ResultOutcome.COMPLETED], T0)
    assert await store.task_counts() == {
        ("pending", "echo"): 2,
        ("pending", "sleep"): 1,
        ("completed", "echo"): 1,
    }


async def test_throughput_is_counted_per_minute_with_quiet_minutes_as_zero(
    store: Store,
) -> None:
    since = T0
    await finish(store, [ResultOutcome.COMPLETED, ResultOutcome.COMPLETED], since + 5)
    await finish(store, [ResultOutcome.FAILED], since + 59.9)
    await finish(store, [ResultOutcome.COMPLETED, ResultOutcome.FAILED], since + 150)
    await finish(store, [ResultOutcome.COMPLETED], since - 1)  # before the window
    await finish(store, [ResultOutcome.COMPLETED], since + 240)  # at `now`: outside

    minutes = await store.finished_per_minute(since, since + 240)

    assert [(m.start - since, m.completed, m.failed) for m in minutes] == [
        (0, 2, 1),
        (60, 0, 0),
        (120, 1, 1),
        (180, 0, 0),
    ]
    cancelled = await store.submit_tasks([NewTask("echo", {})], since + 10)
    await store.cancel_task(cancelled[0].id, None, since + 10)
    after = await store.finished_per_minute(since, since + 240)
    assert after == minutes  # cancellations are not throughput


@pytest.mark.parametrize("span", [0.0, 30.0, 3600.0])
async def test_the_chart_has_one_bar_per_started_minute(store: Store, span: float) -> None:
    minutes = await store.finished_per_minute(T0, T0 + span)
    assert len(minutes) == -(-int(span) // 60)
    assert all(m.completed == m.failed == 0 for m in minutes)


async def test_task_counts_include_every_status(store: Store) -> None:
    [task] = await store.submit_tasks([NewTask("echo", {})], T0)
    await store.cancel_task(task.id, None, T0)
    assert await store.task_counts() == {(TaskStatus.CANCELLED.value, "echo"): 1}
