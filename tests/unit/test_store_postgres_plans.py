"""PostgreSQL's plans for the claim and the report, as asyncpg runs them: prepared, so
after five runs generic (no parameter values, statistics possibly older than the
backlog). Both must reach their rows by key whatever the backlog: a plan that reads a
whole index per statement made a 20,000-task drain run at half speed (issue 26)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from englog.domain.tasks import Disposition, NewTask, ReportedResult, ResultOutcome, TaskStatus
from englog.ids import ordered_id
from englog.store import Claim, Store, open_store
from englog.store.postgres import PostgresStore
from englog.store.postgres.attempts import complete_args
from englog.store.postgres.pending import ANY_CLAIMABLE
from englog.store.postgres.reports import (
    _COMPLETE_QUIET_AND_CLAIM,
    _COMPLETE_QUIET_AND_CLAIM_CAPPED,
    complete_and_claim_args,
)
from englog.store.postgres.tasks import _CLAIM_CHOSEN, submit_and_claim_args
from englog.store.records import ClaimWithReport, Lease
from tests.support.pg import truncate_all
from tests.unit.conftest import run_outside_loop

BACKLOG = 20_000
NOOP = NewTask(type="noop", payload={})


@pytest.fixture
async def pg(pg_database: str) -> AsyncIterator[tuple[Store, asyncpg.Connection]]:
    """The store and a connection of its own, statistics taken with one task queued."""
    run_outside_loop(truncate_all(pg_database))
    store = open_store(pg_database)
    await store.open()
    conn = await asyncpg.connect(pg_database)
    try:
        await store.submit_tasks([NOOP], time.time())
        await conn.execute("ANALYZE tasks")
        yield store, conn
    finally:
        await conn.close()
        await store.close()


async def _generic_plan(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    """EXPLAIN ANALYZE of `sql` under its generic plan; its writes are rolled back."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    finally:
        await tx.rollback()
    return "\n".join(row[0] for row in rows)


