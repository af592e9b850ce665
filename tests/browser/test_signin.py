"""Signing in and out in a real browser: a good token opens the right home page, a bad
one is refused with an alert, and signing out ends the session on the server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Live, screenshot, sign_in

pytestmark = pytest.mark.timeout(60)
WEEK_HEADING = re.compile(r"^Week of \d{4}-\d{2}-\d{2}$")


def test_a_bad_token_is_refused_with_an_alert(page: Page) -> None:
    page.goto("/app/signin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(page, "signin")
    page.get_by_label("API token").fill("eng_not-a-real-token")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("That token is not valid")
    expect(page.get_by_label("API token")).to_be_visible()  # the form again
    screenshot(page, "signin-refused")
    assert not any(c["name"] == "englog_session" for c in page.context.cookies())


def test_a_user_lands_on_the_week_with_the_user_nav(page: Page, live: Live) -> None:
    sign_in(page, live.tokens["alice"])
    expect(page).to_have_url(f"{live.url}/app/week")
    expect(page.get_by_role("heading", level=1)).to_have_text(WEEK_HEADING)
    for name in ("Week", "Insights", "Reports"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    for name in ("Queue", "Workers"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "englog_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_the_admin_lands_on_the_queue_with_the_operator_nav(page: Page, live: Live) -> None:
    sign_in(page, live.admin_token)
    expect(page).to_have_url(f"{live.url}/app/ops/queue")
    for name in ("Queue", "Workers"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Week", exact=True)).to_have_count(0)


def test_signing_out_ends_the_session_on_the_server(
    page: Page, live: Live, browser: Browser
) -> None:
    sign_in(page, live.tokens["alice"])
    [old] = [c for c in page.context.cookies() if c["name"] == "englog_session"]
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live.url}/app/signin")
    screenshot(page, "signed-out")
    page.goto("/app/week")
    expect(page).to_have_url(f"{live.url}/app/signin?next=%2Fapp%2Fweek")  # back after

    # The old cookie, replayed by another browser, opens nothing: the session is gone
    # on the server, not just forgotten by this browser.
    other = browser.new_context(base_url=live.url)
    try:
        other.add_cookies([old])
        replay = other.new_page()
        replay.goto("/app/week")
        expect(replay).to_have_url(f"{live.url}/app/signin?next=%2Fapp%2Fweek")
    finally:
        other.close()
