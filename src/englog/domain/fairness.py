"""Fair shares of the workers (issue 22: one user's eight long tasks took every slot
and another user's report stayed pending).

A claim picks among the best PENDING candidates of each type: the highest priority
first; at the same priority the task of the user with the fewest tasks running (those
picked in this claim counted) first, so users take turns and one user's burst waits
behind nobody else's single task; then the oldest. A user at `user_cap` running tasks
gets no more until one ends (0: no cap). Tasks without a user (the admin's) are not
capped and count as a user of their own. With no cap (0) a claim keeps the strict
order (priority, then age) and reads no more than it takes: the benchmarks' path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# How many candidates per type a capped claim reads beyond what it may take: enough
# for users to take turns within one claim.
OVERFETCH = 4


def fair_pick(
    candidates: Sequence[Mapping[str, Any]],
    limit: int,
    capacity: Mapping[str, int],
    running: Mapping[str | None, int],
    user_cap: int,
) -> list[Any]:
    """The `seq`s to claim from `candidates` (rows with seq, type, priority, created_at,
    user_id), at most `limit` in all and `capacity[type]` of each type, in claim order.
    `running` is each user's RUNNING count before this claim. O(n log n): within one
    priority a user's k-th candidate ranks as if its k-1 before it were taken."""
    counts: dict[str | None, int] = dict(running)
    free = {t: int(n) for t, n in capacity.items()}
    ordered = sorted(candidates, key=lambda r: (-r["priority"], r["created_at"], r["seq"]))
    chosen: list[Any] = []
    start = 0
    while start < len(ordered) and len(chosen) < limit:
        priority = ordered[start]["priority"]
        end = start
        while end < len(ordered) and ordered[end]["priority"] == priority:
            end += 1
        seen: dict[str | None, int] = {}
        ranked = []
        for row in ordered[start:end]:
            user = row["user_id"]
            rank = counts.get(user, 0) + seen.get(user, 0)
            seen[user] = seen.get(user, 0) + 1
            if user is not None and user_cap and rank >= user_cap:
                continue
            ranked.append((rank, row["created_at"], row["seq"], row))
        ranked.sort(key=lambda item: item[:3])
        for _, _, seq, row in ranked:
            if len(chosen) >= limit:
                break
            if free.get(row["type"], 0) <= 0:
                continue
            chosen.append(seq)
            counts[row["user_id"]] = counts.get(row["user_id"], 0) + 1
            free[row["type"]] -= 1
        start = end
    return chosen