async def test_leasing_chosen_tasks_reads_them_by_key_not_the_pending_index(
    pg: tuple[Store, asyncpg.Connection],
) -> None:
    store, conn = pg
    now = time.time()
    for _ in range(BACKLOG // 1000):
        await store.submit_tasks([NOOP] * 1000, now)
    seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM tasks ORDER BY seq LIMIT 4")]
    plan = await _generic_plan(conn, _CLAIM_CHOSEN, seqs, "w1", now + 30, now)
    assert "tasks_claim_type" not in plan, plan


async def test_a_report_finds_its_tasks_by_id_not_by_the_workers_running_tasks(
    pg: tuple[Store, asyncpg.Connection],
) -> None:
    """A worker holding thousands of tasks (a high --concurrency) reports 30."""
    store, conn = pg
    now = time.time()
    for _ in range(BACKLOG // 1000):
        await store.submit_tasks([NOOP] * 1000, now)
        assert len(await store.claim_tasks(Claim("w1", {"noop": 1000}, 1000), now)) == 1000
    rows = await conn.fetch("SELECT id FROM tasks WHERE status = 'running' LIMIT 30")
    results = [ReportedResult(r["id"], 1, "w1", ResultOutcome.COMPLETED, {"ok": 1}) for r in rows]
    for watched in (frozenset(), frozenset([results[0].task_id])):  # quiet, then not
        sql, args = complete_args(results, now + 1, watched)
        plan = await _generic_plan(conn, sql, *args)
        assert "tasks_worker" not in plan, plan


async def test_a_report_nobody_waits_on_decides_as_one_somebody_waits_on(
    pg: tuple[Store, asyncpg.Connection],
) -> None:
    """Without a waiting request the report's statement returns ids and attempts only
    (`_COMPLETE_QUIET`): the decisions and what is stored are the same, less the final
    task and history no request asked for."""
    store, _ = pg
    now = time.time()
    await store.submit_tasks([NOOP] * 7, now)  # with the fixture's one: 8
    leased = await store.claim_tasks(Claim("w1", {"noop": 8}, 8), now)
    results = [
        ReportedResult(t.id, t.attempt, "w1", ResultOutcome.COMPLETED, {"n": i})
        for i, t in enumerate(leased)
    ]
    quiet = await store.report_results(results[:4], now + 1)
    shown = await store.report_results(results[4:], now + 1, watched=[results[4].task_id])
    assert [(d.task_id, d.attempt, d.disposition, d.status, d.final) for d in quiet] == [
        (r.task_id, r.attempt, Disposition.ACCEPTED, TaskStatus.COMPLETED, None)
        for r in results[:4]
    ]
    assert [(d.task_id, d.attempt, d.disposition, d.status) for d in shown] == [
        (r.task_id, r.attempt, Disposition.ACCEPTED, TaskStatus.COMPLETED) for r in results[4:]
    ]
    assert shown[0].final is not None and shown[0].final[0].result == {"n": 4}
    assert [d.final for d in shown[1:]] == [None] * 3
    for r in results:
        task = await store.get_task(r.task_id)
        assert task is not None and task.status is TaskStatus.COMPLETED
        assert task.result == r.result and task.progress == 100
    # A second copy of a quiet one is a duplicate, judged by the locking path.
    [again] = await store.report_results(results[:1], now + 2)
    assert again.disposition is Disposition.DUPLICATE


async def test_a_report_and_its_claim_reach_their_rows_by_key(
    pg: tuple[Store, asyncpg.Connection],
) -> None:
    """The statement that reports and claims (`reports._COMPLETE_QUIET_AND_CLAIM`, with
    and without a per-user cap) under a 20,000-task backlog: the reported tasks by id,
    the claim's candidates from the head of the pending index, no table scan."""
    store, conn = pg
    now = time.time()
    for _ in range(BACKLOG // 1000):
        await store.submit_tasks([NOOP] * 1000, now)
    leased = await store.claim_tasks(Claim("w1", {"noop": 30}, 30), now)
    results = [ReportedResult(t.id, 1, "w1", ResultOutcome.COMPLETED, {"ok": 1}) for t in leased]
    claim = ClaimWithReport(Claim("w1", {"noop": 32}, 2), frozenset(t.id for t in leased))
    args = complete_and_claim_args(results, now + 1, claim, 30.0)
    for sql in (_COMPLETE_QUIET_AND_CLAIM, _COMPLETE_QUIET_AND_CLAIM_CAPPED):
        plan = await _generic_plan(conn, sql, *args)
        assert "tasks_worker" not in plan, plan
        assert "Seq Scan on tasks" not in plan, plan


async def test_the_pending_check_reads_the_index_whatever_the_statistics_say(
    pg: tuple[Store, asyncpg.Connection],
) -> None:
    """Statistics taken while a batch waited (as autovacuum's ANALYZE takes them during
    a burst) say pending rows are everywhere, so a scan of the table would find one at
    once; once nothing is pending, such a plan reads every row (9 ms a submission at
    20,000 tasks). The check walks the pending index in its order instead."""
    store, conn = pg
    now = time.time()
    for _ in range(BACKLOG // 1000):
        await store.submit_tasks([NOOP] * 1000, now)
    await conn.execute("ANALYZE tasks")  # a burst waiting: pending rows everywhere
    while await store.claim_tasks(Claim("w1", {"noop": 1000}, 1000), now):
        pass  # and then none
    plan = await _generic_plan(conn, ANY_CLAIMABLE, ["noop"], now)
    assert "Seq Scan on tasks" not in plan, plan
    sql, args = submit_and_claim_args([NOOP], [ordered_id()], now, Lease("w1", now + 30))
    plan = await _generic_plan(conn, sql, *args)
    assert "Seq Scan on tasks" not in plan, plan


async def _plans_of(store: PostgresStore, sql: str) -> tuple[str, int, int]:
    """The pooled connection's plan_cache_mode, and its generic and custom plans of `sql`."""
    async with store._live_pool().acquire() as conn:
        mode = await conn.fetchval("SHOW plan_cache_mode")
        row = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            sql,
        )
    return mode, row["generic_plans"] if row else 0, row["custom_plans"] if row else 0


@pytest.mark.parametrize("query", ["", "?plan_cache_mode=auto"])
async def test_a_watched_report_is_planned_once_unless_the_url_says_otherwise(
    pg_database: str, query: str
) -> None:
    """A plan for the arrays at hand always looks cheaper than a generic one, so under
    PostgreSQL's `auto` the watched completion was planned anew at every report
    (0.4-1.1 ms at 20,000 tasks). The store asks for generic plans; an operator's URL
    that sets plan_cache_mode keeps its own choice."""
    run_outside_loop(truncate_all(pg_database))
    store = PostgresStore(pg_database + query, pool_size=1)  # every statement on one connection
    await store.open()
    try:
        now = time.time()
        await store.submit_tasks([NOOP] * 8, now)
        leased = await store.claim_tasks(Claim("w1", {"noop": 8}, 8), now)
        for task in leased:
            result = ReportedResult(task.id, 1, "w1", ResultOutcome.COMPLETED, {"ok": 1})
            [decided] = await store.report_results([result], now + 1, watched=[task.id])
            assert decided.disposition is Disposition.ACCEPTED and decided.final is not None
        sql, _ = complete_args([result], now, [task.id])
        mode, generic, custom = await _plans_of(store, sql)
    finally:
        await store.close()
    if query:  # PostgreSQL's way: the first five runs planned each, then it chooses
        assert (mode, generic + custom, custom >= 5) == ("auto", 8, True)
    else:
        assert (mode, generic, custom) == ("force_generic_plan", 8, 0)
