"""Scripted LLM answers about the week in `ai_week`, faithful ones in many styles and
unfaithful ones with one kind of error each, all written from the facts so they stay
right (or wrong by exactly one thing) whatever the facts are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from englog.ai.analytics import NO_PROJECT, Facts

Answer = dict[str, Any]
KINDS = [
    "productivity",
    "skill_development",
    "time_management",
    "team_collaboration",
    "patterns",
    "weekly_report",
]


def h(minutes: float) -> str:
    return f"{minutes / 60:.1f} h"


def pc(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def dname(iso: str) -> str:
    return f"{date.fromisoformat(iso):%A}"


def dabbr(iso: str) -> str:
    return f"{date.fromisoformat(iso):%a}"


def hm(minutes: float) -> str:
    whole, rest = divmod(round(minutes), 60)
    return f"{whole} h {rest} min" if rest else f"{whole} h"


@dataclass(frozen=True)
class W:
    """The figures of the facts the answers quote."""

    f: Facts

    @property
    def projects(self) -> list[tuple[str, float]]:
        return [(p, m) for p, m in self.f.minutes_by_project.items() if p != NO_PROJECT]

    def typ(self, name: str) -> float:
        return self.f.minutes_by_type.get(name, 0.0)

    def share(self, name: str) -> float:
        return self.f.type_shares.get(name, 0.0)

    @property
    def busiest(self) -> str:
        return self.f.busiest_day or ""

    @property
    def zero_day(self) -> str:
        return next(d for d, m in self.f.daily_totals.items() if m == 0)

    @property
    def other_active_day(self) -> str:
        """An active day that is not the busiest (nor tied with it)."""
        top = self.f.busiest_day_minutes
        return next(d for d, m in self.f.daily_totals.items() if 0 < m < top)

    @property
    def high_minutes(self) -> float:
        return self.f.minutes_by_value["high"] + self.f.minutes_by_value["critical"]


def answer(kind: str, title: str, summary: str, points: list[str], **extra: Any) -> Answer:
    key = "highlights" if kind == "weekly_report" else "key_points"
    data: Answer = {
        "title": title,
        "summary": summary,
        key: points,
        "recommendations": extra.pop(
            "recommendations", ["Keep a 2-hour focus block each morning and batch reviews."]
        ),
        "cited_entry_ids": extra.pop("cited", ["w-01", "w-07", "w-19"]),
        "self_confidence": extra.pop("self_confidence", 0.8),
    }
    return data | extra


# --- faithful, in different styles ---------------------------------------------------


def prose_hours(w: W, kind: str) -> Answer:
    (p1, m1), (p2, m2) = w.projects[:2]
    f = w.f
    return answer(
        kind,
        f"{h(f.total_minutes)} logged, {pc(f.focus_ratio)} focus work",
        f"You logged {h(f.total_minutes)} across {f.entry_count} entries on {f.days_active} "
        f"days. Focus work took {pc(f.focus_ratio)} of the time and meetings "
        f"{pc(f.meeting_share)}. The {p1} project took {h(m1)} and {p2} {h(m2)}.",
        [
            f"Development was the largest activity at {h(w.typ('development'))}.",
            f"Your longest focus stretch lasted {h(f.longest_focus_block_minutes)}.",
            f"{dname(w.busiest)} was the busiest day with {h(f.busiest_day_minutes)}.",
        ],
    )


def bullets_minutes(w: W, kind: str) -> Answer:
    f = w.f
    return answer(
        kind,
        f"Week in minutes: {f.total_minutes:.0f} logged",
        f"- Total: {f.total_minutes:.0f} minutes\n- Meetings: {f.meeting_minutes:.0f} min "
        f"over {f.meeting_count} meetings\n- Development: {w.typ('development'):.0f} min",
        [
            f"Busiest day: {dname(w.busiest)} ({f.busiest_day_minutes:.0f} min)",
            f"Code review: {w.typ('code_review'):.0f} min",
            f"Debugging: {w.typ('debugging'):.0f} min",
        ],
        cited=[],
        self_confidence=0.6,
    )


def rounded(w: W, kind: str) -> Answer:
    f = w.f
    (p1, m1), _ = w.projects[:2]
    return answer(
        kind,
        f"About {round(f.total_minutes / 60)} hours of work",
        f"You put in roughly {round(f.total_minutes / 60)} hours this week, about "
        f"{round(f.focus_ratio * 100)}% of it in focus work. Around "
        f"{round(m1 / 60)} hours went to {p1}.",
        [
            f"Meetings took around {round(f.meeting_minutes / 60)} hours.",
            f"Nearly {round(w.typ('development') / 60)} hours of development.",
        ],
        self_confidence=0.5,
    )


def per_day(w: W, kind: str) -> Answer:
    f = w.f
    days = ", ".join(f"{dabbr(d)} {h(m)}" for d, m in f.daily_totals.items())
    return answer(
        kind,
        "How the week was spread",
        f"Per day: {days}. The average active day was {h(f.average_minutes_per_active_day)}.",
        [f"{dname(d)}: {h(m)}" for d, m in f.daily_totals.items() if m > 0],
    )


def compound(w: W, kind: str) -> Answer:
    f = w.f
    quiet = f.quietest_day or w.busiest
    return answer(
        kind,
        f"{hm(f.total_minutes)} in total",
        f"The week added up to {hm(f.total_minutes)}. {dname(w.busiest)} ran to "
        f"{hm(f.busiest_day_minutes)}, the longest day, while {dname(quiet)} was the "
        f"quietest active day at {hm(f.daily_totals[quiet])}.",
        [f"{dname(d)}: {hm(m)}" for d, m in f.daily_totals.items() if m > 0][:4],
        cited=["w-07"],
    )


def counts(w: W, kind: str) -> Answer:
    f = w.f
    standup = f.recurring_meetings[0]
    return answer(
        kind,
        f"{f.entry_count} entries, {f.meeting_count} meetings",
        f"You logged {f.entry_count} entries on {f.days_active} active days, including "
        f"{f.meeting_count} meetings; the {standup['title'].lower()} ran on "
        f"{standup['days']} days. {f.tag_entries['postgres']} entries were tagged postgres, "
        "and PR #412 and PR #418 were reviewed.",
        [
            f"{f.entries_by_type['development']} development entries.",
            f"The schema migration to v2.14 shipped on orion; release 1.3 of the export API "
            f"went out ({f.entries_by_type['deployment']} deployment).",
        ],
    )


def percentages(w: W, kind: str) -> Answer:
    f = w.f
    top4 = list(f.type_shares.items())[:4]
    listed = ", ".join(f"{t.replace('_', ' ')} {pc(s)}" for t, s in top4)
    return answer(
        kind,
        f"{pc(f.focus_ratio)} focus, {pc(f.meeting_share)} meetings",
        f"Time by activity: {listed}. {pc(f.high_value_share)} of the time went to work "
        f"rated high or critical and {pc(f.team_impact_share)} had team-wide or broader impact.",
        [
            f"Focus share: {pc(f.focus_ratio)}",
            f"Meeting share: {pc(f.meeting_share)}",
        ],
        cited=["w-01", "nope-1"],
    )


def names_and_habits(w: W, kind: str) -> Answer:
    f = w.f
    standup = f.recurring_meetings[0]
    night = f.night_entries[0]
    return answer(
        kind,
        "Habits: a daily standup and one night on call",
        f"The {standup['title'].lower()} happened on {standup['days']} days at "
        f"{standup['usual_start']}. On {dname(night['start'][:10])} night an on-call page "
        f"kept you up past midnight for {h(night['minutes'])}. You spent "
        f"{h(w.typ('learning'))} on the PostgreSQL query planning course.",
        [
            f"Learning: {h(w.typ('learning'))}; research: {h(w.typ('research'))}.",
            "Topics: postgres, query planning and Kafka tiered storage.",
        ],
    )


def references(w: W, kind: str) -> Answer:
    (p1, _), (p2, _) = w.projects[:2]
    return answer(
        kind,
        "{total_hours} logged, {focus_share} in focus",
        "You logged {total_hours} over {entry_count} entries. The busiest day was "
        "{busiest_day} with {busiest_day_hours}. " + f"{p1} took {{project_hours:{p1}}} and "
        f"{p2} {{project_hours:{p2}}}.",
        [
            "Meetings: {meeting_hours} ({meeting_share}), {meeting_count} in all.",
            "Development: {type_hours:development}; debugging {type_share:debugging}.",
            "{tag_entries:postgres} entries tagged postgres.",
        ],
    )


def high_value(w: W, kind: str) -> Answer:
    f = w.f
    return answer(
        kind,
        "Where the valuable time went",
        f"{w.high_minutes:,.0f} minutes of high or critical work, {pc(f.high_value_share)} "
        f"of the total. Team-wide or broader impact: {pc(f.team_impact_share)}.",
        [
            f"Support took {h(w.typ('support'))}, including the on-call page.",
            f"Documentation: {h(w.typ('documentation'))}.",
        ],
        cited=[],
    )


def structured(w: W, kind: str) -> Answer:
    f = w.f
    (p1, m1), _ = w.projects[:2]
    return answer(
        kind,
        f"{p1} led the week",
        f"{p1} took the most time ({h(m1)}), and {dname(w.busiest)} was the heaviest day "
        f"({h(f.busiest_day_minutes)}).",
        [
            f"Context switches: {f.context_switches} in total, "
            f"{f.context_switches_per_day:g} per day."
        ],
        busiest_day=dname(w.busiest),
        top_project=p1,
        top_activity=next(iter(f.minutes_by_type)),
        focus_areas=["postgres", p1],
    )


def terse(w: W, kind: str) -> Answer:
    f = w.f
    return answer(
        kind,
        f"Focus {pc(f.focus_ratio)}",
        f"Meetings {h(f.meeting_minutes)}. Streak: {f.streak_days} days in a row.",
        [f"Average entry: {f.average_entry_minutes:g} min", f"Entries: {f.entry_count}"],
        self_confidence=0.95,
    )


FAITHFUL: dict[str, Callable[[W, str], Answer]] = {
    "prose_hours": prose_hours,
    "bullets_minutes": bullets_minutes,
    "rounded": rounded,
    "per_day": per_day,
    "compound": compound,
    "counts": counts,
    "percentages": percentages,
    "names_and_habits": names_and_habits,
    "references": references,
    "high_value": high_value,
    "structured": structured,
    "terse": terse,
}


def trend_faithful(w: W, kind: str) -> Answer:
    """Needs the previous week in the request."""
    f, prev = w.f, w.f.previous or {}
    return answer(
        kind,
        f"{h(f.total_minutes)}, up from {h(prev['total_minutes'])} last week",
        f"You logged {h(f.total_minutes)}, up from {h(prev['total_minutes'])} the week "
        f"before. Meetings dropped to {pc(f.meeting_share)} from {pc(prev['meeting_share'])}.",
        [f"Focus share {pc(f.focus_ratio)} (last week {pc(prev['focus_ratio'])})."],
    )


# --- unfaithful: one kind of error each -------------------------------------------------


def _base(w: W, kind: str, wrong: str, where: str = "summary") -> Answer:
    """A faithful answer with one wrong sentence added to its summary or points."""
    a = prose_hours(w, kind)
    a["self_confidence"] = 0.95
    key = "highlights" if kind == "weekly_report" else "key_points"
    if where == "summary":
        a["summary"] = f"{a['summary']} {wrong}"
    else:
        a[key] = [*a[key][:2], wrong]
    return a


def busiest_zero_day(w: W, kind: str) -> Answer:
    return _base(w, kind, f"{dname(w.zero_day)} was your busiest day.")


def busiest_wrong_day(w: W, kind: str) -> Answer:
    a = prose_hours(w, kind)
    key = "highlights" if kind == "weekly_report" else "key_points"
    a[key][2] = f"The busiest day was {dname(w.other_active_day)}."
    return a


def projects_swapped(w: W, kind: str) -> Answer:
    (p1, m1), (p2, m2) = w.projects[:2]
    return _base(w, kind, f"{p1} took {h(m2)}, {p2} {h(m1)}.", "points")


def german(w: W, kind: str) -> Answer:
    f = w.f
    (p1, m1), _ = w.projects[:2]
    return answer(
        kind,
        f"{h(f.total_minutes)} erfasst",
        f"Du hast diese Woche {h(f.total_minutes)} in {f.entry_count} Einträgen erfasst. Die "
        f"meiste Zeit ging an das Projekt {p1} ({h(m1)}), und der Anteil der Meetings war "
        f"{pc(f.meeting_share)}. Es war eine Woche mit viel Fokus.",
        ["Der Fokus lag auf der Entwicklung.", f"Meetings: {pc(f.meeting_share)}"],
        self_confidence=0.9,
    )


def meeting_share_wrong(w: W, kind: str) -> Answer:
    return _base(w, kind, f"Meetings took {pc(w.f.meeting_share + 0.15)} of your week.", "points")


def meeting_count_wrong(w: W, kind: str) -> Answer:
    return _base(w, kind, f"You sat through {w.f.meeting_count + 2} meetings.")


def total_off(w: W, kind: str) -> Answer:
    a = prose_hours(w, kind)
    wrong = h(w.f.total_minutes + 300)
    a["title"] = f"{wrong} logged"
    a["summary"] = a["summary"].replace(h(w.f.total_minutes), wrong)
    return a


def types_swapped(w: W, kind: str) -> Answer:
    return _base(
        w,
        kind,
        f"Development was {pc(w.share('debugging'))} of the time and debugging "
        f"{pc(w.share('development'))}.",
        "points",
    )


def trend_without_previous(w: W, kind: str) -> Answer:
    return _base(w, kind, "That is up from last week, when you logged less.")


def fluff(w: W, kind: str) -> Answer:
    return answer(
        kind,
        "A balanced and productive week",
        "You balanced deep work and collaboration well this week and kept a steady rhythm. "
        "Your focus on delivering value to the team shows.",
        ["Strong focus on delivery.", "Good collaboration with the team."],
        self_confidence=0.9,
    )


def garbage(w: W, kind: str) -> Answer:
    return answer(
        kind,
        "string",
        "string string string string string string",
        ["string", "lorem ipsum dolor sit amet"],
        cited=["w-01"],
        self_confidence=1.0,
    )


def echo(w: W, kind: str) -> Answer:
    f = w.f
    return answer(
        kind,
        "FACTS (computed, exact)",
        'FACTS (computed, exact): {"entry_count":'
        + str(f.entry_count)
        + ',"total_minutes":'
        + f"{f.total_minutes}"
        + "} ENTRIES: - id=w-01 2026-11-09 Mon 09:00-09:15 meeting",
        ["Insight type: " + kind, "Answer with one JSON object that matches the schema."],
        self_confidence=0.9,
    )


def invented_project(w: W, kind: str) -> Answer:
    return _base(w, kind, "Another 6.5 h went to Zephyr, the billing rewrite.", "points")


def wrong_field(w: W, kind: str) -> Answer:
    a = prose_hours(w, kind)
    return a | {"busiest_day": dname(w.other_active_day), "self_confidence": 0.9}


def tag_count_wrong(w: W, kind: str) -> Answer:
    return _base(w, kind, f"{w.f.tag_entries['postgres'] + 4} entries were tagged postgres.")


def learning_wrong(w: W, kind: str) -> Answer:
    return _base(w, kind, f"Learning took {h(w.typ('learning') + 150)}.", "points")


def day_hours_swapped(w: W, kind: str) -> Answer:
    f = w.f
    quiet = f.quietest_day or ""
    return _base(w, kind, f"{dname(w.busiest)}: {hm(f.daily_totals[quiet])}.", "points")


def focus_wrong(w: W, kind: str) -> Answer:
    return _base(w, kind, f"Focus work was only {pc(w.f.focus_ratio - 0.25)} of the week.")


UNFAITHFUL: dict[str, Callable[[W, str], Answer]] = {
    "busiest_zero_day": busiest_zero_day,
    "busiest_wrong_day": busiest_wrong_day,
    "projects_swapped": projects_swapped,
    "german": german,
    "meeting_share_wrong": meeting_share_wrong,
    "meeting_count_wrong": meeting_count_wrong,
    "total_off": total_off,
    "types_swapped": types_swapped,
    "trend_without_previous": trend_without_previous,
    "fluff": fluff,
    "garbage": garbage,
    "echo": echo,
    "invented_project": invented_project,
    "wrong_field": wrong_field,
    "tag_count_wrong": tag_count_wrong,
    "learning_wrong": learning_wrong,
    "day_hours_swapped": day_hours_swapped,
    "focus_wrong": focus_wrong,
}


def trend_wrong_direction(w: W, kind: str) -> Answer:
    """Needs the previous week: meetings fell, the answer says they rose."""
    f, prev = w.f, w.f.previous or {}
    a = trend_faithful(w, kind)
    a["summary"] = (
        f"You logged {h(f.total_minutes)}, up from {h(prev['total_minutes'])} the week before. "
        "Meeting time rose compared with last week."
    )
    return a
