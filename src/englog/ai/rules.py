"""The builtin backend's recommendations: each rule fires on a threshold over the
facts and quotes the fact that made it fire, so different weeks get different advice
and none is invented. Thresholds are inclusive (a 9-hour day is long, 30 % of the time
in meetings is a lot); the rules name what they are about (the recurring meeting, the
night on call, the topic learned); under MIN_JUDGED_MINUTES logged, the only advice is
that there is too little to judge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from englog.ai.analytics import Facts
from englog.ai.schemas import InsightType
from englog.ai.wording import (
    JUDGED_MINUTES,
    day_label,
    hours,
    minutes_of,
    num,
    pct,
    plural,
    quoted,
    share_of,
    weekend_days,
)
from englog.domain.entries import ValueRating

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
MIN_JUDGED_MINUTES = JUDGED_MINUTES  # under 2 h logged, shares say nothing about habits
MAX_RECOMMENDATIONS = 4


Rule = Callable[[Facts], str | None]


def _recurring_text(r: dict[str, Any]) -> str:
    return (
        f"{quoted(r['title'])} ({plural(r['days'], 'day')} at {r['usual_start']}, "
        f"{hours(r['minutes'])} in all)"
    )


def rule_meetings(f: Facts) -> str | None:
    if f.meeting_share < MEETING_SHARE_HIGH:
        return None
    recurring = (
        f" Start with the recurring {_recurring_text(f.recurring_meetings[0])}: shorten it "
        "or make it written on some days;"
        if f.recurring_meetings
        else " Shorten recurring meetings,"
    )
    return (
        f"Meetings took {pct(f.meeting_share)} of logged time ({hours(f.meeting_minutes)}), "
        f"at or above the {pct(MEETING_SHARE_HIGH)} mark.{recurring} decline those without "
        "an agenda and move status updates to writing."
    )


def rule_recurring_meeting(f: Facts) -> str | None:
    if not f.recurring_meetings or f.meeting_share >= MEETING_SHARE_HIGH:
        return None  # rule_meetings names it when meetings are heavy
    r = f.recurring_meetings[0]
    return (
        f"The recurring {_recurring_text(r)} is a fixed cost of every week: keep it "
        "time-boxed and put anything longer than a status update in its own slot."
    )


def rule_switching(f: Facts) -> str | None:
    if f.context_switches_per_day < SWITCHES_PER_DAY_HIGH:
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


def _daytime_totals(f: Facts) -> dict[str, float]:
    """Daily totals without night work: a night on call is not a long office day."""
    totals = dict(f.daily_totals)
    for night in f.night_entries:
        day = night["start"][:10]
        if day in totals:
            spent = night.get("minutes_in_range", night["minutes"])
            totals[day] = max(0.0, totals[day] - spent)
    return totals


def rule_long_days(f: Facts) -> str | None:
    daytime = _daytime_totals(f)
    long_days = {d: m for d, m in daytime.items() if m >= LONG_DAY_MINUTES}
    if not long_days:
        return None
    longest = min(long_days, key=lambda d: (-long_days[d], d))
    return (
        f"{plural(len(long_days), 'day')} reached {num(LONG_DAY_MINUTES / 60)} h or more (the "
        f"longest: {day_label(longest)} with {hours(long_days[longest])}): long days borrow "
        "from the next ones; stop at a planned time and leave a note to restart from."
    )


def rule_night_work(f: Facts) -> str | None:
    if not f.night_entries:
        return None
    first = f.night_entries[0]
    start, end = first["start"], first["end"]
    across = " across midnight" if first["crosses_midnight"] else ""
    more = len(f.night_entries) - 1
    others = f" and {plural(more, 'other night entry', 'other night entries')}" if more else ""
    return (
        f"On-call or night work: {quoted(first['title'])} ran from {start[11:16]} to "
        f"{end[11:16]}{across} on {date.fromisoformat(start[:10]):%A}{others}. Take the "
        "time back the next morning, and if pages recur, review the alerts and the "
        "rotation with the team."
    )


def rule_weekend(f: Facts) -> str | None:
    nights = {n["start"][:10] for n in f.night_entries}
    weekend = [d for d in weekend_days(f) if d not in nights]  # named as on-call instead
    if not weekend:
        return None
    spent = sum(f.daily_totals[d] for d in weekend)
    names = " and ".join(f"{date.fromisoformat(d):%A}" for d in weekend)
    return (
        f"Work was logged on {names} ({hours(spent)}): if it was on-call, take the time back "
        "during the week; if not, plan it into weekdays."
    )


def rule_overlaps(f: Facts) -> str | None:
    if not f.overlapping_entries:
        return None
    return (
        f"{plural(f.overlapping_entries, 'entry', 'entries')} overlap in time, so their "
        "minutes are counted twice in these totals: correct the start or end times."
    )


def _topics(f: Facts) -> str:
    return " and ".join(quoted(t) for t in f.learning_topics[:2])


def rule_fragmented(f: Facts) -> str | None:
    if not 0 < f.average_entry_minutes < FRAGMENTED_ENTRY_MINUTES:
        return None
    return (
        f"Entries average {num(f.average_entry_minutes)} min, so the day is cut into short "
        "pieces: group small tasks together and work in longer stretches."
    )


def rule_low_growth(f: Facts) -> str | None:
    growth = share_of(f, "learning") + share_of(f, "research")
    if f.total_minutes <= 0 or growth >= GROWTH_SHARE_LOW:
        return None
    if f.learning_topics:
        topic = f", building on what you started ({_topics(f)})"
    else:
        topic = f", for example around {quoted(f.top_tags[0]['tag'])}" if f.top_tags else ""
    return (
        f"Learning and research together took {pct(growth)} of your time: reserve about 2 h a "
        f"week for learning tied to your current work{topic}."
    )


def rule_no_docs(f: Facts) -> str | None:
    if f.total_minutes <= 0 or minutes_of(f, "documentation") > 0:
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
    if share < TAG_CONCENTRATION_HIGH:
        return None
    return (
        f"{pct(share)} of your time carried the tag {quoted(top['tag'])}: you are building depth "
        "there; pick one adjacent area to broaden into next."
    )


def rule_review_low(f: Facts) -> str | None:
    share = share_of(f, "code_review")
    if f.total_minutes <= 0 or share >= REVIEW_SHARE_LOW:
        return None
    return (
        f"Code review took {pct(share)} of your time: reviewing teammates' changes spreads "
        "context and is a cheap way to learn the codebase; keep a short review slot each day."
    )


def rule_review_high(f: Facts) -> str | None:
    share = share_of(f, "code_review")
    if share < REVIEW_SHARE_HIGH:
        return None
    return (
        f"Code review took {pct(share)} of your time: ask for smaller pull requests and share "
        "review duty across the team."
    )


def rule_support_high(f: Facts) -> str | None:
    share = share_of(f, "support")
    if share < SUPPORT_SHARE_HIGH:
        return None
    return (
        f"Support took {pct(share)} of your time ({hours(minutes_of(f, 'support'))}): set up a "
        "rotation or an FAQ for recurring questions so it does not land on one person."
    )


def rule_team_low(f: Facts) -> str | None:
    if f.total_minutes <= 0 or f.team_impact_share >= TEAM_IMPACT_LOW:
        return None
    return (
        f"Only {pct(f.team_impact_share)} of your time had team-wide or broader impact: share "
        "what you build (a demo, a write-up, pairing) so it reaches beyond your own work."
    )


def rule_learning_topic(f: Facts) -> str | None:
    if not f.learning_topics:
        return None
    spent = minutes_of(f, "learning") + minutes_of(f, "research")
    return (
        f"You studied {_topics(f)} ({hours(spent)} of learning and research): turn it into "
        "a short write-up or a change in the code this week, so it sticks."
    )


RULES: dict[str, list[Rule]] = {
    InsightType.PRODUCTIVITY: [
        rule_night_work,
        rule_meetings,
        rule_low_value,
        rule_short_focus,
        rule_switching,
        rule_long_days,
        rule_weekend,
        rule_overlaps,
    ],
    InsightType.SKILL_DEVELOPMENT: [
        rule_learning_topic,
        rule_low_growth,
        rule_tag_concentration,
        rule_no_docs,
        rule_review_low,
    ],
    InsightType.TIME_MANAGEMENT: [
        rule_night_work,
        rule_long_days,
        rule_overlaps,
        rule_recurring_meeting,
        rule_switching,
        rule_short_focus,
        rule_fragmented,
        rule_weekend,
        rule_meetings,
        rule_support_high,
    ],
    InsightType.TEAM_COLLABORATION: [
        rule_meetings,
        rule_recurring_meeting,
        rule_review_low,
        rule_review_high,
        rule_support_high,
        rule_team_low,
        rule_no_docs,
    ],
    InsightType.PATTERNS: [
        rule_recurring_meeting,
        rule_night_work,
        rule_overlaps,
        rule_fragmented,
        rule_switching,
        rule_weekend,
        rule_tag_concentration,
        rule_long_days,
    ],
}
WEEKLY_RULES: list[Rule] = [
    rule_night_work,
    rule_meetings,
    rule_long_days,
    rule_overlaps,
    rule_low_value,
    rule_switching,
    rule_short_focus,
    rule_weekend,
    rule_low_growth,
    rule_support_high,
    rule_no_docs,
]


def too_little(f: Facts) -> str:
    return (
        f"Only {hours(f.total_minutes)} logged: too little to judge habits or shares of "
        "time. Log a few full days and ask again."
    )


def keep_going(kind: str, f: Facts) -> str:
    """The advice when no threshold fires: name what works, with its number."""
    if kind == InsightType.SKILL_DEVELOPMENT:
        area = quoted(f.top_tags[0]["tag"]) if f.top_tags else "your main activity"
        area = _topics(f) if f.learning_topics else area
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
    if f.total_minutes < MIN_JUDGED_MINUTES:
        return [too_little(f)]
    fired = [text for rule in rules if (text := rule(f)) is not None]
    return fired[:MAX_RECOMMENDATIONS] or [keep_going(kind, f)]
