"""Sign-in, sessions, CSRF and the headers every page carries (issue 14)."""

from __future__ import annotations

import re

import pytest

from englog.server.state import ServerState
from tests.web.conftest import ADMIN, ALICE, browser, post_form, sign_in, signed_in

pytestmark = pytest.mark.timeout(30)


async def test_root_leads_to_sign_in(state: ServerState) -> None:
    async with browser(state) as client:
        root = await client.get("/", follow_redirects=True)
    assert root.status_code == 200
    assert str(root.url).endswith("/app/signin")
    assert 'label for="token">API token' in root.text


async def test_good_token_opens_a_session_cookie_with_the_safe_flags(state: ServerState) -> None:
    async with browser(state) as client:
        answer = await sign_in(client, ALICE)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/week"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("englog_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/app" in cookie
        assert "Secure" not in cookie  # plain HTTP here; Secure under TLS
        assert ALICE not in cookie  # the cookie is a session id, never the token
        week = await client.get("/app/week")
    assert week.status_code == 200
    assert "Week of" in week.text


async def test_bad_token_is_refused_with_a_message(state: ServerState) -> None:
    async with browser(state) as client:
        answer = await sign_in(client, "not-a-token")
        assert answer.status_code == 401
        assert 'role="alert"' in answer.text
        assert "That token is not valid" in answer.text
        assert "englog_session" not in answer.headers.get("set-cookie", "")
        assert (await client.get("/app/week")).status_code == 303


async def test_sign_in_form_needs_its_csrf_cookie(state: ServerState) -> None:
    async with browser(state) as client:
        answer = await client.post("/app/signin", data={"token": ALICE, "csrf": "forged"})
    assert answer.status_code == 403
    assert "englog_session" not in answer.headers.get("set-cookie", "")


async def test_admin_lands_on_the_queue_and_users_cannot_open_it(state: ServerState) -> None:
    async with browser(state) as admin:
        assert (await sign_in(admin, ADMIN)).headers["location"] == "/app/ops/queue"
        assert (await admin.get("/app/ops/queue")).status_code == 200
        refused = await admin.get("/app/week")
        assert refused.status_code == 403
        assert "user token" in refused.text
    async with signed_in(state, ALICE) as alice:
        for page in ("/app/ops/queue", "/app/ops/workers", "/app/ops/tasks/x"):
            assert (await alice.get(page)).status_code == 403, page


async def test_sign_out_ends_the_session_on_the_server(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        cookie = alice.cookies["englog_session"]
        out = await post_form(alice, "/app/week", "/app/signout", {})
        assert out.status_code == 303
        assert out.headers["location"] == "/app/signin"
    async with browser(state) as thief:  # the old cookie, replayed
        thief.cookies.set("englog_session", cookie, domain="test", path="/app")
        answer = await thief.get("/app/week")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/signin?next=%2Fapp%2Fweek"


async def test_posts_without_the_csrf_token_change_nothing(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        entry = {
            "title": "forged",
            "type": "development",
            "start": "2026-11-30T09:00",
            "duration": "30m",
        }
        for token in (None, "wrong"):
            data = entry if token is None else {**entry, "csrf": token}
            answer = await alice.post("/app/entries", data=data)
            assert answer.status_code == 403
        assert (await alice.post("/app/signout", data={})).status_code == 403
        week = await alice.get("/app/week?start=2026-11-30")
    assert "forged" not in week.text


async def test_every_page_has_a_strict_csp_and_no_inline_script(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        pages = [await alice.get(p) for p in ("/app/week", "/app/insights", "/app/reports")]
    async with signed_in(state, ADMIN) as admin:
        pages += [await admin.get(p) for p in ("/app/ops/queue", "/app/ops/workers")]
    async with browser(state) as anonymous:
        pages.append(await anonymous.get("/app/signin"))
    for page in pages:
        assert page.status_code == 200, page.url
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        scripts = re.findall(r"<script([^>]*)>", page.text)
        assert scripts and all("src=" in attrs for attrs in scripts), page.url
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", page.text), page.url  # no handlers
        assert " style=" not in page.text, page.url  # the CSP allows no inline style
        assert "cdn" not in page.text.lower()


async def test_static_assets_are_shipped_in_the_package(state: ServerState) -> None:
    async with browser(state) as client:
        htmx = await client.get("/app/static/vendor/htmx-2.0.11.min.js")
        css = await client.get("/app/static/app.css")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
