"""The builtin backend: sample data, narratives written from facts, computed confidence."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from englog.ai.analytics import compute_facts
from englog.ai.backend import AIBackend, make_backend
from englog.ai.builtin import BuiltinBackend
from englog.ai.claims import check_claims
from englog.ai.confidence import numeric_agreement
from englog.ai.sample import load_sample_week
from englog.ai.schemas import EntryPayload, InsightRequest, InsightType, WeeklyReportRequest
from englog.domain.entries import ActivityType, EntryFields

backend = BuiltinBackend()
WEEK_START, WEEK_END = date(2026, 11, 16), date(2026, 11, 22)


def make(day: int, start: str, end: str, type_: str, value: str = "medium") -> dict[str, Any]:
    return {
        "title": f"{type_} at {start}",
        "type": type_,
        "project": "core",
        "start_time": f"2026-11-{day:02d}T{start}:00+01:00",
        "end_time": f"2026-11-{day:02d}T{end}:00+01:00",
        "value_rating": value,
    }


def meeting_heavy() -> list[dict[str, Any]]:
    return [
        make(d, s, e, t)
        for d in (16, 17)
        for s, e, t in [
            ("09:00", "10:00", "meeting"),
            ("10:00", "10:30", "development"),
            ("10:30", "12:00", "meeting"),
            ("13:00", "13:20", "support"),
            ("13:20", "15:00", "meeting"),
        ]
    ]


def focus_heavy() -> list[dict[str, Any]]:
    return [
        make(d, s, e, t, "high")
        for d in (16, 17, 18)
        for s, e, t in [
            ("09:00", "09:15", "meeting"),
            ("09:15", "12:30", "development"),
            ("13:30", "16:00", "development"),
            ("16:00", "17:00", "testing"),
        ]
    ]


async def insight(kind: str, entries: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    req = InsightRequest(insight_type=kind, entries=entries, **kw)
    return (await backend.generate_insight(req)).model_dump(mode="json")


def texts(result: dict[str, Any]) -> str:
    parts = [result["title"], result["summary"], *result.get("key_points", [])]
    return "\n".join(parts + result.get("highlights", []) + result["recommendations"])


# --- sample data -----------------------------------------------------------------------


def test_sample_week_is_valid_and_realistic() -> None:
    raw = load_sample_week()
    assert 35 <= len(raw) <= 45
    entries = [EntryFields.model_validate(item) for item in raw]
    assert {e.type for e in entries} == {t.value for t in ActivityType}
    days = {e.start_time.date() for e in entries}
    assert min(days) == date(2026, 11, 16) and max(days) == date(2026, 11, 21)
    assert {e.start_time.utcoffset() for e in entries} == {timedelta(hours=1)}
    ordered = sorted(entries, key=lambda e: e.start_time)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.end_time <= later.start_time, f"{earlier.title} overlaps {later.title}"


def test_sample_week_is_a_fresh_copy() -> None:
    first = load_sample_week()
    first.clear()
    assert load_sample_week()


# --- narratives -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [t.value for t in InsightType])
async def test_every_insight_type_quotes_its_facts(kind: str) -> None:
    result = await insight(kind, load_sample_week())
    assert result["insight_type"] == kind
    assert result["backend"] == "builtin"
    assert result["degraded"] is False
    assert result["entry_count"] == 43
    assert result["period_start"] == "2026-11-16" and result["period_end"] == "2026-11-21"
    assert result["key_points"] and result["recommendations"]
    assert result["confidence_components"]["numeric_agreement"] == 1.0
    assert result["unsupported_claims"] == []
    facts = compute_facts([EntryPayload.model_validate(e) for e in load_sample_week()])
    assert check_claims(result["key_points"], facts).numbers, "key points should quote numbers"
    json.dumps(result)


async def test_productivity_numbers_come_from_facts() -> None:
    result = await insight("productivity", load_sample_week())
    facts, points = result["facts"], " ".join(result["key_points"])
    assert f"{facts['total_minutes'] / 60:.1f} h" in points
    assert f"{facts['focus_ratio'] * 100:.0f}%" in points
    assert f"{facts['high_value_share'] * 100:.0f}%" in points
    assert f"{facts['longest_focus_block_minutes']:.0f} min" in points
    assert f"{facts['context_switches_per_day']}" in points
    assert facts["busiest_day"] in points


async def test_time_management_lists_every_day() -> None:
    result = await insight("time_management", load_sample_week())
    day_line = result["key_points"][0]
    for minutes in result["facts"]["daily_totals"].values():
        assert (f"{minutes / 60:.1f} h" if minutes >= 60 else f"{minutes:.0f} min") in day_line


async def test_narratives_differ_with_the_data() -> None:
    meetings = await insight("productivity", meeting_heavy())
    focus = await insight("productivity", focus_heavy())
    assert meetings["summary"] != focus["summary"]
    assert meetings["title"] != focus["title"]
    assert any(r.startswith("Meetings took") for r in meetings["recommendations"])
    assert not any(r.startswith("Meetings took") for r in focus["recommendations"])
    assert any("rated high or critical" in r for r in meetings["recommendations"])
    assert "little room for deep work" in meetings["summary"]
    assert "a strong share of deep work" in focus["summary"]
    assert f"{meetings['facts']['meeting_share'] * 100:.0f}%" in meetings["recommendations"][0]


async def test_team_collaboration_flags_missing_reviews() -> None:
    result = await insight("team_collaboration", meeting_heavy())
    assert any(r.startswith("Code review took 0%") for r in result["recommendations"])
    skill = await insight("skill_development", meeting_heavy())
    assert any(r.startswith("Learning and research") for r in skill["recommendations"])


async def test_context_is_acknowledged_without_claims() -> None:
    result = await insight("productivity", focus_heavy(), context='why 3 "late" nights?')
    assert "why 3 'late' nights?" in result["summary"]
    assert result["confidence_components"]["numeric_agreement"] == 1.0


# --- confidence -------------------------------------------------------------------------


async def test_confidence_is_bounded_and_grows_with_data() -> None:
    week = await insight("productivity", load_sample_week())
    one = await insight("productivity", load_sample_week()[:1])
    for result in (week, one):
        assert 0.0 <= result["confidence"] <= 1.0
        assert set(result["confidence_components"]) >= {
            "schema_validity",
            "coverage",
            "data_sufficiency",
            "evidence",
            "verification",
            "numeric_agreement",
            "backend_prior",
        }
    assert one["confidence"] < week["confidence"]
    assert (
        one["confidence_components"]["data_sufficiency"]
        < week["confidence_components"]["data_sufficiency"]
    )


async def test_confidence_follows_the_documented_formula() -> None:
    result = await insight("skill_development", load_sample_week())
    c = result["confidence_components"]
    assert c["evidence"] == round(0.5 + 0.5 * c["data_sufficiency"] * c["coverage"], 3)
    expected = c["schema_validity"] * c["backend_prior"] * c["evidence"] * c["verification"]
    assert c["verification"] == 1.0 and result["unsupported_claims"] == []
    assert result["confidence"] == round(expected, 3)


def test_numeric_agreement_catches_invented_numbers() -> None:
    """Two entries: 60 min of development on "a", 90 min of meeting on "b"."""
    start = datetime(2026, 11, 16, 9, tzinfo=UTC)
    entries = [
        EntryPayload(
            title=t,
            type=k,
            project=p,
            start_time=start + timedelta(hours=i * 3),
            end_time=start + timedelta(hours=i * 3, minutes=m),
        )
        for i, (t, k, p, m) in enumerate([("x", "development", "a", 60), ("y", "meeting", "b", 90)])
    ]
    facts = compute_facts(entries)
    assert numeric_agreement(["2.5 h logged, 40% focus over 2 projects"], facts) == 1.0
    assert numeric_agreement(["2.5 h logged, 55% focus"], facts) == 0.5
    assert numeric_agreement(["1.5 h in meetings, 1.0 h of development"], facts) == 1.0
    assert numeric_agreement(["1.0 h in meetings"], facts) == 0.0  # a fact, but not this one
    assert numeric_agreement(['on "v2-api" since 2026-11-16'], facts) == 1.0
    assert numeric_agreement(["no numbers"], facts) == 1.0


# --- weekly report ----------------------------------------------------------------------


async def weekly(entries: list[dict[str, Any]]) -> dict[str, Any]:
    req = WeeklyReportRequest(week_start=WEEK_START, week_end=WEEK_END, entries=entries)
    return (await backend.generate_weekly_report(req)).model_dump(mode="json")


async def test_weekly_report_on_the_sample_week() -> None:
    report = await weekly(load_sample_week())
    facts = report["facts"]
    assert report["week_start"] == "2026-11-16" and report["week_end"] == "2026-11-22"
    assert report["time_breakdown"] == facts["minutes_by_type"]
    assert sum(report["time_breakdown"].values()) == facts["total_minutes"]
    assert len(facts["daily_totals"]) == 7 and facts["daily_totals"]["2026-11-22"] == 0.0
    assert report["backend"] == "builtin" and report["degraded"] is False
    assert report["confidence_components"]["coverage"] == 1.0
    assert report["confidence_components"]["numeric_agreement"] == 1.0
    assert any("Incident" in h for h in report["highlights"])
    assert report["recommendations"]
    assert "2026-11-16" in report["title"]


async def test_weekly_report_leaves_out_other_weeks() -> None:
    entries = load_sample_week()
    stray = dict(entries[0], start_time="2026-11-09T09:00:00+01:00")
    stray["end_time"] = "2026-11-09T10:00:00+01:00"
    report = await weekly([*entries, stray])
    assert report["entry_count"] == 43
    assert report["facts"]["excluded_entries"] == 1
    assert report["confidence_components"]["coverage"] == round(43 / 44, 3)


async def test_weekly_reports_differ_with_the_data() -> None:
    a, b = await weekly(meeting_heavy()), await weekly(focus_heavy())
    assert a["summary"] != b["summary"]
    assert a["recommendations"] != b["recommendations"]


# --- backend seam -----------------------------------------------------------------------


async def test_backend_protocol_and_health() -> None:
    assert isinstance(backend, AIBackend)
    assert isinstance(make_backend(), BuiltinBackend)
    assert await backend.health() == {"backend": "builtin", "status": "healthy"}


async def test_insight_over_naive_times() -> None:
    start = datetime(2026, 11, 16, 9)
    entry = {
        "title": "t",
        "type": "learning",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=2)).isoformat(),
    }
    result = await insight("skill_development", [entry])
    assert result["facts"]["minutes_by_type"] == {"learning": 120.0}
