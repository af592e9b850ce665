"""Fresh connections as the queue grows, so that no statement keeps a plan made for a
small table.

asyncpg prepares each statement once per pooled connection, and after five runs
PostgreSQL keeps a generic plan for it, made for the table as it was then, until the
table's statistics change. Made while `tasks` held a few rows, a plan scans: the
watched report's row locks went through the whole of `tasks_pkey` (874 buffers, 4-6 ms
a report at 20,000 tasks), and a PostgreSQL round trip measured after 20,000 tasks was
6-10 ms in half the runs instead of 2.5-3.3. Nothing replans it where autovacuum is off,
and ANALYZE is no cure for a queue: run while a batch waited, it taught the submission's
"anything pending?" check to scan the table, which then held nothing pending (9 ms round
trips). A new connection plans from the table's size at that moment, with PostgreSQL's
defaults for what it does not know, which suit a queue's key lookups.

So each time the tasks this process has written reach the table's size at the last
renewal (at least MIN_ROWS), the pool's connections are replaced (`expire`: each as it
is next released, none cut mid-statement): about seven times on the way to 100,000
tasks, none after. Measured: eight of eight round trips after 20,000 tasks at 2.8-3.3
ms (docs/benchmarks.md, round 7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

MIN_ROWS = 1000


class GrowthReplanner:
    """Counts the tasks this process writes and calls `expire` when they reach the
    table's size at the last renewal."""

    def __init__(self, expire: Callable[[], Awaitable[None]], min_rows: int = MIN_ROWS) -> None:
        self._expire = expire
        self._min_rows = min_rows
        self._size = 0  # tasks in the table at the last renewal (as far as known)
        self._written = 0  # tasks written since
        self.renewals = 0  # times the connections were replaced (tests read it)

    async def start(self, conn: asyncpg.Connection) -> None:
        """Starts from the table's size as PostgreSQL last counted it (0 if never)."""
        # By the table the store's statements name (its search_path), not any `tasks`.
        tuples = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass")
        self._size = max(0, int(tuples or 0))

    async def wrote(self, tasks: int) -> None:
        """After a write of `tasks` new tasks has committed."""
        self._written += tasks
        if self._written < max(self._min_rows, self._size):
            return
        self._size, self._written = self._size + self._written, 0
        self.renewals += 1
        await self._expire()
