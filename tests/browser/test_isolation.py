"""Two users of one server: the second sees nothing of the first's entries, tasks,
insights or reports, on any page, nor by typing the first's task or entry URLs
(those answer 404, as do the fragments the first user's pages load)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Live, entry, screenshot, sign_in

pytestmark = pytest.mark.timeout(60)

SECRET = "Dana's secret migration plan"
WEEK = "2026-05-04"


def urls_naming(page: Page, ident: str) -> set[str]:
    """Every same-site URL the page links to or fetches (href, hx-get, src) that names
    `ident`: the pages and fragments that must stay the owner's."""
    found: list[str] = page.evaluate(
        """(ident) => [...document.querySelectorAll('[href],[hx-get],[src]')]
             .flatMap(el => ['href', 'hx-get', 'src'].map(a => el.getAttribute(a)))
             .filter(u => u && u.includes(ident) && u.startsWith('/'))""",
        ident,
    )
    return set(found)


def test_a_second_user_sees_nothing_of_the_first(page: Page, live: Live) -> None:
    dana = live.tokens["dana"]
    [stored] = live.add_entries(
        dana, [entry(SECRET, f"{WEEK}T09:00", f"{WEEK}T11:00", "planning", "hidden-project")]
    )
    report = live.report(dana, WEEK, "2026-05-10")
    with live.api(dana) as api:
        start = datetime.fromisoformat(f"{WEEK}T00:00:00+00:00")
        answer = api.post(
            "/v1/tasks/insights",
            json={
                "insight_type": "productivity",
                "from": start.isoformat(),
                "to": (start + timedelta(days=7)).isoformat(),
            },
            headers={"Prefer": "wait=20"},
        )
        answer.raise_for_status()
        insight = answer.json()
    assert report["status"] == insight["status"] == "completed", (report, insight)

    # What the owner's pages link to and load for these ids.
    sign_in(page, dana)
    owned: set[str] = {f"/app/reports/{report['task_id']}", f"/app/insights/{insight['task_id']}"}
    for path in (f"/app/week?start={WEEK}", *sorted(owned)):
        page.goto(path)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        for ident in (stored["id"], report["task_id"], insight["task_id"]):
            owned |= urls_naming(page, ident)
    page.goto(f"/app/reports/{report['task_id']}")
    owned |= {f"/app/reports/{report['task_id']}.md"}
    page.context.clear_cookies()

    sign_in(page, live.tokens["erin"])
    page.goto(f"/app/week?start={WEEK}")
    expect(page.get_by_test_id("week-total")).to_have_attribute("data-minutes", "0")
    expect(page.get_by_test_id("entry")).to_have_count(0)
    expect(page.get_by_test_id("project-total-hidden-project")).to_have_count(0)
    expect(page.locator("datalist option[value='hidden-project']")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(SECRET)
    screenshot(page, "isolation-week")
    for listing in ("/app/reports", "/app/insights"):
        page.goto(listing)
        body = page.locator("body")
        expect(body).not_to_contain_text(report["task_id"])
        theirs = f"a[href*='{report['task_id']}'], a[href*='{insight['task_id']}']"
        expect(page.locator(theirs)).to_have_count(0)
        expect(body).not_to_contain_text(f"Week of {WEEK}")

    # Typing the owner's URLs: pages, fragments and the Markdown download.
    gets = sorted(u for u in owned if not re.search(r"/(delete|cancel|retry)\b", u))
    assert any(stored["id"] in u for u in gets), gets  # the entry's edit link was found
    for url in gets:
        answer = page.request.get(url, max_redirects=0)
        assert answer.status == 404, (url, answer.status)
        assert SECRET not in answer.text()
    answer = page.goto(f"/app/insights/{insight['task_id']}")
    assert answer is not None and answer.status == 404
    screenshot(page, "isolation-404")
