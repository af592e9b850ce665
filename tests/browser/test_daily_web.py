"""The engineer's daily tools in Chromium (issue 25): a timer started from the CLI
survives a server restart and is stopped from the web app into one entry with the
right times; the calendar places a 09:00-10:30 New York entry across the 09:00 and
10:00 rows; an empty hour, clicked or reached from the keyboard, prefills the
quick-add form; at 375 px the calendar shows one day at a time; trends draw charts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import WAIT_MS, Live, entry, screenshot, sign_in
from tests.browser.test_accessibility import AUDIT, CONTRAST
from tests.support.procs import Cluster, base_env, englog_cmd

pytestmark = pytest.mark.timeout(180)
NEW_YORK = "America/New_York"
NY = ZoneInfo(NEW_YORK)


def fresh_page(browser: Browser, url: str, width: int = 1280, height: int = 900) -> Page:
    ctx: BrowserContext = browser.new_context(
        base_url=url, viewport={"width": width, "height": height}, timezone_id=NEW_YORK
    )
    ctx.set_default_timeout(WAIT_MS)
    return ctx.new_page()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A server of this test's own, to restart without disturbing the others."""
    cluster = Cluster(tmp_path)
    try:
        cluster.start_server()
        yield cluster
    finally:
        cluster.stop_all()


def box(page: Page, testid: str) -> dict[str, float]:
    found = page.get_by_test_id(testid).first.bounding_box()
    assert found is not None, testid
    return found


