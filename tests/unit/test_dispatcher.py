"""Flow-control accounting of the dispatcher, against a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from englog.domain.tasks import NewTask, TaskStatus
from englog.server.dispatcher import Dispatcher, WorkerStream
from englog.store import Claim, SQLiteStore
from tests.support.procs import eventually


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    # Writes through the writer thread, so a test can act while a commit is pending.
    s = SQLiteStore(tmp_path / "d.db", quiet_s=None)
    await s.open()
    yield s
    await s.close()


async def test_a_result_reported_while_the_stream_reopens_frees_its_slot(
    store: SQLiteStore,
) -> None:
    await store.submit_tasks([NewTask(type="noop", payload={})], time.time())
    [task] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    d = Dispatcher(store, time.time)
    opening = asyncio.create_task(d.open_stream("w1", ["noop"], 2, [task.id]))
    await asyncio.sleep(0)  # the new stream is registered before the store is read
    d.task_finished("w1", [task.id])  # ...and a result for the held task lands now
    stream = await opening
    assert stream.free_slots() == 2


async def test_tasks_the_worker_does_not_hold_are_requeued_on_reopen(store: SQLiteStore) -> None:
    await store.submit_tasks([NewTask(type="noop", payload={"n": i}) for i in range(2)], 0.0)
    held, lost = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), time.time())
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 2, [held.id])
    assert stream.inflight == {held.id: "noop"}
    requeued = await store.get_task(lost.id)
    assert requeued is not None and requeued.status == "pending" and requeued.attempt == 2


async def test_busy_streams_are_woken_after_idle_ones(store: SQLiteStore) -> None:
    d = Dispatcher(store, time.time)
    busy = await d.open_stream("busy", ["noop"], 2, [])
    idle = await d.open_stream("idle", ["noop"], 2, [])
    busy.inflight["t"] = "noop"
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
    d = Dispatcher(store, time.time)
    stream = await d.open_stream(
        "w1", ["noop", "insight_generation"], 4, [], {"insight_generation": 0, "noop": 4}
    )
    assert stream.claimable() == {"noop": 4}


async def test_an_idle_stream_frees_slots_the_store_no_longer_runs(store: SQLiteStore) -> None:
    """Another replica reaped or accepted them: the slot must not leak."""
    await store.submit_tasks([NewTask(type="noop", payload={})], time.time())
    [task] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    d = Dispatcher(store, time.time, poll_interval_s=0.01, resync_interval_s=0.05)
    stream = await d.open_stream("w1", ["noop"], 1, [task.id])
    assert stream.free_slots() == 0
    # Taken back behind this dispatcher's back, as another replica's reaper would.
    await store.requeue_tasks("w1", [task.id], "reaped elsewhere", time.time())
    batches = d.assignments(stream)
    batch = await asyncio.wait_for(anext(batches), 5)  # the freed slot claims it again
    assert [t.id for t in batch] == [task.id] and batch[0].attempt == 2
    stream.closed = True
    await batches.aclose()


def _idle(stream: WorkerStream) -> bool:
    """The stream's claim loop has run and waits."""
    return not (stream.hinted or stream.claiming)


async def test_a_submission_with_a_free_slot_is_leased_in_its_own_commit(
    store: SQLiteStore,
) -> None:
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 2, [])
    batches = d.assignments(stream)
    pulling = asyncio.create_task(anext(batches))
    await eventually(lambda: _idle(stream), within=5, interval=0.001)  # found nothing
    commits = store.commits
    [task] = await d.submit([NewTask(type="noop", payload={})], time.time())
    assert store.commits == commits + 1  # insert and lease: one transaction
    assert (task.status, task.worker_id) == (TaskStatus.RUNNING, "w1")
    assert set(stream.inflight) == {task.id} and stream.free_slots() == 1
    [pushed] = await asyncio.wait_for(pulling, 5)
    assert pushed.id == task.id
    assert store.commits == commits + 1  # pushed without a claim of its own
    await batches.aclose()


async def test_without_a_free_slot_a_submission_waits_in_the_queue(store: SQLiteStore) -> None:
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 1, [])
    stream.inflight["busy"] = "noop"
    [task] = await d.submit([NewTask(type="noop", payload={})], time.time())
    assert task.status == TaskStatus.PENDING
    assert stream.wake.is_set()  # notified, as before


async def test_a_stream_that_is_claiming_is_not_leased_to(store: SQLiteStore) -> None:
    """Its claim may be filling the very slots a submission would take."""
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 1, [])
    stream.claiming = True
    [task] = await d.submit([NewTask(type="noop", payload={})], time.time())
    assert task.status == TaskStatus.PENDING and not stream.inflight


async def test_a_submission_does_not_jump_an_older_task(store: SQLiteStore) -> None:
    [older] = await store.submit_tasks([NewTask(type="noop", payload={}, priority=2)], 0.0)
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 1, [])
    [fresh] = await d.submit([NewTask(type="noop", payload={})], time.time())
    assert fresh.status == TaskStatus.PENDING
    assert set(stream.inflight) == {older.id}
    assert [t.id for t in stream.ready] == [older.id]


async def test_a_lease_for_a_stream_closed_meanwhile_is_taken_back(store: SQLiteStore) -> None:
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 1, [])
    submitting = asyncio.create_task(d.submit([NewTask(type="noop", payload={})], time.time()))
    await asyncio.sleep(0)  # one step: the submission now waits for its commit
    assert stream.reserved == 1
    d.close_stream(stream)
    await submitting
    [task] = await store.list_tasks(None)
    assert (task.status, task.attempt, task.reassignments) == (TaskStatus.PENDING, 2, 1)


async def test_leases_pushed_but_never_sent_go_back_when_the_stream_ends(
    store: SQLiteStore,
) -> None:
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 2, [])
    await d.submit([NewTask(type="noop", payload={})], time.time())
    assert len(stream.ready) == 1
    d.close_stream(stream)
    await d.release(stream)
    [task] = await store.list_tasks(None)
    assert (task.status, task.attempt) == (TaskStatus.PENDING, 2)


async def test_a_freed_slot_claims_again_only_when_the_queue_may_hold_work(
    store: SQLiteStore,
) -> None:
    """After a claim that found the queue empty, a finished task is no reason to write."""
    d = Dispatcher(store, time.time)
    stream = await d.open_stream("w1", ["noop"], 2, [])
    batches = d.assignments(stream)
    pulling = asyncio.create_task(anext(batches))
    await eventually(lambda: _idle(stream), within=5, interval=0.001)
    assert stream.starved
    stream.inflight["t1"] = "noop"
    d.task_finished("w1", ["t1"])
    assert not stream.hinted
    d.notify()  # new work may be there
    assert stream.hinted and not stream.starved
    pulling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pulling


async def test_idle_workers_take_turns_at_submissions(store: SQLiteStore) -> None:
    d = Dispatcher(store, time.time)
    streams = [await d.open_stream(f"w{i}", ["noop"], 4, []) for i in range(2)]
    for _ in range(4):
        [task] = await d.submit([NewTask(type="noop", payload={})], time.time())
        for s in streams:  # each finishes at once: both stay equally idle
            if task.id in s.inflight:
                d.task_finished(s.worker_id, [task.id])
                s.ready.clear()
    leased = [t.worker_id for t in await store.list_tasks(None)]
    assert sorted(leased) == ["w0", "w0", "w1", "w1"]
