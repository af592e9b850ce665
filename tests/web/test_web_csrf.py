"""CSRF on every form (issue 27): every POST route of the web app, read from the app's own
routes so a new form is covered without touching this file, refuses a post without its
token, with a wrong one, and with a wrong `X-CSRF-Token` header even beside a right form
field; the header alone (what htmx sends) is accepted. Cookies are `Secure` under TLS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.openapi.utils import get_openapi

from englog.server.http import create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore
from englog.web.app import PREFIX, create_web_app
from englog.web.sessions import CSRF_HEADER
from tests.web.conftest import ADMIN, ALICE, browser, csrf_of, post_form, sign_in, signed_in

pytestmark = pytest.mark.timeout(30)

REJECTED = "the form is out of date or was not sent by this site"
WEEK = "/app/week?start=2026-11-30"
# One form that fills every field any of the app's forms asks for.
FIELDS = {
    "title": "posted",
    "type": "development",
    "project": "englog",
    "start": "2026-11-30T09:00",
    "duration": "30m",
    "week_start": "2026-11-30",
    "insight_type": "time_management",
    "from": "2026-11-30",
    "to": "2026-12-06",
}
# Forms whose fields share a name with another form's but not its meaning.
FIELDS_FOR = {
    "/settings": {"timezone": "UTC", "week_start": "monday"},
    "/projects": {"name": "csrf-checked", "colour": "#336699", "status": "active"},
    "/account/tokens": {"name": "laptop"},
}
# Forms whose own checks refuse the shared fields (a password to confirm): past the CSRF
# check they answer the form with its problem (4xx, not the CSRF refusal).
FORM_CHECKED = {"/account/password", "/account/delete", "/projects/{project_id}"}
# Forms without a session yet: their CSRF token is a double-submit cookie (sign-in's test).
PRE_SESSION = {"/signin", "/signup", "/invite/{code}"}
KNOWN = {  # the forms of issue 14; discovery must find at least these
    "/signin",
    "/signout",
    "/entries",
    "/entries/{entry_id}",
    "/entries/{entry_id}/delete",
    "/insights",
    "/reports",
    "/ops/tasks/{task_id}/cancel",
    "/ops/tasks/{task_id}/retry",
}


def web_post_routes() -> list[str]:
    """Every path the web app answers POST on, as its routes declare them."""
    never_opened = SQLiteStore(Path("routes-only.db"))
    state = ServerState(store=never_opened, settings=ServerSettings(admin_token="x"))
    app = create_web_app(state)
    spec: dict[str, Any] = get_openapi(title="web", version="0", routes=app.routes)
    return sorted(path for path, ops in spec["paths"].items() if "post" in ops)


POST_ROUTES = web_post_routes()
SESSION_ROUTES = [path for path in POST_ROUTES if path not in PRE_SESSION]


def test_every_form_of_issue_14_is_discovered() -> None:
    assert set(POST_ROUTES) >= KNOWN, POST_ROUTES


async def fixture_ids(state: ServerState) -> dict[str, str]:
    """Real ids for the path parameters: one entry of alice's and one task of hers."""
    async with signed_in(state, ALICE) as alice:
        made = await post_form(alice, WEEK, "/app/entries", {**FIELDS, "title": "kept"})
        assert made.status_code == 303, made.text
        week = (await alice.get(WEEK)).text
        found = re.search(r"/app/entries/([^/\"]+)/edit", week)
        assert found, "the new entry has no edit link"
        api = {"Authorization": f"Bearer {ALICE}"}
        task = await alice.post("/v1/tasks", json={"type": "noop"}, headers=api)
        assert task.status_code == 202, task.text
        token = await alice.post("/v1/me/tokens", json={"token_name": "spare"}, headers=api)
        assert token.status_code == 201, token.text
        project = await alice.post("/v1/projects", json={"name": "kept"}, headers=api)
        assert project.status_code == 201, project.text
    return {
        "entry_id": found.group(1),
        "task_id": task.json()["task_id"],
        "token_id": token.json()["id"],
        "project_id": project.json()["id"],
    }


def concrete(path: str, ids: dict[str, str]) -> str:
    names = re.findall(r"{(\w+)}", path)
    unknown = [n for n in names if n not in ids]
    assert not unknown, f"{path}: give this test a real value for {unknown}"
    return PREFIX + path.format(**ids)


async def snapshot(state: ServerState) -> tuple[Any, ...]:
    """What a forged post could change: alice's entries and the tasks (as the admin
    sees them through the API)."""
    async with browser(state) as client:
        entries = await client.get("/v1/entries", headers={"Authorization": f"Bearer {ALICE}"})
        tasks = await client.get("/v1/tasks", headers={"Authorization": f"Bearer {ADMIN}"})
    assert entries.status_code == 200 and tasks.status_code == 200
    return entries.json(), [(t["task_id"], t["status"]) for t in tasks.json()["tasks"]]


