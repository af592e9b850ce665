"""The durable task lifecycle at the store (issue 4): attempt history, reassignments
versus failures, dead workers, server-side deadlines, idempotent submission, readiness
counts and retention, plus the lease edge cases. The clock is passed in, so nothing
sleeps. Runs on SQLite and PostgreSQL (the `store` fixture of conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from englog.domain.tasks import (
    AttemptOutcome,
    Disposition,
    NewTask,
    ReportedResult,
    ResultOutcome,
    RetryBackoff,
    Task,
    TaskStatus,
)
from englog.store import (
    Claim,
    Heartbeat,
    QueuePolicy,
    SQLiteStore,
    Store,
    WorkerInfo,
    open_store,
)
from englog.store.base import IdempotencyKeyReused
from englog.store.records import KeyedTask

T0 = 1_700_000_000.0
TTL = 30.0
NO_JITTER = RetryBackoff(initial_s=2.0, factor=2.0, max_s=60.0, jitter=False)
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


DAY = 86_400.0


def new(type: str = "noop", **kw: Any) -> NewTask:
    return NewTask(type=type, payload={"n": kw.pop("n", 0)}, **kw)


def result(task: Task, worker: str, outcome: str = "completed", **kw: Any) -> ReportedResult:
    return ReportedResult(
        task_id=task.id,
        attempt=kw.pop("attempt", task.attempt),
        worker_id=worker,
        outcome=ResultOutcome(outcome),
        **kw,
    )


async def claim_one(store: Store, worker: str, now: float, type: str = "noop") -> Task:
    [task] = await store.claim_tasks(Claim(worker, {type: 1}, 1), now)
    return task


async def register(store: Store, worker: str, session: str, now: float) -> None:
    await store.register_worker(WorkerInfo(worker, worker, ("noop", "sleep")), session, now)


# --- attempt history --------------------------------------------------------------------


async def test_every_attempt_is_recorded_with_worker_times_outcome_and_error(
    store: Store,
) -> None:
    [task] = await store.submit_tasks([new(max_attempts=3)], T0)
    first = await claim_one(store, "w1", T0 + 1)
    [running] = await store.task_attempts(task.id)
    assert (running.attempt, running.worker_id, running.started_at) == (1, "w1", T0 + 1)
    assert running.outcome is None and running.ended_at is None
    await store.report_results([result(first, "w1", "failed", error="boom")], T0 + 2)
    second = await claim_one(store, "w2", T0 + 10)
    await store.report_results([result(second, "w2", result={"ok": True})], T0 + 11)

    attempts = await store.task_attempts(task.id)
    assert [(a.attempt, a.worker_id, a.outcome, a.error) for a in attempts] == [
        (1, "w1", AttemptOutcome.FAILED, "boom"),
        (2, "w2", AttemptOutcome.COMPLETED, None),
    ]
    assert [(a.started_at, a.ended_at) for a in attempts] == [(T0 + 1, T0 + 2), (T0 + 10, T0 + 11)]
    assert await store.task_attempts("missing") == []


# --- reassignments versus failures ------------------------------------------------------


async def test_expired_lease_is_a_reassignment_that_keeps_the_retry_budget(store: Store) -> None:
    [task] = await store.submit_tasks([new(max_attempts=1)], T0)
    await claim_one(store, "w1", T0)
    [requeued] = await store.requeue_expired(T0 + TTL + 1)
    assert (requeued.status, requeued.attempt, requeued.reassignments) == (
        TaskStatus.PENDING,
        2,
        1,
    )
    assert requeued.max_attempts == 1  # unchanged: the budget is attempt - reassignments
    second = await claim_one(store, "w2", requeued.run_after)
    [decision] = await store.report_results(
        [result(second, "w2", "failed", error="handler bug")], second.started_at or 0
    )
    assert decision.status is TaskStatus.FAILED  # the one real attempt is used up
    outcomes = [a.outcome for a in await store.task_attempts(task.id)]
    assert outcomes == [AttemptOutcome.EXPIRED, AttemptOutcome.FAILED]


@pytest.mark.parametrize("policy", [dataclasses.replace(POLICY, deadline_grace_s=5.0)])
async def test_deadline_passed_on_the_server_is_a_failure(store: Store) -> None:
    [task] = await store.submit_tasks([new(max_attempts=2, timeout_s=10.0)], T0)
    await claim_one(store, "w1", T0)
    # Heartbeats keep the lease fresh, but the handler is stuck past its deadline.
    await store.renew_leases("w1", T0 + 14)
    assert await store.requeue_expired(T0 + 14) == []
    [retried] = await store.requeue_expired(T0 + 16)
    assert (retried.status, retried.attempt, retried.reassignments) == (TaskStatus.PENDING, 2, 0)
    assert retried.error == "deadline of 10s passed (worker w1)"
    await claim_one(store, "w1", retried.run_after)
    [failed] = await store.requeue_expired(retried.run_after + 16)
    assert failed.status is TaskStatus.FAILED
    outcomes = [a.outcome for a in await store.task_attempts(task.id)]
    assert outcomes == [AttemptOutcome.TIMED_OUT, AttemptOutcome.TIMED_OUT]


@pytest.mark.parametrize("policy", [dataclasses.replace(POLICY, max_reassignments=2)])
async def test_reassignment_cap_fails_the_task_with_a_clear_error(store: Store) -> None:
    [task] = await store.submit_tasks([new(max_attempts=3)], T0)
    now = T0
    for _ in range(2):
        await claim_one(store, "w1", now)
        now += TTL + 1
        [back] = await store.requeue_expired(now)
        assert back.status is TaskStatus.PENDING
        now = back.run_after
    await claim_one(store, "w1", now)
    [failed] = await store.requeue_expired(now + TTL + 1)
    assert (failed.status, failed.attempt, failed.reassignments) == (TaskStatus.FAILED, 3, 2)
    assert failed.error == (
        "lease expired (worker w1); taken back from its worker 2 times (reassignment cap 2)"
    )
    stored = await store.get_task(task.id)
    assert stored is not None and stored.completed_at == now + TTL + 1


# --- dead workers -------------------------------------------------------------------------


async def test_silent_worker_is_declared_dead_and_its_tasks_reassigned(store: Store) -> None:
    await register(store, "w1", "s1", T0)
    await register(store, "w2", "s2", T0)
    a, b = await store.submit_tasks([new(n=1), new(n=2)], T0)
    lost = await claim_one(store, "w1", T0)
    kept = await claim_one(store, "w2", T0)
    assert await store.heartbeat_and_renew(Heartbeat("s2", "ready", {}, {}), T0 + 14) is not None

    gone = await store.reap_lost_workers(T0 + 15 - 15, T0 + 15)
    assert gone.worker_ids == [] and gone.tasks == []  # heard from at T0: not silent yet
    gone = await store.reap_lost_workers(T0 + 16 - 15, T0 + 16)
    assert gone.worker_ids == ["w1"]
    [requeued] = gone.tasks
    assert (requeued.id, requeued.status, requeued.attempt) == (lost.id, TaskStatus.PENDING, 2)
    assert (requeued.reassignments, requeued.error) == (1, "worker w1 went silent")
    assert requeued.run_after == T0 + 16 + NO_JITTER.delay(1)

    worker = await store.get_worker("w1")
    assert worker is not None and (worker.status, worker.session_token_hash) == ("offline", None)
    assert await store.get_session("s1") is None
    # A heartbeat after that is an unknown session: the worker must register again.
    assert await store.heartbeat_and_renew(Heartbeat("s1", "ready", {}, {}), T0 + 17) is None
    # Its late result is stale; the live worker's task is untouched.
    [late] = await store.report_results([result(lost, "w1")], T0 + 17)
    assert late.disposition is Disposition.STALE
    still = await store.get_task(kept.id)
    assert still is not None and (still.status, still.attempt) == (TaskStatus.RUNNING, 1)
    [attempt, _] = await store.task_attempts(lost.id) + [None]
    assert attempt is not None
    assert (attempt.outcome, attempt.error) == (AttemptOutcome.LOST, "worker w1 went silent")

    await register(store, "w1", "s3", T0 + 18)
    worker = await store.get_worker("w1")
    assert worker is not None and worker.status == "ready"
    assert {lost.id, kept.id} == {a.id, b.id}


async def test_server_start_counts_every_session_as_heard_from(store: Store) -> None:
    await register(store, "w1", "s1", T0)
    [task] = await store.submit_tasks([new(timeout_s=1000.0)], T0)
    await claim_one(store, "w1", T0)
    # The server was down for 100 s; it starts again at T0 + 100.
    await store.extend_running_leases(T0 + 100)
    gone = await store.reap_lost_workers(T0 + 101 - 15, T0 + 101)
    assert gone.worker_ids == []
    assert await store.requeue_expired(T0 + 101) == []
    session = await store.get_session("s1")
    assert session is not None and session.last_heartbeat_at == T0 + 100
    running = await store.get_task(task.id)
    assert running is not None and running.status is TaskStatus.RUNNING


# --- heartbeats ------------------------------------------------------------------------------


async def test_heartbeat_and_renew_is_one_write(store: Store) -> None:
    await register(store, "w1", "s1", T0)
    a, b = await store.submit_tasks([new(n=1), new(n=2)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0)
    await store.cancel_task(b.id, None, T0 + 1)
    before = store.write_operations if isinstance(store, SQLiteStore) else 0
    reply = await store.heartbeat_and_renew(
        Heartbeat("s1", "ready", {"active_tasks": 2}, {"noop": 2}, [a.id, b.id]), T0 + 10
    )
    if isinstance(store, SQLiteStore):  # PostgreSQL: one transaction, by construction
        assert store.write_operations == before + 1
    assert reply is not None and reply.session.worker_id == "w1"
    assert reply.cancel_task_ids == [b.id]
    renewed = await store.get_task(a.id)
    assert renewed is not None and renewed.lease_expires_at == T0 + 10 + TTL
    worker = await store.get_worker("w1")
    assert worker is not None and worker.stats == {"active_tasks": 2}


async def test_heartbeat_after_expiry_does_not_revive_the_lease(store: Store) -> None:
    await register(store, "w1", "s1", T0)
    [task] = await store.submit_tasks([new()], T0)
    claimed = await claim_one(store, "w1", T0)
    await store.requeue_expired(T0 + TTL + 1)
    reply = await store.heartbeat_and_renew(
        Heartbeat("s1", "ready", {}, {}, [task.id]), T0 + TTL + 2
    )
    assert reply is not None and reply.cancel_task_ids == []
    after = await store.get_task(task.id)
    assert after is not None
    assert (after.status, after.attempt, after.lease_expires_at) == (TaskStatus.PENDING, 2, None)
    [late] = await store.report_results([result(claimed, "w1")], T0 + TTL + 3)
    assert late.disposition is Disposition.STALE


# --- lease edge cases -------------------------------------------------------------------------


async def test_result_reported_after_expiry_but_before_the_reaper_is_accepted(
    store: Store,
) -> None:
    [task] = await store.submit_tasks([new()], T0)
    claimed = await claim_one(store, "w1", T0)
    # The lease ran out while the report was in flight; nobody has taken the task back.
    [decision] = await store.report_results([result(claimed, "w1")], T0 + TTL + 5)
    assert decision.disposition is Disposition.ACCEPTED
    assert await store.requeue_expired(T0 + TTL + 6) == []
    [attempt] = await store.task_attempts(task.id)
    assert attempt.outcome is AttemptOutcome.COMPLETED


async def test_result_racing_a_dead_worker_reap_has_one_winner(store: Store) -> None:
    await register(store, "w1", "s1", T0)
    tasks = await store.submit_tasks([new(n=i) for i in range(20)], T0)
    claimed = await store.claim_tasks(Claim("w1", {"noop": 20}, 20), T0)
    reports = [result(t, "w1") for t in claimed]
    lost, decisions = await asyncio.gather(
        store.reap_lost_workers(T0 + 20, T0 + 20),
        store.report_results(reports, T0 + 20),
    )
    accepted = {d.task_id for d in decisions if d.disposition is Disposition.ACCEPTED}
    taken = {t.id for t in lost.tasks}
    assert accepted.isdisjoint(taken) and accepted | taken == {t.id for t in tasks}
    for task in tasks:
        outcomes = [a.outcome for a in await store.task_attempts(task.id)]
        assert outcomes in ([AttemptOutcome.COMPLETED], [AttemptOutcome.LOST])


# --- idempotency ---------------------------------------------------------------------------------


async def test_idempotency_key_returns_the_first_task_within_its_lifetime(store: Store) -> None:
    first, created = await store.submit_idempotent(new(user_id="u1"), "k1", "fp", DAY, T0)
    assert created
    again, created = await store.submit_idempotent(new(user_id="u1"), "k1", "fp", DAY, T0 + 60)
    assert (again.id, created) == (first.id, False)
    with pytest.raises(IdempotencyKeyReused) as err:
        await store.submit_idempotent(new(user_id="u1"), "k1", "other", DAY, T0 + 60)
    assert err.value.task_id == first.id and "k1" in str(err.value)
    # Another user's key, and the admin's own scope, are separate.
    theirs, created = await store.submit_idempotent(new(user_id="u2"), "k1", "fp", DAY, T0)
    admins, admin_created = await store.submit_idempotent(new(), "k1", "fp", DAY, T0)
    assert created and admin_created and len({first.id, theirs.id, admins.id}) == 3
    # After its lifetime the key starts over.
    later, created = await store.submit_idempotent(
        new(user_id="u1"), "k1", "other", DAY, T0 + DAY + 1
    )
    assert created and later.id != first.id
    assert len(await store.list_tasks(None)) == 4


async def test_submit_keyed_is_one_all_or_nothing_transaction(store: Store) -> None:
    """Many keyed submissions at once: each key answers as `submit_idempotent` would
    (a known key replays its task), a key repeated in the batch answers its first
    item's task, and one reused key stores nothing of the batch."""
    [known], _ = await store.submit_keyed([KeyedTask(new(user_id="u1"), "k0", "fp0")], DAY, T0)
    items = [
        KeyedTask(new(user_id="u1", n=1), "k1", "fp1"),
        KeyedTask(new(user_id="u1"), "k0", "fp0"),
        KeyedTask(new(user_id="u1", n=1), "k1", "fp1"),
        KeyedTask(new(user_id="u1", n=2), "k2", "fp2"),
    ]
    outcomes, leased = await store.submit_keyed(items, DAY, T0 + 1)
    assert leased == []
    assert [created for _, created in outcomes] == [True, False, False, True]
    assert outcomes[1][0].id == known[0].id and outcomes[2][0].id == outcomes[0][0].id
    assert [t.payload for t, _ in outcomes] == [{"n": 1}, {"n": 0}, {"n": 1}, {"n": 2}]
    # The same keys one at a time answer the same tasks.
    again, created = await store.submit_idempotent(new(user_id="u1", n=2), "k2", "fp2", DAY, T0)
    assert (again.id, created) == (outcomes[3][0].id, False)
    before = len(await store.list_tasks(None))
    with pytest.raises(IdempotencyKeyReused) as err:
        await store.submit_keyed(
            [KeyedTask(new(user_id="u1"), "k3", "fp3"), KeyedTask(new(user_id="u1"), "k1", "x")],
            DAY,
            T0 + 2,
        )
    assert err.value.task_id == outcomes[0][0].id
    with pytest.raises(IdempotencyKeyReused) as err:
        await store.submit_keyed(
            [KeyedTask(new(user_id="u1"), "k4", "a"), KeyedTask(new(user_id="u1"), "k4", "b")],
            DAY,
            T0 + 2,
        )
    assert err.value.task_id is None
    assert len(await store.list_tasks(None)) == before  # neither batch stored anything
    _, created = await store.submit_idempotent(new(user_id="u1"), "k3", "fp3", DAY, T0 + 3)
    assert created


