"""How the builtin backend writes numbers and names: the only ways a number gets into
its text, so every figure it states can be traced to a fact (and checked by
`englog.ai.confidence` like any model's)."""

from __future__ import annotations

from datetime import date

from englog.ai.analytics import Facts


def hours(minutes_: float) -> str:
    """A duration as people say it: minutes below an hour, hours to one decimal above."""
    if minutes_ < 60:
        return f"{num(minutes_)} min"
    return f"{minutes_ / 60:.1f} h"


def pct(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def num(value: float) -> str:
    """Minutes and per-day counts: one decimal at most, none when whole."""
    return f"{value:.1f}".removesuffix(".0")


def quoted(name: str) -> str:
    """Names (projects, tags, titles) are quoted so their digits are not read as claims."""
    return '"' + name.replace('"', "'") + '"'


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def day_label(iso_day: str) -> str:
    return f"{date.fromisoformat(iso_day):%A} {iso_day}"


def minutes_of(facts: Facts, activity: str) -> float:
    return facts.minutes_by_type.get(activity, 0.0)


def share_of(facts: Facts, activity: str) -> float:
    return facts.type_shares.get(activity, 0.0)


def first(mapping: dict[str, float]) -> tuple[str, float] | None:
    return next(iter(mapping.items()), None)


def top_tags_text(facts: Facts, limit: int = 3) -> str:
    return ", ".join(f"{quoted(t['tag'])} ({hours(t['minutes'])})" for t in facts.top_tags[:limit])


def weekend_days(facts: Facts) -> list[str]:
    return [
        d for d, m in facts.daily_totals.items() if m > 0 and date.fromisoformat(d).weekday() >= 5
    ]


JUDGED_MINUTES = 120.0  # under 2 h logged, a share says nothing about habits


def focus_verdict(ratio: float, total_minutes: float = JUDGED_MINUTES) -> str:
    if total_minutes < JUDGED_MINUTES:
        return "too little logged to judge the balance"
    if ratio >= 0.6:
        return "a strong share of deep work"
    if ratio >= 0.4:
        return "a mix of deep work and interruptions"
    return "little room for deep work"
