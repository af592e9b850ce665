"""What englog tells a person about an entry they just logged: the entries it overlaps
(time counted twice unless one is wrong) and an end in the future. Warnings, not
refusals: overlapping work is sometimes real (a meeting while a build runs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from englog.domain.durations import format_minutes
from englog.domain.entries import Entry
from englog.store.base import EntryQuery, Store

# An end this far ahead of the server's clock is likely a typo (a wrong day or hour).
FUTURE_SLACK = timedelta(minutes=5)
# One range read answers a whole batch; a batch spread wider than this reads per entry.
_BATCH_READ_CAP = 5_000


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def overlaps(store: Store, user_id: str, entries: Sequence[Entry]) -> dict[str, list[str]]:
    """For each of `entries` (stored), the ids of the user's other entries sharing time
    with it, in start order."""
    if not entries:
        return {}
    low = min(_aware(e.start_time) for e in entries)
    high = max(_aware(e.end_time) for e in entries)
    around = await store.list_entries(
        user_id, EntryQuery(start=low, end=high, limit=_BATCH_READ_CAP + 1)
    )
    if len(around) > _BATCH_READ_CAP:
        return {e.id: await _overlaps_one(store, user_id, e) for e in entries}
    return {e.id: _sharing_time(e, around) for e in entries}


async def _overlaps_one(store: Store, user_id: str, entry: Entry) -> list[str]:
    query = EntryQuery(start=_aware(entry.start_time), end=_aware(entry.end_time), limit=1000)
    return _sharing_time(entry, await store.list_entries(user_id, query))


def _sharing_time(entry: Entry, others: Sequence[Entry]) -> list[str]:
    start, end = _aware(entry.start_time), _aware(entry.end_time)
    return [
        other.id
        for other in others
        if other.id != entry.id
        and _aware(other.start_time) < end
        and _aware(other.end_time) > start
    ]


def warnings(entry: Entry, overlapping: Sequence[str], now: datetime) -> list[str]:
    """One line per thing the person should look at."""
    out: list[str] = []
    if overlapping:
        ids = ", ".join(overlapping[:5]) + (" ..." if len(overlapping) > 5 else "")
        count = len(overlapping)
        out.append(
            f"overlaps {count} other entr{'y' if count == 1 else 'ies'} ({ids}): "
            "that time is counted twice in totals"
        )
    ahead = _aware(entry.end_time) - _aware(now)
    if ahead > FUTURE_SLACK:
        out.append(f"ends {format_minutes(ahead.total_seconds() / 60)} in the future")
    return out
