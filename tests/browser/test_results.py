"""Reports and insights in a real browser: asked for through their forms, computed by
the real worker, followed live on their pages until completed, then read."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Live, entry, screenshot, sign_in

pytestmark = pytest.mark.timeout(60)

TASK_URL = r"/app/{kind}/([A-Za-z0-9_-]+)$"
# The worker is local and fast; the page follows the task by polling.
FINISHED_MS = 20_000


@pytest.fixture(scope="module")
def april_week(live: Live) -> None:
    """135 minutes for alice in the week of 2026-04-06, over three days and two types."""
    live.add_entries(
        live.tokens["alice"],
        [
            entry("Plan the sprint", "2026-04-06T09:00", "2026-04-06T10:00", "planning"),
            entry("Review the parser", "2026-04-07T13:00", "2026-04-07T13:45", "code_review"),
            entry("Pair on the cache", "2026-04-12T16:00", "2026-04-12T16:30", "development"),
        ],
    )


def test_a_weekly_report_shows_the_week_total(page: Page, live: Live, april_week: None) -> None:
    sign_in(page, live.tokens["alice"])
    page.goto("/app/reports")
    page.get_by_label("Week starting").fill("2026-04-06")
    page.get_by_role("button", name="Generate report").click()
    expect(page).to_have_url(re.compile(TASK_URL.format(kind="reports")))
    task_id = re.search(TASK_URL.format(kind="reports"), page.url).group(1)  # type: ignore[union-attr]
    expect(page.get_by_test_id("task-status")).to_have_text("completed", timeout=FINISHED_MS)
    expect(page.get_by_test_id("report-total-minutes")).to_have_text("135")
    screenshot(page, "report")

    download = page.get_by_role("link", name="Download Markdown")
    expect(download).to_have_attribute("href", f"/app/reports/{task_id}.md")
    markdown = page.request.get(f"/app/reports/{task_id}.md")
    assert markdown.status == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "attachment" in markdown.headers.get("content-disposition", "")
    assert markdown.text().strip()

    page.goto("/app/reports")
    listed = page.get_by_role("link", name="Week of 2026-04-06")
    expect(listed.first).to_have_attribute("href", re.compile(r"/app/reports/"))
    screenshot(page, "reports")


def test_an_insight_is_followed_until_it_is_shown(page: Page, live: Live, april_week: None) -> None:
    sign_in(page, live.tokens["alice"])
    page.goto("/app/insights")
    page.get_by_label("Insight type").select_option("productivity")
    page.get_by_label("From", exact=True).fill("2026-04-06")
    page.get_by_label("To", exact=True).fill("2026-04-12")
    page.get_by_role("button", name="Generate insight").click()
    expect(page).to_have_url(re.compile(TASK_URL.format(kind="insights")))
    task_id = re.search(TASK_URL.format(kind="insights"), page.url).group(1)  # type: ignore[union-attr]
    expect(page.get_by_test_id("task-status")).to_have_text("completed", timeout=FINISHED_MS)
    for heading in ("Narrative", "Facts", "Recommendations", "Confidence", "Backend"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator("table").first).to_be_visible()
    expect(page.get_by_test_id("degraded")).to_have_count(0)
    screenshot(page, "insight")

    page.goto("/app/insights")
    expect(page.locator(f'a[href="/app/insights/{task_id}"]')).to_have_count(1)
    screenshot(page, "insights")
