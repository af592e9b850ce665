"""Facts against values computed by hand on small fixtures."""

from __future__ import annotations

import random
from datetime import date, datetime

import pytest

from englog.ai.analytics import (
    FOCUS_TYPES,
    NO_PROJECT,
    compute_facts,
    context_switches,
    longest_focus_block,
    longest_streak,
)
from englog.ai.schemas import EntryPayload


def entry(
    day: str,
    start: str,
    end: str,
    type_: str,
    project: str | None = "P",
    value: str = "medium",
    impact: str = "personal",
    tags: tuple[str, ...] = (),
) -> EntryPayload:
    return EntryPayload(
        title=f"{type_} {start}",
        type=type_,
        project=project,
        tags=list(tags),
        start_time=f"{day}T{start}+01:00",
        end_time=f"{day}T{end}+01:00",
        value_rating=value,
        impact_level=impact,
    )


MON, TUE, WED = "2026-11-16", "2026-11-17", "2026-11-18"


@pytest.fixture
def small() -> list[EntryPayload]:
    # Monday 225 min, Tuesday nothing, Wednesday 120 min; 345 min in all.
    return [
        entry(MON, "09:00:00", "09:30:00", "meeting", impact="team", tags=("standup",)),
        entry(MON, "09:30:00", "11:00:00", "development", value="high", tags=("api", "python")),
        entry(MON, "11:00:00", "11:45:00", "development", "Q", value="critical", tags=("api",)),
        entry(MON, "13:00:00", "14:00:00", "code_review", value="low", impact="team"),
        entry(WED, "10:00:00", "10:20:00", "support", None, impact="company"),
        entry(WED, "10:20:00", "12:00:00", "debugging", value="high", impact="department"),
    ]


def test_totals_and_breakdowns(small: list[EntryPayload]) -> None:
    f = compute_facts(small)
    assert f.entry_count == 6
    assert f.excluded_entries == 0
    assert f.total_minutes == 345.0
    assert f.minutes_by_type == {
        "development": 135.0,
        "debugging": 100.0,
        "code_review": 60.0,
        "meeting": 30.0,
        "support": 20.0,
    }
    assert list(f.minutes_by_type) == [
        "development",
        "debugging",
        "code_review",
        "meeting",
        "support",
    ]
    assert f.type_shares["development"] == round(135 / 345, 3)
    assert f.minutes_by_project == {"P": 280.0, "Q": 45.0, NO_PROJECT: 20.0}
    assert f.project_count == 2
    assert f.minutes_by_value == {"low": 60.0, "medium": 50.0, "high": 190.0, "critical": 45.0}
    assert f.minutes_by_impact == {
        "personal": 135.0,
        "team": 90.0,
        "department": 100.0,
        "company": 20.0,
    }
    assert f.average_entry_minutes == 57.5
    assert f.average_minutes_per_active_day == 172.5


def test_focus_meetings_value_and_impact_shares(small: list[EntryPayload]) -> None:
    f = compute_facts(small)
    assert f.focus_minutes == 295.0  # development 135 + code_review 60 + debugging 100
    assert f.meeting_minutes == 30.0
    assert f.focus_ratio == 0.855  # 295 / 345 = 0.85507
    assert f.meeting_share == 0.087  # 30 / 345 = 0.08696
    assert f.high_value_share == 0.681  # (90 + 45 + 100) / 345 = 0.68116
    assert f.team_impact_share == 0.609  # (30 + 60 + 100 + 20) / 345 = 0.6087


def test_context_switches_count_type_or_project_changes(small: list[EntryPayload]) -> None:
    f = compute_facts(small)
    # Monday: meeting->development (type), P->Q (project), development->code_review (type);
    # Wednesday: support->debugging. 4 switches over 2 active days.
    assert f.context_switches == 4
    assert f.context_switches_per_day == 2.0


def test_context_switch_needs_a_change() -> None:
    same = [entry(MON, f"{h:02d}:00:00", f"{h:02d}:30:00", "development") for h in (9, 10, 11)]
    assert context_switches(same) == 0
    assert compute_facts(same).context_switches_per_day == 0.0


