"""PostgreSQL's attempt records and idempotency keys name their task without a foreign
key (migration 10: the check cost every insert a query and a row lock), so the two
deletions of tasks remove them themselves: pruning and deleting an account leave no
record or key behind, and touch no other task's."""

from __future__ import annotations

import asyncpg

from englog.domain.tasks import NewTask, ReportedResult, ResultOutcome
from englog.store import Claim
from englog.store.postgres import PostgresStore
from englog.store.records import KeyedTask

T0 = 1_700_000_000.0
DAY = 86_400.0


async def _finish(
    store: PostgresStore, user_id: str | None, keys: list[str], now: float
) -> set[str]:
    """Keyed tasks of `user_id`, claimed and completed: each has a key and an attempt."""
    items = [
        KeyedTask(NewTask(type="noop", payload={"k": k}, user_id=user_id), k, "fp") for k in keys
    ]
    stored, _ = await store.submit_keyed(items, DAY, now)
    leased = await store.claim_tasks(Claim("w1", {"noop": len(keys)}, len(keys)), now)
    results = [ReportedResult(t.id, t.attempt, "w1", ResultOutcome.COMPLETED, {}) for t in leased]
    await store.report_results(results, now + 1)
    return {task.id for task, _ in stored}


async def _left(url: str) -> tuple[dict[str, int], dict[str, int], int]:
    """Attempt records and keys per task id, and how many name a task that is gone."""
    conn = await asyncpg.connect(url)
    try:
        attempts = dict(await conn.fetch("SELECT task_id, count(*) FROM task_attempts GROUP BY 1"))
        keys = dict(await conn.fetch("SELECT task_id, count(*) FROM idempotency_keys GROUP BY 1"))
        orphans = await conn.fetchval(
            "SELECT (SELECT count(*) FROM task_attempts a WHERE NOT EXISTS"
            " (SELECT 1 FROM tasks t WHERE t.id = a.task_id))"
            " + (SELECT count(*) FROM idempotency_keys k WHERE NOT EXISTS"
            " (SELECT 1 FROM tasks t WHERE t.id = k.task_id))"
        )
    finally:
        await conn.close()
    return attempts, keys, orphans


async def test_pruning_takes_the_tasks_records_and_keys_along(pg_store: PostgresStore) -> None:
    old = await _finish(pg_store, None, ["a", "b", "c"], T0)
    recent = await _finish(pg_store, None, ["d"], T0 + 100)
    assert await pg_store.prune_finished(T0 + 50, 2) == 2
    assert await pg_store.prune_finished(T0 + 50, 2) == 1
    attempts, keys, orphans = await _left(pg_store.url)
    assert (set(attempts), set(keys), orphans) == (recent, recent, 0)
    assert old.isdisjoint(attempts)
    # The pruned task's key is free again: the same key makes a new task.
    [(again, created)], _ = await pg_store.submit_keyed(
        [KeyedTask(NewTask(type="noop", payload={"k": "a"}), "a", "fp")], DAY, T0 + 60
    )
    assert created and again.id not in old


async def test_deleting_an_account_takes_its_tasks_records_and_keys(
    pg_store: PostgresStore,
) -> None:
    ada = await pg_store.create_user("ada", "h-ada", T0)
    bob = await pg_store.create_user("bob", "h-bob", T0)
    await _finish(pg_store, ada.id, ["a", "b"], T0)
    bobs = await _finish(pg_store, bob.id, ["a", "b"], T0)  # the same keys, bob's scope
    assert await pg_store.delete_user(ada.id)
    attempts, keys, orphans = await _left(pg_store.url)
    assert (set(attempts), set(keys), orphans) == (bobs, bobs, 0)
