"""The worker's connection watcher stops when cancelled, even when the cancellation
comes while it is cleaning up its own wait (a hung worker shutdown, seen under load)."""

from __future__ import annotations

import asyncio

import pytest

from englog.resilience.backoff import BackoffPolicy
from englog.worker.connection import ConnectionManager, Connectivity
from englog.worker.settings import WorkerSettings


class SlowToCancelChannel:
    """A channel that cannot connect (TRANSIENT_FAILURE, so the watcher wakes on its
    backoff) and whose state-change wait takes a while to finish once cancelled, as
    grpc's does: the watcher's clean-up is then in progress for that long."""

    def __init__(self) -> None:
        self.cleaning_up = asyncio.Event()

    def get_state(self, try_to_connect: bool = False) -> Connectivity:
        return Connectivity.TRANSIENT_FAILURE

    async def wait_for_state_change(self, state: Connectivity) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cleaning_up.set()
            await asyncio.sleep(0.2)
            raise


@pytest.mark.timeout(20)
async def test_a_cancellation_during_the_watchers_clean_up_stops_it() -> None:
    settings = WorkerSettings(connect_backoff=BackoffPolicy(initial_s=0.01, max_s=0.02))
    manager = ConnectionManager(settings)
    channel = SlowToCancelChannel()
    manager._channel = channel  # type: ignore[assignment]
    watch = asyncio.create_task(manager._watch())
    # The backoff ran out: the watcher is cancelling its state-change wait.
    await asyncio.wait_for(channel.cleaning_up.wait(), 5)
    watch.cancel()
    done, _ = await asyncio.wait({watch}, timeout=5)
    assert done, "the watcher went on watching after it was cancelled"
    assert watch.cancelled()
