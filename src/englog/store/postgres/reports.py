"""PostgreSQL: claims, workers' result reports, and the claim made with one
(`Store.report_and_claim`), on the store's pool (`_fetch`, `_tx` of `PostgresStore`).
A capped claim and a report's claim share what they learn of users' tasks
(`USERS_SEEN_S`).

A busy worker's cycle is a report then a claim for the slots it freed: two statements,
two commits, two WAL flushes, while the worker's slots wait. Joined, the claim's CTEs
follow the completion's in one statement, so a drain pays one round trip and one flush
per cycle (docs/benchmarks.md, round 7)."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import asyncpg

from englog.domain.attempts import completions
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    Disposition,
    ReportedResult,
    ResultDecision,
    Task,
    TaskStatus,
    check_transition,
)
from englog.store.postgres import attempts as _attempts
from englog.store.postgres import tasks as _tasks
from englog.store.records import Claim, ClaimWithReport


# `_attempts._COMPLETE_QUIET` and `_tasks._CLAIM` in one statement. The claim sees the
# snapshot the statement started with, so the tasks its report ends are not among its
# candidates (they were RUNNING), and a retry the report queues waits for the next
# claim. Its limit is the slots free before the report ($8) plus those the report
# frees: its accepted results among the tasks the claiming stream holds ($9). Each
# row is either an ended result (ended_id) or the claim's (`_tasks.claimed`).
def _complete_quiet_and_claim(capped: bool) -> str:
    claim = _tasks.claim_ctes(
        caps="unnest($6::text[], $7::int[])",
        now="$1",
        limit="$8::int + (SELECT count(*)::int FROM ended WHERE ended.id = ANY($9::text[]))",
        worker="$10::text",
        expires="$11::float8",
        capped=capped,
    )
    return f"""{_attempts.ending("t.id, t.attempt")},
{claim}
SELECT ended.id AS ended_id, ended.attempt AS ended_attempt, claimed.*, fair.needed
FROM ended FULL JOIN (fair LEFT JOIN claimed ON true) ON false
"""


_COMPLETE_QUIET_AND_CLAIM = _complete_quiet_and_claim(capped=False)
_COMPLETE_QUIET_AND_CLAIM_CAPPED = _complete_quiet_and_claim(capped=True)


def complete_and_claim_args(
    results: Sequence[ReportedResult], now: float, claim: ClaimWithReport, lease_ttl_s: float
) -> list[Any]:
    """`_COMPLETE_QUIET_AND_CLAIM`'s arguments, for `completions(...)`."""
    check_transition(TaskStatus.PENDING, TaskStatus.RUNNING)
    _, args = _attempts.complete_args(results, now, ())
    takes = {t: int(n) for t, n in claim.claim.capacity.items() if int(n) > 0}
    return [
        *args,
        list(takes),
        list(takes.values()),
        claim.claim.limit,
        list(claim.freeing),
        claim.claim.worker_id,
        now + lease_ttl_s,
    ]


def _split(
    rows: Sequence[asyncpg.Record],
) -> tuple[dict[str, ResultDecision], tuple[list[Task], bool]]:
    """The accepted decisions, and the claim's (`_tasks.claimed`), of
    `_COMPLETE_QUIET_AND_CLAIM`."""
    decided = {
        row["ended_id"]: ResultDecision(
            row["ended_id"], row["ended_attempt"], Disposition.ACCEPTED, TaskStatus.COMPLETED
        )
        for row in rows
        if row["ended_id"] is not None
    }
    return decided, _tasks.claimed([row for row in rows if row["ended_id"] is None])


# After a capped claim found users' tasks among its candidates, claims go straight to
# the fair pick's transaction for this long: a queue of people's tasks stays one for a
# while, and the one-statement attempt would only lock its window, commit and let go
# (measured: 2.6-3.4 ms a claim of 8 among ten users' tasks, against 2.2-2.5 without it).
USERS_SEEN_S = 10.0