def token_for(path: str) -> str:
    return ADMIN if path.startswith("/ops/") else ALICE


@pytest.mark.parametrize("path", SESSION_ROUTES)
async def test_a_post_without_its_token_changes_nothing(state: ServerState, path: str) -> None:
    ids = await fixture_ids(state)
    url = concrete(path, ids)
    before = await snapshot(state)
    async with signed_in(state, token_for(path)) as client:
        right = csrf_of(await client.get("/app/week" if path[:5] != "/ops/" else "/app/ops/queue"))
        forged: list[tuple[dict[str, str], dict[str, str]]] = [
            ({}, dict(FIELDS)),  # no token at all
            ({}, {**FIELDS, "csrf": "forged"}),  # a wrong form field
            ({CSRF_HEADER: "forged"}, dict(FIELDS)),  # a wrong header
            ({CSRF_HEADER: "forged"}, {**FIELDS, "csrf": right}),  # the header decides
            ({CSRF_HEADER: ""}, {**FIELDS, "csrf": ""}),  # empty matches nothing
        ]
        for headers, data in forged:
            answer = await client.post(url, data=data, headers=headers)
            assert answer.status_code == 403, (url, headers, answer.status_code)
            assert REJECTED in answer.text, (url, headers, answer.text[:500])
        assert (await client.get("/app/")).status_code in (200, 303)
        session_left = await client.get(WEEK if path[:5] != "/ops/" else "/app/ops/queue")
        assert session_left.status_code == 200, "a forged sign-out ended the session"
    assert await snapshot(state) == before, f"a forged post to {url} changed something"


@pytest.mark.parametrize("path", SESSION_ROUTES)
async def test_the_header_alone_is_accepted_as_htmx_sends_it(state: ServerState, path: str) -> None:
    ids = await fixture_ids(state)
    url = concrete(path, ids)
    async with signed_in(state, token_for(path)) as client:
        page = "/app/ops/queue" if path.startswith("/ops/") else "/app/week"
        token = csrf_of(await client.get(page))
        fields = FIELDS | FIELDS_FOR.get(path, {})
        if path == "/timer/stop":  # something to stop
            started = await client.post("/app/timer", data=FIELDS, headers={CSRF_HEADER: token})
            assert started.status_code == 303, started.text[:500]
        answer = await client.post(url, data=fields, headers={CSRF_HEADER: token})
    # Past the CSRF check: the route did its work (a redirect, or a page or fragment).
    done = answer.status_code in (200, 201, 303)
    checked = path in FORM_CHECKED and 400 <= answer.status_code < 500 != answer.status_code
    assert done or (checked and answer.status_code != 403), (url, answer.status_code)
    assert REJECTED not in answer.text


async def test_sign_in_needs_its_double_submit_cookie(state: ServerState) -> None:
    async with browser(state) as client:
        form = await client.get("/app/signin")
        right = csrf_of(form)
        for data in ({"token": ALICE}, {"token": ALICE, "csrf": "forged"}):
            answer = await client.post("/app/signin", data=data)
            assert answer.status_code == 403 and "englog_session" not in answer.headers.get(
                "set-cookie", ""
            )
    async with browser(state) as other:  # another browser: no cookie behind that token
        answer = await other.post("/app/signin", data={"token": ALICE, "csrf": right})
        assert answer.status_code == 403
    async with browser(state) as client:
        assert (await sign_in(client, ALICE)).status_code == 303


def cookie_line(answer: httpx.Response, name: str) -> str:
    return next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}="))


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_cookies_are_secure_under_tls_and_only_then(state: ServerState, scheme: str) -> None:
    """Served over TLS (the request's scheme is https) every cookie the web app sets is
    `Secure`; over plain HTTP it cannot be, or the browser would drop it."""
    transport = httpx.ASGITransport(app=create_http_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://test") as client:
        form = await client.get("/app/signin")
        signed = await client.post("/app/signin", data={"token": ALICE, "csrf": csrf_of(form)})
        assert signed.status_code == 303
        week = await client.get("/app/week")
        out = await client.post("/app/signout", data={"csrf": csrf_of(week)})
        assert out.status_code == 303
    lines = [
        cookie_line(form, "englog_signin"),
        cookie_line(signed, "englog_session"),
        cookie_line(out, "englog_session"),
    ]
    for line in lines:
        flags = [part.strip().lower() for part in line.split(";")]
        assert ("secure" in flags) is (scheme == "https"), line
        assert "httponly" in flags, line
