"""Claims about days, checked against the daily totals: "Thursday was the busiest day"
(it must have the most minutes), "the quietest day was Saturday", "on Wednesday you
fixed the incident" (something must be logged that day), "no weekend work" (nothing
on Saturday or Sunday). A day name matches every date of the period on that weekday."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from englog.ai.analytics import Facts

if TYPE_CHECKING:  # claims imports this module
    from englog.ai.claims import Finding

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ABBREVIATIONS = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_CAPITALISED_ABBREVIATION = re.compile(r"\b(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b")
_BUSY = frozenset({"busiest", "heaviest", "fullest", "peak", "most"})
_QUIET = frozenset({"quietest", "lightest", "slowest", "calmest", "least", "shortest", "fewest"})
_DAY_NOUNS = frozenset({"day", "days", "workday"})
_NEEDS_DAY_NOUN = frozenset({"longest", "biggest", "shortest", "most", "least", "fewest"})
_OTHER_MEASURES = frozenset(
    {
        "focus",
        "stretch",
        "block",
        "streak",
        "meeting",
        "meetings",
        "entry",
        "entries",
        "review",
        "switch",
        "switches",
        "session",
        "sessions",
        "support",
        "debugging",
        "learning",
        "productive",
        "focused",
        "efficient",
        "effective",
        "valuable",
    }
)
_IDLE = frozenset({"nothing", "idle", "off", "free", "empty", "zero"})
# Words that describe a day without saying whether anything was logged on it.
_VAGUE = frozenset({"quiet", "light", "rest", "rested", "break", "calm", "slow", "lighter"})
_NEGATION = (
    _IDLE | _VAGUE | frozenset({"no", "not", "without", "never", "didn", "wasn", "none", "t"})
)
_WORKED = frozenset(
    {"work", "worked", "working", "logged", "spent", "call", "on", "paged", "page", "incident"}
)


def _weekday(token: str, sentence: str) -> int | None:
    if token in DAYS:
        return DAYS.index(token)
    if token in _ABBREVIATIONS and re.search(rf"\b{token.capitalize()}\b", sentence):
        return _ABBREVIATIONS[token]
    return None


def _dates(facts: Facts, weekday: int) -> dict[str, float]:
    return {
        d: m for d, m in facts.daily_totals.items() if date.fromisoformat(d).weekday() == weekday
    }


def _superlative(tokens: list[tuple[str, str]], i: int) -> str | None:
    """ "busy" or "quiet" when token i makes a claim about the day with most or least time."""
    word = tokens[i][1]
    following = [t for _, t in tokens[i + 1 : i + 3]]
    about_time = word in ("most", "least") and set(following) & {"time", "hours", "work"}
    if word in _NEEDS_DAY_NOUN and not set(following) & _DAY_NOUNS and not about_time:
        return None
    if word in _BUSY or word in ("longest", "biggest"):
        return "busy"
    if word in _QUIET:
        return "quiet"
    return None


_CLAUSE_BREAKS = frozenset({"while", "whereas", "but", "although", "though"})


def _clause(tokens: list[tuple[str, str]], i: int) -> tuple[int, int]:
    """The token span of the clause around i ("Thursday ran long, while Sunday ...")."""
    lo = i
    while lo > 0 and tokens[lo - 1][1] not in _CLAUSE_BREAKS:
        lo -= 1
    hi = i
    while hi + 1 < len(tokens) and tokens[hi + 1][1] not in _CLAUSE_BREAKS:
        hi += 1
    return lo, hi


def _nearest(
    mentions: list[tuple[int, int]], tokens: list[tuple[str, str]], i: int
) -> tuple[int, int]:
    """The day named in the superlative's clause (else anywhere), closest first."""
    lo, hi = _clause(tokens, i)
    inside = [m for m in mentions if lo <= m[0] <= hi]
    return min(inside or mentions, key=lambda m: abs(m[0] - i))


def _holds(kind: str, facts: Facts, dates: dict[str, float]) -> bool:
    totals = facts.daily_totals
    if kind == "busy":
        return bool(dates) and max(dates.values()) == max(totals.values())
    active = [m for m in totals.values() if m > 0]
    quietest = min(active, default=0.0)
    return any(m == quietest or m == 0 for m in dates.values())


def day_findings(sentence: str, tokens: list[tuple[str, str]], facts: Facts) -> list[Finding]:
    """Findings on the day names and weekend of one sentence."""
    from englog.ai.claims import Finding

    if not facts.daily_totals:
        return []
    words = [t for _, t in tokens]
    mentions = [
        (i, wd)
        for i, (kind, t) in enumerate(tokens)
        if kind == "word" and (wd := _weekday(t, sentence)) is not None
    ]
    found: list[Finding] = []
    used: set[int] = set()
    for i, (kind, _t) in enumerate(tokens):
        if kind != "word" or (which := _superlative(tokens, i)) is None or not mentions:
            continue
        at, weekday = _nearest(mentions, tokens, i)
        lo, hi = sorted((at, i))
        if set(words[lo + 1 : hi]) & _OTHER_MEASURES or set(words[i + 1 : i + 3]) & _OTHER_MEASURES:
            continue  # "the longest focus stretch was on Tuesday" is not about the day
        used.add(at)
        day = DAYS[weekday].capitalize()
        dates = _dates(facts, weekday)
        holds = _holds(which, facts, dates)
        label = "busiest" if which == "busy" else "quietest"
        found.append(Finding("day", sentence, holds, f"{day} was not the {label} day"))
    negated = bool(set(words) & _NEGATION)
    idle = bool(set(words) & _IDLE) or "no work" in " ".join(words)
    for at, weekday in mentions:
        following = [k for k, _ in tokens[at + 1 : at + 3]]
        if at in used or "num" in following:
            continue  # "Sat 0.0 h": the figure is checked as a claim
        dates = _dates(facts, weekday)
        day = DAYS[weekday].capitalize()
        if idle:
            if dates:
                holds = any(m == 0 for m in dates.values())
                found.append(Finding("day", sentence, holds, f"time was logged on {day}"))
        elif not negated:
            holds = any(m > 0 for m in dates.values())
            found.append(Finding("day", sentence, holds, f"nothing was logged on {day}"))
    if "weekend" in words or "weekends" in words:
        if negated:
            holds = facts.weekend_minutes == 0
            found.append(Finding("day", sentence, holds, "time was logged on the weekend"))
        elif set(words) & _WORKED:
            holds = facts.weekend_minutes > 0
            found.append(Finding("day", sentence, holds, "nothing was logged on the weekend"))
    return found
