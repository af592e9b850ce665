"""PostgreSQL's plans for the claim and the report, as asyncpg runs them: prepared, so
after five runs generic (no parameter values, statistics possibly older than the
backlog). Both must reach their rows by key whatever the backlog: a plan that reads a
whole index per statement made a 20,000-task drain run at half speed (issue 26)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from englog.domain.tasks import NewTask, ReportedResult, ResultOutcome
from englog.store import Claim, Store, open_store
from englog.store.postgres.attempts import complete_args
from englog.store.postgres.tasks import _CLAIM_CHOSEN
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
    sql, args = complete_args(results, now + 1, frozenset())
    plan = await _generic_plan(conn, sql, *args)
    assert "tasks_worker" not in plan, plan
