"""Every fact a text may state, with the words that name it: "435 minutes" of what?
The claim checker (`englog.ai.claims`) reads the words around a number and compares
it with the facts those words name, not with every number the facts contain (which
let nearly any small round number "match" something).

Each fact has a kind that fixes the units a text may state it in: a duration (kept in
minutes; written as minutes or hours), a ratio (0..1; written as a percentage) or a
count. Every duration other than the total also gives a ratio, its share of the
total ("33% in meetings", "half of the time on api")."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from englog.ai.analytics import NO_PROJECT, Facts
from englog.domain.entries import ActivityType

Phrase = tuple[str, ...]
TYPES = tuple(t.value for t in ActivityType)
WORD = re.compile(r"[^\W\d_]+")  # letters of any script

# How people name each activity type besides its own words (stems match longer words).
TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "development": ("develop", "coding"),
    "meeting": ("meeting",),
    "code_review": ("review",),
    "debugging": ("debug",),
    "documentation": ("docs", "doc"),
    "testing": ("test",),
    "deployment": ("deploy",),
    "research": ("research",),
    "planning": ("plan",),
    "learning": ("learn",),
    "maintenance": ("maint",),
    "support": ("support",),
}


class Kind(enum.StrEnum):
    DURATION = "duration"  # value in minutes
    RATIO = "ratio"  # value in 0..1
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class Fact:
    """One checkable number: what a reader calls it, its kind, its value and the
    phrases that name it in a text."""

    label: str
    kind: Kind
    value: float
    names: tuple[Phrase, ...]

    def shown(self) -> str:
        if self.kind is Kind.DURATION:
            return f"{self.value:g} min ({self.value / 60:.2f} h)"
        if self.kind is Kind.RATIO:
            return f"{self.value * 100:.1f}%"
        return f"{self.value:g}"


def words(text: str) -> Phrase:
    """Lower-case letter runs: the same split for texts and names, so "api-gateway",
    "API gateway" and "v2-api" (→ v, api) name things the same way."""
    return tuple(WORD.findall(text.lower()))


def phrases(*texts: str) -> tuple[Phrase, ...]:
    return tuple(p for p in (words(t) for t in texts) if p)


def name_phrases(*names: str) -> tuple[Phrase, ...]:
    """Phrases of project and tag names, without those too short to mean anything
    ("1on1" gives only "on")."""
    return tuple(p for p in phrases(*names) if max(len(w) for w in p) >= 3)


NIGHT_WORDS = ("night", "late", "on call", "after hours", "midnight", "evening")
# Night words often say when something happened ("kept you up past midnight for 1 h"):
# they name night facts weakly.
NIGHT: tuple[Phrase, ...] = tuple(("~", *words(w)) for w in NIGHT_WORDS)
# Words that name the previous period's figures; ">" marks a word that only names the
# figure after it ("up from 22 h": "from" names 22 h, not the figure before it).
PREVIOUS: tuple[Phrase, ...] = (
    ("last", "week"),
    ("previous",),
    ("prior",),
    ("before",),
    ("earlier",),
    (">", "from"),
    ("last",),
)
# Words that name a change: "up by 3 h", "2 more meetings", "+3.5 h" (a signed figure).
CHANGE: tuple[Phrase, ...] = (
    ("^", "by"),  # "up by 3 h": only right before the figure
    ("more",),
    ("less",),
    ("fewer",),
    ("extra",),
    ("increase",),
    ("decrease",),
    ("change",),
)


def _type_names(activity: str) -> tuple[Phrase, ...]:
    return phrases(activity.replace("_", " "), *TYPE_WORDS.get(activity, ()))


def _day_names(iso_day: str) -> tuple[Phrase, ...]:
    day = date.fromisoformat(iso_day)
    return phrases(f"{day:%A}", f"{day:%a}")


def _durations(f: Facts) -> list[Fact]:
    d = Kind.DURATION
    found = [
        Fact("focus time", d, f.focus_minutes, phrases("focus", "deep")),
        Fact("meeting time", d, f.meeting_minutes, phrases("meeting")),
        # Overlapping entries: the clock time actually worked, and what was counted twice.
        Fact("clock time", d, f.clock_minutes, phrases("clock", "worked", "actually", "covered")),
        Fact("overlapping time", d, f.overlap_minutes, phrases("overlap", "twice", "double")),
        Fact(
            "average per active day",
            d,
            f.average_minutes_per_active_day,
            phrases("average", "per day", "a day", "daily", "per active day"),
        ),
        Fact("average entry", d, f.average_entry_minutes, phrases("average", "entry", "per entry")),
        Fact(
            "longest focus stretch",
            d,
            f.longest_focus_block_minutes,
            phrases("longest", "stretch", "block", "uninterrupted"),
        ),
    ]
    # Every activity type, those not logged at 0: "0 min reviewing code" is a fact too.
    found += [Fact(f"{t} time", d, f.minutes_by_type.get(t, 0.0), _type_names(t)) for t in TYPES]
    found += [
        Fact(f"project {p}", d, m, name_phrases(p))
        for p, m in f.minutes_by_project.items()
        if p != NO_PROJECT
    ]
    found += [Fact(f"{v}-value time", d, m, phrases(v)) for v, m in f.minutes_by_value.items()]
    found += [Fact(f"{i} impact time", d, m, phrases(i)) for i, m in f.minutes_by_impact.items()]
    found += [Fact(f"{day} total", d, m, _day_names(day)) for day, m in f.daily_totals.items()]
    tags = f.tag_minutes or {t["tag"]: t["minutes"] for t in f.top_tags}
    found += [Fact(f"tag {t}", d, m, name_phrases(t)) for t, m in tags.items()]
    high = f.minutes_by_value.get("high", 0.0) + f.minutes_by_value.get("critical", 0.0)
    found.append(Fact("high or critical time", d, high, phrases("high", "critical", "valu")))
    broad = sum(m for i, m in f.minutes_by_impact.items() if i != "personal")
    found.append(Fact("team-wide or broader time", d, broad, phrases("team", "impact", "broader")))
    found.append(Fact("night time", d, f.night_minutes, NIGHT))
    found.append(Fact("weekend time", d, f.weekend_minutes, phrases("weekend")))
    for r in f.recurring_meetings:
        found.append(Fact(f"{r['title']} time", d, r["minutes"], _title_names(r["title"])))
    if f.busiest_day is not None:
        names = phrases("busiest", "longest day") + _day_names(f.busiest_day)
        found.append(Fact("busiest day", d, f.busiest_day_minutes, names))
    return found


def _ratios(f: Facts, durations: Iterable[Fact]) -> list[Fact]:
    r = Kind.RATIO
    found = [
        Fact("focus share", r, f.focus_ratio, phrases("focus", "deep")),
        Fact("meeting share", r, f.meeting_share, phrases("meeting")),
        Fact("high-value share", r, f.high_value_share, phrases("high", "critical", "valu")),
        Fact("team impact share", r, f.team_impact_share, phrases("team", "impact", "broader")),
    ]
    found += [Fact(f"{t} share", r, f.type_shares.get(t, 0.0), _type_names(t)) for t in TYPES]
    if f.total_minutes > 0:
        found += [
            Fact(f"share of {x.label}", r, x.value / f.total_minutes, x.names) for x in durations
        ]
    return found


def _counts(f: Facts) -> list[Fact]:
    c = Kind.COUNT
    found = [
        Fact("entries", c, f.entry_count, phrases("entry", "entries")),
        Fact("active days", c, f.days_active, (("~", "day"), ("~", "days"), ("active",))),
        Fact(
            "days in the period",
            c,
            len(f.daily_totals),
            (("week",), ("period",), (">", "of")),
        ),
        Fact("streak", c, f.streak_days, phrases("streak", "in a row", "consecutive")),
        Fact("projects", c, f.project_count, phrases("project")),
        Fact("context switches", c, f.context_switches, phrases("switch", "change")),
        Fact(
            "switches per active day",
            c,
            f.context_switches_per_day,
            phrases("switch", "change", "times", "per day", "per active day"),
        ),
        Fact("activity types", c, len(f.minutes_by_type), phrases("type", "activit")),
    ]
    tags = f.tag_entries or {t["tag"]: t["entries"] for t in f.top_tags}
    found += [Fact(f"entries tagged {t}", c, n, name_phrases(t)) for t, n in tags.items()]
    found.append(Fact("meetings", c, f.meeting_count, phrases("meeting")))
    found += [
        Fact(f"{t} entries", c, n, _type_names(t) + phrases("session"))
        for t, n in f.entries_by_type.items()
    ]
    weekend = sum(
        1 for d, m in f.daily_totals.items() if m > 0 and date.fromisoformat(d).weekday() >= 5
    )
    idle = sum(1 for m in f.daily_totals.values() if m == 0)
    found += [
        Fact("weekend days", c, weekend, phrases("weekend")),
        Fact("days without entries", c, idle, phrases("idle", "nothing", "no work", "empty")),
        Fact("night entries", c, len(f.night_entries), NIGHT),
        Fact("entries across midnight", c, f.cross_midnight_entries, phrases("midnight")),
        Fact("overlapping entries", c, f.overlapping_entries, phrases("overlap")),
    ]
    for r in f.recurring_meetings:
        names = _title_names(r["title"]) + phrases("recurring", "every")
        found += [
            Fact(f"days with {r['title']}", c, r["days"], names),
            Fact(f"{r['title']} entries", c, r["entries"], names),
        ]
    return found


def _title_names(title: str) -> tuple[Phrase, ...]:
    """A recurring meeting is named by its title's words ("standup" for "Daily standup")."""
    return tuple((w,) for w in words(title) if len(w) >= 4 and w not in _TITLE_NOISE) + phrases(
        title
    )


