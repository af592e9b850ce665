"""The REST API in process (ASGI transport, a real SQLite store): fixtures the HTTP test
modules share. Each of them defines its own `state` (its server settings); modules with
fixtures of the same names keep their own.

Every test of `client` runs twice: with the fast paths in front of the routes (as
served) and without them, so both ways of answering `POST /v1/tasks` and
`GET /v1/tasks/{id}` meet the same assertions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from englog.server.http import create_http_app
from englog.server.state import ServerState
from englog.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "t.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def notified() -> list[int]:
    """One entry per dispatcher wake-up the API asked for."""
    return []


@pytest.fixture(params=[True, False], ids=["fast_paths", "routes_only"])
def fast_paths(request: pytest.FixtureRequest) -> bool:
    on: bool = request.param
    return on


@pytest.fixture
async def client(state: ServerState, fast_paths: bool) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(state, fast_paths=fast_paths))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
