"""The period just before the one described, so "up from last week" has a fact behind
it. Same length, ending the day before the current period starts, computed by the
same `compute_facts` (same day rules). Without previous entries in the request a
result has no `previous` facts, and any comparison a text makes is unsupported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from englog.ai.analytics import NO_PROJECT, EntryLike, Facts, compute_facts

# The figures of the previous period a narrative may compare with.
KEPT = (
    "total_minutes",
    "focus_minutes",
    "focus_ratio",
    "meeting_minutes",
    "meeting_share",
    "meeting_count",
    "entry_count",
    "days_active",
)


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The same number of days, ending the day before `start`."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


def _top_project(facts: Facts) -> tuple[str | None, float]:
    named = [(p, m) for p, m in facts.minutes_by_project.items() if p != NO_PROJECT]
    return named[0] if named else (None, 0.0)


def summary(prev: Facts) -> dict[str, Any]:
    """What the previous period's facts carry into the current ones."""
    top, top_minutes = _top_project(prev)
    out: dict[str, Any] = {
        "period_start": prev.period_start.isoformat() if prev.period_start else None,
        "period_end": prev.period_end.isoformat() if prev.period_end else None,
    }
    out |= {key: getattr(prev, key) for key in KEPT}
    out |= {
        "top_project": top,
        "top_project_minutes": top_minutes,
        "minutes_by_project": dict(list(prev.minutes_by_project.items())[:5]),
    }
    return out


def changes(current: Facts, prev: Facts) -> dict[str, float]:
    """Current minus previous for each compared figure; relative change of the total
    when the previous total is not zero; the current top project's own change."""
    out = {f"{key}_change": round(getattr(current, key) - getattr(prev, key), 3) for key in KEPT}
    if prev.total_minutes > 0:
        out["total_change_ratio"] = round(current.total_minutes / prev.total_minutes - 1, 3)
    top, top_minutes = _top_project(current)
    if top is not None:
        before = prev.minutes_by_project.get(top, 0.0)
        out["top_project_minutes_change"] = round(top_minutes - before, 1)
    return out


def with_previous(
    facts: Facts, previous_entries: Iterable[EntryLike] | None, **options: Any
) -> Facts:
    """`facts` with the previous period's summary and the changes since, when the
    request carried previous entries (even none in range: a quiet week before is a
    fact); `options` go to `compute_facts` (the zone rules of the current period)."""
    if previous_entries is None or facts.period_start is None or facts.period_end is None:
        return facts
    start, end = previous_range(facts.period_start, facts.period_end)
    prev = compute_facts(previous_entries, start, end, **options)
    return replace(facts, previous=summary(prev), changes=changes(facts, prev))
