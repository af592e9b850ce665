"""The builtin backend's narratives: a title, a summary and key points per insight type,
and the text of a weekly report, all assembled from `Facts`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date

from englog.ai.analytics import NO_PROJECT, Facts, minutes
from englog.ai.schemas import EntryPayload, InsightType
from englog.ai.wording import (
    day_label,
    first,
    focus_verdict,
    hours,
    minutes_of,
    num,
    pct,
    plural,
    quoted,
    share_of,
    top_tags_text,
)
from englog.domain.entries import ImpactLevel, ValueRating

MAX_HIGHLIGHTS = 5

Narrative = tuple[str, str, list[str]]  # title, summary, key points


def named_projects(f: Facts) -> dict[str, float]:
    """Minutes per project without the entries that have none: "(none)" is no project."""
    return {p: m for p, m in f.minutes_by_project.items() if p != NO_PROJECT}


def _top_line(f: Facts) -> str:
    parts = []
    if top_type := first(f.minutes_by_type):
        parts.append(f"Most time went to {quoted(top_type[0])} ({hours(top_type[1])})")
    if top_project := first(named_projects(f)):
        parts.append(f"the project {quoted(top_project[0])} ({hours(top_project[1])})")
    return (" and ".join(parts) + ".") if parts else ""


def productivity(f: Facts) -> Narrative:
    title = f"Productivity: {hours(f.total_minutes)} logged, {pct(f.focus_ratio)} focus work"
    summary = (
        f"You logged {hours(f.total_minutes)} over {plural(f.entry_count, 'entry', 'entries')} "
        f"on {plural(f.days_active, 'day')}, with {focus_verdict(f.focus_ratio, f.total_minutes)}: "
        f"{pct(f.focus_ratio)} focus work against {pct(f.meeting_share)} in meetings. "
        f"{pct(f.high_value_share)} of the time went to work rated high or critical. "
        + _top_line(f)
        + overlap_note(f)
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
    learning, research = minutes_of(f, "learning"), minutes_of(f, "research")
    title = f"Skill development across {plural(len(f.minutes_by_type), 'activity type')}"
    if learning + research > 0:
        growth = (
            f"You spent {hours(learning)} learning ({pct(share_of(f, 'learning'))} of your "
            f"time) and {hours(research)} on research ({pct(share_of(f, 'research'))})."
        )
    else:
        growth = "No time was logged as learning or research."
    areas = f"; the areas with the most time were {top_tags_text(f)}" if f.top_tags else ""
    summary = (
        f"{growth} Your work touched {plural(len(f.minutes_by_type), 'activity type')} and "
        f"{plural(f.project_count, 'project')}{areas}."
    )
    points = [
        f"Learning: {hours(learning)} ({pct(share_of(f, 'learning'))} of logged time).",
        f"Research: {hours(research)} ({pct(share_of(f, 'research'))}).",
        f"Documentation: {hours(minutes_of(f, 'documentation'))}, which consolidates what "
        "you learn.",
    ]
    if debugging := minutes_of(f, "debugging"):
        points.append(f"Debugging, hands-on knowledge of the systems: {hours(debugging)}.")
    if f.top_tags:
        points.append(f"Most practised areas by time: {top_tags_text(f, 5)}.")
    if f.learning_topics:
        topics = ", ".join(quoted(t) for t in f.learning_topics)
        points.insert(0, f"Topics learned or researched: {topics}.")
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
    return title, summary, points + habit_lines(f)


def team_collaboration(f: Facts) -> Narrative:
    meeting, review, support = (minutes_of(f, t) for t in ("meeting", "code_review", "support"))
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
        f"Meetings: {hours(meeting)} ({pct(share_of(f, 'meeting'))} of logged time).",
        f"Code review: {hours(review)} ({pct(share_of(f, 'code_review'))}).",
        f"Support: {hours(support)} ({pct(share_of(f, 'support'))}).",
        f"Time by impact: {impact}.",
    ]
    return title, summary, points


def patterns(f: Facts) -> Narrative:
    top_type = first(f.minutes_by_type)
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
        points.append(f"Recurring themes by time: {top_tags_text(f, 5)}.")
    return title, summary, points + habit_lines(f)


def trend_lines(f: Facts) -> list[str]:
    """Week-over-week changes of the total, the focus share, meetings and the top project,
    when the request carried the previous period (`englog.ai.trends`)."""
    if f.previous is None:
        return []
    p = f.previous

    def moved(change: float) -> str:
        return "rose" if change > 0 else "fell" if change < 0 else "held steady"

    lines = [
        f"Total logged time {moved(f.total_minutes - p['total_minutes'])} to "
        f"{hours(f.total_minutes)} from {hours(p['total_minutes'])} the week before.",
        f"Focus share {moved(round(f.focus_ratio - p['focus_ratio'], 2))} to "
        f"{pct(f.focus_ratio)} from {pct(p['focus_ratio'])} the week before.",
        f"Meeting time {moved(f.meeting_minutes - p['meeting_minutes'])} to "
        f"{hours(f.meeting_minutes)} from {hours(p['meeting_minutes'])} the week before.",
    ]
    if top := first(named_projects(f)):
        before = (p.get("minutes_by_project") or {}).get(top[0], 0.0)
        lines.append(
            f"The top project {quoted(top[0])} {moved(top[1] - before)} to {hours(top[1])} "
            f"from {hours(before)} the week before."
        )
    return lines


def habit_lines(f: Facts) -> list[str]:
    """The recurring meeting and the night work, named."""
    lines = []
    if f.recurring_meetings:
        r = f.recurring_meetings[0]
        lines.append(
            f"Recurring meeting: {quoted(r['title'])} on {plural(r['days'], 'day')}, usually "
            f"at {r['usual_start']} ({hours(r['minutes'])} in all)."
        )
    if f.night_entries:
        n = f.night_entries[0]
        across = ", across midnight" if n["crosses_midnight"] else ""
        lines.append(
            f"Night work: {quoted(n['title'])} ran {hours(n['minutes'])}, from "
            f"{n['start'][11:16]} to {n['end'][11:16]}{across}."
        )
    return lines


NARRATIVES: dict[str, Callable[[Facts], Narrative]] = {
    InsightType.PRODUCTIVITY: productivity,
    InsightType.SKILL_DEVELOPMENT: skill_development,
    InsightType.TIME_MANAGEMENT: time_management,
    InsightType.TEAM_COLLABORATION: team_collaboration,
    InsightType.PATTERNS: patterns,
}


def empty(kind: str) -> Narrative:
    label = kind.replace("_", " ").capitalize()
    return f"{label}: no entries", "No entries were given, so there is nothing to analyse.", []


def context_note(context: str | None) -> str:
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
    if top_project := first(named_projects(f)):
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
        + overlap_note(f)
    )


def overlap_note(f: Facts) -> str:
    """Said when entries overlap: logged time counts them twice, the clock did not."""
    if f.overlap_minutes < 1:
        return ""
    return (
        f" Entries overlap by {hours(f.overlap_minutes)}, so the clock time you worked was "
        f"{hours(f.clock_minutes)}."
    )
