"""A worker's report and the claim for the slots it frees, in one commit
(`Store.report_and_claim`, `Dispatcher.report`), on both stores: the claim takes what a
claim after the report would take (the free slots plus one per accepted result the
stream held, the best tasks first, users taking turns under a cap), and the stream's
slots add up afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    Disposition,
    NewTask,
    ReportedResult,
    ResultDecision,
    ResultOutcome,
    Task,
    TaskStatus,
)
from englog.server.dispatcher import Dispatcher
from englog.store import Store, open_store
from englog.store.records import Claim, ClaimWithReport
from tests.support.pg import truncate_all
from tests.unit.conftest import run_outside_loop

T0 = 1_000_000.0


@pytest.fixture(params=[0, 2], ids=["uncapped", "capped"])
async def store(request: pytest.FixtureRequest, store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url, policy=QueuePolicy(max_running_per_user=request.param))
    await s.open()
    yield s
    await s.close()


def _done(task: Task, worker: str = "w1", attempt: int | None = None) -> ReportedResult:
    attempt = task.attempt if attempt is None else attempt
    return ReportedResult(task.id, attempt, worker, ResultOutcome.COMPLETED, {"ok": True})


async def _queue(store: Store, n: int, type_: str = "noop", at: float = T0) -> list[Task]:
    tasks = [NewTask(type=type_, payload={"n": i}) for i in range(n)]
    return await store.submit_tasks(tasks, at)


async def test_a_report_leases_the_free_slots_and_those_it_frees(store: Store) -> None:
    queued = await _queue(store, 6)
    running = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0 + 1)
    claim = ClaimWithReport(Claim("w1", {"noop": 3}, 1), frozenset(t.id for t in running))
    decisions, leased = await store.report_and_claim([_done(t) for t in running], T0 + 2, claim)
    assert [d.disposition for d in decisions] == [Disposition.ACCEPTED] * 2
    assert [t.id for t in leased] == [t.id for t in queued[2:5]]  # the oldest first
    for task in leased:
        assert (task.status, task.worker_id) == (TaskStatus.RUNNING, "w1")
        [attempt] = await store.task_attempts(task.id)
        assert (attempt.worker_id, attempt.started_at) == ("w1", T0 + 2)
    for task in running:
        stored = await store.get_task(task.id)
        assert stored is not None and stored.status == TaskStatus.COMPLETED
        assert stored.result == {"ok": True}
    assert await store.pending_count(now=T0 + 3) == 1


async def test_only_accepted_results_the_stream_held_free_a_slot(store: Store) -> None:
    await _queue(store, 5)
    first, second = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0 + 1)
    stale = _done(second, attempt=second.attempt + 1)  # not this task's attempt
    claim = ClaimWithReport(Claim("w1", {"noop": 4}, 0), frozenset({first.id, second.id}))
    decisions, leased = await store.report_and_claim([_done(first), stale], T0 + 2, claim)
    assert [d.disposition for d in decisions] == [Disposition.ACCEPTED, Disposition.STALE]
    assert len(leased) == 1
    # A result the stream did not hold (leased before a restart) frees nothing here.
    [third] = leased
    claim = ClaimWithReport(Claim("w1", {"noop": 4}, 0), frozenset())
    decisions, leased = await store.report_and_claim([_done(third)], T0 + 3, claim)
    assert decisions[0].disposition is Disposition.ACCEPTED and leased == []


async def test_each_type_gets_no_more_than_its_capacity(store: Store) -> None:
    for i in range(3):
        await _queue(store, 1, "x", T0 + 2 * i)
        await _queue(store, 1, "y", T0 + 2 * i + 1)
    [x0] = await store.claim_tasks(Claim("w1", {"x": 1}, 1), T0 + 10)
    claim = ClaimWithReport(Claim("w1", {"x": 1, "y": 3}, 3), frozenset({x0.id}))
    _, leased = await store.report_and_claim([_done(x0)], T0 + 11, claim)
    # In age order, skipping the x past its capacity: y1, x2, y3, (x4), y5.
    assert [t.created_at - T0 for t in leased] == [1, 2, 3, 5]


async def test_a_retry_the_report_queues_is_not_claimed_by_it(store: Store) -> None:
    [task] = await _queue(store, 1)
    [running] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 1)
    failed = ReportedResult(task.id, running.attempt, "w1", ResultOutcome.FAILED, error="boom")
    claim = ClaimWithReport(Claim("w1", {"noop": 1}, 0), frozenset({task.id}))
    decisions, leased = await store.report_and_claim([failed], T0 + 2, claim)
    assert decisions[0].status is TaskStatus.PENDING and leased == []


async def test_under_a_cap_users_take_turns_after_a_report(store_url: str) -> None:
    store = open_store(store_url, policy=QueuePolicy(max_running_per_user=2))
    await store.open()
    try:
        a = (await store.create_user("a", "ha", T0)).id
        b = (await store.create_user("b", "hb", T0)).id
        await store.submit_tasks([NewTask("noop", {}, user_id=a) for _ in range(4)], T0)
        [late] = await store.submit_tasks([NewTask("noop", {}, user_id=b)], T0 + 1)
        [first] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 2)
        claim = ClaimWithReport(Claim("w1", {"noop": 2}, 1), frozenset({first.id}))
        _, leased = await store.report_and_claim([_done(first)], T0 + 3, claim)
        assert sorted(str(t.user_id) for t in leased) == sorted([a, b])
        assert late.id in {t.id for t in leased}
    finally:
        await store.close()


async def test_a_busy_streams_report_pushes_its_next_tasks(store: Store) -> None:
    queued = await _queue(store, 5, at=time.time() - 10)
    d = Dispatcher(store, time.time)
    held = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), time.time())
    stream = await d.open_stream("w1", ["noop"], 2, [t.id for t in held])
    stream.starved = False
    decisions, finished = await d.report("w1", [_done(t) for t in held], time.time(), set())
    assert _accepted(decisions) == [t.id for t in held]
    assert finished == {t.id: "noop" for t in held}
    assert [t.id for t in stream.ready] == [t.id for t in queued[2:4]]
    assert set(stream.inflight) == {t.id for t in queued[2:4]}
    assert stream.free_slots() == 0 and stream.reserved == 0
    # The next report frees two, and one task is left to take.
    decisions, _ = await d.report("w1", [_done(t) for t in stream.ready], time.time(), set())
    assert set(stream.inflight) == {queued[4].id} and stream.starved


async def test_a_report_somebody_waits_on_leaves_the_claim_to_the_stream(store: Store) -> None:
    await _queue(store, 3, at=time.time() - 10)
    d = Dispatcher(store, time.time)
    [held] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    stream = await d.open_stream("w1", ["noop"], 1, [held.id])
    stream.starved, stream.hinted = False, False
    await d.report("w1", [_done(held)], time.time(), {held.id})
    assert stream.ready == [] and stream.inflight == {}
    assert stream.hinted  # its claim loop claims next, after the waiters are answered


async def test_a_stream_poked_during_its_report_is_not_left_starved(store: Store) -> None:
    """New tasks announced while the report's claim was being made: the claim's
    snapshot may not hold them, and the stream's own claim loop found no free slot
    then, so the hint must survive the report."""
    d = Dispatcher(store, time.time)
    await _queue(store, 1, at=time.time() - 10)
    [held] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    stream = await d.open_stream("w1", ["noop"], 2, [held.id])
    stream.starved = False
    gate, report_and_claim = asyncio.Event(), store.report_and_claim

    async def held_at_the_gate(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await report_and_claim(*args, **kwargs)

    store.report_and_claim = held_at_the_gate  # type: ignore[method-assign]
    reporting = asyncio.create_task(d.report("w1", [_done(held)], time.time(), set()))
    await asyncio.sleep(0)  # the report is under way, its slots reserved
    assert stream.free_slots() == 0
    stream.hinted = False
    d.notify()
    gate.set()
    await reporting
    assert not stream.starved and stream.hinted and stream.free_slots() == 2


def _accepted(decisions: Sequence[ResultDecision]) -> list[str]:
    return [d.task_id for d in decisions if d.disposition is Disposition.ACCEPTED]


async def test_postgres_goes_straight_to_the_fair_pick_while_users_tasks_wait(
    pg_database: str,
) -> None:
    """The one-statement claim is for tasks of no user; once a claim found users' tasks
    among its candidates, the next claims and reports skip it (it would only lock its
    window and let go) and still pick fairly."""
    from englog.store.postgres.tasks import _CLAIM_CAPPED

    run_outside_loop(truncate_all(pg_database))
    store = open_store(pg_database, policy=QueuePolicy(max_running_per_user=2))
    await store.open()
    try:
        sent: list[str] = []
        fetch = store._fetch  # type: ignore[attr-defined]

        async def recording(sql: str, *args: Any, **kwargs: Any) -> Any:
            sent.append(sql)
            return await fetch(sql, *args, **kwargs)

        store._fetch = recording  # type: ignore[attr-defined]
        await _queue(store, 2)  # the admin's: one statement, and nothing learnt
        assert len(await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 1)) == 1
        assert sent.count(_CLAIM_CAPPED) == 1 and not store.users_seen()  # type: ignore[attr-defined]
        a = (await store.create_user("a", "ha", T0)).id
        b = (await store.create_user("b", "hb", T0)).id
        await store.submit_tasks([NewTask("noop", {}, user_id=a) for _ in range(3)], T0 + 2)
        await store.submit_tasks([NewTask("noop", {}, user_id=b)], T0 + 3)
        first = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 4)
        assert store.users_seen()  # type: ignore[attr-defined]
        sent.clear()
        claim = ClaimWithReport(Claim("w1", {"noop": 3}, 2), frozenset(t.id for t in first))
        _, leased = await store.report_and_claim([_done(t) for t in first], T0 + 5, claim)
        assert _CLAIM_CAPPED not in sent and all("cand AS" not in sql for sql in sent)
        assert sorted(str(t.user_id) for t in leased) == sorted([a, a, b])
    finally:
        await store.close()
