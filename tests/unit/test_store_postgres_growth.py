"""PostgreSQL's pooled connections are replaced as the queue grows
(`englog.store.postgres.growth`), so that no statement keeps a generic plan made while
`tasks` held a few rows (a full scan of `tasks_pkey` per report at 20,000 tasks)."""

from __future__ import annotations

import time

from englog.domain.tasks import NewTask
from englog.store import PostgresStore
from englog.store.postgres.growth import GrowthReplanner


async def test_renewals_come_each_time_the_writes_reach_the_table_size() -> None:
    expired: list[int] = []

    async def expire() -> None:
        expired.append(1)

    growth = GrowthReplanner(expire, min_rows=4)
    for tasks, renewals in [(3, 0), (1, 1), (3, 1), (1, 2), (7, 2), (1, 3), (15, 3), (1, 4)]:
        await growth.wrote(tasks)
        assert growth.renewals == len(expired) == renewals, tasks


async def _backend(store: PostgresStore) -> int:
    [row] = await store._fetch("SELECT pg_backend_pid() AS pid")
    return int(row["pid"])


async def test_a_grown_queue_is_served_by_new_connections(pg_store: PostgresStore) -> None:
    pg_store.growth = GrowthReplanner(pg_store._live_pool().expire_connections, min_rows=5)
    before = await _backend(pg_store)
    await pg_store.submit_tasks([NewTask("noop", {})] * 4, time.time())
    assert await _backend(pg_store) == before  # short of the threshold: the same connection
    await pg_store.submit_tasks([NewTask("noop", {})], time.time())  # 5 written: renewed
    assert await _backend(pg_store) != before
    assert pg_store.growth.renewals == 1
