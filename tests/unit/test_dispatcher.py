"""Flow-control accounting of the dispatcher, against a real SQLite store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from englog.domain.tasks import NewTask
from englog.server.dispatcher import Dispatcher
from englog.store import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "d.db")
    await s.open()
    yield s
    await s.close()


async def test_a_result_reported_while_the_stream_reopens_frees_its_slot(
    store: SQLiteStore,
) -> None:
    await store.submit_tasks([NewTask(type="noop", payload={})], time.time())
    [task] = await store.claim_tasks("w1", {"noop": 1}, 1, 30.0, time.time())
    d = Dispatcher(store, 30.0, time.time)
    opening = asyncio.create_task(d.open_stream("w1", ["noop"], 2, [task.id]))
    await asyncio.sleep(0)  # the new stream is registered before the store is read
    d.task_finished("w1", [task.id])  # ...and a result for the held task lands now
    stream = await opening
    assert stream.free_slots() == 2


async def test_tasks_the_worker_does_not_hold_are_requeued_on_reopen(store: SQLiteStore) -> None:
    await store.submit_tasks([NewTask(type="noop", payload={"n": i}) for i in range(2)], 0.0)
    held, lost = await store.claim_tasks("w1", {"noop": 2}, 2, 30.0, time.time())
    d = Dispatcher(store, 30.0, time.time)
    stream = await d.open_stream("w1", ["noop"], 2, [held.id])
    assert stream.inflight == {held.id}
    requeued = await store.get_task(lost.id)
    assert requeued is not None and requeued.status == "pending" and requeued.attempt == 2


async def test_busy_streams_are_woken_after_idle_ones(store: SQLiteStore) -> None:
    d = Dispatcher(store, 30.0, time.time)
    busy = await d.open_stream("busy", ["noop"], 2, [])
    idle = await d.open_stream("idle", ["noop"], 2, [])
    busy.inflight.add("t")
    order: list[str] = []
    waiters = [asyncio.create_task(s.wake.wait()) for s in (busy, idle)]
    for s, w in zip((busy, idle), waiters, strict=True):
        w.add_done_callback(lambda _, name=s.worker_id: order.append(name))
    await asyncio.sleep(0)  # both are waiting now
    d.notify()
    await asyncio.gather(*waiters)
    assert order == ["idle", "busy"]


async def test_a_reopened_stream_keeps_the_capacity_the_worker_advertised(
    store: SQLiteStore,
) -> None:
    """A type the worker paused (its LLM is down) stays paused across a reconnect."""
    d = Dispatcher(store, 30.0, time.time)
    stream = await d.open_stream(
        "w1", ["noop", "insight_generation"], 4, [], {"insight_generation": 0, "noop": 4}
    )
    assert stream.claimable() == {"noop": 4}


async def test_an_idle_stream_frees_slots_the_store_no_longer_runs(store: SQLiteStore) -> None:
    """Another replica reaped or accepted them: the slot must not leak."""
    await store.submit_tasks([NewTask(type="noop", payload={})], time.time())
    [task] = await store.claim_tasks("w1", {"noop": 1}, 1, 30.0, time.time())
    d = Dispatcher(store, 30.0, time.time, poll_interval_s=0.01, resync_interval_s=0.05)
    stream = await d.open_stream("w1", ["noop"], 1, [task.id])
    assert stream.free_slots() == 0
    # Taken back behind this dispatcher's back, as another replica's reaper would.
    await store.requeue_tasks("w1", [task.id], "reaped elsewhere", time.time())
    batches = d.assignments(stream)
    batch = await asyncio.wait_for(anext(batches), 5)  # the freed slot claims it again
    assert [t.id for t in batch] == [task.id] and batch[0].attempt == 2
    stream.closed = True
    await batches.aclose()
