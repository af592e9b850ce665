"""A result report whose caller is cancelled mid-commit (a worker's connection cut by
the network) is still accounted for: the commit happens anyway, so the counters, the
waiters and the worker's slot must follow it (englog.server.queue.TaskQueue.report)."""

from __future__ import annotations

import asyncio

import pytest

from englog.domain.tasks import NewTask, ReportedResult, ResultOutcome
from englog.domain.tokens import hash_token
from englog.server.state import ServerSettings, ServerState
from englog.store.base import WorkerInfo
from englog.store.sqlite import SQLiteStore

pytestmark = pytest.mark.timeout(60)


def accepted_completed(state: ServerState) -> float:
    value = state.metrics.registry.get_sample_value(
        "englog_task_results_total",
        {"disposition": "accepted", "outcome": "completed", "type": "noop"},
    )
    return value or 0.0


async def test_a_report_cancelled_mid_commit_is_still_accounted_for(store: SQLiteStore) -> None:
    state = ServerState(store=store, settings=ServerSettings(admin_token="adm"))
    queue = state.queue
    info = WorkerInfo(id="w1", name="w1", capabilities=("noop",), max_concurrency=1)
    await store.register_worker(info, hash_token("session"), state.clock())
    stream = await queue.dispatcher.open_stream("w1", ["noop"], 1, [])
    [submitted] = await queue.submit([NewTask(type="noop", payload={})])
    assert set(stream.inflight) == {submitted.id}  # leased at submission

    result = ReportedResult(submitted.id, 1, "w1", ResultOutcome.COMPLETED, result={"ok": 1})
    with state.watch.watch(submitted.id) as waiter:  # a long poll on the task
        caller = asyncio.ensure_future(queue.report("w1", [result]))
        await asyncio.sleep(0)  # the report is under way: its write is with the writer
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        async with asyncio.timeout(10):
            await waiter.wait()  # answered all the same
    stored = await store.get_task(submitted.id)
    assert stored is not None and stored.status == "completed"
    assert accepted_completed(state) == 1.0
    assert stream.inflight == {}  # the slot is free again