PREVIOUS_KINDS: dict[str, Kind] = {
    "total_minutes": Kind.DURATION,
    "focus_minutes": Kind.DURATION,
    "meeting_minutes": Kind.DURATION,
    "focus_ratio": Kind.RATIO,
    "meeting_share": Kind.RATIO,
    "meeting_count": Kind.COUNT,
    "entry_count": Kind.COUNT,
    "days_active": Kind.COUNT,
}
CHANGE_KINDS: dict[str, Kind] = {
    "total_minutes_change": Kind.DURATION,
    "focus_minutes_change": Kind.DURATION,
    "meeting_minutes_change": Kind.DURATION,
    "top_project_minutes_change": Kind.DURATION,
    "focus_ratio_change": Kind.RATIO,
    "meeting_share_change": Kind.RATIO,
    "total_change_ratio": Kind.RATIO,
    "meeting_count_change": Kind.COUNT,
    "entry_count_change": Kind.COUNT,
}


def _previous(f: Facts) -> list[Fact]:
    """The previous period's figures and the changes since, named by comparison words."""
    if f.previous is None:
        return []
    p, ch = f.previous, f.changes
    found = [
        Fact(f"previous {key.replace('_', ' ')}", kind, p[key], PREVIOUS)
        for key, kind in PREVIOUS_KINDS.items()
    ]
    d = Kind.DURATION
    top = next((name for name in f.minutes_by_project if name != NO_PROJECT), None)
    if top is not None:  # the current top project may have had no time before
        before = (p.get("minutes_by_project") or {}).get(top, 0.0)
        found.append(Fact(f"previous project {top}", d, before, PREVIOUS))
    found += [
        Fact(f"previous project {name}", d, m, PREVIOUS)
        for name, m in (p.get("minutes_by_project") or {}).items()
        if name != NO_PROJECT
    ]
    found += [
        Fact(f"{key} change", kind, ch[key], CHANGE)
        for key, kind in CHANGE_KINDS.items()
        if key in ch
    ]
    return found


