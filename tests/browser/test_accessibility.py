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

USER_PAGES = (
    "/app/week?start=2026-09-07",
    "/app/week?start=2026-09-07&view=list",
    "/app/week?start=2026-09-07&view=calendar",
    "/app/insights",
    "/app/reports",
    "/app/settings",
    "/app/trends",
    "/app/timer",
)
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


# WCAG 2.1 contrast of every element that holds text of its own, against the first
# opaque background behind it: 4.5:1, or 3:1 for large text (24 px, or 18.7 px bold).
CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const backdrop = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === 'hidden' || style.display === 'none') continue;
    if (!el.getClientRects().length) continue;
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(backdrop(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < (large ? 3 : 4.5)) low.push(`${el.tagName} ${ratio.toFixed(2)} ${text}`);
  }
  return low;
}"""


def test_text_contrast_meets_wcag_aa(page: Page, live: Live) -> None:
    sign_in(page, live.tokens["fay"])
    for path in (*USER_PAGES, "/app/signin"):
        page.goto(path)
        assert page.evaluate(CONTRAST) == [], path
    page.context.clear_cookies()
    sign_in(page, live.admin_token)
    for path in OPERATOR_PAGES:
        page.goto(path)
        assert page.evaluate(CONTRAST) == [], path
