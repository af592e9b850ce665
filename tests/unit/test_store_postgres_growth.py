"""PostgreSQL's pooled connections are replaced as the queue grows
(`englog.store.postgres.growth`), so that no statement keeps a generic plan made while
`tasks` held a few rows (a full scan of `tasks_pkey` per report at 20,000 tasks)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from englog.domain.tasks import NewTask
from englog.store import Store, open_store
from englog.store.postgres.growth import GrowthReplanner
from tests.support.pg import truncate_all
from tests.unit.conftest import run_outside_loop


async def test_renewals_come_each_time_the_writes_reach_the_table_size() -> None:
    expired: list[int] = []

    async def expire() -> None:
        expired.append(1)

    growth = GrowthReplanner(expire, min_rows=4)
    for tasks, renewals in [(3, 0), (1, 1), (3, 1), (1, 2), (7, 2), (1, 3), (15, 3), (1, 4)]:
        await growth.wrote(tasks)
        assert growth.renewals == len(expired) == renewals, tasks


@pytest.fixture
async def pg(pg_database: str) -> AsyncIterator[Store]:
    run_outside_loop(truncate_all(pg_database))
    store = open_store(pg_database)
    await store.open()
    yield store
    await store.close()


async def _backend(store: Store) -> int:
    [row] = await store._fetch("SELECT pg_backend_pid() AS pid")  # type: ignore[attr-defined]
    return int(row["pid"])


async def test_a_grown_queue_is_served_by_new_connections(pg: Store) -> None:
    pool = pg._live_pool()  # type: ignore[attr-defined]
    pg.growth = GrowthReplanner(pool.expire_connections, min_rows=5)  # type: ignore[attr-defined]
    before = await _backend(pg)
    await pg.submit_tasks([NewTask("noop", {})] * 4, time.time())
    assert await _backend(pg) == before  # short of the threshold: the same connection
    await pg.submit_tasks([NewTask("noop", {})], time.time())  # 5 written: renewed
    assert await _backend(pg) != before
    assert pg.growth.renewals == 1  # type: ignore[attr-defined]
