"""PostgreSQL submission in one statement (`_SUBMIT_AND_CLAIM`): the tasks a plain
submission inserts PENDING are announced to every replica, those leased at once are
not, and a task already waiting keeps new ones from being leased ahead of it."""

from __future__ import annotations

import asyncpg
import pytest

from englog.domain.tasks import NewTask, TaskStatus
from englog.store import Claim, open_store
from englog.store.postgres.listener import CHANNEL
from tests.support.pg import truncate_all
from tests.support.procs import eventually
from tests.unit.conftest import run_outside_loop

T0 = 1_700_000_000.0


@pytest.fixture
def pg_url(pg_database: str) -> str:
    run_outside_loop(truncate_all(pg_database))
    return pg_database


async def test_one_statement_inserts_leases_and_announces(pg_url: str) -> None:
    store = open_store(pg_url)
    await store.open()
    heard: list[str] = []
    listener = await asyncpg.connect(pg_url)
    await listener.add_listener(CHANNEL, lambda *args: heard.append(args[2]))
    try:
        leased_batch = [NewTask(type="noop", payload={"i": i}) for i in range(2)]
        stored, leased = await store.submit_and_claim(leased_batch, T0, Claim("w1", {"noop": 2}, 2))
        assert [t.id for t in leased] == [t.id for t in stored]
        assert all(t.status is TaskStatus.RUNNING and t.worker_id == "w1" for t in stored)
        assert [a.worker_id for a in await store.task_attempts(stored[0].id)] == ["w1"]
        [pending] = await store.submit_tasks([NewTask(type="noop", payload={})], T0)
        assert pending.status is TaskStatus.PENDING and pending.worker_id is None
        await eventually(lambda: heard, within=5, what="a notification")
        assert len(heard) == 1  # the leased tasks were not announced
        # A PENDING task of the type waits: the next ones are not leased ahead of it.
        later, leased = await store.submit_and_claim(
            [NewTask(type="noop", payload={})], T0 + 1, Claim("w1", {"noop": 1}, 1)
        )
        assert leased == [] and later[0].status is TaskStatus.PENDING
        assert await store.task_attempts(later[0].id) == []
    finally:
        await listener.close()
        await store.close()
