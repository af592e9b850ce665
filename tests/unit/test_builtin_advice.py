"""Issue 21 item 5: builtin advice a manager would find specific, one test per rule on
the realistic week of `ai_week` (or that week with one thing changed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from englog.ai.analytics import compute_facts
from englog.ai.builtin import BuiltinBackend
from englog.ai.rules import (
    rule_learning_topic,
    rule_long_days,
    rule_meetings,
    rule_night_work,
    rule_overlaps,
    rule_recurring_meeting,
    rule_weekend,
)
from englog.ai.schemas import InsightRequest, WeeklyReportRequest
from tests.unit.ai_week import WEEK, ZONE_NAME, payloads, previous_entries, week_entries

backend = BuiltinBackend()


def facts(entries: list[dict[str, Any]] | None = None) -> Any:
    return compute_facts(payloads(entries or week_entries()), *WEEK, ZONE_NAME)


async def advice(kind: str, entries: list[dict[str, Any]] | None = None) -> list[str]:
    req = InsightRequest(time_zone=ZONE_NAME, insight_type=kind, entries=entries or week_entries())
    return (await backend.generate_insight(req)).recommendations


async def test_a_nine_hour_day_is_long() -> None:
    """Thursday, 09:00 to 18:30 with half an hour for lunch: 540 minutes, long."""
    text = rule_long_days(facts())
    assert text is not None and "Thursday 2026-11-12 with 9.0 h" in text
    assert any("Thursday" in line for line in await advice("time_management"))


async def test_a_night_on_call_is_named_as_such_not_as_a_long_day() -> None:
    text = rule_night_work(facts())
    assert text is not None
    assert "On-call or night work" in text and "from 22:00 to 02:30 across midnight" in text
    assert '"On-call page: ingest backlog alert"' in text and "Sunday" in text
    long_days = rule_long_days(facts()) or ""
    assert "Sunday" not in long_days  # 4.5 h at night does not make a long office day
    assert rule_weekend(facts()) is None  # the weekend work is the on-call night
    for kind in ("productivity", "time_management", "patterns"):
        lines = await advice(kind)
        assert any("On-call" in line for line in lines), (kind, lines)
        assert not any("Sunday" in line and "planned time" in line for line in lines)


async def test_the_recurring_meeting_is_named() -> None:
    text = rule_recurring_meeting(facts())
    assert text is not None and '"Daily standup" (5 days at 09:00, 1.2 h in all)' in text
    for kind in ("time_management", "team_collaboration", "patterns"):
        assert any('"Daily standup"' in line for line in await advice(kind)), kind


async def test_heavy_meetings_name_the_recurring_one_and_the_threshold_is_inclusive() -> None:
    f = facts()
    text = rule_meetings(replace(f, meeting_share=0.30, meeting_minutes=760.5))
    assert text is not None and "30%" in text and '"Daily standup"' in text
    assert rule_meetings(replace(f, meeting_share=0.299)) is None


async def test_the_learning_topic_is_named() -> None:
    text = rule_learning_topic(facts())
    assert text is not None and '"postgres"' in text and '"query-planning"' in text
    assert any('"postgres"' in line for line in await advice("skill_development"))


async def test_too_little_logged_to_judge() -> None:
    """One 1-minute meeting: no share-based advice ("100 % meetings")."""
    one = week_entries()[:1]
    one[0]["end_time"] = one[0]["start_time"].replace("09:00", "09:01")
    for kind in ("productivity", "time_management", "team_collaboration"):
        lines = await advice(kind, one)
        assert len(lines) == 1 and "too little to judge" in lines[0], lines
        assert "100%" not in lines[0]
    req = InsightRequest(time_zone=ZONE_NAME, insight_type="productivity", entries=one)
    summary = (await backend.generate_insight(req)).summary
    assert "too little logged to judge the balance" in summary
    assert "little room for deep work" not in summary
    report = await backend.generate_weekly_report(
        WeeklyReportRequest(time_zone=ZONE_NAME, week_start=WEEK[0], week_end=WEEK[1], entries=one)
    )
    assert "too little to judge" in report.recommendations[0]


async def test_overlapping_entries_are_mentioned() -> None:
    entries = week_entries()
    twin = dict(entries[1]) | {"id": "w-twin", "title": "Pairing on pagination"}
    entries.append(twin)
    assert facts(entries).overlapping_entries == 2
    text = rule_overlaps(facts(entries))
    assert text is not None and "2 entries overlap" in text
    assert rule_overlaps(facts()) is None
    assert any("overlap" in line for line in await advice("time_management", entries))


async def test_weekly_report_states_week_over_week_changes() -> None:
    req = WeeklyReportRequest(
        time_zone=ZONE_NAME,
        week_start=WEEK[0],
        week_end=WEEK[1],
        entries=week_entries(),
        previous_entries=previous_entries(),
    )
    report = await backend.generate_weekly_report(req)
    lines = "\n".join(report.highlights)
    assert "Total logged time rose to 39.8 h from 22.0 h the week before." in lines
    assert "Meeting time fell to 5.8 h from 7.2 h the week before." in lines
    assert "Focus share rose to 75% from 67%" in lines
    assert 'The top project "atlas" rose to 21.0 h from 12.5 h' in lines
    assert report.unsupported_claims == []
    without = await backend.generate_weekly_report(
        req.model_copy(update={"previous_entries": None})
    )
    assert "the week before" not in "\n".join(without.highlights)
