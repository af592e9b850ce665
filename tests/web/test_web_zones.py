"""The web app on the viewer's own clock (issue 20): the settings page, times typed and
shown in the user's zone, weeks on their first day, days split at local midnight,
overlaps marked, warnings after saving, insight and report ranges of local days, and
weeks at the ends of the calendar refused with a 4xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from englog.server.state import ServerState
from englog.web.templating import DASH
from tests.web.conftest import ALICE, BOB, csrf_of, post_form, signed_in

pytestmark = pytest.mark.timeout(30)
API = {"Authorization": f"Bearer {ALICE}"}


def minutes(page: str, testid: str) -> int:
    found = re.search(rf'data-testid="{re.escape(testid)}" data-minutes="(\d+)"', page)
    assert found, f"{testid} not on the page"
    return int(found.group(1))


async def set_zone(client: httpx.AsyncClient, **settings: str) -> dict[str, Any]:
    answer = await client.patch("/v1/me", json=settings, headers=API)
    assert answer.status_code == 200, answer.text
    me: dict[str, Any] = answer.json()
    return me


async def add(client: httpx.AsyncClient, title: str, start: str, end: str) -> str:
    body = {"title": title, "type": "development", "start_time": start, "end_time": end}
    answer = await client.post("/v1/entries", json=body, headers=API)
    assert answer.status_code == 201, answer.text
    entry_id: str = answer.json()["id"]
    return entry_id


async def me(client: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/v1/me", headers=API)).json()
    return found


# --- the settings page --------------------------------------------------------------------


async def test_settings_set_the_zone_and_first_day_of_the_week(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        page = await alice.get("/app/settings")
        assert page.status_code == 200
        assert 'href="/app/settings" aria-current="page"' in page.text  # in the nav
        assert "No time zone set yet" in page.text
        assert '<option value="America/New_York">' in page.text  # the IANA names offered
        assert '<option value="Asia/Kathmandu">' in page.text
        saved = await post_form(
            alice,
            "/app/settings",
            "/app/settings",
            {"timezone": "Asia/Kathmandu", "week_start": "sunday"},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/app/settings?saved=1"
        assert (await me(alice))["timezone"] == "Asia/Kathmandu"
        assert (await me(alice))["week_start"] == "sunday"
        page = await alice.get(saved.headers["location"])
        assert 'data-testid="saved"' in page.text
        assert 'value="Asia/Kathmandu"' in page.text
        assert '<option value="sunday" selected>' in page.text
        assert "+0545" in page.text  # the clock there, in its own offset
    async with signed_in(state, BOB) as bob:  # one person's zone is theirs alone
        assert "No time zone set yet" in (await bob.get("/app/settings")).text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone &#39;Mars/Olympus_Mons&#39;"),
        ({"timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"timezone": "europe/berlin"}, "unknown time zone"),  # names are case-sensitive
        ({"timezone": ""}, "Time zone: give an IANA name"),
        ({"timezone": "A" * 65}, "at most 64 characters"),
        ({"timezone": "UTC", "week_start": "funday"}, "&#39;funday&#39; is not a day of the week"),
    ],
)
async def test_a_bad_setting_is_refused_and_named(
    state: ServerState, fields: dict[str, str], message: str
) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="Europe/Berlin")
        answer = await post_form(alice, "/app/settings", "/app/settings", fields)
        assert answer.status_code == 422
        assert 'role="alert"' in answer.text and message in answer.text
        assert (await me(alice))["timezone"] == "Europe/Berlin"  # unchanged


async def test_settings_need_the_csrf_token_and_go_back_only_to_this_app(
    state: ServerState,
) -> None:
    async with signed_in(state, ALICE) as alice:
        forged = await alice.post("/app/settings", data={"timezone": "Asia/Tokyo"})
        assert forged.status_code == 403
        assert (await me(alice))["timezone"] == "UTC"
        for evil in ("https://evil.example/", "//evil.example/app/", "/v1/me"):
            answer = await post_form(
                alice, "/app/settings", "/app/settings", {"timezone": "UTC", "next": evil}
            )
            assert answer.headers["location"] == "/app/settings?saved=1", evil
        # The week page's zone offer posts the zone alone and comes back to the week.
        back = "/app/week?start=2026-11-30"
        answer = await post_form(
            alice, back, "/app/settings", {"timezone": "Asia/Tokyo", "next": back}
        )
        assert answer.status_code == 303 and answer.headers["location"] == back
        assert (await me(alice))["timezone"] == "Asia/Tokyo"
        assert (await me(alice))["week_start"] == "monday"  # not given: kept


async def test_the_week_page_carries_the_zone_offer_for_its_script(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="America/New_York")
        page = (await alice.get("/app/week?start=2026-11-30")).text
        script = await alice.get("/app/static/zone.js")
    assert '<script src="/app/static/zone.js" defer></script>' in page
    offer = re.search(r'<form[^>]*data-testid="zone-offer"[^>]*>', page)
    assert offer and 'data-account-zone="America/New_York"' in offer.group(0)
    assert " hidden>" in offer.group(0)  # hidden until the script finds another clock
    assert 'name="next" value="/app/week?start=2026-11-30"' in page
    assert script.status_code == 200 and "resolvedOptions().timeZone" in script.text
    assert "<script>" not in page  # the CSP forbids inline script: there is none


# --- the week on the person's clock -------------------------------------------------------


async def test_a_new_york_week_shows_local_times_and_days(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="America/New_York")
        await add(alice, "NY standup", "2026-12-01T14:00:00Z", "2026-12-01T14:15:00Z")
        # Monday 21:00 -> 22:00 in New York is Tuesday 02:00 UTC.
        await add(alice, "Evening deploy", "2026-12-01T02:00:00Z", "2026-12-01T03:00:00Z")
        page = (await alice.get("/app/week?start=2026-12-01")).text
    assert "Times are UTC" not in page
    assert re.search(r'data-testid="week-zone">.*America/New_York', page, re.S)
    # The UTC clock shows nowhere (14:00 itself is a row of the calendar).
    assert f"09:00{DASH}09:15" in page and f"14:00{DASH}" not in page
    assert f"21:00{DASH}22:00" in page
    assert minutes(page, "day-total-2026-11-30") == 60  # Monday, where it was lived
    assert minutes(page, "day-total-2026-12-01") == 15
    assert minutes(page, "day-total-2026-12-02") == 0


async def test_quick_add_reads_times_on_the_zones_clock(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="America/New_York")
        week = "/app/week?start=2026-11-30"
        fields = {"title": "Night", "type": "development", "start": "2026-12-04T22:00"}
        answer = await post_form(alice, week, "/app/entries", {**fields, "end": "2026-12-04T02:30"})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == week
        stored = (await alice.get("/v1/entries", headers=API)).json()["entries"]
        page = (await alice.get(week)).text
    assert [e["start_time"][:16] for e in stored] == ["2026-12-05T03:00"]  # 22:00 EST
    assert stored[0]["end_time"][:16] == "2026-12-05T07:30"  # the next day's 02:30
    # Friday 22:00 -> Saturday 02:30: 2h on Friday, 2h30m on Saturday.
    assert minutes(page, "day-total-2026-12-04") == 120
    assert minutes(page, "day-total-2026-12-05") == 150
    assert f"Fri 22:00 {DASH} Sat 02:30" in page
    assert page.count('data-testid="entry"') == 1
    assert page.count('data-testid="entry-continued"') == 1
    entry_id = stored[0]["id"]
    async with signed_in(state, ALICE) as alice:
        form = (await alice.get(f"/app/entries/{entry_id}/edit")).text
    assert 'value="2026-12-04T22:00"' in form and 'value="2026-12-05T02:30"' in form
    assert 'href="/app/week?start=2026-12-04"' in form  # Cancel: the local day


async def test_a_week_starts_on_the_persons_first_day(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="UTC", week_start="sunday")
        page = (await alice.get("/app/week?start=2026-12-02")).text
        added = await post_form(
            alice,
            "/app/week",
            "/app/entries",
            {"title": "Sat", "type": "meeting", "start": "2026-12-05T09:00", "duration": "1h"},
        )
    assert "Week of 2026-11-29" in page  # a Sunday
    assert 'href="/app/week?start=2026-11-22"' in page
    assert 'href="/app/week?start=2026-12-06"' in page
    days = re.findall(r'data-testid="day-total-([\d-]+)"', page)
    assert days[0] == "2026-11-29" and days[-1] == "2026-12-05"
    assert added.headers["location"] == "/app/week?start=2026-11-29"


async def test_overlapping_entries_are_both_marked_and_the_clock_shown(
    state: ServerState,
) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="Europe/Berlin")
        first = await add(alice, "Build", "2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z")
        week = "/app/week?start=2026-11-30"
        answer = await post_form(
            alice,
            week,
            "/app/entries",
            {
                "title": "Review",
                "type": "code_review",
                "start": "2026-12-01T09:30",  # 08:30 UTC: half an hour inside Build
                "duration": "1h",
            },
        )
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith(f"{week}&check=")
        page = (await alice.get(location)).text
        plain = (await alice.get(week)).text
    assert page.count('data-testid="overlap-mark"') == 2  # both of them
    assert re.search(rf'id="entry-{first}"[^>]*', page)
    assert (
        f"Overlaps “Review” 09:30{DASH}10:30" in page
        and f"Overlaps “Build” 09:00{DASH}10:00" in page
    )
    assert minutes(page, "day-total-2026-12-01") == 120
    assert minutes(page, "day-clock-2026-12-01") == 90
    assert minutes(page, "week-clock") == 90
    warned = re.search(r'data-testid="entry-warnings">(.*?)</div>', page, re.S)
    assert warned, "no warning after saving an overlapping entry"
    assert f"overlaps 1 other entry (“Build” Tue 09:00{DASH}10:00)" in warned.group(1)
    assert 'data-testid="entry-warnings"' not in plain  # only right after saving


async def test_an_edit_that_ends_in_the_future_is_warned_about(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        entry_id = await add(alice, "Plan", "2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z")
        edited = await post_form(
            alice,
            "/app/week",
            f"/app/entries/{entry_id}",
            {"title": "Plan", "type": "planning", "start": "2098-12-01T09:00", "duration": "1h"},
        )
        assert edited.status_code == 303
        page = (await alice.get(edited.headers["location"])).text
        quiet = await post_form(
            alice,
            "/app/week",
            f"/app/entries/{entry_id}",
            {"title": "Plan", "type": "planning", "start": "2026-11-30T09:00", "duration": "1h"},
        )
    assert edited.headers["location"] == f"/app/week?start=2098-12-01&check={entry_id}"
    assert re.search(r'data-testid="entry-warnings">.*ends .* in the future', page, re.S)
    assert quiet.headers["location"] == "/app/week?start=2026-11-30"


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize(
    "start", ["9999-12-27", "9999-12-31", "0001-01-01", "0001-01-07", "10000-01-01"]
)
async def test_weeks_at_the_ends_of_the_calendar_are_a_4xx(
    state: ServerState, zone: str, start: str
) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone=zone, week_start="sunday")
        answer = await alice.get(f"/app/week?start={start}")
    assert 400 <= answer.status_code < 500, answer.text
    assert 'role="alert"' in answer.text


async def test_an_entry_at_the_ends_of_the_calendar_is_refused_or_shown(
    state: ServerState,
) -> None:
    year_one = {"title": "Y1", "type": "development", "start": "0001-01-01T01:00"}
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="Asia/Tokyo")  # ahead of UTC: before year 1 there
        answer = await post_form(alice, "/app/week", "/app/entries", {**year_one, "end": "02:00"})
        assert answer.status_code == 422 and "out of the calendar" in answer.text
        await set_zone(alice, timezone="America/New_York")  # behind: a real instant
        answer = await post_form(alice, "/app/week", "/app/entries", {**year_one, "duration": "1h"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/week"  # stored; no page for its week
        assert (await alice.get(answer.headers["location"])).status_code == 200


# --- insights and reports over local days -------------------------------------------------


async def test_an_insight_asks_for_local_days_and_lists_the_whole_range(
    state: ServerState,
) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="America/Los_Angeles")
        # Sunday 2026-11-22 18:00 in Los Angeles is Monday 02:00 UTC.
        await add(alice, "On call", "2026-11-23T02:00:00Z", "2026-11-23T04:00:00Z")
        await add(alice, "Start", "2026-11-16T17:00:00Z", "2026-11-16T18:00:00Z")
        page = (await alice.get("/app/insights")).text
        assert "local days in America/Los_Angeles" in page
        answer = await post_form(
            alice,
            "/app/insights",
            "/app/insights",
            {"insight_type": "productivity", "from": "2026-11-16", "to": "2026-11-22"},
        )
        assert answer.status_code == 303, answer.text
        task_id = answer.headers["location"].rsplit("/", 1)[1]
        task = await state.store.get_task(task_id, None)
        listing = (await alice.get("/app/insights")).text
        shown = (await alice.get(answer.headers["location"])).text
    assert task is not None
    assert task.payload["time_zone"] == "America/Los_Angeles"
    assert (task.payload["period_start"], task.payload["period_end"]) == (
        "2026-11-16",
        "2026-11-22",
    )
    assert sorted(e["title"] for e in task.payload["entries"]) == ["On call", "Start"]
    assert re.search(r'data-testid="insight-days">2026-11-16 → 2026-11-22<', listing)
    assert "2026-11-16 → 2026-11-22, local days in America/Los_Angeles" in shown


async def test_a_bad_insight_range_is_refused_with_the_form_kept(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await add(alice, "x", "2026-11-16T09:00:00Z", "2026-11-16T10:00:00Z")
        for dates, message in (
            ({"from": "2026-11-22", "to": "2026-11-16"}, "to must be after from"),
            ({"from": "2026-10-01", "to": "2026-11-16"}, "at most 31 days"),
            ({"from": "someday", "to": "2026-11-16"}, "Dates:"),
        ):
            answer = await post_form(
                alice, "/app/insights", "/app/insights", {"insight_type": "productivity", **dates}
            )
            assert answer.status_code == 422, dates
            assert message in answer.text, (dates, answer.text[-2000:])


async def test_a_report_covers_the_persons_week(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await set_zone(alice, timezone="Asia/Tokyo", week_start="sunday")
        # Sunday 2026-11-15 07:00 in Tokyo is Saturday 22:00 UTC.
        await add(alice, "Deploy", "2026-11-14T22:00:00Z", "2026-11-14T23:00:00Z")
        page = (await alice.get("/app/reports")).text
        assert "Sunday to Saturday" in page and "Asia/Tokyo" in page
        answer = await post_form(
            alice, "/app/reports", "/app/reports", {"week_start": "2026-11-18"}
        )
        assert answer.status_code == 303, answer.text
        task = await state.store.get_task(answer.headers["location"].rsplit("/", 1)[1], None)
        listing = (await alice.get("/app/reports")).text
        far = await post_form(alice, "/app/reports", "/app/reports", {"week_start": "0001-01-01"})
    assert task is not None
    assert (task.payload["week_start"], task.payload["week_end"]) == ("2026-11-15", "2026-11-21")
    assert [e["title"] for e in task.payload["entries"]] == ["Deploy"]
    assert re.search(r'data-testid="report-days">2026-11-15 → 2026-11-21<', listing)
    assert far.status_code == 422 and 'role="alert"' in far.text


async def test_pages_without_a_csrf_token_change_nothing(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        page = await alice.get("/app/settings")
        assert csrf_of(page)
        answer = await alice.post("/app/settings", data={"timezone": "UTC", "csrf": "nope"})
    assert answer.status_code == 403


async def test_another_users_entry_is_never_checked_on_my_page(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        mine = await add(alice, "Far ahead", "2098-11-30T09:00:00Z", "2098-11-30T10:00:00Z")
        assert 'data-testid="entry-warnings"' in (await alice.get(f"/app/week?check={mine}")).text
    async with signed_in(state, BOB) as bob:
        page = await bob.get(f"/app/week?start=2098-11-30&check={mine}")
    assert page.status_code == 200
    assert 'data-testid="entry-warnings"' not in page.text and "Far ahead" not in page.text
