"""Concurrent submissions stored together: the submissions that arrive while one is being
stored go in as one, next.

A submission of one task cost PostgreSQL about as much as one of sixteen: a statement, a
commit and its WAL flush each. With sixteen submitters PostgreSQL spent 350-480 µs of CPU
per task (against 130 for tasks submitted in batches), the largest share of a task's
cost. Grouped here, they share one statement and one commit, and each submitter still
gets its own tasks back (or its own error). Nobody waits for company: a submission with
none in flight goes at once, as a Kafka producer with no linger does; one arriving
during a flight goes with the others that arrived meanwhile, as soon as it lands.

Written here rather than taken from a library: no asyncio library batches awaited calls
with per-caller answers and errors; this is a count of calls in flight and an event
around the store's own batch insert (shares are taken oldest first, so groups go in
arrival order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from englog.server.shielded import finish_anyway
from englog.store.base import IdempotencyKeyReused, InvalidData

I = TypeVar("I")  # noqa: E741 - an item submitted (a task, a keyed task)
R = TypeVar("R")  # what the store answers for one item
MAX_GROUP_TASKS = 1000  # a group never outgrows what one batch request may hold
# Refusals that may be one submitter's doing (its data, its key): a group refused with
# one is stored again submitter by submitter, so that only that one hears it.
ONES_OWN = (InvalidData, IdempotencyKeyReused)


@dataclass(eq=False)
class _Share(Generic[I, R]):
    """One submitter's items and, once stored, its answer."""

    tasks: list[I]
    now: float
    answer: asyncio.Future[list[R]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SubmissionCombiner(Generic[I, R]):
    """Calls `submit` for the items of every submitter waiting when the previous call
    ends, as one call; answers each submitter with its own share of the answer (`submit`
    answers item by item, in order), or with its own error.

    A full group (MAX_GROUP_TASKS) waiting gains nothing from waiting longer: it goes at
    once, beside the call in flight, up to `flights` calls at a time. Without that, a
    backlog submitted in batches went one batch at a time and PostgreSQL, which can
    insert several at once, stood idle between them (docs/benchmarks.md, round 7)."""

    def __init__(
        self, submit: Callable[[Sequence[I], float], Awaitable[list[R]]], *, flights: int = 2
    ) -> None:
        self._submit = submit
        self._max_flights = max(1, flights)
        self._flights = 0
        self._waiting: list[_Share[I, R]] = []
        self._waiting_tasks = 0
        self._changed = asyncio.Event()  # set (and replaced) when one may go now
        self.groups = 0  # calls made (tests read them)

    async def submit(self, tasks: Sequence[I], now: float) -> list[R]:
        share: _Share[I, R] = _Share(list(tasks), now)
        self._waiting.append(share)
        self._waiting_tasks += len(share.tasks)
        if self._waiting_tasks >= MAX_GROUP_TASKS:
            self._change()
        try:
            while share in self._waiting:  # not yet taken by a group
                if not self._may_go():
                    await self._changed.wait()
                    continue
                group = self._take()
                if group == [share]:  # alone: stored as if nobody combined anything
                    await self._fly(group)
                else:  # others' answers must not depend on this one's client staying
                    await finish_anyway(self._fly(group))
            return await asyncio.shield(share.answer)  # stored, or in a group in flight
        except asyncio.CancelledError:
            if share in self._waiting:  # gone before any group took it: nothing stored
                self._waiting.remove(share)
                self._waiting_tasks -= len(share.tasks)
            else:  # stored or being stored: its outcome is nobody's to hear now
                share.answer.add_done_callback(_retrieved)
            raise

    def _may_go(self) -> bool:
        if not self._flights:
            return True
        return self._flights < self._max_flights and self._waiting_tasks >= MAX_GROUP_TASKS

    def _change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _fly(self, group: list[_Share[I, R]]) -> None:
        self._flights += 1
        try:
            await self._store(group)
        finally:
            self._flights -= 1
            self._change()

    def _take(self) -> list[_Share[I, R]]:
        """The waiting shares, oldest first, up to MAX_GROUP_TASKS (at least one)."""
        count, taken = 0, 0
        for share in self._waiting:
            if taken and count + len(share.tasks) > MAX_GROUP_TASKS:
                break
            count += len(share.tasks)
            taken += 1
        group, self._waiting = self._waiting[:taken], self._waiting[taken:]
        self._waiting_tasks -= count
        return group

    async def _store(self, group: list[_Share[I, R]]) -> None:
        self.groups += 1
        try:
            await self._answer(group)
        finally:
            for share in group:  # interrupted (the loop is closing): nobody left hanging
                if not share.answer.done():
                    share.answer.cancel()

    async def _answer(self, group: list[_Share[I, R]]) -> None:
        try:
            stored = await self._submit([t for s in group for t in s.tasks], group[-1].now)
        except ONES_OWN as exc:
            if len(group) == 1:
                _settle(group[0], exc=exc)
                return
            # One submitter's data may be what the store refused: each alone, so only
            # that one hears of it.
            for share in group:
                await self._alone(share)
            return
        except Exception as exc:  # the store is down, say: every submitter hears it
            for share in group:
                _settle(share, exc=exc)
            return
        start = 0
        for share in group:
            _settle(share, stored[start : start + len(share.tasks)])
            start += len(share.tasks)

    async def _alone(self, share: _Share[I, R]) -> None:
        try:
            _settle(share, await self._submit(share.tasks, share.now))
        except Exception as exc:
            _settle(share, exc=exc)


def _settle(
    share: _Share[I, R], answer: list[R] | None = None, exc: Exception | None = None
) -> None:
    if share.answer.done():
        return
    if exc is not None:
        share.answer.set_exception(exc)
    else:
        share.answer.set_result(answer or [])


def _retrieved(answer: asyncio.Future[list[R]]) -> None:
    if not answer.cancelled():
        answer.exception()
