"""The week's sums and the entry form's reading of what people type (issue 14)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from starlette.datastructures import FormData

from englog.domain.entries import Entry
from englog.web.entry_form import EntryForm
from englog.web.totals import NO_PROJECT, Week, bars, week_totals

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _entry(start: datetime, minutes: int, project: str | None, type_: str = "development") -> Entry:
    return Entry(
        id=f"e{start.isoformat()}",
        user_id="u",
        title="t",
        type=type_,
        project=project,
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        created_at=NOW,
        updated_at=NOW,
    )


def test_week_totals_count_each_entry_on_its_start_day() -> None:
    week = Week.holding(date(2026, 12, 3))
    assert week.monday == date(2026, 11, 30)
    entries = [
        _entry(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), 60, "a"),  # runs past midnight
        _entry(datetime(2026, 12, 1, 9, tzinfo=UTC), 30, None, "meeting"),
        _entry(datetime(2026, 12, 6, 10, tzinfo=UTC), 15, "b"),
        _entry(datetime(2026, 11, 29, 23, tzinfo=UTC), 120, "a"),  # the week before
    ]
    totals = week_totals(week, entries)
    assert totals.by_day[date(2026, 11, 30)] == 60
    assert totals.by_day[date(2026, 12, 1)] == 30
    assert totals.by_day[date(2026, 12, 6)] == 15
    assert len(totals.by_day) == 7 and totals.total == 105
    assert list(totals.by_project) == ["a", NO_PROJECT, "b"]  # largest first
    assert totals.by_type == {"development": 75, "meeting": 30}
    assert [len(v) for v in totals.entries_by_day.values()] == [1, 1, 0, 0, 0, 0, 1]


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
        template = templates.env.get_template("_result.html")
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
