"""Figures by reference: the model writes `{total_hours}` or `{project_minutes:atlas}` and
englog fills in the value from the facts, formatted as people read it ("37.3 h",
"76%", "Thursday"), so a figure written this way cannot be wrong.

A reference is `{name}` or `{name:argument}`; the argument names a project, activity
type, tag or day of the facts. An unknown name or argument makes the answer invalid
(`UnknownReference`, a ValueError), so the model is asked again with the error, like
any answer outside its schema. Text without references passes unchanged: literal
figures are judged by the claim checker instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from englog.ai.analytics import NO_PROJECT, Facts
from englog.ai.errors import AIError
from englog.ai.fact_index import TYPES

REFERENCE = re.compile(r"\{\s*([a-z_]+)\s*(?::\s*([^{}]{1,80}?)\s*)?\}")
MAX_ERRORS = 3


class UnknownReference(AIError, ValueError):
    """A reference the facts cannot fill in: the answer is invalid and asked again."""


def hours_text(minutes: float) -> str:
    return f"{minutes / 60:.1f} h"


def minutes_text(minutes: float) -> str:
    return f"{minutes:.0f} min"


def share_text(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def day_name(iso_day: str | None) -> str:
    return f"{date.fromisoformat(iso_day):%A}" if iso_day else "no day"


def _top(mapping: dict[str, float]) -> str:
    return next((k for k in mapping if k != NO_PROJECT), "none")


def _previous(key: str, fmt: Callable[[float], str]) -> Callable[[Facts], str]:
    def get(f: Facts) -> str:
        if f.previous is None:
            raise UnknownReference(
                f"{{previous_{key}}}: the request carried no previous period to compare with"
            )
        return fmt(f.previous[key])

    return get


def _change(key: str, fmt: Callable[[float], str]) -> Callable[[Facts], str]:
    def get(f: Facts) -> str:
        if key not in f.changes:
            raise UnknownReference(f"{{{key}}}: the request carried no previous period")
        value = f.changes[key]
        return ("+" if value > 0 else "") + fmt(value)

    return get


SIMPLE: dict[str, Callable[[Facts], str]] = {
    "total_hours": lambda f: hours_text(f.total_minutes),
    "total_minutes": lambda f: minutes_text(f.total_minutes),
    "focus_hours": lambda f: hours_text(f.focus_minutes),
    "focus_minutes": lambda f: minutes_text(f.focus_minutes),
    "focus_share": lambda f: share_text(f.focus_ratio),
    "meeting_hours": lambda f: hours_text(f.meeting_minutes),
    "meeting_minutes": lambda f: minutes_text(f.meeting_minutes),
    "meeting_share": lambda f: share_text(f.meeting_share),
    "meeting_count": lambda f: str(f.meeting_count),
    "entry_count": lambda f: str(f.entry_count),
    "days_active": lambda f: str(f.days_active),
    "project_count": lambda f: str(f.project_count),
    "average_day_hours": lambda f: hours_text(f.average_minutes_per_active_day),
    "average_entry_minutes": lambda f: minutes_text(f.average_entry_minutes),
    "longest_focus_minutes": lambda f: minutes_text(f.longest_focus_block_minutes),
    "longest_focus_hours": lambda f: hours_text(f.longest_focus_block_minutes),
    "context_switches": lambda f: str(f.context_switches),
    "switches_per_day": lambda f: f"{f.context_switches_per_day:g}",
    "high_value_share": lambda f: share_text(f.high_value_share),
    "team_impact_share": lambda f: share_text(f.team_impact_share),
    "streak_days": lambda f: str(f.streak_days),
    "busiest_day": lambda f: day_name(f.busiest_day),
    "busiest_day_hours": lambda f: hours_text(f.busiest_day_minutes),
    "quietest_day": lambda f: day_name(f.quietest_day),
    "quietest_day_hours": lambda f: hours_text(f.daily_totals.get(f.quietest_day or "", 0.0)),
    "top_project": lambda f: _top(f.minutes_by_project),
    "top_activity": lambda f: _top(f.minutes_by_type).replace("_", " "),
    "weekend_hours": lambda f: hours_text(f.weekend_minutes),
    "night_hours": lambda f: hours_text(f.night_minutes),
    "previous_total_hours": _previous("total_minutes", hours_text),
    "previous_focus_share": _previous("focus_ratio", share_text),
    "previous_meeting_share": _previous("meeting_share", share_text),
    "previous_meeting_hours": _previous("meeting_minutes", hours_text),
    "total_change_hours": _change("total_minutes_change", hours_text),
    "total_change_percent": _change("total_change_ratio", share_text),
    "meeting_change_hours": _change("meeting_minutes_change", hours_text),
    "focus_change_points": _change("focus_ratio_change", lambda r: f"{r * 100:.0f} points"),
}


def _key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _find(arg: str, known: dict[str, float], what: str, ref: str) -> str:
    wanted = _key(arg)
    for name in known:
        if _key(name) == wanted:
            return name
    shown = ", ".join(list(known)[:12]) or "none"
    raise UnknownReference(f"{{{ref}:{arg}}} names no {what} of the entries (known: {shown})")


def _day(arg: str, f: Facts, ref: str) -> str:
    wanted = arg.strip().lower()
    for iso in f.daily_totals:
        if wanted in (iso, f"{date.fromisoformat(iso):%A}".lower()):
            return iso
    shown = ", ".join(dict.fromkeys(day_name(d) for d in f.daily_totals))
    raise UnknownReference(f"{{{ref}:{arg}}} names no day of the period (days: {shown})")


def _projects(f: Facts) -> dict[str, float]:
    return {p: m for p, m in f.minutes_by_project.items() if p != NO_PROJECT}


def _types(f: Facts) -> dict[str, float]:
    return {t: f.minutes_by_type.get(t, 0.0) for t in TYPES}


def _with_argument(name: str, arg: str, f: Facts) -> str:
    family, _, unit = name.rpartition("_")
    ref = name
    if family == "project":
        found = _find(arg, _projects(f), "project", ref)
        value, whole = f.minutes_by_project[found], f.total_minutes
    elif family == "type":
        found = _find(arg, _types(f), "activity type", ref)
        value = f.minutes_by_type.get(found, 0.0)
        if unit == "entries":
            return str(f.entries_by_type.get(found, 0))
        whole = f.total_minutes
    elif family == "tag":
        found = _find(arg, f.tag_minutes, "tag", ref)
        if unit == "entries":
            return str(f.tag_entries.get(found, 0))
        value, whole = f.tag_minutes[found], f.total_minutes
    elif family == "day":
        value, whole = f.daily_totals[_day(arg, f, ref)], f.total_minutes
    else:
        raise UnknownReference(f"{{{name}:{arg}}} is not a reference")
    if unit == "hours":
        return hours_text(value)
    if unit == "minutes":
        return minutes_text(value)
    if unit == "share":
        return share_text(value / whole if whole else 0.0)
    raise UnknownReference(f"{{{name}:{arg}}} is not a reference")


WITH_ARGUMENT = tuple(
    f"{family}_{unit}"
    for family in ("project", "type", "tag", "day")
    for unit in ("hours", "minutes", "share", "entries")
    if not (unit == "entries" and family in ("project", "day"))
)


def render(text: str, f: Facts) -> str:
    """`text` with every reference filled in; UnknownReference naming the bad ones."""
    errors: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        try:
            if arg is None:
                if name not in SIMPLE:
                    raise UnknownReference(f"{{{name}}} is not a reference")
                return SIMPLE[name](f)
            if name not in WITH_ARGUMENT:
                raise UnknownReference(f"{{{name}:{arg}}} is not a reference")
            return _with_argument(name, arg, f)
        except UnknownReference as exc:
            errors.append(str(exc))
            return match.group(0)

    out = REFERENCE.sub(fill, text)
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        known = ", ".join(sorted(SIMPLE)[:8])
        raise UnknownReference(
            "unknown reference: "
            + "; ".join(errors[:MAX_ERRORS])
            + more
            + f". Use only the references listed in the instructions (e.g. {known})"
        )
    return out


def guide() -> str:
    """The instructions a prompt gives about references."""
    return (
        "Write figures as references in braces; englog replaces each with the exact value "
        "from FACTS: "
        + ", ".join("{" + n + "}" for n in SIMPLE)
        + "; and with a name after a colon: "
        + ", ".join("{" + n + ":NAME}" for n in WITH_ARGUMENT)
        + " (NAME is a project, activity type, tag or day from FACTS, e.g. "
        "{project_hours:api} or {day_hours:Thursday}). Never write a reference that is not "
        "in this list."
    )