class PostgresReports:
    """Precedes `Store` among `PostgresStore`'s bases: `super()` here is `Store`."""

    _fetch: Any
    _tx: Any
    policy: QueuePolicy
    _users_seen_until = 0.0  # time.monotonic(); see USERS_SEEN_S

    def users_seen(self) -> bool:
        """Whether a capped claim lately needed the fair pick (users' tasks waiting)."""
        return time.monotonic() < self._users_seen_until

    def saw_users(self) -> None:
        self._users_seen_until = time.monotonic() + USERS_SEEN_S

    async def claim_tasks(self, claim: Claim, now: float) -> list[Task]:
        if claim.limit <= 0 or not any(int(free) > 0 for free in claim.capacity.values()):
            return []
        claim = claim.capped(self.policy.max_running_per_user)
        if not (claim.user_cap and self.users_seen()):  # one statement, unless fair
            sql, args = _tasks.claim_args(claim, self.policy.lease_ttl_s, now)
            leased, fair = _tasks.claimed(await self._fetch(sql, *args, what="write"))
            if not fair:
                return leased
            self.saw_users()
        return await self.claim_fairly(claim, now)

    async def claim_fairly(self, claim: Claim, now: float) -> list[Task]:
        """A capped claim among users' tasks: candidates read, picked (`fair_pick`) and
        leased in one transaction."""
        async with self._tx() as conn:
            return await _tasks.claim_fairly(conn, claim, self.policy.lease_ttl_s, now)

    async def _report(
        self, results: list[ReportedResult], now: float, watched: frozenset[str]
    ) -> list[ResultDecision]:
        """Completed results in one statement (`_attempts.complete_args`); the rest,
        and any it did not accept, judged under row locks in one transaction."""
        decided: dict[str, ResultDecision] = {}
        if fast := completions(results):
            sql, args = _attempts.complete_args(fast, now, watched)
            decided = _attempts.completed_decisions(await self._fetch(sql, *args, what="write"))
        return await self._judge_rest(results, decided, now, watched)

    async def _judge_rest(
        self,
        results: list[ReportedResult],
        decided: dict[str, ResultDecision],
        now: float,
        watched: Collection[str],
    ) -> list[ResultDecision]:
        rest = [r for r in results if r.task_id not in decided]
        judged: Iterator[ResultDecision] = iter(())
        if rest:
            async with self._tx() as conn:
                judged = iter(await _attempts.report_results(conn, rest, now, self.policy, watched))
        return [decided.get(r.task_id) or next(judged) for r in results]

    async def report_and_claim(
        self,
        results: Sequence[ReportedResult],
        now: float,
        claim: ClaimWithReport,
        *,
        watched: Collection[str] = (),
    ) -> tuple[list[ResultDecision], list[Task]]:
        """In one statement when every result is a completion nobody waits on (and,
        under a per-user cap, the candidates are nobody's: `_tasks.claim_ctes`; not
        tried while users' tasks were lately seen); otherwise the two steps of
        `Store.report_and_claim`."""
        results = list(results)
        fast = completions(results)
        cap = self.policy.max_running_per_user
        if (
            not results
            or len(fast) != len(results)
            or any(r.task_id in watched for r in results)
            or (cap and self.users_seen())
        ):
            return await super().report_and_claim(  # type: ignore[misc]  # `Store`'s
                results, now, claim, watched=watched
            )
        args = complete_and_claim_args(results, now, claim, self.policy.lease_ttl_s)
        sql = _COMPLETE_QUIET_AND_CLAIM_CAPPED if cap else _COMPLETE_QUIET_AND_CLAIM
        decided, (leased, fair) = _split(await self._fetch(sql, *args, what="write"))
        decisions = await self._judge_rest(results, decided, now, ())
        if fair:
            self.saw_users()
            leased = await self.claim_fairly(claim.after(decisions).capped(cap), now)
        return decisions, leased