async def test_submit_keyed_leases_new_tasks_that_fit_the_claim(store: Store) -> None:
    [old], _ = await store.submit_keyed([KeyedTask(new(), "old", "fp")], DAY, T0)
    claim = Claim("w1", {"noop": 2}, 2)
    items = [KeyedTask(new(n=1), "a", "fa"), KeyedTask(new(), "old", "fp")]
    outcomes, leased = await store.submit_keyed(items, DAY, T0 + 1, claim)
    # A PENDING task of the type already waits: nothing jumps it.
    assert leased == [] and outcomes[1][0].id == old[0].id
    await claim_one(store, "w0", T0 + 1)
    await claim_one(store, "w0", T0 + 1)
    outcomes, leased = await store.submit_keyed(
        [KeyedTask(new(n=3), "b", "fb"), KeyedTask(new(n=4), "c", "fc")], DAY, T0 + 2, claim
    )
    assert [t.id for t in leased] == [t.id for t, _ in outcomes]
    for t, created in outcomes:
        assert created and (t.status, t.worker_id, t.attempt) == (TaskStatus.RUNNING, "w1", 1)
        [attempt] = await store.task_attempts(t.id)
        assert attempt.worker_id == "w1"
    assert {t.id for t in await store.running_tasks("w1")} == {t.id for t in leased}


