"""The web app in process: the server's whole HTTP app (API and web app) over a real
SQLite store, driven with httpx as a browser would (cookies, forms, CSRF tokens)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from englog.domain.tokens import hash_token
from englog.server.http import create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore

ADMIN = "admin-token-for-web-tests"
ALICE = "alice-web-token"
BOB = "bob-web-token"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[ServerState]:
    store = SQLiteStore(tmp_path / "web.db")
    await store.open()
    await store.create_user("alice", hash_token(ALICE), time.time())
    await store.create_user("bob", hash_token(BOB), time.time())
    yield ServerState(store=store, settings=ServerSettings(admin_token=ADMIN))
    await store.close()


def browser(state: ServerState) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_http_app(state))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await client.get("/app/signin")
    return await client.post("/app/signin", data={"token": token, "csrf": csrf_of(form)})


@contextlib.asynccontextmanager
async def signed_in(state: ServerState, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(state) as client:
        answer = await sign_in(client, token)
        assert answer.status_code == 303, answer.text
        yield client


async def post_form(
    client: httpx.AsyncClient, page_url: str, url: str, data: dict[str, str]
) -> httpx.Response:
    """Load `page_url` for its CSRF token, then post `data` to `url` as its form would."""
    page = await client.get(page_url)
    return await client.post(url, data={**data, "csrf": csrf_of(page)})
