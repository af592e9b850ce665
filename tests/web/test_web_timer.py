"""The timer in the web app (issue 25): started from the header on any page, shown
with its elapsed time, stopped into an entry, "continue" on an entry, and a timer
running for more than 12 hours flagged: stopping it asks for an end, keep or discard.
Every form carries the CSRF token; the routes are the REST timer's own functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from englog.server.state import ServerState
from tests.web.conftest import ALICE, BOB, post_form, signed_in

pytestmark = pytest.mark.timeout(30)
API = {"Authorization": f"Bearer {ALICE}"}


async def timer(client: httpx.AsyncClient) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await client.get("/v1/timer", headers=API)).json()["timer"]
    return found


async def entries(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await client.get("/v1/entries", headers=API)).json()["entries"]
    return found


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def test_the_header_starts_and_stops_the_timer_on_every_page(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        for path in ("/app/week", "/app/insights", "/app/reports", "/app/settings", "/app/trends"):
            page = (await alice.get(path)).text
            assert 'aria-label="Start a timer"' in page, path
        started = await post_form(
            alice,
            "/app/insights",
            "/app/timer",
            {"title": "Fix <login>", "project": "atlas", "next": "/app/insights"},
        )
        assert started.status_code == 303 and started.headers["location"] == "/app/insights"
        running = await timer(alice)
        assert running is not None and running["title"] == "Fix <login>"
        assert running["project"] == "atlas" and running["type"] == "development"
        for path in ("/app/week", "/app/reports", "/app/timer"):
            page = (await alice.get(path)).text
            assert 'data-testid="timer-title">Fix &lt;login&gt;</span>' in page, path
            assert 'data-testid="timer-elapsed"' in page and "under a minute" in page
        status = await alice.get("/app/timer/status")
        assert "<html" not in status.text and "under a minute" in status.text
        # Another user sees no timer of Alice's.
        async with signed_in(state, BOB) as bob:
            assert "Fix &lt;login&gt;" not in (await bob.get("/app/week")).text

        stopped = await post_form(alice, "/app/week", "/app/timer/stop", {"how": "now"})
        assert stopped.status_code == 303
        location = stopped.headers["location"]
        assert re.fullmatch(r"/app/week\?start=[\d-]+&logged=\w+", location), location
        assert await timer(alice) is None
        [logged] = await entries(alice)
        assert logged["title"] == "Fix <login>" and logged["start_time"] == running["start_time"]
        page = (await alice.get(location)).text
        assert 'data-testid="timer-logged"' in page and "Fix &lt;login&gt;" in page


async def test_timer_forms_need_the_csrf_token(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        refused = await alice.post("/app/timer", data={"title": "Sneaky"})
        assert refused.status_code == 403 and await timer(alice) is None
        await post_form(alice, "/app/week", "/app/timer", {"title": "Mine"})
        refused = await alice.post("/app/timer/stop", data={"how": "discard"})
        assert refused.status_code == 403 and await timer(alice) is not None


async def test_a_refused_start_says_why(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        answer = await post_form(alice, "/app/week", "/app/timer", {"title": "  "})
        assert answer.status_code == 422 and 'role="alert"' in answer.text
        assert "Title" in answer.text and await timer(alice) is None
        answer = await post_form(alice, "/app/week", "/app/timer/stop", {"how": "now"})
        assert answer.status_code == 404 and "no timer is running" in answer.text
        answer = await post_form(alice, "/app/week", "/app/timer/stop", {"how": "sideways"})
        assert answer.status_code == 422 and "not a way to stop" in answer.text


async def test_continue_starts_the_timer_like_the_entry(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        body = {
            "title": "Review PRs",
            "type": "code_review",
            "project": "atlas",
            "tags": ["team"],
            "start_time": "2026-12-01T09:00:00Z",
            "end_time": "2026-12-01T10:00:00Z",
        }
        entry_id = (await alice.post("/v1/entries", json=body, headers=API)).json()["id"]
        page = (await alice.get("/app/week?start=2026-12-01&view=list")).text
        assert f'action="/app/entries/{entry_id}/continue"' in page
        answer = await post_form(
            alice, "/app/week", f"/app/entries/{entry_id}/continue", {"next": "/app/week"}
        )
        assert answer.status_code == 303
        running = await timer(alice)
        assert running is not None
        assert (running["title"], running["type"], running["project"], running["tags"]) == (
            "Review PRs",
            "code_review",
            "atlas",
            ["team"],
        )
        # Continue while one runs: that one is logged, and the page names it.
        answer = await post_form(alice, "/app/week", f"/app/entries/{entry_id}/continue", {})
        assert "logged=" in answer.headers["location"]
        assert len(await entries(alice)) == 2
    async with signed_in(state, BOB) as bob:
        answer = await post_form(bob, "/app/week", f"/app/entries/{entry_id}/continue", {})
        assert answer.status_code == 404


async def test_a_timer_over_12_hours_is_flagged_and_stopped_as_told(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        start = ago(hours=13)
        answer = await alice.post(
            "/v1/timer", json={"title": "Forgotten", "start_time": start}, headers=API
        )
        assert answer.status_code == 201, answer.text
        page = (await alice.get("/app/week")).text
        assert 'data-testid="timer-flag"' in page and "(over 12 h)" in page
        assert 'action="/app/timer/stop"' not in page  # no one-click stop in the header
        timer_page = (await alice.get("/app/timer")).text
        assert 'data-testid="timer-long"' in timer_page
        assert 'value="keep"' in timer_page and 'value="discard"' in timer_page
        # "Now" is refused, as over REST.
        refused = await post_form(alice, "/app/timer", "/app/timer/stop", {"how": "now"})
        assert refused.status_code == 409 and "more than 12 hours" in refused.text
        assert await timer(alice) is not None
        # An end before the start is refused with the REST message.
        refused = await post_form(
            alice, "/app/timer", "/app/timer/stop", {"how": "at", "end": "2000-01-01T00:00"}
        )
        assert refused.status_code == 422 and "must be after the timer" in refused.text
        # The time it really stopped: 4 hours after the start, on the viewer's clock (UTC).
        end = datetime.fromisoformat(start) + timedelta(hours=4)
        done = await post_form(
            alice,
            "/app/timer",
            "/app/timer/stop",
            {"how": "at", "end": end.strftime("%Y-%m-%dT%H:%M")},
        )
        assert done.status_code == 303, done.text
        [logged] = await entries(alice)
        assert logged["end_time"][:16] == end.strftime("%Y-%m-%dT%H:%M")
        assert await timer(alice) is None


async def test_a_flagged_timer_can_be_kept_or_discarded(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await alice.post(
            "/v1/timer", json={"title": "Kept", "start_time": ago(hours=13)}, headers=API
        )
        kept = await post_form(alice, "/app/timer", "/app/timer/stop", {"how": "keep"})
        assert kept.status_code == 303
        [logged] = await entries(alice)
        span = datetime.fromisoformat(logged["end_time"]) - datetime.fromisoformat(
            logged["start_time"]
        )
        assert timedelta(hours=12, minutes=59) < span < timedelta(hours=13, minutes=1)
        await alice.post(
            "/v1/timer", json={"title": "Dropped", "start_time": ago(hours=14)}, headers=API
        )
        dropped = await post_form(alice, "/app/timer", "/app/timer/stop", {"how": "discard"})
        assert dropped.status_code == 303 and "logged=" not in dropped.headers["location"]
        assert len(await entries(alice)) == 1 and await timer(alice) is None


async def test_a_timer_started_over_rest_shows_on_the_timer_page(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        assert "No timer running" in (await alice.get("/app/timer")).text
        await alice.post(
            "/v1/timer", json={"title": "From the CLI", "start_time": ago(minutes=65)}, headers=API
        )
        page = (await alice.get("/app/timer")).text
        assert "Running: From the CLI" in page
        assert re.search(r'data-testid="timer-page-elapsed">1h0[45]m<', page), page
        assert page.count('name="csrf"') >= 2  # the stop form and sign out


async def test_the_running_timer_is_drawn_on_the_calendar_but_not_counted(
    state: ServerState,
) -> None:
    # The server's clock at Wednesday 7 October 2026, 12:00 UTC.
    state.clock = datetime(2026, 10, 7, 12, 0, tzinfo=UTC).timestamp
    week = "/app/week?start=2026-10-05&view=calendar"
    async with signed_in(state, ALICE) as alice:
        started = await alice.post(
            "/v1/timer",
            json={"title": "Running now", "start_time": "2026-10-07T11:30:00Z"},
            headers=API,
        )
        assert started.status_code == 201, started.text
        page = (await alice.get(week)).text
        # 11:30 to 12:00 on the calendar (08:00 is its first row): rows 15 to 17.
        assert 'data-testid="running-block" data-rows="15-17"' in page
        assert "11:30, running" in page
        assert 'data-testid="week-total" data-minutes="0"' in page
        await post_form(alice, week, "/app/timer/stop", {"how": "discard"})
        assert 'data-testid="running-block"' not in (await alice.get(week)).text
