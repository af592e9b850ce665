"""What a screen reader or a keyboard needs, on every page as the browser built it:
each form control has a label, each chart a text alternative, each page one h1, and the
week's quick-add form can be filled and sent from the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Live, expect_minutes, sign_in

pytestmark = pytest.mark.timeout(60)

# Controls without a label (nor aria-label / aria-labelledby), charts without a text
# alternative, and the number of h1 headings, as the page's own DOM says.
AUDIT = """() => {
  const controls = [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden');
  const unlabelled = controls
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby'))
    .map(el => el.outerHTML.slice(0, 80));
  const mute = [...document.querySelectorAll('svg')]
    .filter(svg => !svg.getAttribute('aria-label') && svg.getAttribute('aria-hidden') !== 'true')
    .map(svg => svg.outerHTML.slice(0, 80));
  return {unlabelled, mute, h1: document.querySelectorAll('h1').length,
          lang: document.documentElement.lang};
}"""

USER_PAGES = ("/app/week?start=2026-09-07", "/app/insights", "/app/reports")
OPERATOR_PAGES = ("/app/ops/queue", "/app/ops/workers")


def audit(page: Page, path: str) -> None:
    page.goto(path)
    found = page.evaluate(AUDIT)
    assert found["unlabelled"] == [], (path, found["unlabelled"])
    assert found["mute"] == [], (path, found["mute"])
    assert found["h1"] == 1, (path, found["h1"])
    assert found["lang"] == "en", path


def test_every_control_is_labelled_and_every_chart_described(page: Page, live: Live) -> None:
    audit(page, "/app/signin")
    sign_in(page, live.tokens["fay"])
    with live.api(live.tokens["fay"]) as api:
        api.post(
            "/v1/entries",
            json={
                "title": "Pairing",
                "type": "meeting",
                "project": "atlas",
                "start_time": "2026-09-08T09:00:00Z",
                "end_time": "2026-09-08T10:00:00Z",
            },
        ).raise_for_status()
    for path in USER_PAGES:
        audit(page, path)
    page.context.clear_cookies()
    sign_in(page, live.admin_token)
    for path in OPERATOR_PAGES:
        audit(page, path)


def test_an_entry_is_logged_from_the_keyboard_alone(page: Page, live: Live) -> None:
    sign_in(page, live.tokens["fay"])
    page.goto("/app/week?start=2026-09-14")
    page.get_by_label("Title").focus()
    page.keyboard.type("Keyboard only")
    page.keyboard.press("Tab")  # to Type: pick by typing, as a keyboard user does
    page.keyboard.type("debugging")
    page.keyboard.press("Tab")  # Project
    page.keyboard.type("atlas")
    expect(page.get_by_label("Duration")).to_be_visible()
    page.get_by_label("Duration").focus()
    page.keyboard.type("25m")
    page.keyboard.press("Enter")  # submits the form
    expect_minutes(page, "week-total", 25)
    expect(page.get_by_test_id("entry").filter(has_text="Keyboard only")).to_have_count(1)
    expect(page.get_by_test_id("type-total-debugging")).to_have_attribute("data-minutes", "25")
