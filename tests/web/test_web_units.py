"""The week's sums and the entry form's reading of what people type (issue 14)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from starlette.datastructures import FormData

from englog.domain.entries import Entry
from englog.domain.localtime import Weekday
from englog.web.entry_form import EntryForm
from englog.web.totals import NO_PROJECT, OutOfCalendar, Week, bars, week_totals

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _entry(start: datetime, minutes: int, project: str | None, type_: str = "development") -> Entry:
    return Entry(
        id=f"e{start.isoformat()}-{minutes}",
        user_id="u",
        title="t",
        type=type_,
        project=project,
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        created_at=NOW,
        updated_at=NOW,
    )


def test_week_totals_split_minutes_across_midnight_and_clip_to_the_week() -> None:
    week = Week.holding(date(2026, 12, 3))
    assert week.first == date(2026, 11, 30)
    entries = [
        _entry(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), 60, "a"),  # runs past midnight
        _entry(datetime(2026, 12, 1, 9, tzinfo=UTC), 30, None, "meeting"),
        _entry(datetime(2026, 12, 6, 10, tzinfo=UTC), 15, "b"),
        _entry(datetime(2026, 11, 29, 23, tzinfo=UTC), 120, "a"),  # begun the week before
    ]
    totals = week_totals(week, entries)
    assert totals.by_day[date(2026, 11, 30)] == 60 + 30  # 60 of the early one, 30 of the late
    assert totals.by_day[date(2026, 12, 1)] == 30 + 30
    assert totals.by_day[date(2026, 12, 6)] == 15
    assert len(totals.by_day) == 7 and totals.total == 165
    assert totals.clock == 165 and totals.overlap == 0
    assert list(totals.by_project) == ["a", NO_PROJECT, "b"]  # largest first
    assert totals.by_type == {"development": 135, "meeting": 30}
    assert [len(v) for v in totals.entries_by_day.values()] == [2, 1, 0, 0, 0, 0, 1]
    assert [len(v) for v in totals.continued_by_day.values()] == [0, 1, 0, 0, 0, 0, 0]


def test_a_week_in_new_york_starting_on_sunday() -> None:
    ny = ZoneInfo("America/New_York")
    week = Week.holding(date(2026, 3, 11), Weekday.SUNDAY, ny)
    assert (week.first, week.last) == (date(2026, 3, 8), date(2026, 3, 14))
    assert week.start == datetime(2026, 3, 8, 5, tzinfo=UTC)  # EST midnight
    assert week.end == datetime(2026, 3, 15, 4, tzinfo=UTC)  # EDT midnight: a 167-hour week
    late = _entry(datetime(2026, 3, 12, 3, tzinfo=UTC), 150, "a")  # Wed 23:00 -> Thu 01:30 EDT
    totals = week_totals(week, [late])
    assert totals.by_day[date(2026, 3, 11)] == 60
    assert totals.by_day[date(2026, 3, 12)] == 90


def test_overlapping_entries_are_marked_both_ways_and_counted_once_on_the_clock() -> None:
    week = Week.holding(date(2026, 12, 1))
    first = _entry(datetime(2026, 12, 1, 9, tzinfo=UTC), 60, "a")
    second = _entry(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), 60, "a")
    apart = _entry(datetime(2026, 12, 1, 11, tzinfo=UTC), 30, "a")
    touching = _entry(datetime(2026, 12, 1, 11, 30, tzinfo=UTC), 30, "a")  # starts as one ends
    totals = week_totals(week, [first, second, apart, touching])
    assert totals.overlaps == {first.id: [second], second.id: [first]}
    day = date(2026, 12, 1)
    assert totals.by_day[day] == 180 and totals.clock_by_day[day] == 150
    assert totals.day_overlap(day) == 30 and totals.overlap == 30


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 27), date(9999, 12, 31)])
def test_a_week_at_the_ends_of_the_calendar_is_refused(day: date) -> None:
    with pytest.raises(OutOfCalendar, match="too close to the end of the calendar"):
        Week.holding(day)


def test_bars_scale_to_the_largest() -> None:
    drawn = bars([("a", 30.0), ("b", 120.0), ("c", 0.0)], width=200)
    assert [b.width for b in drawn] == [50.0, 200.0, 0.0]
    assert [b.y for b in drawn] == [0, 22, 44]
    assert bars([("a", 0.0)])[0].width == 0.0  # nothing logged: no division by zero


def _form(**values: str) -> EntryForm:
    base = {"title": "Work", "type": "development", "start": "2026-12-01T09:00"}
    return EntryForm.from_form(FormData({**base, **values}))


@pytest.mark.parametrize(
    ("given", "minutes"),
    [
        ({"duration": "45m"}, 45),
        ({"duration": "1h30m"}, 90),
        ({"duration": "1.5h"}, 90),
        ({"end": "2026-12-01T10:10"}, 70),
        ({"end": "2026-12-01T10:00", "duration": "5m"}, 60),
    ],
)
def test_end_or_duration(given: dict[str, str], minutes: int) -> None:
    entry = _form(**given).entry()
    assert entry is not None
    assert entry.start_time == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert (entry.end_time - entry.start_time) == timedelta(minutes=minutes)


def test_tags_are_split_and_deduplicated_and_optional_fields_kept() -> None:
    entry = _form(
        duration="10m", tags=" a, b ,a,, ", project="", value="high", impact="team"
    ).entry()
    assert entry is not None
    assert entry.tags == ["a", "b"] and entry.project is None
    assert (entry.value_rating, entry.impact_level) == ("high", "team")


def test_problems_are_worded_for_people() -> None:
    form = _form(title="", duration="10m", value="priceless")
    assert form.entry() is None
    assert any(p.startswith("Title:") for p in form.problems)
    assert any(p.startswith("Value:") for p in form.problems)


def test_a_degraded_result_carries_a_visible_mark_and_its_reason() -> None:
    from types import SimpleNamespace

    from englog.ai.schemas import Insight
    from englog.web.pages import templates

    def page(degraded: bool) -> str:
        result = Insight(
            title="Productivity",
            summary="<b>bold</b> claim",
            backend="builtin",
            confidence=0.41,
            confidence_components={"coverage": 0.5},
            degraded=degraded,
            degraded_reason="ollama unreachable: fell back to builtin" if degraded else None,
            facts={"total_minutes": 90.0},
            entry_count=2,
            insight_type="productivity",
            unsupported_claims=["You logged 60 hours."],
        )
        template = templates().env.get_template("_result.html")
        return template.render(
            result=result,
            kind="insights",
            task=SimpleNamespace(id="t1"),
            points_heading="Key points",
            points=[],
        )

    shown = page(True)
    assert 'data-testid="degraded"' in shown and "ollama unreachable" in shown
    assert "&lt;b&gt;bold&lt;/b&gt;" in shown  # the narrative is text, not markup
    assert "You logged 60 hours." in shown and "0.41" in shown and "coverage" in shown
    assert 'data-testid="degraded"' not in page(False)


NY = ZoneInfo("America/New_York")


def test_times_typed_are_local_to_the_zone() -> None:
    entry = _form(duration="15m").entry(NY)
    assert entry is not None
    assert entry.start_time == datetime(2026, 12, 1, 14, tzinfo=UTC)  # 09:00 EST


def test_an_end_before_the_start_on_the_same_day_is_the_next_day() -> None:
    entry = _form(start="2026-12-01T23:00", end="2026-12-01T01:30").entry(NY)
    assert entry is not None
    assert entry.end_time - entry.start_time == timedelta(hours=2, minutes=30)
    assert entry.end_time == datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    # An end on an earlier day is a mistake, not a night's work.
    refused = _form(start="2026-12-01T23:00", end="2026-11-30T01:30")
    assert refused.entry(NY) is None
    assert any("end_time must be after start_time" in p for p in refused.problems)


def test_across_a_dst_change_the_next_day_keeps_its_clock_time() -> None:
    # 2026-03-08 is 23 hours long in New York: 23:00 Sat -> 01:00 Sun is still 2 hours.
    entry = _form(start="2026-03-07T23:00", end="2026-03-07T01:00").entry(NY)
    assert entry is not None and entry.end_time - entry.start_time == timedelta(hours=2)
    entry = _form(start="2026-03-08T00:30", end="2026-03-08T00:10").entry(NY)
    assert entry is not None  # 00:30 EST -> 00:10 EDT next day: 22h40m
    assert entry.end_time - entry.start_time == timedelta(hours=22, minutes=40)


def test_the_edit_form_shows_the_zones_clock() -> None:
    from englog.web.entry_form import form_values

    stored = _entry(datetime(2026, 12, 1, 14, tzinfo=UTC), 30, "a")
    values = form_values(stored, NY)
    assert (values["start"], values["end"]) == ("2026-12-01T09:00", "2026-12-01T09:30")


def test_periods_are_the_range_asked_for() -> None:
    from englog.web.templating import fact_cell, period

    asked = {"period_start": "2026-11-16", "period_end": "2026-11-22", "entries": []}
    assert period(asked) == "2026-11-16 → 2026-11-22"
    assert period({"week_start": "2026-11-16", "week_end": "2026-11-22"}) == (
        "2026-11-16 → 2026-11-22"
    )
    old = {
        "entries": [
            {"start_time": "2026-11-16T09:00:00+00:00", "end_time": "2026-11-16T10:00:00+00:00"},
            {"start_time": "2026-11-21T23:00:00+00:00", "end_time": "2026-11-22T01:00:00+00:00"},
        ]
    }
    assert period(old) == "2026-11-16 → 2026-11-22"  # an entry's last day counts too
    assert period({**old, "time_zone": "America/Los_Angeles"}) == "2026-11-16 → 2026-11-21"
    midnight = {"entries": [{**old["entries"][0], "end_time": "2026-11-17T00:00:00+00:00"}]}
    assert period(midnight) == "2026-11-16"
    assert period({"entries": []}) == "—"
    week = {f"2026-11-{d}": 60.0 for d in range(16, 23)}
    assert fact_cell(week).count("2026-11-") == 7  # no day cut from the page