def test_a_cli_timer_survives_a_restart_and_is_stopped_in_chromium(
    own_cluster: Cluster, browser: Browser
) -> None:
    token = own_cluster.create_user("tess")
    assert own_cluster.server is not None
    url = own_cluster.server.url
    api = {"Authorization": f"Bearer {token}"}
    httpx.patch(f"{url}/v1/me", json={"timezone": NEW_YORK}, headers=api, timeout=10)
    # Started 40 minutes ago on the New York clock, from the command line.
    start_ny = datetime.now(NY) - timedelta(minutes=40)
    at = start_ny.strftime("%H:%M")
    started = subprocess.run(
        englog_cmd("start", "Fix the login bug", "-p", "atlas", "-t", "debugging", "--at", at),
        env=base_env(ENGLOG_URL=url, ENGLOG_TOKEN=token),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert started.returncode == 0, started.stderr
    timer = httpx.get(f"{url}/v1/timer", headers=api, timeout=10).json()["timer"]
    assert timer["title"] == "Fix the login bug"

    # The server goes away and comes back on the same database.
    assert own_cluster.server.terminate(30) == 0
    own_cluster.start_server()

    page = fresh_page(browser, url)
    sign_in(page, token)
    bar = page.get_by_test_id("timer-bar")
    expect(bar.get_by_test_id("timer-title")).to_have_text("Fix the login bug")
    # The bar names the day too when the timer started on another one (40 minutes
    # before a time between midnight and 00:40 in New York).
    other_day = start_ny.date() != datetime.now(NY).date()
    expect(bar).to_contain_text(f"since {start_ny:%a} {at}" if other_day else f"since {at}")
    elapsed = int(bar.get_by_test_id("timer-elapsed").get_attribute("data-minutes") or -1)
    assert 39 <= elapsed <= 45, elapsed
    screenshot(page, "timer-running", full_page=False)
    before = datetime.now(UTC).replace(microsecond=0)
    with page.expect_navigation():
        bar.get_by_role("button", name="Stop timer").click()
    after = datetime.now(UTC)
    expect(page.get_by_test_id("timer-logged")).to_contain_text("Fix the login bug")
    expect(
        page.get_by_test_id("timer-bar").get_by_role("button", name="Start timer")
    ).to_be_visible()
    expect(page.get_by_test_id("block").filter(has_text="Fix the login bug")).to_have_count(1)
    screenshot(page, "timer-stopped")

    entries = httpx.get(f"{url}/v1/entries", headers=api, timeout=10).json()["entries"]
    assert len(entries) == 1, entries
    [logged] = entries
    start = datetime.fromisoformat(logged["start_time"])
    end = datetime.fromisoformat(logged["end_time"])
    assert start == datetime.fromisoformat(timer["start_time"])
    assert start.astimezone(NY).strftime("%H:%M") == at
    assert before - timedelta(seconds=1) <= end <= after + timedelta(seconds=1)
    assert (logged["title"], logged["project"], logged["type"]) == (
        "Fix the login bug",
        "atlas",
        "debugging",
    )
    assert httpx.get(f"{url}/v1/timer", headers=api, timeout=10).json()["timer"] is None


@pytest.fixture(scope="module")
def jo(live: Live) -> str:
    """A New York user of the shared server with a 09:00-10:30 entry on Monday 5 Oct."""
    token = live.cluster.create_user("jo")
    with live.api(token) as api:
        api.patch("/v1/me", json={"timezone": NEW_YORK}).raise_for_status()
    # 13:00-14:30 UTC is 09:00-10:30 in New York (EDT); the others overlap or cross midnight.
    live.add_entries(
        token,
        [
            entry("Design review", "2026-10-05T13:00", "2026-10-05T14:30", "meeting"),
            entry("Build", "2026-10-06T14:00", "2026-10-06T15:00", "deployment"),
            entry("Hotfix", "2026-10-06T14:30", "2026-10-06T16:00", "debugging"),
            entry("Night deploy", "2026-10-08T02:00", "2026-10-08T06:00", "deployment"),
        ],
    )
    return token


def test_the_calendar_places_0900_1030_across_the_0900_and_1000_rows(
    browser: Browser, live: Live, jo: str
) -> None:
    page = fresh_page(browser, live.url)
    sign_in(page, jo)
    page.goto("/app/week?start=2026-10-05&view=calendar")
    block = page.get_by_test_id("block").filter(has_text="Design review")
    expect(block).to_contain_text("09:00\u201310:30")
    b = block.bounding_box()
    assert b is not None
    nine, ten, eleven = (box(page, f"hour-{h}") for h in ("09", "10", "11"))
    monday = box(page, "cal-day-2026-10-05")
    hour = ten["y"] - nine["y"]
    assert hour > 30, hour
    assert abs(b["y"] - nine["y"]) <= 3  # starts at the 09:00 row
    bottom = b["y"] + b["height"]
    assert ten["y"] + hour * 0.4 < bottom < eleven["y"]  # half-way down the 10:00 row
    assert monday["x"] <= b["x"] and b["x"] + b["width"] <= monday["x"] + monday["width"] + 1
    # Overlapping entries side by side on Tuesday, each half as wide.
    build = page.get_by_test_id("block").filter(has_text="Build").bounding_box()
    hotfix = page.get_by_test_id("block").filter(has_text="Hotfix").bounding_box()
    assert build and hotfix
    assert build["x"] + build["width"] <= hotfix["x"] + 1
    # The night's work across midnight in New York: two blocks, Wednesday and Thursday.
    expect(page.get_by_test_id("block").filter(has_text="Night deploy")).to_have_count(2)
    expect(page.get_by_test_id("cal-day-2026-10-07").get_by_test_id("block")).to_contain_text(
        "22:00\u201324:00"
    )
    found = page.evaluate(AUDIT)
    assert found["unlabelled"] == [] and found["mute"] == [] and found["h1"] == 1
    assert page.evaluate(CONTRAST) == []
    screenshot(page, "week-calendar")

    # An empty hour, clicked: the quick-add form starts there.
    page.get_by_test_id("slot-2026-10-09T14:00").click()
    form = page.get_by_role("form", name="Log an entry")
    expect(form.get_by_label("Start", exact=True)).to_have_value("2026-10-09T14:00")
    expect(form.get_by_label("Duration", exact=True)).to_have_value("1h")
    form.get_by_label("Title", exact=True).fill("Planning")
    with page.expect_navigation():
        form.get_by_role("button", name="Log entry").click()
    planning = page.get_by_test_id("block").filter(has_text="Planning")
    expect(planning).to_contain_text("14:00\u201315:00")

    # From the keyboard: the slot is a link, Enter follows it.
    page.get_by_test_id("slot-2026-10-10T11:00").focus()
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("form", name="Log an entry").get_by_label("Start", exact=True)
    ).to_have_value("2026-10-10T11:00")


