"""The week as a calendar (issue 25): blocks on the rows of the viewer's clock, entries
across midnight on both days, overlapping ones side by side, empty hours that prefill
the quick-add form, the list kept as the other view; and the trends page with the
weekly target the week page measures against."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from englog.domain.entries import Entry
from englog.server.state import ServerState
from englog.web.week_grid import COLS, MAX_ROWS, side_by_side, stylesheet, week_grid
from tests.web.conftest import ALICE, post_form, signed_in

pytestmark = pytest.mark.timeout(30)
API = {"Authorization": f"Bearer {ALICE}"}
NEW_YORK = "America/New_York"


async def add(client: httpx.AsyncClient, title: str, start: str, end: str) -> str:
    body = {"title": title, "type": "development", "start_time": start, "end_time": end}
    answer = await client.post("/v1/entries", json=body, headers=API)
    assert answer.status_code == 201, answer.text
    entry_id: str = answer.json()["id"]
    return entry_id


def block_of(page: str, entry_id: str) -> list[dict[str, str]]:
    """Every calendar block of the entry: its day, classes and rows."""
    found = []
    for day, body in re.findall(r'data-testid="cal-day-([\d-]+)"(.*?)</div>', page, re.S):
        for classes, rows in re.findall(
            rf'class="cal-block ([^"]+)"[^>]*data-entry="{entry_id}" data-rows="([\d-]+)"', body
        ):
            found.append({"day": day, "classes": classes, "rows": rows})
    return found


def entry(title: str, start: str, end: str, entry_id: str) -> Entry:
    return Entry(
        id=entry_id,
        user_id="u",
        title=title,
        type="development",
        start_time=datetime.fromisoformat(start).replace(tzinfo=UTC),
        end_time=datetime.fromisoformat(end).replace(tzinfo=UTC),
        created_at=0.0,
        updated_at=0.0,
    )


async def test_a_0900_1030_entry_spans_the_0900_and_1000_rows_in_new_york(
    state: ServerState,
) -> None:
    async with signed_in(state, ALICE) as alice:
        await alice.patch("/v1/me", json={"timezone": NEW_YORK}, headers=API)
        # 13:00-14:30 UTC on Monday 5 October 2026 is 09:00-10:30 in New York (EDT).
        entry_id = await add(alice, "Design review", "2026-10-05T13:00Z", "2026-10-05T14:30Z")
        page = (await alice.get("/app/week?start=2026-10-05")).text
    [block] = block_of(page, entry_id)
    assert block["day"] == "2026-10-05"
    nine = re.search(r'class="r-(\d+) e-(\d+)" data-testid="hour-09"', page)
    ten = re.search(r'class="r-(\d+) e-(\d+)" data-testid="hour-10"', page)
    eleven = re.search(r'class="r-(\d+) e-\d+" data-testid="hour-11"', page)
    assert nine and ten and eleven
    first, last = (int(n) for n in block["rows"].split("-"))
    # From the top of the 09:00 row, through the 10:00 row's first half.
    assert first == int(nine.group(1))
    assert int(ten.group(1)) < last < int(ten.group(2)) and last < int(eleven.group(1))
    assert f"r-{first} e-{last} c-1 ce-{COLS + 1}" in block["classes"]
    assert "09:00\u201310:30" in page
    # The page loads the grid classes; the stylesheet has every row and lane.
    assert '<link rel="stylesheet" href="/app/calendar.css">' in page


async def test_an_entry_across_midnight_is_a_block_on_both_days(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        entry_id = await add(alice, "Night deploy", "2026-10-06T22:00Z", "2026-10-07T02:00Z")
        page = (await alice.get("/app/week?start=2026-10-05")).text
    blocks = block_of(page, entry_id)
    assert [b["day"] for b in blocks] == ["2026-10-06", "2026-10-07"]
    # The range reaches midnight on both sides: 00:00 to 24:00 is shown.
    assert 'data-testid="hour-00"' in page and 'data-testid="hour-23"' in page
    assert blocks[0]["rows"] == f"{22 * 4 + 1}-{MAX_ROWS + 1}"  # 22:00 to midnight
    assert blocks[1]["rows"] == "1-9"  # 00:00 to 02:00
    assert "22:00\u201324:00 \u2192" in page and "\u21b3 00:00\u201302:00" in page


async def test_overlapping_entries_sit_side_by_side(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        a = await add(alice, "Build", "2026-10-05T09:00Z", "2026-10-05T10:00Z")
        b = await add(alice, "Review", "2026-10-05T09:30Z", "2026-10-05T10:30Z")
        c = await add(alice, "Lunch talk", "2026-10-05T12:00Z", "2026-10-05T13:00Z")
        page = (await alice.get("/app/week?start=2026-10-05")).text
    [left], [right], [alone] = (block_of(page, i) for i in (a, b, c))
    assert "c-1 ce-7" in left["classes"] and "overlapping" in left["classes"]
    assert "c-7 ce-13" in right["classes"] and "overlapping" in right["classes"]
    assert "c-1 ce-13" in alone["classes"] and "overlapping" not in alone["classes"]


def test_lanes_are_reused_once_free() -> None:
    day = date(2026, 10, 5)
    entries = [
        entry("A", "2026-10-05T09:00", "2026-10-05T10:00", "a"),
        entry("B", "2026-10-05T09:30", "2026-10-05T11:00", "b"),
        entry("C", "2026-10-05T10:00", "2026-10-05T10:30", "c"),  # A's lane is free again
        entry("D", "2026-10-05T09:45", "2026-10-05T10:15", "d"),
    ]
    grid = week_grid([day], entries, UTC)
    placed = {b.entry.id: (b.col, b.end_col) for b in grid.days[0].blocks}
    assert placed == {"a": (1, 5), "b": (5, 9), "d": (9, 13), "c": (1, 5)}
    assert side_by_side([]) == []
    css = stylesheet()
    assert ".r-96{grid-row-start:96}" in css and ".e-97{grid-row-end:97}" in css
    assert ".c-12{grid-column-start:12}" in css and ".ce-13{grid-column-end:13}" in css


async def test_an_empty_hour_prefills_the_quick_add_form(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        week = (await alice.get("/app/week?start=2026-10-05")).text
        assert 'href="/app/week?at=2026-10-07T14:00#add"' in week
        page = await alice.get("/app/week?at=2026-10-07T14:00")
        assert page.status_code == 200
        assert re.search(
            r'id="start" name="start" type="datetime-local" value="2026-10-07T14:00"', page.text
        )
        assert re.search(r'id="duration" name="duration" value="1h"', page.text)
        assert "<h1>Week of 2026-10-05</h1>" in page.text
        bad = await alice.get("/app/week?at=someday")
        assert bad.status_code == 200  # ignored: the plain week


async def test_the_list_view_is_a_toggle_and_is_remembered(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await add(alice, "Build", "2026-10-05T09:00Z", "2026-10-05T10:00Z")
        page = (await alice.get("/app/week?start=2026-10-05")).text
        assert re.search(r'data-testid="week-calendar"\s*>', page)  # shown
        assert re.search(r'hidden data-testid="week-list"', page)
        listed = await alice.get("/app/week?start=2026-10-05&view=list")
        assert "englog_week_view=list" in listed.headers["set-cookie"]
        again = (await alice.get("/app/week?start=2026-10-05")).text
        assert re.search(r'data-testid="week-calendar" hidden', again)
        assert re.search(r'aria-labelledby="timeline-heading"\s+data-testid="week-list"', again)
        assert (await alice.get("/app/week?view=sideways")).status_code == 422
        css = await alice.get("/app/calendar.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def me(client: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/v1/me", headers=API)).json()
    return found


async def test_trends_and_the_weekly_target(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        today = datetime.now(UTC).date()
        start = f"{today}T00:00Z"
        await add(alice, "Deep work", start, f"{today}T02:00Z")
        page = (await alice.get("/app/trends?weeks=4")).text
        assert page.count('data-testid="trend-chart"') == 3
        assert len(re.findall(r'data-testid="trend-[\d-]+"', page)) == 4
        assert re.search(r'data-testid="trend-[\d-]+" data-clock="120"', page)
        assert (await alice.get("/app/trends?weeks=0")).status_code == 422

        refused = await post_form(alice, "/app/trends", "/app/trends/target", {"hours": "200"})
        assert refused.status_code == 422 and "at most 168" in refused.text
        refused = await post_form(alice, "/app/trends", "/app/trends/target", {"hours": "lots"})
        assert refused.status_code == 422 and "not a number" in refused.text
        saved = await post_form(
            alice, "/app/trends", "/app/trends/target", {"hours": "8", "focus": "60"}
        )
        assert saved.status_code == 303
        assert (await me(alice))["weekly_target_hours"] == 8
        assert (await me(alice))["focus_target"] == 0.6
        week = (await alice.get("/app/week")).text
        assert 'data-testid="target-progress" data-progress="0.25"' in week
        assert "2h of 8h (25%)" in week
        trends = (await alice.get("/app/trends")).text
        assert "target 8 h" in trends and "target 60 %" in trends
        cleared = await post_form(alice, "/app/trends", "/app/trends/target", {"hours": ""})
        assert cleared.status_code == 303 and (await me(alice))["weekly_target_hours"] is None
        assert 'data-testid="target-progress"' not in (await alice.get("/app/week")).text


def test_rows_follow_the_wall_clock_across_dst_changes() -> None:
    """New York, 1 Nov 2026: 01:00-02:00 happens twice. An hour from the first 01:30
    (EDT) to the second (EST) keeps a row; on 8 Mar 01:30 EST to 03:30 EDT (one hour
    lived) spans the clock's 01:30 to 03:30."""
    ny = zoneinfo.ZoneInfo(NEW_YORK)
    back = entry("Repeated hour", "2026-11-01T05:30", "2026-11-01T06:30", "back")
    [fall] = week_grid([date(2026, 11, 1)], [back], ny).days[0].blocks
    assert fall.start_minute == 90 and fall.end_row > fall.row
    forward = entry("Skipped hour", "2026-03-08T06:30", "2026-03-08T07:30", "fwd")
    grid = week_grid([date(2026, 3, 8)], [forward], ny)
    [spring] = grid.days[0].blocks
    assert (spring.start_minute, spring.end_minute) == (90, 210)
    assert grid.first_hour == 1 and spring.label == "01:30\u201303:30"
