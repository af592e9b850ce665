"""A week's progress against the person's weekly target, as one line for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from englog.ai.analytics import compute_facts
from englog.cli._calendar import Calendar
from englog.cli.when import format_minutes
from englog.client import Entry
from englog.client.models import Me
from englog.trends import progress


def percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.0f}%"


def week_progress(
    found: Sequence[Entry], first: date, last: date, cal: Calendar, me: Me | None
) -> str | None:
    """ "target: 12h30m of 32h (39%), focus 55% (target 60%)" for a listed week, None
    without a target or for a range that is not a week."""
    if me is None or (last - first).days != 6:
        return None
    if me.weekly_target_hours is None and me.focus_target is None:
        return None
    facts = compute_facts(found, first, last, cal.zone_name)
    parts = []
    if me.weekly_target_hours is not None:
        share = progress(facts.clock_minutes, me.weekly_target_hours) or 0.0
        parts.append(
            f"{format_minutes(facts.clock_minutes)} of {me.weekly_target_hours:g}h"
            f" ({percent(share)})"
        )
    if me.focus_target is not None:
        mark = "met" if facts.focus_ratio >= me.focus_target else "below"
        parts.append(
            f"focus {percent(facts.focus_ratio)} (target {percent(me.focus_target)}, {mark})"
        )
    return "target: " + ", ".join(parts)