# --- readiness and retention ---------------------------------------------------------


async def test_pending_by_type_counts_waiting_tasks(store: Store) -> None:
    await store.submit_tasks([new("noop"), new("noop"), new("gpu_job"), new("sleep")], T0)
    await claim_one(store, "w1", T0, "sleep")
    assert await store.pending_by_type() == {"gpu_job": 1, "noop": 2}


async def test_prune_finished_deletes_old_finished_tasks_in_batches(store: Store) -> None:
    old = await store.submit_tasks([new(n=i) for i in range(3)], T0)
    for _ in old:
        claimed = await claim_one(store, "w1", T0)
        await store.report_results([result(claimed, "w1")], T0 + 1)
    await store.submit_idempotent(new(), "key", "fp", DAY, T0)  # pending: kept
    [cancelled] = await store.submit_tasks([new()], T0)
    await store.cancel_task(cancelled.id, None, T0 + 2)
    [recent] = await store.submit_tasks([new()], T0 + 100)
    await store.cancel_task(recent.id, None, T0 + 100)

    assert await store.prune_finished(T0 + 50, 2) == 2
    assert await store.prune_finished(T0 + 50, 2) == 2
    assert await store.prune_finished(T0 + 50, 2) == 0
    remaining = {t.id for t in await store.list_tasks(None)}
    assert recent.id in remaining and len(remaining) == 2
    for task in old:
        assert await store.get_task(task.id) is None
        assert await store.task_attempts(task.id) == []
    # The pending task's idempotency key still answers.
    _, created = await store.submit_idempotent(new(), "key", "fp", DAY, T0 + 60)
    assert not created


async def test_lost_in_transit_requeue_is_fenced_by_attempt(store: Store) -> None:
    """A stale stream's clean-up must not take back a newer delivery to the same worker."""
    await register(store, "w1", "s1", T0)
    [task] = await store.submit_tasks([new()], T0)
    first = await claim_one(store, "w1", T0)
    await store.requeue_tasks("w1", [task.id], "lost", T0 + 1)
    second = await claim_one(store, "w1", T0 + 2)
    assert (first.attempt, second.attempt) == (1, 2)
    taken = await store.requeue_tasks("w1", [task.id], "lost", T0 + 3, attempts={task.id: 1})
    assert taken == []
    still = await store.get_task(task.id)
    assert still is not None and (still.status, still.attempt) == (TaskStatus.RUNNING, 2)
    [back] = await store.requeue_tasks("w1", [task.id], "lost", T0 + 4, attempts={task.id: 2})
    assert (back.status, back.attempt) == (TaskStatus.PENDING, 3)
