"""How many tasks are PENDING, per type, without counting rows.

`/health`, `/readiness` and `/metrics` are called every few seconds, and a `COUNT(*)` on
each call is a scan of a tasks table that may hold millions of rows. So the server keeps
the number itself: each change this process commits moves it (a submission adds, a claim
removes, a retry or a task taken back from its worker adds, a cancellation removes), and
a recount in the store, in the background, brings in what other replicas did. The
recount runs every `pending_recount_s` at most, and waits at least RECOUNT_SPACING times
as long as the last one took, so it never costs the store more than 1 % of its time.

Exact on a single server, except for a change whose commit races a recount (then off by
that change until the next recount); with replicas, behind by one recount interval at
most. Tasks waiting out a retry backoff count as pending (they are queued)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable

import structlog

from englog.domain.tasks import Task, TaskStatus
from englog.store.base import Store, StoreError

log = structlog.get_logger("englog.server.pending")

# A retried task whose type this process does not know (its result reached a server
# that did not lease it): in the total at once, in the per-type view from the next
# recount.
UNKNOWN_TYPE = ""
# The pause after a recount is at least this many times the recount's own duration.
RECOUNT_SPACING = 100.0


class PendingTasks:
    """PENDING tasks per type, moved by every change this process commits."""

    def __init__(self) -> None:
        self._by_type: Counter[str] = Counter()
        # Changes committed while a recount reads: added to what it counted.
        self._during: Counter[str] | None = None
        self.recounts = 0

    @property
    def total(self) -> int:
        return sum(self._by_type.values())

    def by_type(self) -> dict[str, int]:
        """Known types with pending tasks, sorted by name."""
        return {t: n for t, n in sorted(self._by_type.items()) if n > 0 and t != UNKNOWN_TYPE}

    def add(self, types: Iterable[str]) -> None:
        """One task of each of `types` became PENDING (submitted, retried, taken back)."""
        for task_type in types:
            self._by_type[task_type] += 1
            if self._during is not None:
                self._during[task_type] += 1

    def remove(self, types: Iterable[str]) -> None:
        """One task of each of `types` left PENDING (leased, cancelled). Never below
        zero: a count behind another replica's submissions waits for the recount."""
        for task_type in types:
            if self._by_type[task_type] > 0:
                self._by_type[task_type] -= 1
            if self._during is not None:
                self._during[task_type] -= 1

    def requeued(self, tasks: Iterable[Task]) -> None:
        """Tasks taken back from a worker, as the store returned them: those PENDING
        again count (the others failed or were cancelled)."""
        self.add(t.type for t in tasks if t.status is TaskStatus.PENDING)

    async def recount(self, store: Store) -> None:
        """Replace the numbers by the store's count, keeping the changes committed while
        it counted. One recount at a time."""
        if self._during is not None:
            return
        self._during = Counter()
        try:
            counted = Counter(await store.pending_by_type())
        finally:
            during, self._during = self._during, None
        counted.update(during)
        self._by_type = Counter({t: n for t, n in counted.items() if n > 0})
        self.recounts += 1

    async def recount_forever(self, store: Store, interval_s: float) -> None:
        """Recount every `interval_s`, or less often when a recount is slow."""
        took = 0.0
        while True:
            await asyncio.sleep(max(interval_s, RECOUNT_SPACING * took))
            started = time.monotonic()
            try:
                await self.recount(store)
            except StoreError as exc:
                log.error("pending_recount_store_error", error=str(exc))
            took = time.monotonic() - started