def test_daily_totals_fill_zero_days(small: list[EntryPayload]) -> None:
    assert compute_facts(small).daily_totals == {MON: 225.0, TUE: 0.0, WED: 120.0}
    ranged = compute_facts(small, date(2026, 11, 15), date(2026, 11, 20))
    assert ranged.daily_totals == {
        "2026-11-15": 0.0,
        MON: 225.0,
        TUE: 0.0,
        WED: 120.0,
        "2026-11-19": 0.0,
        "2026-11-20": 0.0,
    }
    assert ranged.period_start == date(2026, 11, 15)
    assert ranged.as_dict()["period_end"] == "2026-11-20"


def test_range_excludes_entries_outside_it(small: list[EntryPayload]) -> None:
    f = compute_facts(small, date(2026, 11, 17), date(2026, 11, 18))
    assert f.entry_count == 2
    assert f.excluded_entries == 4
    assert f.total_minutes == 120.0
    assert f.daily_totals == {TUE: 0.0, WED: 120.0}


def test_busiest_day_focus_block_and_streak(small: list[EntryPayload]) -> None:
    f = compute_facts(small)
    assert f.busiest_day == MON
    assert f.busiest_day_minutes == 225.0
    # 09:30-11:00 and 11:00-11:45 development form one block; review after lunch does not join.
    assert f.longest_focus_block_minutes == 135.0
    assert f.streak_days == 1
    assert f.days_active == 2


def test_focus_block_tolerates_short_gaps_only() -> None:
    day = [
        entry(MON, "09:00:00", "10:00:00", "development"),
        entry(MON, "10:05:00", "10:35:00", "testing"),  # 5 min gap: same block
        entry(MON, "10:45:00", "11:00:00", "development"),  # 10 min gap: new block
    ]
    assert longest_focus_block(day) == 90.0
    day.insert(1, entry(MON, "10:00:00", "10:05:00", "meeting"))  # a meeting breaks it
    assert longest_focus_block(sorted(day, key=lambda e: e.start_time)) == 60.0


def test_streak_counts_consecutive_days() -> None:
    days = [date(2026, 11, d) for d in (2, 3, 4, 6, 7, 10)]
    assert longest_streak(days) == 3
    assert longest_streak([]) == 0


def test_top_tags_by_minutes(small: list[EntryPayload]) -> None:
    assert compute_facts(small).top_tags == [
        {"tag": "api", "minutes": 135.0, "entries": 2},
        {"tag": "python", "minutes": 90.0, "entries": 1},
        {"tag": "standup", "minutes": 30.0, "entries": 1},
    ]


def test_minutes_round_to_one_decimal() -> None:
    f = compute_facts([entry(MON, "09:00:00", "09:10:20", "development")])
    assert f.total_minutes == 10.3
    assert f.minutes_by_type == {"development": 10.3}


def test_input_order_does_not_matter(small: list[EntryPayload]) -> None:
    shuffled = small[:]
    random.Random(7).shuffle(shuffled)
    assert compute_facts(shuffled) == compute_facts(small)


def test_no_entries() -> None:
    f = compute_facts([])
    assert f.total_minutes == 0.0
    assert f.busiest_day is None
    assert f.daily_totals == {}
    assert f.focus_ratio == 0.0
    ranged = compute_facts([], date(2026, 11, 16), date(2026, 11, 17))
    assert ranged.daily_totals == {MON: 0.0, TUE: 0.0}
    assert ranged.busiest_day is None


def test_naive_times_are_accepted() -> None:
    naive = EntryPayload(
        title="x",
        type="research",
        start_time=datetime(2026, 11, 16, 9),
        end_time=datetime(2026, 11, 16, 10),
    )
    # naive is read as UTC: 09:00-10:00Z, then 11:00Z; a 60 min gap, two blocks
    f = compute_facts([naive, entry(MON, "12:00:00", "12:30:00", "learning")])
    assert f.total_minutes == 90.0
    assert f.longest_focus_block_minutes == 60.0


def test_focus_types_are_the_documented_deep_work_set() -> None:
    assert set(FOCUS_TYPES) == {
        "development",
        "debugging",
        "code_review",
        "testing",
        "documentation",
        "research",
        "learning",
        "planning",
    }
