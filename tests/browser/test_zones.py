"""Time zones in a real browser (issue 20): a New York user sees a 09:00 local entry at
09:00 and logs one on the same clock; when the browser's zone (Playwright's
`timezone_id`) is not the account's, the week page offers to switch, from a script
file the strict CSP allows; the settings page sets the zone and the week's first day;
overlapping entries are marked and warned about, and all of it stays readable."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import WAIT_MS, Live, entry, expect_minutes, screenshot, sign_in
from tests.browser.test_accessibility import AUDIT, CONTRAST

pytestmark = pytest.mark.timeout(90)
NEW_YORK = "America/New_York"
DASH = "\u2013"
OpenIn = Callable[[str], Page]  # a page of a fresh browser context in a zone


def set_zone(live: Live, token: str, **settings: str) -> None:
    with live.api(token) as api:
        api.patch("/v1/me", json=settings).raise_for_status()


def console_problems(page: Page) -> list[str]:
    """Errors the page logs: a CSP refusal of a script shows up here."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.append(str(e)))
    return seen


@pytest.fixture
def browser_in(browser: Browser, live: Live) -> Iterator[OpenIn]:
    """Pages of a fresh context whose clock is in the given zone."""
    opened: list[BrowserContext] = []

    def open_in(zone: str) -> Page:
        ctx = browser.new_context(
            base_url=live.url, viewport={"width": 1280, "height": 900}, timezone_id=zone
        )
        ctx.set_default_timeout(WAIT_MS)
        opened.append(ctx)
        return ctx.new_page()

    yield open_in
    for ctx in opened:
        ctx.close()


def test_a_new_york_user_sees_0900_at_0900(browser_in: OpenIn, live: Live) -> None:
    token = live.tokens["gwen"]
    set_zone(live, token, timezone=NEW_YORK)
    # 13:00 UTC on Monday 5 October 2026 is 09:00 in New York (EDT, -04:00).
    live.add_entries(
        token, [entry("NY standup", "2026-10-05T13:00", "2026-10-05T13:15", "meeting")]
    )
    page = browser_in(NEW_YORK)
    problems = console_problems(page)
    sign_in(page, token)
    page.goto("/app/week?start=2026-10-05")
    standup = page.get_by_test_id("entry").filter(has_text="NY standup")
    expect(standup.locator(".time")).to_have_text(f"09:00{DASH}09:15")
    expect(page.get_by_test_id("week-zone")).to_contain_text(NEW_YORK)
    expect(page.get_by_text("Times are UTC")).to_have_count(0)
    expect_minutes(page, "day-total-2026-10-05", 15)
    # The browser is in New York too: nothing to offer.
    expect(page.get_by_test_id("zone-offer")).to_be_hidden()

    # Logged through the form at 09:00 local, stored at 13:00 UTC, shown at 09:00.
    form = page.get_by_role("form", name="Log an entry")
    form.get_by_label("Title", exact=True).fill("Morning review")
    form.get_by_label("Start", exact=True).fill("2026-10-06T09:00")
    form.get_by_label("Duration", exact=True).fill("30m")
    with page.expect_navigation():
        form.get_by_role("button", name="Log entry").click()
    review = page.get_by_test_id("day-2026-10-06").get_by_test_id("entry")
    expect(review.locator(".time")).to_have_text(f"09:00{DASH}09:30")
    with live.api(token) as api:
        stored = api.get("/v1/entries", params={"from": "2026-10-06", "to": "2026-10-06"})
    starts = [e["start_time"] for e in stored.json()["entries"]]
    assert [s[:16] for s in starts] == ["2026-10-06T13:00"], starts
    screenshot(page, "week-new-york")
    assert problems == []


