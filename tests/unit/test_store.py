"""The `Store` contract against both backends (SQLite file, real PostgreSQL; the
`store` fixture in conftest.py runs each test on both): durability, fencing, leases,
claims. PostgreSQL-only tests at the end cover what several replicas sharing one
database rely on: concurrent migrations, SKIP LOCKED claims, reaping, NOTIFY.

The clock is always passed in as `now`, so nothing here sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from englog.domain.entries import EntryFields
from englog.domain.tasks import (
    AttemptOutcome,
    Disposition,
    NewTask,
    ReportedResult,
    ResultOutcome,
    RetryBackoff,
    TaskStatus,
)
from englog.store import (
    Claim,
    EntryQuery,
    Heartbeat,
    PostgresStore,
    QueuePolicy,
    SQLiteStore,
    Store,
    StoreClosed,
    StoreError,
    WorkerInfo,
    open_store,
)
from englog.store.migrations import migration_files
from englog.store.postgres.schema import MIGRATION_FILE
from tests.support.pg import create_database, drop_database, truncate_all
from tests.support.procs import eventually

T0 = 1_700_000_000.0
TTL = 30.0
NO_JITTER = RetryBackoff(initial_s=2.0, factor=2.0, max_s=60.0, jitter=False)
CEST = timezone(timedelta(hours=2))
POLICY = QueuePolicy(lease_ttl_s=TTL, retry_backoff=NO_JITTER)


@pytest.fixture
def policy() -> QueuePolicy:
    """The store's queue policy; a test parametrizes `policy` to change a setting."""
    return POLICY


@pytest.fixture
async def store(store_url: str, policy: QueuePolicy) -> AsyncIterator[Store]:
    s = open_store(store_url, policy=policy)
    await s.open()
    yield s
    await s.close()


async def reopen(store: Store, url: str) -> Store:
    await store.close()
    fresh = open_store(url, policy=store.policy)
    await fresh.open()
    return fresh


def entry(hour: int, minutes: int = 60, day: int = 6, tz: timezone = UTC, **kw: Any) -> EntryFields:
    start = datetime(2025, 1, day, hour, 0, tzinfo=tz)
    fields: dict[str, Any] = {
        "title": f"work at {hour}",
        "type": "development",
        "start_time": start,
        "end_time": start + timedelta(minutes=minutes),
    }
    return EntryFields(**(fields | kw))


def new(type: str = "noop", priority: int = 0, **kw: Any) -> NewTask:
    return NewTask(type=type, payload={"n": kw.pop("n", 0)}, priority=priority, **kw)


def result(task: Any, worker: str, outcome: str = "completed", **kw: Any) -> ReportedResult:
    return ReportedResult(
        task_id=task.id,
        attempt=kw.pop("attempt", task.attempt),
        worker_id=worker,
        outcome=ResultOutcome(outcome),
        **kw,
    )


# --- life cycle ----------------------------------------------------------------------------


async def test_data_survives_close_and_reopen(store: Store, store_url: str) -> None:
    user = await store.create_user("ada", "hash-ada", T0)
    [saved] = await store.add_entries(user.id, [entry(9)], T0)
    [task] = await store.submit_tasks([new()], T0)
    store = await reopen(store, store_url)
    try:
        assert await store.user_by_token_hash("hash-ada") == user
        assert await store.get_entry(user.id, saved.id) == saved
        again = await store.get_task(task.id)
        assert again is not None and again.status is TaskStatus.PENDING
    finally:
        await store.close()


async def test_close_is_idempotent_and_later_calls_raise_store_closed(store: Store) -> None:
    await store.close()
    await store.close()
    with pytest.raises(StoreClosed):
        await store.submit_tasks([new()], T0)
    with pytest.raises(StoreClosed):
        await store.get_task("x")


async def test_use_before_open_is_a_store_error(store_url: str) -> None:
    with pytest.raises(StoreError, match="open"):
        await open_store(store_url).get_task("x")


