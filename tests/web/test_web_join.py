"""Making an account in the web app (issue 23): a one-time invite link that expires,
and `--allow-signup` (off by default), in process over a real SQLite store."""

from __future__ import annotations

from dataclasses import replace

import httpx

from englog.server.state import ServerState
from tests.web.conftest import ADMIN, browser, csrf_of

ACCOUNT = {"name": "nina", "email": "nina@example.org", "password": "a long passphrase"}


async def join(client: httpx.AsyncClient, url: str, **changes: str) -> httpx.Response:
    form = await client.get(url)
    assert form.status_code == 200, form.text
    data = {**ACCOUNT, "confirm": ACCOUNT["password"], **changes, "csrf": csrf_of(form)}
    return await client.post(url, data=data)


async def test_an_invite_makes_one_account_once(state: ServerState) -> None:
    async with browser(state) as client:
        made = await client.post(
            "/v1/invites",
            json={"role": "operator", "expires_in_hours": 1},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert made.status_code == 201, made.text
        link = made.json()["path"]
        short = await join(client, link, password="short", confirm="short")
        assert short.status_code == 422 and "at least 8" in short.text
        taken = await join(client, link, name="ALICE")
        assert taken.status_code == 409 and "name is taken" in taken.text
        joined = await join(client, link)
        assert joined.status_code == 303 and joined.headers["location"] == "/app/week"
        assert (await client.get("/app/ops/queue")).status_code == 200  # the invite's role
        assert (await client.get(link)).status_code == 404  # used up
    nina = next(u for u in await state.store.list_users() if u.name == "nina")
    assert nina.role == "operator" and nina.email == "nina@example.org" and nina.has_password


async def test_an_expired_invite_is_404(state: ServerState) -> None:
    async with browser(state) as client:
        made = await client.post(
            "/v1/invites", json={}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        state.clock = lambda: made.json()["expires_at"] + 1
        assert (await client.get(made.json()["path"])).status_code == 404


async def test_signup_is_off_by_default_and_makes_members_when_on(state: ServerState) -> None:
    async with browser(state) as client:
        assert (await client.get("/app/signup")).status_code == 404
        assert "Sign up" not in (await client.get("/app/signin")).text
    state.settings = replace(state.settings, allow_signup=True)
    async with browser(state) as client:
        assert "/app/signup" in (await client.get("/app/signin")).text
        joined = await join(client, "/app/signup")
        assert joined.status_code == 303
        assert (await client.get("/app/week")).status_code == 200
        assert (await client.get("/app/ops/queue")).status_code == 403
    nina = next(u for u in await state.store.list_users() if u.name == "nina")
    assert nina.role == "member"