def test_the_switch_offer_appears_when_the_browsers_zone_differs(
    browser_in: OpenIn, live: Live
) -> None:
    token = live.tokens["hal"]
    set_zone(live, token, timezone=NEW_YORK)
    live.add_entries(token, [entry("Standup", "2026-10-05T13:00", "2026-10-05T13:15", "meeting")])
    page = browser_in("Europe/Berlin")
    problems = console_problems(page)
    sign_in(page, token)
    page.goto("/app/week?start=2026-10-05")
    offer = page.get_by_test_id("zone-offer")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text(
        f"Your browser is in Europe/Berlin, but this account counts days in {NEW_YORK}"
    )
    screenshot(page, "week-zone-offer", full_page=False)
    assert page.evaluate(CONTRAST) == []

    # Keep: the offer goes away for this tab, also on the next page.
    offer.get_by_role("button", name=f"Keep {NEW_YORK}").click()
    expect(offer).to_be_hidden()
    page.reload()
    expect(page.get_by_test_id("zone-offer")).to_be_hidden()

    # Another tab asks again; switching posts the browser's zone and comes back.
    other = browser_in("Europe/Berlin")
    sign_in(other, token)
    other.goto("/app/week?start=2026-10-05")
    with other.expect_navigation():
        other.get_by_role("button", name="Switch to Europe/Berlin").click()
    expect(other).to_have_url(f"{live.url}/app/week?start=2026-10-05")
    expect(other.get_by_test_id("week-zone")).to_contain_text("Europe/Berlin")
    expect(other.get_by_test_id("zone-offer")).to_be_hidden()
    standup = other.get_by_test_id("entry").filter(has_text="Standup")
    expect(standup.locator(".time")).to_have_text(f"15:00{DASH}15:15")  # CEST
    with live.api(token) as api:
        assert api.get("/v1/me").json()["timezone"] == "Europe/Berlin"
    assert problems == []


def test_settings_set_the_zone_and_the_weeks_first_day(browser_in: OpenIn, live: Live) -> None:
    page = browser_in("Asia/Kathmandu")
    sign_in(page, live.tokens["ivy"])
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    # The browser's zone is offered here too (the account is still on UTC). Chromium
    # names it by its old alias, Asia/Katmandu: the same clock as Asia/Kathmandu.
    expect(page.get_by_test_id("zone-offer")).to_contain_text(re.compile("Asia/Kath?mandu"))
    form = page.get_by_role("form", name="Calendar settings")
    form.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    with page.expect_navigation():
        form.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown time zone 'Mars/Olympus_Mons'")
    screenshot(page, "settings-refused")

    form = page.get_by_role("form", name="Calendar settings")
    form.get_by_label("Time zone").fill("Asia/Kathmandu")
    form.get_by_label("First day of the week").select_option("sunday")
    with page.expect_navigation():
        form.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("saved")).to_contain_text("Asia/Kathmandu")
    expect(page.get_by_test_id("current-zone")).to_contain_text("+0545")
    expect(page.get_by_test_id("zone-offer")).to_be_hidden()  # an alias is no difference
    found = page.evaluate(AUDIT)
    assert found["unlabelled"] == [] and found["h1"] == 1
    assert page.evaluate(CONTRAST) == []
    screenshot(page, "settings")
    page.goto("/app/week?start=2026-10-07")
    expect(page.get_by_role("heading", level=1)).to_have_text("Week of 2026-10-04")  # a Sunday


def test_overlapping_entries_are_marked_and_warned_about(browser_in: OpenIn, live: Live) -> None:
    token = live.tokens["gwen"]
    set_zone(live, token, timezone=NEW_YORK)
    live.add_entries(token, [entry("Build", "2026-10-14T13:00", "2026-10-14T14:00", "deployment")])
    page = browser_in(NEW_YORK)
    sign_in(page, token)
    page.goto("/app/week?start=2026-10-12")
    form = page.get_by_role("form", name="Log an entry")
    form.get_by_label("Title", exact=True).fill("Review")
    form.get_by_label("Start", exact=True).fill("2026-10-14T09:30")
    form.get_by_label("Duration", exact=True).fill("1h")
    with page.expect_navigation():
        form.get_by_role("button", name="Log entry").click()
    warning = page.get_by_test_id("entry-warnings")
    expect(warning).to_contain_text(f"overlaps 1 other entry (“Build” Wed 09:00{DASH}10:00)")
    day = page.get_by_test_id("day-2026-10-14")
    expect(day.get_by_test_id("overlap-mark")).to_have_count(2)
    expect_minutes(page, "day-total-2026-10-14", 120)
    expect_minutes(page, "day-clock-2026-10-14", 90)
    assert page.evaluate(CONTRAST) == []
    screenshot(page, "week-overlap")