def index_facts(f: Facts) -> list[Fact]:
    """The facts of `f` a text may state, each with the phrases that name it."""
    total = Fact(
        "total logged time",
        Kind.DURATION,
        f.total_minutes,
        phrases("total", "overall", "altogether")
        + tuple(("~", w) for w in ("logged", "tracked", "recorded")),
    )
    durations = _durations(f)
    return [total, *durations, *_ratios(f, durations), *_counts(f), *_previous(f)]


def known_names(f: Facts) -> set[Phrase]:
    """Projects, tags and activity types of the facts, as word runs."""
    names = {words(p) for p in f.minutes_by_project if p != NO_PROJECT}
    names |= {words(t["tag"]) for t in f.top_tags}
    names |= {words(t) for t in f.tag_entries}
    names |= {words(t.replace("_", " ")) for t in f.minutes_by_type}
    return {n for n in names if n}


_TITLE_NOISE = frozenset(
    [
        "entries",
        "entry",
        "time",
        "hours",
        "day",
        "days",
        "work",
        "week",
        "total",
        "logged",
        "with",
        "from",
        "into",
        "for",
        "the",
        "and",
        "a",
        "an",
        "of",
        "on",
        "to",
        "in",
        "at",
        "by",
        "via",
        "after",
        "before",
        "review",
        "fix",
        "add",
        "update",
        "daily",
    ]
)


def entry_facts(entries: Iterable[Any]) -> list[Fact]:
    """Each entry's duration, named by the words of its title ("the PostgreSQL course"
    for "Course: PostgreSQL query planning"); entries sharing a title add up too."""
    by_title: dict[str, float] = {}
    found = []
    for entry in entries:
        title = str(getattr(entry, "title", "") or "")
        spent = (entry.end_time - entry.start_time).total_seconds() / 60.0
        by_title[title] = by_title.get(title, 0.0) + spent
        names = tuple((w,) for w in words(title) if len(w) >= 3 and w not in _TITLE_NOISE)
        if names:
            found.append(Fact(f"entry {title!r}", Kind.DURATION, round(spent, 1), names))
    for title, spent in by_title.items():
        names = tuple((w,) for w in words(title) if len(w) >= 3 and w not in _TITLE_NOISE)
        if names:
            found.append(Fact(f"all {title!r} entries", Kind.DURATION, round(spent, 1), names))
    return found
