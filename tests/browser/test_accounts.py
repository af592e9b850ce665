"""Accounts in a real browser (issue 23): a member signs in with name and password and
logs an entry, an operator sees the queue while a member gets 403 there, a disabled
account's open session is refused on its next page, and the account page makes and
revokes tokens, changes the password and signs out everywhere."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Live, expect_minutes, screenshot
from tests.browser.test_accessibility import audit
from tests.browser.test_week import log_entry

pytestmark = pytest.mark.timeout(60)
PASSWORD = "correct horse battery"


def signin_page(base: str) -> re.Pattern[str]:
    """The sign-in page, which names the page asked for (`?next=`) when it sends back."""
    return re.compile(re.escape(f"{base}/app/signin") + r"(\?next=.*)?$")


def make_account(live: Live, role: str = "member") -> tuple[str, str]:
    """A fresh account (name, id) with PASSWORD, made over REST by the admin."""
    name = f"{role}-{secrets.token_hex(3)}"
    with live.api(live.admin_token) as c:
        answer = c.post("/v1/users", json={"name": name, "password": PASSWORD, "role": role})
        assert answer.status_code == 201, answer.text
        return name, str(answer.json()["id"])


def sign_in_with_password(page: Page, name: str, password: str = PASSWORD) -> None:
    page.goto("/app/signin")
    page.get_by_label("Name or email").fill(name)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_a_member_signs_in_with_a_password_and_logs_an_entry(page: Page, live: Live) -> None:
    name, _ = make_account(live)
    sign_in_with_password(page, name)
    expect(page).to_have_url(f"{live.url}/app/week")
    expect(page.get_by_role("link", name="Queue", exact=True)).to_have_count(0)
    page.goto("/app/week?start=2026-03-02")
    log_entry(page, "Pairing", "development", "atlas", "2026-03-02T09:00", end="2026-03-02T10:00")
    expect_minutes(page, "week-total", 60)
    screenshot(page, "password-member-week")
    refused = page.goto("/app/ops/queue")
    assert refused is not None and refused.status == 403


def test_a_wrong_password_is_refused_with_an_alert(page: Page, live: Live) -> None:
    name, _ = make_account(live)
    page.goto("/app/signin")
    page.get_by_label("Name or email").fill(name)
    page.get_by_label("Password").fill("not the password")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("Wrong name or password")


def test_an_operator_sees_the_queue_and_workers(page: Page, live: Live) -> None:
    name, _ = make_account(live, "operator")
    sign_in_with_password(page, name)
    for link in ("Week", "Queue", "Workers", "Account"):
        expect(page.get_by_role("link", name=link, exact=True)).to_be_visible()
    shown = page.goto("/app/ops/queue")
    assert shown is not None and shown.status == 200
    workers = page.goto("/app/ops/workers")
    assert workers is not None and workers.status == 200
    screenshot(page, "operator-workers")


def test_a_disabled_accounts_open_session_is_refused(page: Page, live: Live) -> None:
    name, user_id = make_account(live)
    sign_in_with_password(page, name)
    expect(page).to_have_url(f"{live.url}/app/week")
    with live.api(live.admin_token) as c:
        assert c.patch(f"/v1/users/{user_id}", json={"disabled": True}).status_code == 200
    page.goto("/app/week")
    expect(page).to_have_url(signin_page(live.url))
    sign_in_with_password(page, name)
    expect(page.get_by_role("alert")).to_be_visible()


def test_account_page_tokens_password_and_sign_out_everywhere(
    page: Page, live: Live, browser: Browser
) -> None:
    name, _ = make_account(live)
    sign_in_with_password(page, name)
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account")
    page.get_by_label("New token's name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").input_value()
    with live.api(token) as c:
        assert c.get("/v1/me").status_code == 200
    page.goto("/app/account")
    expect(page.get_by_test_id("token-row")).to_have_count(1)
    screenshot(page, "account")
    with page.expect_navigation():
        page.get_by_role("button", name="Revoke ci").click()
    expect(page.get_by_test_id("token-row")).to_have_count(0)
    with live.api(token) as c:
        assert c.get("/v1/me").status_code == 401

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a new passphrase")
    page.get_by_label("New password again").fill("a new passphrase")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")

    # A second browser signed in with the new password; "sign out everywhere" ends both.
    other = browser.new_context(base_url=live.url)
    try:
        second = other.new_page()
        sign_in_with_password(second, name, "a new passphrase")
        expect(second).to_have_url(f"{live.url}/app/week")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out everywhere").click()
        expect(page).to_have_url(f"{live.url}/app/signin")
        second.goto("/app/week")
        expect(second).to_have_url(signin_page(live.url))
    finally:
        other.close()


def test_account_projects_and_join_pages_are_accessible(page: Page, live: Live) -> None:
    name, _ = make_account(live)
    sign_in_with_password(page, name)
    with live.api(live.admin_token) as c:
        invite = c.post("/v1/invites", json={}).json()["path"]
    for path in ("/app/account", "/app/projects"):
        audit(page, path)
    page.goto("/app/projects")
    page.get_by_label("Name", exact=True).fill("comet")
    page.get_by_label("Colour", exact=True).fill("#3366cc")
    with page.expect_navigation():
        page.get_by_role("button", name="Add project").click()
    expect(page.get_by_test_id("project-comet")).to_be_visible()
    screenshot(page, "projects")
    page.context.clear_cookies()
    audit(page, invite)
