"""The week page in a real browser: the quick-add form, the totals it moves, a refused
entry, week navigation, escaping of what users type, and a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Live, entry, expect_minutes, screenshot, sign_in

pytestmark = pytest.mark.timeout(60)

SCRIPT_TITLE = "<script>alert(1)</script>"


def log_entry(page: Page, title: str, type_: str, project: str, start: str, **more: str) -> None:
    """Fill the quick-add form and send it; `more` holds end, duration or tags."""
    form = quick_add(page)
    form.get_by_label("Title", exact=True).fill(title)
    form.get_by_label("Type", exact=True).select_option(type_)
    form.get_by_label("Project", exact=True).fill(project)
    form.get_by_label("Start", exact=True).fill(start)
    for label in ("End", "Duration", "Tags"):
        if label.lower() in more:
            form.get_by_label(label, exact=True).fill(more[label.lower()])
    with page.expect_response(lambda r: r.request.method == "POST"):
        form.get_by_role("button", name="Log entry").click()
    page.wait_for_load_state()


def quick_add(page: Page) -> Locator:
    return page.get_by_role("form", name="Log an entry")


def test_three_entries_through_the_form_move_the_totals(page: Page, live: Live) -> None:
    sign_in(page, live.tokens["alice"])
    page.goto("/app/week?start=2026-03-02&view=list")
    expect(page.get_by_role("heading", level=1)).to_have_text("Week of 2026-03-02")
    types = quick_add(page).get_by_label("Type", exact=True)
    for value in ("development", "meeting", "code_review", "debugging"):
        expect(types.locator(f'option[value="{value}"]')).to_have_count(1)
    expect_minutes(page, "week-total", 0)

    log_entry(page, "Design review", "meeting", "atlas", "2026-03-02T09:00", end="2026-03-02T10:30")
    expect_minutes(page, "day-total-2026-03-02", 90)
    expect_minutes(page, "project-total-atlas", 90)
    expect_minutes(page, "type-total-meeting", 90)

    log_entry(
        page,
        "Fix the flaky upload test",
        "debugging",
        "atlas",
        "2026-03-02T11:00",
        duration="45m",
        tags="ci, flaky",
    )
    expect_minutes(page, "day-total-2026-03-02", 135)
    expect_minutes(page, "project-total-atlas", 135)
    expect_minutes(page, "type-total-debugging", 45)

    log_entry(
        page, "Write the runbook", "documentation", "borealis", "2026-03-03T14:00", duration="1h30m"
    )
    expect_minutes(page, "day-total-2026-03-02", 135)
    expect_minutes(page, "day-total-2026-03-03", 90)
    expect_minutes(page, "project-total-atlas", 135)
    expect_minutes(page, "project-total-borealis", 90)
    expect_minutes(page, "week-total", 225)
    expect(page.get_by_test_id("week-total")).to_contain_text("3h45m")

    monday = page.get_by_test_id("day-2026-03-02")
    expect(monday.get_by_test_id("entry")).to_have_count(2)
    expect(monday.get_by_test_id("entry").first).to_contain_text("Design review")
    expect(page.get_by_test_id("day-2026-03-03").get_by_test_id("entry")).to_have_count(1)
    first = monday.get_by_test_id("entry").first
    expect(first.get_by_role("button", name="Edit")).to_be_visible()
    expect(first.get_by_role("button", name="Delete")).to_be_visible()
    expect(page.locator('svg[role="img"][aria-label]').first).to_be_visible()
    # Past projects are offered for the Project field.
    expect(page.locator('datalist option[value="borealis"]')).to_have_count(1)
    screenshot(page, "week")


def test_an_entry_without_end_or_duration_is_refused(page: Page, live: Live) -> None:
    sign_in(page, live.tokens["alice"])
    page.goto("/app/week?start=2026-03-09")
    log_entry(page, "No end in sight", "development", "atlas", "2026-03-09T09:00")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile("duration", re.IGNORECASE))
    screenshot(page, "week-refused")
    page.goto("/app/week?start=2026-03-09")
    expect_minutes(page, "week-total", 0)
    expect(page.get_by_test_id("entry")).to_have_count(0)


def test_previous_and_next_week_links(page: Page, live: Live) -> None:
    sign_in(page, live.tokens["alice"])
    page.goto("/app/week?start=2026-03-02")
    page.get_by_role("link", name="Next week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Week of 2026-03-09")
    page.get_by_role("link", name="Previous week").click()
    page.get_by_role("link", name="Previous week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Week of 2026-02-23")


def test_markup_in_a_title_is_shown_as_text(page: Page, live: Live) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, live.tokens["carol"])
    page.goto("/app/week?start=2026-06-01&view=list")
    log_entry(
        page, SCRIPT_TITLE, "development", "atlas", "2026-06-01T09:00", duration="30m", tags="xss"
    )
    shown = page.get_by_test_id("entry").filter(has_text=SCRIPT_TITLE)
    expect(shown).to_have_count(1)
    expect(shown).to_be_visible()
    # Open its in-place editor too: the title goes back into an input's value.
    shown.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("textbox", name="Title").last).to_have_value(SCRIPT_TITLE)
    screenshot(page, "week-escaped")
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('main script').length") == 0


def test_the_week_fits_a_phone_screen(page: Page, live: Live) -> None:
    live.add_entries(
        live.tokens["carol"],
        [
            entry(
                "Standup with a rather long title that has to wrap somewhere on a phone",
                "2026-07-06T09:00",
                "2026-07-06T09:15",
                "meeting",
            ),
            entry(
                "Ship the release",
                "2026-07-07T10:00",
                "2026-07-07T12:00",
                "deployment",
                "a-project-name-that-is-long-enough-to-matter",
            ),
        ],
    )
    page.set_viewport_size({"width": 375, "height": 812})
    sign_in(page, live.tokens["carol"])
    page.goto("/app/week?start=2026-07-06")
    expect_minutes(page, "week-total", 135)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    screenshot(page, "week-375px")
    assert overflow <= 0, f"the week page scrolls sideways by {overflow}px at 375px"