def test_at_375px_the_calendar_shows_one_day_at_a_time(
    browser: Browser, live: Live, jo: str
) -> None:
    page = fresh_page(browser, live.url, width=375, height=812)
    sign_in(page, jo)
    page.goto("/app/week?start=2026-10-05&view=calendar&day=2026-10-06")
    expect(page.get_by_test_id("cal-day-2026-10-06")).to_be_visible()
    for other in ("2026-10-05", "2026-10-07", "2026-10-11"):
        expect(page.get_by_test_id(f"cal-day-{other}")).to_be_hidden()
    tuesday = box(page, "cal-day-2026-10-06")
    assert tuesday["width"] > 250, tuesday  # the day takes the width
    build = page.get_by_test_id("block").filter(has_text="Build").bounding_box()
    hotfix = page.get_by_test_id("block").filter(has_text="Hotfix").bounding_box()
    assert build and hotfix and build["x"] + build["width"] <= hotfix["x"] + 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "week-calendar-375")
    page.get_by_role("navigation", name="Day shown").get_by_role("link", name="Mon 05").click()
    expect(page.get_by_test_id("cal-day-2026-10-05")).to_be_visible()
    expect(page.get_by_test_id("cal-day-2026-10-06")).to_be_hidden()
    expect(page.get_by_test_id("block").filter(has_text="Design review")).to_be_visible()
    # The header's timer works at this width too.
    bar = page.get_by_test_id("timer-bar")
    bar.get_by_label("Timer: what you work on").fill("On the phone")
    with page.expect_navigation():
        bar.get_by_role("button", name="Start timer").click()
    expect(page.get_by_test_id("timer-title")).to_have_text("On the phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    found = page.evaluate(AUDIT)
    assert found["unlabelled"] == [] and found["h1"] == 1
    assert page.evaluate(CONTRAST) == []
    screenshot(page, "week-calendar-375-timer", full_page=False)
    # The list view is the other choice, also at this width.
    page.get_by_role("link", name="List").click()
    expect(page.get_by_test_id("entry").filter(has_text="Design review")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "week-list-375")
    with page.expect_navigation():
        page.get_by_test_id("timer-bar").get_by_role("button", name="Stop timer").click()


def test_a_long_timer_is_flagged_and_stopped_at_the_time_given(
    browser: Browser, live: Live
) -> None:
    token = live.cluster.create_user("lou")
    start = datetime.now(UTC) - timedelta(hours=13)
    with live.api(token) as api:
        api.post(
            "/v1/timer", json={"title": "Forgotten timer", "start_time": start.isoformat()}
        ).raise_for_status()
    page = fresh_page(browser, live.url)
    sign_in(page, token)
    flag = page.get_by_test_id("timer-flag")
    expect(flag).to_be_visible()
    assert page.evaluate(CONTRAST) == []
    flag.click()
    expect(page.get_by_test_id("timer-long")).to_be_visible()
    found = page.evaluate(AUDIT)
    assert found["unlabelled"] == [] and found["h1"] == 1
    screenshot(page, "timer-long")
    end = start + timedelta(hours=3)
    page.get_by_label("Stopped at").fill(end.strftime("%Y-%m-%dT%H:%M"))  # the account is UTC
    with page.expect_navigation():
        page.get_by_role("button", name="Stop at this time").click()
    expect(page.get_by_test_id("timer-logged")).to_contain_text("Forgotten timer")
    with live.api(token) as api:
        [logged] = api.get("/v1/entries").json()["entries"]
    assert logged["end_time"][:16] == end.strftime("%Y-%m-%dT%H:%M")


def test_trends_draw_charts_and_set_the_target(browser: Browser, live: Live, jo: str) -> None:
    page = fresh_page(browser, live.url)
    sign_in(page, jo)
    today = datetime.now(NY).date()
    with live.api(jo) as api:
        api.post(
            "/v1/entries",
            json={
                "title": "Deep work",
                "type": "development",
                "start_time": f"{today}T09:00:00-05:00",
                "end_time": f"{today}T12:00:00-05:00",
            },
        ).raise_for_status()
    page.get_by_role("link", name="Trends").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trends")
    expect(page.get_by_test_id("trend-chart")).to_have_count(3)
    form = page.get_by_role("form", name="Weekly target")
    form.get_by_label("Hours a week").fill("30")
    form.get_by_label("Focus share (%)").fill("60")
    with page.expect_navigation():
        form.get_by_role("button", name="Save target").click()
    expect(page.get_by_text("target 30 h")).to_be_visible()
    assert page.evaluate(CONTRAST) == []
    screenshot(page, "trends")
    page.get_by_role("link", name="Week", exact=True).click()
    expect(page.get_by_test_id("target-progress")).to_contain_text("of 30h")
