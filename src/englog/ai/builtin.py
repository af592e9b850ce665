"""The `builtin` backend: insights and weekly reports written from the facts alone,
with no LLM, so every AI task runs on any machine (and is the fallback when Ollama
is down).

The text is assembled from `Facts`: every number it states comes from them, and the
recommendations are chosen by thresholds on them, so different weeks read
differently and nothing is invented. It cannot read entry descriptions; that is
what an LLM backend adds.

Confidence (each component kept in `confidence_components`)::

    confidence = schema_validity * backend_prior
                 * (0.50 * data_sufficiency + 0.25 * coverage + 0.25 * numeric_agreement)

- schema_validity: 1.0 when the result validates against its pydantic model (the
  builtin builds results through the model, so always 1.0; an LLM may score 0).
- coverage: share of the received entries whose minutes are in the facts (entries
  outside a report's week are left out).
- data_sufficiency: 0.5 * (1 - exp(-entries / 8)) + 0.5 * (1 - exp(-active_days / 3)):
  grows with entries and days covered, saturating; one entry scores about 0.2, a
  full week about 0.9. One entry says little about habits, however well described.
- numeric_agreement: share of the numbers in the title, summary, key points and
  highlights that match a fact (as minutes, hours or percent); 1.0 with no numbers.
- backend_prior: 0.9 for builtin, because a template cannot weigh what the
  descriptions say, only the times and ratings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from englog.ai.analytics import Facts, compute_facts, in_range, minutes
from englog.ai.schemas import (
    EntryPayload,
    Insight,
    InsightRequest,
    InsightType,
    WeeklyReport,
    WeeklyReportRequest,
)
from englog.domain.entries import ImpactLevel, ValueRating

BACKEND_NAME = "builtin"

# Thresholds that turn facts into recommendations.
MEETING_SHARE_HIGH = 0.30
SWITCHES_PER_DAY_HIGH = 6.0
HIGH_VALUE_SHARE_LOW = 0.40
SHORT_FOCUS_BLOCK_MINUTES = 90.0
LONG_DAY_MINUTES = 540.0
FRAGMENTED_ENTRY_MINUTES = 30.0
GROWTH_SHARE_LOW = 0.05
REVIEW_SHARE_LOW = 0.05
REVIEW_SHARE_HIGH = 0.25
SUPPORT_SHARE_HIGH = 0.20
TEAM_IMPACT_LOW = 0.30
TAG_CONCENTRATION_HIGH = 0.50
MAX_RECOMMENDATIONS = 4
MAX_HIGHLIGHTS = 5

# Confidence.
BACKEND_PRIOR = 0.9
WEIGHTS = {"data_sufficiency": 0.50, "coverage": 0.25, "numeric_agreement": 0.25}
ENTRY_SCALE = 8.0
DAY_SCALE = 3.0


# --- formatting: the only ways a number gets into the text -------------------------


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


def _minutes_of(facts: Facts, activity: str) -> float:
    return facts.minutes_by_type.get(activity, 0.0)


def _share_of(facts: Facts, activity: str) -> float:
    return facts.type_shares.get(activity, 0.0)


def _first(mapping: dict[str, float]) -> tuple[str, float] | None:
    return next(iter(mapping.items()), None)


def _top_tags_text(facts: Facts, limit: int = 3) -> str:
    return ", ".join(f"{quoted(t['tag'])} ({hours(t['minutes'])})" for t in facts.top_tags[:limit])


def _weekend_days(facts: Facts) -> list[str]:
    return [
        d for d, m in facts.daily_totals.items() if m > 0 and date.fromisoformat(d).weekday() >= 5
    ]


def _focus_verdict(ratio: float) -> str:
    if ratio >= 0.6:
        return "a strong share of deep work"
    if ratio >= 0.4:
        return "a mix of deep work and interruptions"
    return "little room for deep work"


# --- recommendations: each rule fires on a threshold and quotes the fact -----------

Rule = Callable[[Facts], str | None]


def rule_meetings(f: Facts) -> str | None:
    if f.meeting_share <= MEETING_SHARE_HIGH:
        return None
    return (
        f"Meetings took {pct(f.meeting_share)} of logged time ({hours(f.meeting_minutes)}), "
        f"above the {pct(MEETING_SHARE_HIGH)} mark: shorten recurring meetings, decline those "
        "without an agenda and move status updates to writing."
    )


def rule_switching(f: Facts) -> str | None:
    if f.context_switches_per_day <= SWITCHES_PER_DAY_HIGH:
        return None
    return (
        f"You switched activity or project {num(f.context_switches_per_day)} times per active "
        "day: batch reviews, support and small chores into one or two fixed slots so the rest "
        "of the day stays on one thing."
    )


def rule_short_focus(f: Facts) -> str | None:
    if f.focus_minutes <= 0 or f.longest_focus_block_minutes >= SHORT_FOCUS_BLOCK_MINUTES:
        return None
    return (
        f"Your longest uninterrupted focus stretch was {num(f.longest_focus_block_minutes)} min: "
        "reserve at least one 2-hour block a day in your calendar for deep work."
    )


def rule_low_value(f: Facts) -> str | None:
    if f.total_minutes <= 0 or f.high_value_share >= HIGH_VALUE_SHARE_LOW:
        return None
    low = f.minutes_by_value.get(ValueRating.LOW, 0.0)
    where = f"the {hours(low)} rated low" if low > 0 else "the work rated medium"
    return (
        f"Only {pct(f.high_value_share)} of your time went to work rated high or critical: "
        f"look at {where} for things to drop, delegate or automate, and start each day with "
        "the most valuable task."
    )


def rule_long_days(f: Facts) -> str | None:
    long_days = [d for d, m in f.daily_totals.items() if m > LONG_DAY_MINUTES]
    if not long_days or f.busiest_day is None:
        return None
    return (
        f"{plural(len(long_days), 'day')} went past {num(LONG_DAY_MINUTES / 60)} h (the longest: "
        f"{day_label(f.busiest_day)} with {hours(f.busiest_day_minutes)}): long days borrow "
        "from the next ones; stop at a planned time and leave a note to restart from."
    )


def rule_weekend(f: Facts) -> str | None:
    weekend = _weekend_days(f)
    if not weekend:
        return None
    spent = sum(f.daily_totals[d] for d in weekend)
    names = " and ".join(f"{date.fromisoformat(d):%A}" for d in weekend)
    return (
        f"Work was logged on {names} ({hours(spent)}): if it was on-call, take the time back "
        "during the week; if not, plan it into weekdays."
    )


def rule_fragmented(f: Facts) -> str | None:
    if not 0 < f.average_entry_minutes < FRAGMENTED_ENTRY_MINUTES:
        return None
    return (
        f"Entries average {num(f.average_entry_minutes)} min, so the day is cut into short "
        "pieces: group small tasks together and work in longer stretches."
    )


def rule_low_growth(f: Facts) -> str | None:
    growth = _share_of(f, "learning") + _share_of(f, "research")
    if f.total_minutes <= 0 or growth >= GROWTH_SHARE_LOW:
        return None
    topic = f", for example around {quoted(f.top_tags[0]['tag'])}" if f.top_tags else ""
    return (
        f"Learning and research together took {pct(growth)} of your time: reserve about 2 h a "
        f"week for learning tied to your current work{topic}."
    )


def rule_no_docs(f: Facts) -> str | None:
    if f.total_minutes <= 0 or _minutes_of(f, "documentation") > 0:
        return None
    return (
        "No documentation was logged: write up one thing you learned or decided (a runbook, a "
        "design note, a README section) so the knowledge outlives the conversation."
    )


def rule_tag_concentration(f: Facts) -> str | None:
    if not f.top_tags or f.total_minutes <= 0:
        return None
    top = f.top_tags[0]
    share = top["minutes"] / f.total_minutes
    if share <= TAG_CONCENTRATION_HIGH:
        return None
    return (
        f"{pct(share)} of your time carried the tag {quoted(top['tag'])}: you are building depth "
        "there; pick one adjacent area to broaden into next."
    )


def rule_review_low(f: Facts) -> str | None:
    share = _share_of(f, "code_review")
    if f.total_minutes <= 0 or share >= REVIEW_SHARE_LOW:
        return None
    return (
        f"Code review took {pct(share)} of your time: reviewing teammates' changes spreads "
        "context and is a cheap way to learn the codebase; keep a short review slot each day."
    )


def rule_review_high(f: Facts) -> str | None:
    share = _share_of(f, "code_review")
    if share <= REVIEW_SHARE_HIGH:
        return None
    return (
        f"Code review took {pct(share)} of your time: ask for smaller pull requests and share "
        "review duty across the team."
    )


def rule_support_high(f: Facts) -> str | None:
    share = _share_of(f, "support")
    if share <= SUPPORT_SHARE_HIGH:
        return None
    return (
        f"Support took {pct(share)} of your time ({hours(_minutes_of(f, 'support'))}): set up a "
        "rotation or an FAQ for recurring questions so it does not land on one person."
    )


def rule_team_low(f: Facts) -> str | None:
    if f.total_minutes <= 0 or f.team_impact_share >= TEAM_IMPACT_LOW:
        return None
    return (
        f"Only {pct(f.team_impact_share)} of your time had team-wide or broader impact: share "
        "what you build (a demo, a write-up, pairing) so it reaches beyond your own work."
    )


RULES: dict[str, list[Rule]] = {
    InsightType.PRODUCTIVITY: [
        rule_meetings,
        rule_low_value,
        rule_short_focus,
        rule_switching,
        rule_long_days,
        rule_weekend,
    ],
    InsightType.SKILL_DEVELOPMENT: [
        rule_low_growth,
        rule_tag_concentration,
        rule_no_docs,
        rule_review_low,
    ],
    InsightType.TIME_MANAGEMENT: [
        rule_switching,
        rule_short_focus,
        rule_long_days,
        rule_fragmented,
        rule_weekend,
        rule_meetings,
        rule_support_high,
    ],
    InsightType.TEAM_COLLABORATION: [
        rule_meetings,
        rule_review_low,
        rule_review_high,
        rule_support_high,
        rule_team_low,
        rule_no_docs,
    ],
    InsightType.PATTERNS: [
        rule_fragmented,
        rule_switching,
        rule_weekend,
        rule_tag_concentration,
        rule_long_days,
    ],
}
WEEKLY_RULES: list[Rule] = [
    rule_meetings,
    rule_low_value,
    rule_switching,
    rule_short_focus,
    rule_long_days,
    rule_weekend,
    rule_low_growth,
    rule_support_high,
    rule_no_docs,
]


def keep_going(kind: str, f: Facts) -> str:
    """The advice when no threshold fires: name what works, with its number."""
    if kind == InsightType.SKILL_DEVELOPMENT:
        area = quoted(f.top_tags[0]["tag"]) if f.top_tags else "your main activity"
        return f"Keep building on {area}: turn what you learned into a short write-up or talk."
    if kind == InsightType.TIME_MANAGEMENT:
        return (
            f"Your days are balanced at about {hours(f.average_minutes_per_active_day)} per "
            "active day: keep ending each day with a short plan for the next."
        )
    if kind == InsightType.TEAM_COLLABORATION:
        return (
            f"Collaboration looks healthy ({pct(f.team_impact_share)} of time with team-wide or "
            "broader impact): keep reviews and meetings at this level."
        )
    return (
        f"Keep the rhythm: {pct(f.focus_ratio)} focus time and {pct(f.high_value_share)} on "
        "high-value work; protect the habits that made it possible."
    )


def recommend(kind: str, f: Facts, rules: Sequence[Rule]) -> list[str]:
    fired = [text for rule in rules if (text := rule(f)) is not None]
    return fired[:MAX_RECOMMENDATIONS] or [keep_going(kind, f)]


# --- narratives per insight type ---------------------------------------------------

Narrative = tuple[str, str, list[str]]  # title, summary, key points


def _top_line(f: Facts) -> str:
    parts = []
    if top_type := _first(f.minutes_by_type):
        parts.append(f"Most time went to {quoted(top_type[0])} ({hours(top_type[1])})")
    if top_project := _first(f.minutes_by_project):
        parts.append(f"the project {quoted(top_project[0])} ({hours(top_project[1])})")
    return (" and ".join(parts) + ".") if parts else ""


def productivity(f: Facts) -> Narrative:
    title = f"Productivity: {hours(f.total_minutes)} logged, {pct(f.focus_ratio)} focus work"
    summary = (
        f"You logged {hours(f.total_minutes)} over {plural(f.entry_count, 'entry', 'entries')} "
        f"on {plural(f.days_active, 'day')}, with {_focus_verdict(f.focus_ratio)}: "
        f"{pct(f.focus_ratio)} focus work against {pct(f.meeting_share)} in meetings. "
        f"{pct(f.high_value_share)} of the time went to work rated high or critical. "
        + _top_line(f)
    )
    points = [
        f"{hours(f.total_minutes)} across {plural(f.entry_count, 'entry', 'entries')}, "
        f"{hours(f.average_minutes_per_active_day)} per active day on average.",
        f"Focus work {hours(f.focus_minutes)} ({pct(f.focus_ratio)}) vs meetings "
        f"{hours(f.meeting_minutes)} ({pct(f.meeting_share)}).",
        f"High or critical value work: {pct(f.high_value_share)} of logged time.",
        f"Longest focus stretch {num(f.longest_focus_block_minutes)} min; "
        f"{num(f.context_switches_per_day)} context switches per active day.",
    ]
    if f.busiest_day is not None:
        points.append(f"Busiest day: {day_label(f.busiest_day)} ({hours(f.busiest_day_minutes)}).")
    return title, summary, points


def skill_development(f: Facts) -> Narrative:
    learning, research = _minutes_of(f, "learning"), _minutes_of(f, "research")
    title = f"Skill development across {plural(len(f.minutes_by_type), 'activity type')}"
    if learning + research > 0:
        growth = (
            f"You spent {hours(learning)} learning and {hours(research)} on research "
            f"({pct(_share_of(f, 'learning'))} and {pct(_share_of(f, 'research'))} of your time)."
        )
    else:
        growth = "No time was logged as learning or research."
    areas = f"; the areas with the most time were {_top_tags_text(f)}" if f.top_tags else ""
    summary = (
        f"{growth} Your work touched {plural(len(f.minutes_by_type), 'activity type')} and "
        f"{plural(f.project_count, 'project')}{areas}."
    )
    points = [
        f"Learning: {hours(learning)} ({pct(_share_of(f, 'learning'))} of logged time).",
        f"Research: {hours(research)} ({pct(_share_of(f, 'research'))}).",
        f"Documentation, which consolidates what you learn: "
        f"{hours(_minutes_of(f, 'documentation'))}.",
    ]
    if debugging := _minutes_of(f, "debugging"):
        points.append(f"Debugging, hands-on knowledge of the systems: {hours(debugging)}.")
    if f.top_tags:
        points.append(f"Most practised areas by time: {_top_tags_text(f, 5)}.")
    return title, summary, points


def time_management(f: Facts) -> Narrative:
    title = f"Time management: {hours(f.average_minutes_per_active_day)} per active day"
    idle = [f"{date.fromisoformat(d):%A}" for d, m in f.daily_totals.items() if m == 0]
    summary = (
        f"Across {plural(f.days_active, 'active day')} you averaged "
        f"{hours(f.average_minutes_per_active_day)} per day"
        + (
            f"; the busiest was {day_label(f.busiest_day)} with {hours(f.busiest_day_minutes)}."
            if f.busiest_day
            else "."
        )
        + (f" Nothing was logged on {', '.join(idle)}." if idle else "")
        + f" Work changed activity or project {num(f.context_switches_per_day)} times per "
        f"active day, and the longest focus stretch was {num(f.longest_focus_block_minutes)} min."
    )
    daily = ", ".join(f"{date.fromisoformat(d):%a} {hours(m)}" for d, m in f.daily_totals.items())
    points = [
        f"Day by day: {daily}." if daily else "No days with logged time.",
        f"Average entry length: {num(f.average_entry_minutes)} min.",
        f"Context switches: {f.context_switches} in total, "
        f"{num(f.context_switches_per_day)} per active day.",
        f"Longest focus stretch: {num(f.longest_focus_block_minutes)} min.",
        f"Longest streak: {plural(f.streak_days, 'day')} in a row with logged work.",
    ]
    return title, summary, points


def team_collaboration(f: Facts) -> Narrative:
    meeting, review, support = (_minutes_of(f, t) for t in ("meeting", "code_review", "support"))
    title = (
        f"Team collaboration: {pct(f.team_impact_share)} of time with team-wide or broader impact"
    )
    top_impact = max(f.minutes_by_impact.items(), key=lambda kv: kv[1])
    summary = (
        f"{pct(f.team_impact_share)} of your time had team-wide or broader impact; most of it "
        f"was at the {top_impact[0]} level ({hours(top_impact[1])}). You spent {hours(meeting)} "
        f"in meetings, {hours(review)} reviewing code and {hours(support)} supporting others."
    )
    impact = ", ".join(f"{level} {hours(m)}" for level, m in f.minutes_by_impact.items())
    points = [
        f"Meetings: {hours(meeting)} ({pct(_share_of(f, 'meeting'))} of logged time).",
        f"Code review: {hours(review)} ({pct(_share_of(f, 'code_review'))}).",
        f"Support: {hours(support)} ({pct(_share_of(f, 'support'))}).",
        f"Time by impact: {impact}.",
    ]
    return title, summary, points


def patterns(f: Facts) -> Narrative:
    top_type = _first(f.minutes_by_type)
    title = f"Patterns: {plural(f.streak_days, 'day')} in a row, busiest on " + (
        f"{date.fromisoformat(f.busiest_day):%A}" if f.busiest_day else "no day"
    )
    habit = (
        f"{quoted(top_type[0])} is the habit that takes most time "
        f"({pct(f.type_shares.get(top_type[0], 0.0))} of it)"
        if top_type
        else "no activity dominates"
    )
    summary = (
        f"Over {plural(f.days_active, 'active day')} {habit}. Entries last "
        f"{num(f.average_entry_minutes)} min on average and work changes activity or project "
        f"{num(f.context_switches_per_day)} times per active day; the longest streak of logged "
        f"days is {plural(f.streak_days, 'day')}."
    )
    points = [
        "Share of time by activity: "
        + ", ".join(f"{quoted(t)} {pct(s)}" for t, s in list(f.type_shares.items())[:4])
        + ".",
        f"Average entry length: {num(f.average_entry_minutes)} min.",
        f"Longest focus stretch: {num(f.longest_focus_block_minutes)} min.",
    ]
    if f.busiest_day is not None:
        points.append(f"Busiest day: {day_label(f.busiest_day)} ({hours(f.busiest_day_minutes)}).")
    if f.top_tags:
        points.append(f"Recurring themes by time: {_top_tags_text(f, 5)}.")
    return title, summary, points


NARRATIVES: dict[str, Callable[[Facts], Narrative]] = {
    InsightType.PRODUCTIVITY: productivity,
    InsightType.SKILL_DEVELOPMENT: skill_development,
    InsightType.TIME_MANAGEMENT: time_management,
    InsightType.TEAM_COLLABORATION: team_collaboration,
    InsightType.PATTERNS: patterns,
}


def _empty(kind: str) -> Narrative:
    label = kind.replace("_", " ").capitalize()
    return f"{label}: no entries", "No entries were given, so there is nothing to analyse.", []


def _context_note(context: str | None) -> str:
    if not context:
        return ""
    note = context.strip()[:200]
    return f" You asked about {quoted(note)}; the builtin backend reports what the facts show."


# --- weekly report -----------------------------------------------------------------

_VALUE_RANK = {v.value: i for i, v in enumerate(ValueRating)}
_IMPACT_RANK = {v.value: i for i, v in enumerate(ImpactLevel)}


def notable_entries(entries: Iterable[EntryPayload], limit: int) -> list[EntryPayload]:
    """High and critical entries, most valuable, widest impact and longest first."""
    valuable = [e for e in entries if _VALUE_RANK[e.value_rating] >= _VALUE_RANK["high"]]
    return sorted(
        valuable,
        key=lambda e: (-_VALUE_RANK[e.value_rating], -_IMPACT_RANK[e.impact_level], -minutes(e)),
    )[:limit]


def highlights(entries: Sequence[EntryPayload], f: Facts) -> list[str]:
    lines = []
    if top_project := _first(f.minutes_by_project):
        lines.append(f"Most time on {quoted(top_project[0])}: {hours(top_project[1])}.")
    for e in notable_entries(entries, MAX_HIGHLIGHTS - 1):
        project = f" on {quoted(e.project)}" if e.project else ""
        lines.append(
            f"{str(e.value_rating).capitalize()} value, {e.impact_level} impact: "
            f"{quoted(e.title)} ({e.type}{project})."
        )
    return lines


def weekly_summary(f: Facts, start: date, end: date) -> str:
    if f.entry_count == 0:
        return f"No entries were logged between {start} and {end}."
    return (
        f"From {start} to {end} you logged {hours(f.total_minutes)} in "
        f"{plural(f.entry_count, 'entry', 'entries')} over {plural(f.days_active, 'day')}. "
        f"Focus work made up {pct(f.focus_ratio)} and meetings {pct(f.meeting_share)}; "
        f"{pct(f.high_value_share)} of the time went to high or critical work. "
        + _top_line(f)
        + (
            f" The busiest day was {day_label(f.busiest_day)} ({hours(f.busiest_day_minutes)})."
            if f.busiest_day
            else ""
        )
    )


# --- confidence --------------------------------------------------------------------

_QUOTED = re.compile(r'"[^"]*"')
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\w)")


def quoted_numbers(texts: Iterable[str]) -> list[str]:
    """The numeric claims in the texts: names in quotes and ISO dates are not claims."""
    found: list[str] = []
    for text in texts:
        found += _NUMBER.findall(_ISO_DATE.sub(" ", _QUOTED.sub(" ", text)))
    return found


def fact_values(facts: Any) -> set[float]:
    """Every number a text may derive from the facts: values as minutes, hours and
    percent, plus the sizes of collections (4 projects, 13 activity types)."""
    values: set[float] = set()
    if isinstance(facts, bool):
        return values
    if isinstance(facts, int | float):
        return {float(facts), facts / 60.0, facts * 100.0}
    if isinstance(facts, dict | list):
        values.add(float(len(facts)))
        for item in facts.values() if isinstance(facts, dict) else facts:
            values |= fact_values(item)
    return values


def numeric_agreement(texts: Iterable[str], facts: dict[str, Any]) -> float:
    """Share of quoted numbers that match a fact (to their printed precision)."""
    claims = quoted_numbers(texts)
    if not claims:
        return 1.0
    allowed = fact_values(facts)

    def matches(token: str) -> bool:
        tolerance = (0.05 if "." in token else 0.5) + 1e-9
        return any(abs(float(token) - value) <= tolerance for value in allowed)

    return round(sum(map(matches, claims)) / len(claims), 3)


def data_sufficiency(entry_count: int, days_active: int) -> float:
    by_entries = 1.0 - math.exp(-entry_count / ENTRY_SCALE)
    by_days = 1.0 - math.exp(-days_active / DAY_SCALE)
    return round(0.5 * by_entries + 0.5 * by_days, 3)


def coverage(facts: Facts) -> float:
    received = facts.entry_count + facts.excluded_entries
    return round(facts.entry_count / received, 3) if received else 0.0


def confidence_components(facts: Facts, texts: Iterable[str]) -> dict[str, float]:
    return {
        "schema_validity": 1.0,
        "coverage": coverage(facts),
        "data_sufficiency": data_sufficiency(facts.entry_count, facts.days_active),
        "numeric_agreement": numeric_agreement(texts, facts.as_dict()),
        "backend_prior": BACKEND_PRIOR,
    }


def combine_confidence(components: dict[str, float]) -> float:
    """The formula in the module docstring; clamped to [0, 1]."""
    weighted = sum(weight * components[name] for name, weight in WEIGHTS.items())
    value = components["schema_validity"] * components["backend_prior"] * weighted
    return round(min(1.0, max(0.0, value)), 3)


# --- the backend -------------------------------------------------------------------


class BuiltinBackend:
    """Templated narrative from the facts; no network, no model, never degraded."""

    name = BACKEND_NAME

    async def generate_insight(self, req: InsightRequest) -> Insight:
        facts = compute_facts(req.entries)
        kind = str(req.insight_type)
        title, summary, points = NARRATIVES[kind](facts) if facts.entry_count else _empty(kind)
        summary += _context_note(req.context)
        components = confidence_components(facts, [title, summary, *points])
        return Insight(
            insight_type=req.insight_type,
            title=title,
            summary=summary,
            key_points=points,
            recommendations=recommend(kind, facts, RULES[kind]) if facts.entry_count else [],
            backend=BACKEND_NAME,
            confidence=combine_confidence(components),
            confidence_components=components,
            degraded=False,
            facts=facts.as_dict(),
            entry_count=facts.entry_count,
            period_start=facts.period_start,
            period_end=facts.period_end,
        )

    async def generate_weekly_report(self, req: WeeklyReportRequest) -> WeeklyReport:
        facts = compute_facts(req.entries, req.week_start, req.week_end)
        in_week = [e for e in req.entries if in_range(e, req.week_start, req.week_end)]
        title = (
            f"Week of {req.week_start}: {hours(facts.total_minutes)} across "
            f"{plural(facts.project_count, 'project')}"
        )
        summary = weekly_summary(facts, req.week_start, req.week_end)
        lines = highlights(in_week, facts)
        components = confidence_components(facts, [title, summary, *lines])
        return WeeklyReport(
            week_start=req.week_start,
            week_end=req.week_end,
            title=title,
            summary=summary,
            highlights=lines,
            time_breakdown=facts.minutes_by_type,
            recommendations=self._weekly_recommendations(facts),
            backend=BACKEND_NAME,
            confidence=combine_confidence(components),
            confidence_components=components,
            degraded=False,
            facts=facts.as_dict(),
            entry_count=facts.entry_count,
        )

    @staticmethod
    def _weekly_recommendations(facts: Facts) -> list[str]:
        if not facts.entry_count:
            return []
        return recommend(InsightType.PRODUCTIVITY, facts, WEEKLY_RULES)

    async def health(self) -> dict[str, Any]:
        return {"backend": BACKEND_NAME, "status": "healthy"}

    def usable(self) -> tuple[bool, str]:
        """No dependency: always."""
        return True, ""