def test_open_store_urls(tmp_path: Path) -> None:
    relative = open_store("sqlite:///data/englog.db")
    assert isinstance(relative, SQLiteStore) and relative.path == "data/englog.db"
    absolute = open_store(f"sqlite:///{tmp_path}/e.db")
    assert isinstance(absolute, SQLiteStore) and absolute.path == f"{tmp_path}/e.db"
    for url in ("postgresql://postgres@127.0.0.1:5432/englog", "postgres://h/db"):
        pg = open_store(url)
        assert isinstance(pg, PostgresStore) and pg.url == url
    for bad in ("mysql://x/y", "englog.db", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(ValueError, match="URL"):
            open_store(bad)


# --- life cycle and migrations -----------------------------------------------------------


# --- users ---------------------------------------------------------------------------------


async def test_users_are_found_by_token_hash_only(store: Store) -> None:
    ada = await store.create_user("ada", "h1", T0)
    assert await store.user_by_token_hash("h1") == ada
    assert await store.user_by_token_hash("h2") is None
    with pytest.raises(StoreError):
        await store.create_user("eve", "h1", T0)  # token hashes are unique


# --- entries -------------------------------------------------------------------------------


async def test_entry_round_trip_keeps_timezone_offset(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    fields = entry(9, tz=CEST, tags=["a", "b"], project="englog", value_rating="high")
    [saved] = await store.add_entries(user.id, [fields], T0)
    got = await store.get_entry(user.id, saved.id)
    assert got is not None
    assert got.start_time == fields.start_time
    assert got.start_time.utcoffset() == timedelta(hours=2)
    assert (got.tags, got.project, got.value_rating, got.type) == (
        ["a", "b"],
        "englog",
        "high",
        "development",
    )
    assert got.created_at == datetime.fromtimestamp(T0, UTC)


async def test_bulk_add_is_all_or_nothing(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    with pytest.raises(StoreError):
        await store.add_entries("no-such-user", [entry(9), entry(10)], T0)
    good = await store.add_entries(user.id, [entry(9), entry(10), entry(11)], T0)
    assert [e.title for e in good] == ["work at 9", "work at 10", "work at 11"]
    assert len(await store.list_entries(user.id, EntryQuery())) == 3


async def test_bulk_failure_midway_leaves_nothing(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    bad = entry(10).model_copy(update={"title": None})  # NOT NULL violation on row 2
    with pytest.raises(StoreError):
        await store.add_entries(user.id, [entry(9), bad, entry(11)], T0)
    assert await store.list_entries(user.id, EntryQuery()) == []


async def test_entries_are_isolated_per_user(store: Store) -> None:
    ada = await store.create_user("ada", "h1", T0)
    bob = await store.create_user("bob", "h2", T0)
    [mine] = await store.add_entries(ada.id, [entry(9)], T0)
    assert await store.get_entry(bob.id, mine.id) is None
    assert await store.get_entries(bob.id, [mine.id]) == []
    assert await store.list_entries(bob.id, EntryQuery()) == []
    assert await store.update_entry(bob.id, mine.id, {"title": "x"}, T0) is None
    assert await store.delete_entry(bob.id, mine.id) is False
    assert await store.get_entry(ada.id, mine.id) == mine


async def test_range_queries_and_filters(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    await store.add_entries(
        user.id,
        [
            entry(14, project="b"),
            entry(9, type="meeting", project="a"),
            entry(12, tz=CEST, project="a"),  # 10:00 UTC, ends 11:00 UTC
            entry(9, day=7),
        ],
        T0,
    )

    async def titles(**kw: Any) -> list[str]:
        found = await store.list_entries(user.id, EntryQuery(**kw))
        return [f"{e.start_time.day}/{e.title}" for e in found]

    assert await titles() == ["6/work at 9", "6/work at 12", "6/work at 14", "7/work at 9"]
    # Overlap semantics: ends after `start` and starts before `end`.
    window = {
        "start": datetime(2025, 1, 6, 9, 30, tzinfo=UTC),
        "end": datetime(2025, 1, 6, 14, 0, tzinfo=UTC),
    }
    assert await titles(**window) == ["6/work at 9", "6/work at 12"]
    assert await titles(type="meeting") == ["6/work at 9"]
    assert await titles(project="a", type="development") == ["6/work at 12"]
    assert await titles(limit=2, offset=1) == ["6/work at 12", "6/work at 14"]


async def test_get_entries_returns_owned_ones_in_start_order(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    late, early = await store.add_entries(user.id, [entry(15), entry(8)], T0)
    got = await store.get_entries(user.id, [late.id, "missing", early.id])
    assert [e.id for e in got] == [early.id, late.id]


async def test_update_entry_rechecks_times(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    [saved] = await store.add_entries(user.id, [entry(9)], T0)
    moved = saved.start_time + timedelta(hours=3)
    with pytest.raises(ValueError, match="after"):
        await store.update_entry(user.id, saved.id, {"start_time": moved}, T0 + 1)
    with pytest.raises(ValueError, match="24 hours"):
        await store.update_entry(
            user.id, saved.id, {"end_time": saved.start_time + timedelta(hours=25)}, T0 + 1
        )
    assert await store.get_entry(user.id, saved.id) == saved
    from englog.domain.entries import ActivityType, ImpactLevel

    updated = await store.update_entry(
        user.id,
        saved.id,
        {
            "end_time": saved.end_time + timedelta(hours=1),
            "type": ActivityType.DEBUGGING,
            "impact_level": ImpactLevel.TEAM,
            "tags": ["x"],
            "description": None,
        },
        T0 + 5,
    )
    assert updated is not None
    assert (updated.type, updated.impact_level, updated.tags) == ("debugging", "team", ["x"])
    assert updated.duration_minutes == 120
    assert updated.updated_at == datetime.fromtimestamp(T0 + 5, UTC)
    assert await store.get_entry(user.id, saved.id) == updated


async def test_delete_entry(store: Store) -> None:
    user = await store.create_user("ada", "h", T0)
    [saved] = await store.add_entries(user.id, [entry(9)], T0)
    assert await store.delete_entry(user.id, saved.id) is True
    assert await store.delete_entry(user.id, saved.id) is False
    assert await store.get_entry(user.id, saved.id) is None


# --- submission and claiming ------------------------------------------------------------------


async def test_submit_creates_pending_first_attempts(store: Store) -> None:
    [task] = await store.submit_tasks([new(user_id="u1", metadata={"k": "v"})], T0)
    assert (task.status, task.attempt, task.run_after, task.created_at) == (
        TaskStatus.PENDING,
        1,
        T0,
        T0,
    )
    assert await store.get_task(task.id) == task
    assert await store.get_task(task.id, user_id="u1") == task
    assert await store.get_task(task.id, user_id="u2") is None


async def test_list_tasks_newest_first_with_filters(store: Store) -> None:
    a, b = await store.submit_tasks([new(user_id="u1"), new("sleep", user_id="u1")], T0)
    [c] = await store.submit_tasks([new(user_id="u2")], T0 + 1)
    assert [t.id for t in await store.list_tasks(None)] == [c.id, b.id, a.id]
    assert [t.id for t in await store.list_tasks("u1")] == [b.id, a.id]
    assert [t.id for t in await store.list_tasks("u1", type="noop")] == [a.id]
    assert await store.list_tasks(None, status=TaskStatus.RUNNING) == []
    assert [t.id for t in await store.list_tasks(None, limit=1, offset=1)] == [b.id]


async def test_claim_orders_by_priority_then_fifo(store: Store) -> None:
    low1, high1 = await store.submit_tasks([new(n=1), new(priority=5, n=2)], T0)
    low2, high2 = await store.submit_tasks([new(n=3), new(priority=5, n=4)], T0)
    [mid] = await store.submit_tasks([new(priority=1, n=5)], T0 - 10)
    claimed = await store.claim_tasks(Claim("w1", {"noop": 10}, 10), T0 + 1)
    assert [t.id for t in claimed] == [high1.id, high2.id, mid.id, low1.id, low2.id]
    for t in claimed:
        assert (t.status, t.worker_id, t.lease_expires_at, t.started_at) == (
            TaskStatus.RUNNING,
            "w1",
            T0 + 1 + TTL,
            T0 + 1,
        )
    assert await store.claim_tasks(Claim("w2", {"noop": 10}, 10), T0 + 1) == []


async def test_claim_takes_the_high_priority_task_behind_an_older_backlog(
    store: Store,
) -> None:
    await store.submit_tasks([new(n=i) for i in range(3)], T0)
    [urgent] = await store.submit_tasks([new(priority=3)], T0 + 1)
    [got] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 2)
    assert got.id == urgent.id


async def test_submit_and_claim_takes_only_the_best_and_leaves_the_rest(store: Store) -> None:
    """More tasks than the claim takes: what is claimed (SQLite claims in the insert's
    transaction; PostgreSQL leaves it to the streams) is the head of the queue, leased
    with its attempt record; the rest stays PENDING."""
    tasks = [new(n=i) for i in range(3)]
    stored, leased = await store.submit_and_claim(tasks, T0, Claim("w1", {"noop": 2}, 2))
    assert [t.id for t in leased] == [t.id for t in stored[: len(leased)]]
    for t in leased:
        assert (t.status, t.worker_id, t.lease_expires_at, t.attempt) == (
            TaskStatus.RUNNING,
            "w1",
            T0 + TTL,
            1,
        )
        [attempt] = await store.task_attempts(t.id)
        assert (attempt.worker_id, attempt.outcome) == ("w1", None)
    for t in stored[len(leased) :]:
        left = await store.get_task(t.id)
        assert left is not None and left.status == TaskStatus.PENDING


async def test_submit_and_claim_of_tasks_that_fit_leases_exactly_them(store: Store) -> None:
    tasks = [new(n=1), new("sleep", n=2)]
    stored, leased = await store.submit_and_claim(
        tasks, T0, Claim("w1", {"noop": 1, "sleep": 1}, 2)
    )
    assert sorted(t.id for t in leased) == sorted(t.id for t in stored)
    for t in leased:
        got = await store.get_task(t.id)
        assert got is not None
        assert (got.status, got.worker_id, got.lease_expires_at, got.started_at) == (
            TaskStatus.RUNNING,
            "w1",
            T0 + TTL,
            T0,
        )
        [attempt] = await store.task_attempts(t.id)
        assert (attempt.attempt, attempt.worker_id, attempt.started_at) == (1, "w1", T0)
    assert await store.running_tasks("w1") != []
    assert not await store.has_pending(["noop", "sleep"], now=T0)


async def test_submit_and_claim_never_lets_a_new_task_jump_the_queue(store: Store) -> None:
    [older] = await store.submit_tasks([new(priority=1)], T0 - 5)
    [fresh], leased = await store.submit_and_claim([new()], T0, Claim("w1", {"noop": 1}, 1))
    assert [t.id for t in leased] in ([older.id], [])  # the older one, or none at all
    still = await store.get_task(fresh.id)
    assert still is not None and still.status == TaskStatus.PENDING
    assert await store.has_pending(["noop"], now=T0)


async def test_claim_respects_per_type_capacity_and_limit(store: Store) -> None:
    await store.submit_tasks([new("noop", n=i) for i in range(5)], T0)
    await store.submit_tasks([new("sleep", priority=1, n=i) for i in range(5)], T0)
    await store.submit_tasks([new("weekly_report", priority=9)], T0)
    got = await store.claim_tasks(Claim("w", {"noop": 3, "sleep": 2, "weekly_report": 0}, 4), T0)
    assert [t.type for t in got] == ["sleep", "sleep", "noop", "noop"]
    got = await store.claim_tasks(Claim("w", {"noop": 5}, 100), T0)
    assert [t.payload["n"] for t in got] == [2, 3, 4]
    assert await store.claim_tasks(Claim("w", {"sleep": 5}, 0), T0) == []
    assert await store.claim_tasks(Claim("w", {}, 5), T0) == []
    assert await store.pending_count(now=T0) == 4
    assert await store.pending_count(["weekly_report"], now=T0) == 1
    assert await store.pending_count([], now=T0) == 0
    assert await store.has_pending(["weekly_report", "gpu_job"], now=T0)
    assert not await store.has_pending(["gpu_job"], now=T0)
    assert not await store.has_pending([], now=T0)


async def test_claim_waits_for_run_after(store: Store) -> None:
    [task] = await store.submit_tasks([new()], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    decisions = await store.report_results([result(claimed, "w1", "failed", error="boom")], T0 + 1)
    assert decisions[0].status is TaskStatus.PENDING
    retry_at = T0 + 1 + NO_JITTER.delay(1)
    assert await store.claim_tasks(Claim("w1", {"noop": 1}, 1), retry_at - 0.01) == []
    assert await store.pending_count(now=retry_at - 0.01) == 0
    assert not await store.has_pending(["noop"], now=retry_at - 0.01)
    assert await store.has_pending(["noop"], now=retry_at)
    [again] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), retry_at)
    assert (again.id, again.attempt) == (task.id, 2)


async def test_cancel_requested_tasks_are_never_claimed(store: Store) -> None:
    [task] = await store.submit_tasks([new()], T0)
    cancelled = await store.cancel_task(task.id, None, T0)
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED
    assert await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0) == []


# --- leases ---------------------------------------------------------------------------


async def test_heartbeat_renewal_keeps_lease_alive(store: Store) -> None:
    [task] = await store.submit_tasks([new()], T0)
    await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    assert await store.renew_leases("w1", T0 + 25) == []
    assert await store.requeue_expired(T0 + 40) == []
    got = await store.get_task(task.id)
    assert got is not None and got.lease_expires_at == T0 + 25 + TTL
    assert await store.update_progress(task.id, 1, "w1", 50, "half", T0 + 50) is True
    assert await store.update_progress(task.id, 2, "w1", 60, "x", T0 + 50) is False
    assert await store.update_progress(task.id, 1, "w2", 60, "x", T0 + 50) is False
    got = await store.get_task(task.id)
    assert got is not None
    assert (got.progress, got.progress_message, got.lease_expires_at) == (50, "half", T0 + 80)
    assert [t.id for t in await store.running_tasks("w1")] == [task.id]


@pytest.mark.parametrize("policy", [dataclasses.replace(POLICY, max_reassignments=1)])
async def test_expired_leases_requeue_then_fail_at_the_reassignment_cap(
    store: Store,
) -> None:
    [task] = await store.submit_tasks([new(max_attempts=2)], T0)
    [first] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    assert await store.requeue_expired(T0 + TTL) == []  # not yet expired
    [requeued] = await store.requeue_expired(T0 + TTL + 1)
    assert (requeued.status, requeued.attempt, requeued.worker_id) == (
        TaskStatus.PENDING,
        2,
        None,
    )
    assert requeued.error == "lease expired (worker w1)"
    assert requeued.run_after == T0 + TTL + 1 + NO_JITTER.delay(1)
    assert requeued.lease_expires_at is None

    now = requeued.run_after
    [second] = await store.claim_tasks(Claim("w2", {"noop": 1}, 1), now)
    assert second.attempt == 2
    # An expired lease is a reassignment, not a failure: max_attempts=2 is not used up,
    # the reassignment cap (1 here) is.
    [dead] = await store.requeue_expired(now + TTL + 1)
    assert (dead.status, dead.attempt) == (TaskStatus.FAILED, 2)
    assert dead.error is not None and dead.error.startswith("lease expired (worker w2)")
    assert dead.completed_at == now + TTL + 1
    assert await store.get_task(task.id) == dead
    # The first attempt's late result is stale; so is the second's.
    decisions = await store.report_results([result(first, "w1"), result(second, "w2")], now + 100)
    assert [d.disposition for d in decisions] == [Disposition.STALE, Disposition.STALE]


async def test_extend_running_leases_at_server_start(store: Store, store_url: str) -> None:
    await store.submit_tasks([new(timeout_s=1000.0), new(timeout_s=1000.0)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    long_leases = open_store(store_url, policy=dataclasses.replace(POLICY, lease_ttl_s=1000.0))
    await long_leases.open()
    try:
        await long_leases.claim_tasks(Claim("w2", {"noop": 1}, 1), T0)
    finally:
        await long_leases.close()
    assert await store.extend_running_leases(T0 + 100) == 1
    assert await store.requeue_expired(T0 + 100 + TTL - 1) == []
    [w1_task] = await store.running_tasks("w1")
    [w2_task] = await store.running_tasks("w2")
    assert w1_task.lease_expires_at == T0 + 100 + TTL
    assert w2_task.lease_expires_at == T0 + 1000.0  # never shortened


# --- results ---------------------------------------------------------------------------


async def test_report_results_accepted_duplicate_stale_unknown(store: Store) -> None:
    a, b = await store.submit_tasks([new(n=1), new(n=2)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0)
    done = result(a, "w1", result={"answer": 42})
    decisions = await store.report_results(
        [
            done,
            done,  # the same result twice in one report
            result(b, "w2"),  # not this worker's attempt
            result(b, "w1", attempt=7),  # not the current attempt
            ReportedResult("nope", 1, "w1", ResultOutcome.COMPLETED),
        ],
        T0 + 5,
    )
    assert [d.disposition for d in decisions] == [
        Disposition.ACCEPTED,
        Disposition.DUPLICATE,
        Disposition.STALE,
        Disposition.STALE,
        Disposition.UNKNOWN_TASK,
    ]
    assert [d.status for d in decisions] == [
        TaskStatus.COMPLETED,
        TaskStatus.COMPLETED,
        TaskStatus.RUNNING,
        TaskStatus.RUNNING,
        None,
    ]
    stored = await store.get_task(a.id)
    assert stored is not None
    assert (stored.status, stored.result, stored.completed_at, stored.lease_expires_at) == (
        TaskStatus.COMPLETED,
        {"answer": 42},
        T0 + 5,
        None,
    )
    [again] = await store.report_results([done], T0 + 9)
    assert again.disposition is Disposition.DUPLICATE
    refetched = await store.get_task(a.id)
    assert refetched is not None and refetched.updated_at == T0 + 5  # nothing rewritten


async def test_watched_tasks_come_back_from_the_report_as_committed(store: Store) -> None:
    """`watched`: a task the report finishes comes back (task and attempts) exactly as
    a read after the commit shows it; one it does not finish, one not watched, and a
    duplicate come back without."""
    a, b, c = await store.submit_tasks([new(n=1), new(n=2), new(n=3, max_attempts=3)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 3}, 3), T0)
    done_a = result(a, "w1", result={"answer": 42, "text": "naïve ✓"})
    decisions = await store.report_results(
        [
            done_a,
            result(b, "w1", result={"n": 2}),
            result(c, "w1", "failed", error="retry me", retriable=True),
        ],
        T0 + 5,
        watched={a.id, c.id},
    )
    final_a, final_b, final_c = (d.final for d in decisions)
    assert final_b is None  # not watched
    assert final_c is None  # watched, but back to PENDING: not finished
    assert final_a is not None
    detail = await store.get_task_detail(a.id)
    assert detail is not None
    assert final_a[0] == detail[0] and list(final_a[1]) == detail[1]
    assert final_a[0].status is TaskStatus.COMPLETED and len(final_a[1]) == 1
    [again] = await store.report_results([done_a], T0 + 6, watched={a.id})
    assert again.disposition is Disposition.DUPLICATE and again.final is None


async def test_a_watched_task_finished_on_its_second_attempt_comes_back_with_both(
    store: Store,
) -> None:
    """The final history holds the earlier, closed attempt and the one this report
    closes (PostgreSQL writes completed results in one statement that reads the
    history beside its own write)."""
    [a] = await store.submit_tasks([new(n=1, max_attempts=3)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    await store.report_results([result(a, "w1", "failed", error="again")], T0 + 1)
    [again] = await store.claim_tasks(Claim("w2", {"noop": 1}, 1), T0 + 100)
    [decision] = await store.report_results(
        [result(again, "w2", result={"ok": True})], T0 + 101, watched={a.id}
    )
    assert decision.disposition is Disposition.ACCEPTED and decision.final is not None
    detail = await store.get_task_detail(a.id)
    assert detail is not None
    assert decision.final[0] == detail[0] and list(decision.final[1]) == detail[1]
    assert [(x.attempt, x.worker_id, x.outcome) for x in decision.final[1]] == [
        (1, "w1", AttemptOutcome.FAILED),
        (2, "w2", AttemptOutcome.COMPLETED),
    ]


async def test_a_completed_result_of_a_task_taken_back_meanwhile_is_stale(store: Store) -> None:
    """The one-statement path's fence: the lease lapsed and the task went back to
    PENDING before the result arrived; the result is judged stale, nothing written."""
    [a] = await store.submit_tasks([new(n=1)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    await store.requeue_expired(T0 + TTL + 1)
    [late] = await store.report_results([result(a, "w1")], T0 + TTL + 2, watched={a.id})
    assert (late.disposition, late.status, late.final) == (
        Disposition.STALE,
        TaskStatus.PENDING,
        None,
    )


async def test_task_details_come_in_the_order_asked_for_those_the_user_may_see(
    store: Store,
) -> None:
    ada = await store.create_user("ada", "hash-ada", T0)
    a, b = await store.submit_tasks([new(user_id=ada.id), new(n=1)], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 1)
    assert claimed.id == a.id
    details = await store.get_task_details([b.id, "missing", a.id, b.id])
    assert [(t.id, [x.attempt for x in attempts]) for t, attempts in details] == [
        (b.id, []),
        (a.id, [1]),
        (b.id, []),
    ]
    assert details[1] == await store.get_task_detail(a.id)
    mine = await store.get_task_details([b.id, a.id], user_id=ada.id)
    assert [t.id for t, _ in mine] == [a.id]
    assert await store.get_task_detail(a.id, user_id=ada.id) == details[1]
    assert await store.get_task_detail(b.id, user_id=ada.id) is None  # not hers
    assert await store.get_task_detail(b.id) == details[0]  # no attempt yet
    assert await store.get_task_detail("missing") is None
    assert await store.get_task_details([]) == []


async def test_task_details_of_more_tasks_than_one_statement_reads(store: Store) -> None:
    """A wait for a thousand tasks reads them in chunks: order, attempts and the
    missing ids come out as for a few."""
    tasks = await store.submit_tasks([new(n=i) for i in range(1_200)], T0)
    claimed = await store.claim_tasks(Claim("w1", {"noop": 3}, 3), T0 + 1)
    wanted = [t.id for t in reversed(tasks)] + ["missing"]
    details = await store.get_task_details(wanted)
    assert [t.id for t, _ in details] == wanted[:-1]
    with_attempts = {t.id: [a.attempt for a in attempts] for t, attempts in details if attempts}
    assert with_attempts == {t.id: [1] for t in claimed}
    assert details[0] == await store.get_task_detail(tasks[-1].id)


async def test_task_statuses_of_the_tasks_the_user_may_see(store: Store) -> None:
    ada = await store.create_user("ada", "hash-ada", T0)
    a, b, c = await store.submit_tasks([new(user_id=ada.id), new(n=1), new(n=2)], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 1)
    assert claimed.id == a.id
    await store.cancel_task(c.id, None, T0 + 2)
    assert await store.task_statuses([a.id, "missing", b.id, c.id]) == {
        a.id: TaskStatus.RUNNING,
        b.id: TaskStatus.PENDING,
        c.id: TaskStatus.CANCELLED,
    }
    assert await store.task_statuses([b.id, a.id], user_id=ada.id) == {a.id: TaskStatus.RUNNING}
    assert await store.task_statuses([]) == {}


async def test_retriable_failure_goes_back_to_pending_with_next_attempt(
    store: Store,
) -> None:
    [task] = await store.submit_tasks([new(max_attempts=3)], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    failure = result(claimed, "w1", "failed", error="ollama down", retriable=True)
    [decision] = await store.report_results([failure], T0 + 3)
    assert (decision.disposition, decision.status) == (Disposition.ACCEPTED, TaskStatus.PENDING)
    stored = await store.get_task(task.id)
    assert stored is not None
    assert (stored.attempt, stored.error, stored.run_after, stored.worker_id) == (
        2,
        "ollama down",
        T0 + 3 + 2.0,
        None,
    )
    # The same failure reported again is a duplicate, not a second retry.
    [decision] = await store.report_results([failure], T0 + 4)
    assert (decision.disposition, decision.status) == (
        Disposition.DUPLICATE,
        TaskStatus.PENDING,
    )
    stored = await store.get_task(task.id)
    assert stored is not None and stored.attempt == 2


async def test_failures_exhaust_attempts_into_failed_with_last_error(
    store: Store,
) -> None:
    [task] = await store.submit_tasks([new(max_attempts=2)], T0)
    now = T0
    for attempt in (1, 2):
        [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), now + 100)
        assert claimed.attempt == attempt
        now += 100
        await store.report_results([result(claimed, "w1", "failed", error=f"boom {attempt}")], now)
    stored = await store.get_task(task.id)
    assert stored is not None
    assert (stored.status, stored.attempt, stored.error, stored.completed_at) == (
        TaskStatus.FAILED,
        2,
        "boom 2",
        now,
    )


async def test_non_retriable_failure_fails_at_once(store: Store) -> None:
    [task] = await store.submit_tasks([new(max_attempts=5)], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    bad = result(claimed, "w1", "failed", error="bad payload", retriable=False)
    [decision] = await store.report_results([bad], T0 + 1)
    assert decision.status is TaskStatus.FAILED
    stored = await store.get_task(task.id)
    assert stored is not None and (stored.attempt, stored.error) == (1, "bad payload")


async def test_cancelled_outcome_cancels(store: Store) -> None:
    [task] = await store.submit_tasks([new()], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    [decision] = await store.report_results([result(claimed, "w1", "cancelled")], T0 + 1)
    assert decision.status is TaskStatus.CANCELLED
    stored = await store.get_task(task.id)
    assert stored is not None and stored.completed_at == T0 + 1


async def test_result_racing_a_requeue_is_stale(store: Store) -> None:
    [task] = await store.submit_tasks([new()], T0)
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    late = result(claimed, "w1")
    requeued, decisions = await asyncio.gather(
        store.requeue_expired(T0 + TTL + 1),
        store.report_results([late], T0 + TTL + 1),
    )
    # Whichever the writer ran first, exactly one of them won.
    if requeued:
        assert decisions[0].disposition is Disposition.STALE
        assert decisions[0].status is TaskStatus.PENDING
    else:
        assert decisions[0].disposition is Disposition.ACCEPTED
    # Deterministic version: requeue committed first, then the late result arrives.
    [other] = await store.submit_tasks([new()], T0)
    [claimed2] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    assert claimed2.id == other.id
    await store.requeue_expired(T0 + TTL + 1)
    [decision] = await store.report_results([result(claimed2, "w1")], T0 + TTL + 2)
    assert decision.disposition is Disposition.STALE
    stored = await store.get_task(other.id)
    assert stored is not None and (stored.status, stored.attempt) == (TaskStatus.PENDING, 2)
    assert task.id != other.id


# --- cancellation ----------------------------------------------------------------------


async def test_cancel_pending_running_and_terminal(store: Store) -> None:
    running, done = await store.submit_tasks([new(user_id="u1"), new(user_id="u1")], T0)
    [r, d] = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0)
    assert [r.id, d.id] == [running.id, done.id]
    [pending] = await store.submit_tasks([new(user_id="u1")], T0)
    await store.report_results([result(done, "w1", attempt=1)], T0 + 1)

    assert await store.cancel_task(pending.id, "u2", T0 + 2) is None  # someone else's
    assert await store.cancel_task("missing", None, T0 + 2) is None
    c = await store.cancel_task(pending.id, "u1", T0 + 2)
    assert c is not None and (c.status, c.completed_at) == (TaskStatus.CANCELLED, T0 + 2)

    c = await store.cancel_task(running.id, None, T0 + 2)
    assert c is not None and (c.status, c.cancel_requested) == (TaskStatus.RUNNING, True)
    assert await store.renew_leases("w1", T0 + 3) == [running.id]

    c = await store.cancel_task(done.id, None, T0 + 2)
    assert c is not None and (c.status, c.cancel_requested) == (TaskStatus.COMPLETED, False)

    # A cancel-requested task is not retried: its failure or lost lease ends in CANCELLED.
    [decision] = await store.report_results(
        [result(running, "w1", "failed", error="interrupted")], T0 + 4
    )
    assert decision.status is TaskStatus.CANCELLED


async def test_lost_lease_of_cancel_requested_task_cancels(store: Store) -> None:
    [task] = await store.submit_tasks([new()], T0)
    await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    await store.cancel_task(task.id, None, T0 + 1)
    [gone] = await store.requeue_expired(T0 + TTL + 1)
    assert (gone.id, gone.status) == (task.id, TaskStatus.CANCELLED)


# --- workers and sessions ----------------------------------------------------------------


async def test_register_heartbeat_and_reregister(store: Store) -> None:
    info = WorkerInfo("w1", "box", ("noop", "sleep"), "1.0", {"host": "a"}, 4)
    await store.register_worker(info, "s1", T0)
    record = await store.get_worker("w1")
    assert record is not None
    assert (record.info, record.session_token_hash, record.status) == (info, "s1", "ready")
    assert record.capacity == {"noop": 4, "sleep": 4}

    reply = await store.heartbeat_and_renew(
        Heartbeat("s1", "ready", {"active": 1}, {"noop": 3}), T0 + 5
    )
    assert reply is not None and reply.cancel_task_ids == []
    session = reply.session
    assert (session.worker_id, session.last_heartbeat_at) == (
        "w1",
        T0 + 5,
    )
    record = await store.get_worker("w1")
    assert record is not None
    assert (record.stats, record.capacity, record.last_heartbeat_at) == (
        {"active": 1},
        {"noop": 3},
        T0 + 5,
    )
    assert await store.heartbeat_and_renew(Heartbeat("nope", "ready", {}, {}), T0) is None

    await store.register_worker(info, "s2", T0 + 10)  # the old session stops working
    assert await store.get_session("s1") is None
    assert await store.heartbeat_and_renew(Heartbeat("s1", "ready", {}, {}), T0 + 11) is None
    new_session = await store.get_session("s2")
    assert new_session is not None and new_session.created_at == T0 + 10
    await store.register_worker(WorkerInfo("w0", "other", ("noop",)), "s3", T0 + 20)
    assert [w.info.id for w in await store.list_workers()] == ["w1", "w0"]


# --- per-task lease renewal and lost deliveries -------------------------------------------


async def test_renew_leases_only_for_the_tasks_the_worker_still_runs(store: Store) -> None:
    await store.submit_tasks([new(n=1), new(n=2)], T0)
    kept, dropped = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0)
    await store.renew_leases("w1", T0 + TTL - 1, [kept.id])
    expired = await store.requeue_expired(T0 + TTL + 0.5)
    assert [t.id for t in expired] == [dropped.id]
    still = await store.get_task(kept.id)
    assert still is not None and still.status == TaskStatus.RUNNING and still.attempt == 1


async def test_lost_deliveries_are_requeued_without_using_up_attempts(store: Store) -> None:
    [task] = await store.submit_tasks([new(max_attempts=1)], T0)
    now = T0
    for round_ in range(1, 11):
        [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), now)
        assert claimed.attempt == round_
        [requeued] = await store.requeue_tasks("w1", [claimed.id], "lost in transit", now)
        assert requeued.status == TaskStatus.PENDING and requeued.run_after <= now
        now += 1
    # At the reassignment cap the task fails, so an undeliverable task still ends.
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), now)
    [last] = await store.requeue_tasks("w1", [claimed.id], "lost in transit", now)
    assert last.status == TaskStatus.FAILED and last.error is not None
    assert last.error.startswith("lost in transit") and "reassignment cap 10" in last.error
    assert await store.requeue_tasks("w2", [task.id], "not mine", now) == []


# --- PostgreSQL only: several replicas on one database ----------------------------------


@pytest.fixture
async def replicas(pg_database: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two server replicas would have."""
    await truncate_all(pg_database)
    a, b = PostgresStore(pg_database, policy=POLICY), PostgresStore(pg_database, policy=POLICY)
    await a.open()
    await b.open()
    yield a, b
    await asyncio.gather(a.close(), b.close())


async def test_pg_replicas_starting_together_migrate_once() -> None:
    url = await create_database()
    stores = [PostgresStore(url, pool_size=2) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        finally:
            await conn.close()
        assert [(r["version"], r["name"]) for r in rows] == [
            (version, name) for version, name, _ in migration_files(MIGRATION_FILE)
        ]
        assert rows[0]["name"] == "postgres_0001_initial.sql"
    finally:
        await asyncio.gather(*(s.close() for s in stores))
        await drop_database(url)


async def test_pg_unreachable_server_is_a_clear_store_error() -> None:
    store = PostgresStore("postgresql://englog:secret@127.0.0.1:1/englog")
    with pytest.raises(StoreError, match="cannot open PostgreSQL") as info:
        await store.open()
    assert "secret" not in str(info.value)


async def test_pg_concurrent_claims_across_replicas_never_share_a_task(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = replicas
    await a.submit_tasks([new(n=i) for i in range(150)], T0)
    await b.submit_tasks([new("sleep", n=i) for i in range(150)], T0)
    caps = {"noop": 7, "sleep": 7}
    claims = await asyncio.gather(
        *(
            (a if i % 2 else b).claim_tasks(Claim(f"w{i}", caps, 7), T0 + 1)
            for i in range(60)  # 420 slots for 300 tasks
        )
    )
    claimed = [t.id for batch in claims for t in batch]
    assert len(claimed) == 300 and len(set(claimed)) == 300
    assert all(len(batch) <= 7 for batch in claims)
    assert await a.pending_count(now=T0 + 1) == 0


async def test_pg_replicas_reaping_at_once_take_each_task_back_once(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = replicas
    await a.submit_tasks([new(n=i) for i in range(60)], T0)
    await a.claim_tasks(Claim("w1", {"noop": 60}, 60), T0)
    later = T0 + TTL + 1
    reaped = await asyncio.gather(*(s.requeue_expired(later) for s in (a, b, a, b)))
    ids = [t.id for batch in reaped for t in batch]
    assert len(ids) == 60 and len(set(ids)) == 60
    tasks = await a.list_tasks(None, limit=100)
    assert {(t.status, t.attempt) for t in tasks} == {(TaskStatus.PENDING, 2)}


async def test_pg_one_result_reported_to_two_replicas_is_accepted_once(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = replicas
    tasks = await a.submit_tasks([new(n=i) for i in range(40)], T0)
    await a.claim_tasks(Claim("w1", {"noop": 40}, 40), T0)
    reports = [result(t, "w1", result={"n": i}) for i, t in enumerate(tasks)]
    # Each replica gets the whole batch (a worker retrying on another replica).
    first, second = await asyncio.gather(
        a.report_results(reports, T0 + 1),
        b.report_results(list(reversed(reports)), T0 + 1),
    )
    for task in tasks:
        got = [d.disposition for d in (*first, *second) if d.task_id == task.id]
        assert sorted(got) == [Disposition.ACCEPTED, Disposition.DUPLICATE]
    done = await b.list_tasks(None, status=TaskStatus.COMPLETED, limit=100)
    assert len(done) == 40


async def test_pg_submission_on_one_replica_wakes_the_other(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = replicas
    woken = asyncio.Event()
    b.add_task_listener(woken.set)
    async with asyncio.timeout(10):
        await b.wait_listening()
    woken.clear()  # the callback also runs once when the listener connects
    started = time.perf_counter()
    await a.submit_tasks([new()], T0)
    async with asyncio.timeout(5):
        await woken.wait()
    assert time.perf_counter() - started < 1.0  # typically about a millisecond
    # A claim makes nothing claimable, so it notifies nobody; a requeue does.
    woken.clear()
    [task] = await b.claim_tasks(Claim("w1", {"noop": 1}, 1), T0)
    await a.report_results([result(task, "w1", "failed")], T0 + 1)
    async with asyncio.timeout(5):
        await woken.wait()


async def test_pg_listener_reconnects_when_its_connection_dies(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = replicas
    calls: list[float] = []
    b.add_task_listener(lambda: calls.append(time.monotonic()))
    async with asyncio.timeout(10):
        await b.wait_listening()
    before = len(calls)
    conn = await asyncpg.connect(b.url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
    finally:
        await conn.close()
    assert killed == 2  # both stores' listeners
    # Reconnected: the callbacks run once, for notifications lost while it was down...
    await eventually(lambda: _grew(calls, before), within=15, what="listener reconnected")
    async with asyncio.timeout(5):
        await b.wait_listening()
    # ...and later submissions are heard again.
    heard = len(calls)
    await a.submit_tasks([new()], T0)
    await eventually(lambda: _grew(calls, heard), within=5, what="notification after reconnect")


async def _grew(calls: list[float], before: int) -> bool:
    return len(calls) > before
