"""In-process wake-ups for requests waiting on a task: `GET /v1/tasks/{id}?wait_s=S`
(long polling), submissions with `Prefer: wait=N` and `POST /v1/tasks/wait` (any of
many tasks: one `ManyWaiter` registered under each id).

A waiting request registers interest in a task id *before* it reads the task (or, for
its own submission, before the task can reach a worker), so a result committed between
the read and the wait still wakes it. Whoever commits a terminal state in this process
(results reported over gRPC, cancellations, the lease reaper) calls `finished`
afterwards, handing over the task as committed when it has it (then the waiter needs
no read). Another replica's commits never reach these events: the waiter then re-reads
the store when its wait ends, so the answer is always what the store committed, only
later. When the server shuts down, `close` wakes every waiter to answer with what it
has, so no request holds the shutdown up for its whole wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager

from englog.domain.tasks import Task, TaskAttempt

Final = tuple[Task, tuple[TaskAttempt, ...]]


class Waiter(asyncio.Event):
    """Set when the task finished; `final` is the task as that commit left it, when
    the committer had it at hand (then the waiter needs no read)."""

    def __init__(self) -> None:
        super().__init__()
        self.final: Final | None = None

    def hand_over(self, task_id: str, final: Final | None) -> None:
        self.final = final
        self.set()

    def take(self) -> Final | None:
        """Clear the event and hand over `final` (once)."""
        self.clear()
        final, self.final = self.final, None
        return final


class ManyWaiter(asyncio.Event):
    """Set when any of its tasks finished; `finished` maps each task finished since the
    last `take` to the task as its commit left it (None when not handed over)."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: dict[str, Final | None] = {}

    def hand_over(self, task_id: str, final: Final | None) -> None:
        self.finished[task_id] = final
        self.set()

    def take(self) -> dict[str, Final | None]:
        """Clear the event and hand over what finished so far (once)."""
        self.clear()
        finished, self.finished = self.finished, {}
        return finished


class TaskWatch:
    """task id -> the requests waiting for it to finish."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[Waiter | ManyWaiter]] = {}
        # `finished` calls so far: a request that saw none during its own submission
        # knows its task did not finish before its watch existed.
        self.finishes = 0
        self.closing = False

    @property
    def waiting(self) -> int:
        """(task, request) pairs waiting right now (for tests and metrics)."""
        return sum(len(waiters) for waiters in self._waiting.values())

    def watched(self, task_ids: Iterable[str]) -> set[str]:
        """Those of `task_ids` some request is waiting for."""
        if not self._waiting:
            return set()
        return {task_id for task_id in task_ids if task_id in self._waiting}

    @contextmanager
    def watch(self, task_id: str) -> Iterator[Waiter]:
        """A waiter set when `finished` names the task; unregistered on exit."""
        waiter = Waiter()
        self._waiting.setdefault(task_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            self._forget(task_id, waiter)

    @contextmanager
    def watch_many(self, task_ids: Collection[str]) -> Iterator[ManyWaiter]:
        """One waiter set when `finished` names any of the tasks; unregistered on exit."""
        waiter = ManyWaiter()
        for task_id in task_ids:
            self._waiting.setdefault(task_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            for task_id in task_ids:
                self._forget(task_id, waiter)

    def _forget(self, task_id: str, waiter: Waiter | ManyWaiter) -> None:
        waiters = self._waiting.get(task_id)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiting[task_id]

    def finished(self, task_ids: Iterable[str], finals: Mapping[str, Final] | None = None) -> int:
        """Wake every request waiting for one of these tasks (called after commit),
        handing over the task as committed where `finals` has it; returns how many
        were woken."""
        self.finishes += 1
        if not self._waiting:
            return 0
        woken = 0
        for task_id in task_ids:
            final = finals.get(task_id) if finals else None
            for waiter in self._waiting.get(task_id, ()):
                waiter.hand_over(task_id, final)
                woken += 1
        return woken

    def close(self) -> None:
        """The server is stopping: wake every waiter now, and let nobody wait from here
        on (`closing`)."""
        self.closing = True
        for waiters in self._waiting.values():
            for waiter in waiters:
                waiter.set()
