"""A realistic week for the AI tests, unlike the packaged sample: two projects (atlas and
orion), a daily 09:00 standup, a recurring Orion sync, a 9-hour Thursday ending 18:30, an
on-call page from 22:00 to 02:30 on Sunday night, a PostgreSQL course, PR numbers and a
version in the titles; and the week before it, lighter, for trends."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from englog.ai.schemas import EntryPayload

ZONE = timezone(timedelta(hours=1))
# The engineer's zone: Berlin is at +01:00 in November, the offset the entries carry.
ZONE_NAME = "Europe/Berlin"
WEEK = (date(2026, 11, 9), date(2026, 11, 15))
PREVIOUS_WEEK = (date(2026, 11, 2), date(2026, 11, 8))

# day offset, start, end, type, project, tags, value, impact, title
Row = tuple[int, str, str, str, str | None, list[str], str, str, str]

ROWS: list[Row] = [
    (0, "09:00", "09:15", "meeting", "atlas", ["standup"], "medium", "team", "Daily standup"),
    (
        0,
        "09:15",
        "12:00",
        "development",
        "atlas",
        ["api", "postgres"],
        "high",
        "team",
        "Implement export API pagination",
    ),
    (
        0,
        "13:00",
        "14:00",
        "code_review",
        "atlas",
        ["review"],
        "medium",
        "team",
        "Review PR #412: retry budget",
    ),
    (
        0,
        "14:00",
        "16:30",
        "development",
        "orion",
        ["pipeline"],
        "high",
        "team",
        "Orion ingest pipeline batching",
    ),
    (0, "16:30", "17:00", "meeting", "orion", ["sync"], "medium", "team", "Orion sync"),
    (
        0,
        "17:00",
        "17:30",
        "planning",
        "orion",
        ["pipeline"],
        "medium",
        "team",
        "Plan ingest sharding",
    ),
    (1, "09:00", "09:15", "meeting", "atlas", ["standup"], "medium", "team", "Daily standup"),
    (
        1,
        "09:15",
        "11:45",
        "debugging",
        "atlas",
        ["postgres", "incident"],
        "critical",
        "company",
        "Fix deadlock in export worker",
    ),
    (1, "11:45", "12:15", "meeting", None, ["1on1"], "high", "personal", "1:1 with manager"),
    (
        1,
        "13:00",
        "14:30",
        "learning",
        None,
        ["postgres", "query-planning"],
        "medium",
        "personal",
        "Course: PostgreSQL query planning",
    ),
    (
        1,
        "14:30",
        "17:00",
        "development",
        "orion",
        ["pipeline", "postgres"],
        "high",
        "team",
        "Orion schema migration to v2.14",
    ),
    (2, "09:00", "09:15", "meeting", "atlas", ["standup"], "medium", "team", "Daily standup"),
    (2, "09:15", "10:15", "meeting", "atlas", ["sprint"], "high", "team", "Sprint planning"),
    (
        2,
        "10:15",
        "12:30",
        "development",
        "atlas",
        ["api"],
        "high",
        "team",
        "Export API rate limits",
    ),
    (
        2,
        "13:30",
        "15:00",
        "testing",
        "atlas",
        ["api", "performance"],
        "medium",
        "team",
        "Load test export API",
    ),
    (
        2,
        "15:00",
        "15:30",
        "support",
        "orion",
        ["support"],
        "medium",
        "department",
        "Help data team with ingest errors",
    ),
    (
        2,
        "15:30",
        "17:00",
        "documentation",
        "atlas",
        ["docs"],
        "medium",
        "department",
        "Export API runbook",
    ),
    (2, "17:00", "17:30", "meeting", "orion", ["sync"], "medium", "team", "Orion sync"),
    (3, "09:00", "09:15", "meeting", "atlas", ["standup"], "medium", "team", "Daily standup"),
    (
        3,
        "09:15",
        "12:30",
        "development",
        "orion",
        ["pipeline"],
        "high",
        "team",
        "Orion backfill job",
    ),
    (
        3,
        "12:30",
        "13:00",
        "meeting",
        "atlas",
        ["architecture"],
        "high",
        "department",
        "Architecture review",
    ),
    (
        3,
        "13:30",
        "15:30",
        "development",
        "atlas",
        ["api", "security"],
        "high",
        "team",
        "Export API auth scopes",
    ),
    (
        3,
        "15:30",
        "16:30",
        "code_review",
        "orion",
        ["review"],
        "medium",
        "team",
        "Review PR #418: backfill checkpoints",
    ),
    (
        3,
        "16:30",
        "18:30",
        "debugging",
        "orion",
        ["pipeline", "postgres"],
        "high",
        "team",
        "Debug backfill memory leak",
    ),
    (4, "09:00", "09:15", "meeting", "atlas", ["standup"], "medium", "team", "Daily standup"),
    (4, "09:15", "11:15", "development", "atlas", ["api"], "high", "team", "Export API webhooks"),
    (
        4,
        "11:15",
        "12:00",
        "deployment",
        "atlas",
        ["release"],
        "critical",
        "company",
        "Release export API 1.3",
    ),
    (
        4,
        "13:00",
        "14:00",
        "research",
        "orion",
        ["kafka", "pipeline"],
        "medium",
        "team",
        "Evaluate Kafka tiered storage",
    ),
    (4, "14:00", "15:00", "meeting", "atlas", ["demo"], "medium", "department", "Sprint demo"),
    (4, "15:00", "16:00", "maintenance", "atlas", ["security"], "low", "team", "Rotate API keys"),
    (4, "16:00", "16:30", "meeting", "orion", ["sync"], "medium", "team", "Orion sync"),
    (
        6,
        "22:00",
        "02:30",
        "support",
        "orion",
        ["on-call", "incident"],
        "critical",
        "company",
        "On-call page: ingest backlog alert",
    ),
]

PREVIOUS_ROWS: list[Row] = [
    (d, "09:00", "09:15", "meeting", "atlas", ["standup"], "medium", "team", "Daily standup")
    for d in range(5)
] + [
    (0, "09:15", "12:00", "development", "atlas", ["api"], "high", "team", "Export API design"),
    (0, "13:00", "15:00", "meeting", "atlas", ["planning"], "medium", "team", "Quarter planning"),
    (1, "09:15", "12:00", "development", "orion", ["pipeline"], "high", "team", "Orion ingest"),
    (1, "13:00", "16:00", "meeting", "orion", ["sync"], "medium", "team", "Orion kickoff"),
    (2, "09:15", "12:00", "development", "atlas", ["api"], "high", "team", "Export API"),
    (2, "13:00", "15:00", "code_review", "atlas", ["review"], "medium", "team", "Reviews"),
    (3, "09:15", "12:00", "development", "orion", ["pipeline"], "high", "team", "Orion ingest"),
    (3, "13:00", "14:00", "meeting", None, ["1on1"], "high", "personal", "1:1 with manager"),
    (4, "09:15", "11:00", "development", "atlas", ["api"], "high", "team", "Export API"),
]


def _at(start: date, offset: int, clock: str) -> datetime:
    hour, minute = (int(x) for x in clock.split(":"))
    return datetime(start.year, start.month, start.day, hour, minute, tzinfo=ZONE) + timedelta(
        days=offset
    )


def _entries(rows: list[Row], start: date, prefix: str) -> list[dict[str, Any]]:
    out = []
    for i, (offset, begin, end, kind, project, tags, value, impact, title) in enumerate(rows):
        began, ended = _at(start, offset, begin), _at(start, offset, end)
        if ended <= began:
            ended += timedelta(days=1)  # past midnight
        out.append(
            {
                "id": f"{prefix}-{i:02d}",
                "title": title,
                "description": f"{title}.",
                "type": kind,
                "project": project,
                "tags": tags,
                "start_time": began.isoformat(),
                "end_time": ended.isoformat(),
                "value_rating": value,
                "impact_level": impact,
            }
        )
    return out


def week_entries() -> list[dict[str, Any]]:
    return _entries(ROWS, WEEK[0], "w")


def previous_entries() -> list[dict[str, Any]]:
    return _entries(PREVIOUS_ROWS, PREVIOUS_WEEK[0], "p")


def payloads(rows: list[dict[str, Any]]) -> list[EntryPayload]:
    return [EntryPayload.model_validate(e) for e in rows]
