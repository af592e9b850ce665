"""In-process wake-ups for `GET /v1/tasks/{id}?wait_s=S` (long polling).

A waiting request registers interest in a task id *before* it reads the task, so a
result committed between the read and the wait still wakes it. Whoever commits a
terminal state in this process (results reported over gRPC, cancellations, the lease
reaper) calls `finished` afterwards. Another replica's commits never reach these
events: the waiter then re-reads the store when its wait ends, so the answer is always
the store's, only later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class TaskWatch:
    """task id -> the events of the requests waiting for it to finish."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @property
    def waiting(self) -> int:
        """Requests waiting right now (for tests and metrics)."""
        return sum(len(events) for events in self._waiting.values())

    @contextmanager
    def watch(self, task_id: str) -> Iterator[asyncio.Event]:
        """An event set when `finished` names the task; unregistered on exit."""
        event = asyncio.Event()
        self._waiting.setdefault(task_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(task_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[task_id]

    def finished(self, task_ids: Iterable[str]) -> int:
        """Wake every request waiting for one of these tasks (called after commit);
        returns how many were woken."""
        if not self._waiting:
            return 0
        woken = 0
        for task_id in task_ids:
            for event in self._waiting.get(task_id, ()):
                event.set()
                woken += 1
        return woken
