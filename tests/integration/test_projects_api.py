"""`/v1/projects` (issue 23): names entries use become projects, create/rename/archive/
delete, one default (used for entries without a project), per-project totals in the
user's zone, and today's clients, which send only names, unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from englog.server.http import create_http_app
from englog.server.settings import ServerSettings
from englog.server.state import ServerState
from englog.store.base import Store
from englog.store.postgres import PostgresStore
from englog.store.sqlite import SQLiteStore
from tests.support.pg import create_database, drop_database

ADMIN = {"Authorization": "Bearer admintoken"}


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        found: Store = SQLiteStore(tmp_path / "t.db")
        await found.open()
        yield found
        await found.close()
        return
    url = await create_database("englog_projects")
    found = PostgresStore(url)
    try:
        await found.open()
        yield found
        await found.close()
    finally:
        await drop_database(url)


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    state = ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))
    transport = httpx.ASGITransport(app=create_http_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        made = await c.post("/v1/users", json={"name": "ada", "with_token": True}, headers=ADMIN)
        c.headers["Authorization"] = f"Bearer {made.json()['token']}"
        yield c


def entry(title: str, day: str, hours: int, project: str | None = None) -> dict:
    body = {"title": title, "type": "development", "start_time": f"{day}T09:00:00Z",
            "end_time": f"{day}T{9 + hours:02d}:00:00Z", "value_rating": "high",
            "impact_level": "team"}  # fmt: skip
    return body if project is None else {**body, "project": project}


async def projects(api: httpx.AsyncClient, **params: str) -> dict[str, dict]:
    r = await api.get("/v1/projects", params=params)
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()["projects"]}


async def test_projects_from_entries_crud_default_and_totals(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v1/entries/bulk",
        json={
            "entries": [
                entry("a", "2026-03-02", 2, "atlas"),
                entry("b", "2026-03-03", 1, "atlas"),
                entry("c", "2026-03-04", 3, "borealis"),
            ]
        },
    )
    assert r.status_code == 201
    found = await projects(api, **{"from": "2026-03-02", "to": "2026-03-08"})
    assert {n: p["minutes"] for n, p in found.items()} == {"atlas": 180, "borealis": 180}
    assert found["atlas"]["status"] == "active"

    made = await api.post(
        "/v1/projects",
        json={"name": "comet", "colour": "#3b82f6", "description": "launch", "is_default": True},
    )
    assert made.status_code == 201, made.text
    assert (await api.post("/v1/projects", json={"name": "comet"})).status_code == 409
    # An entry without a project takes the default one.
    r = await api.post("/v1/entries", json=entry("d", "2026-03-05", 1))
    assert r.json()["project"] == "comet"

    # Rename: the entries follow.
    atlas = found["atlas"]["id"]
    renamed = await api.patch(f"/v1/projects/{atlas}", json={"name": "atlas-2"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "atlas-2"
    listed = (await api.get("/v1/entries", params={"project": "atlas-2"})).json()["entries"]
    assert len(listed) == 2
    taken = await api.patch(f"/v1/projects/{atlas}", json={"name": "borealis"})
    assert taken.status_code == 409
    # Archive, and the status filter.
    archived = await api.patch(f"/v1/projects/{atlas}", json={"status": "completed"})
    assert archived.json()["status"] == "completed"
    assert set(await projects(api, status="active")) == {"borealis", "comet"}
    # Delete: the entries stay, without a project.
    borealis = found["borealis"]["id"]
    assert (await api.delete(f"/v1/projects/{borealis}")).status_code == 204
    assert (await api.get(f"/v1/projects/{borealis}")).status_code == 404
    everything = (await api.get("/v1/entries")).json()["entries"]
    assert [e["project"] for e in everything if e["title"] == "c"] == [None]
    assert "borealis" not in await projects(api)


async def test_bad_project_input_is_422(api: httpx.AsyncClient) -> None:
    for body in ({"name": ""}, {"name": "x", "colour": "blue"}, {"name": "x", "status": "done"}):
        assert (await api.post("/v1/projects", json=body)).status_code == 422, body
    # A number is not a day (lax parsing took it as Unix seconds: 1970-01-01).
    for day in (1.9e-291, 1_700_000_000, "1700000000"):
        r = await api.post("/v1/projects", json={"name": "x", "start_date": day})
        assert r.status_code == 422 and "ISO 8601 date" in r.text, (day, r.text)
    made = await api.post("/v1/projects", json={"name": "dated", "start_date": "2026-03-02"})
    assert made.status_code == 201 and made.json()["start_date"] == "2026-03-02"
    r = await api.get("/v1/projects", params={"from": "2026-03-02"})
    assert r.status_code == 422


async def test_tags_with_counts_prefix_sort_and_rename_or_merge(api: httpx.AsyncClient) -> None:
    tagged = [
        {**entry("a", "2026-03-02", 1), "tags": ["ci", "flaky"]},
        {**entry("b", "2026-03-03", 1), "tags": ["ci"]},
        {**entry("c", "2026-03-04", 1), "tags": ["CI-infra", "docs"]},
        {**entry("d", "2026-03-05", 1), "tags": ["docs"]},
        {**entry("e", "2026-03-06", 1), "tags": ["ci"]},
    ]
    assert (await api.post("/v1/entries/bulk", json={"entries": tagged})).status_code == 201

    async def tags(**params: str) -> list[tuple[str, int]]:
        r = await api.get("/v1/tags", params=params)
        assert r.status_code == 200, r.text
        return [(t["name"], t["count"]) for t in r.json()["tags"]]

    assert await tags() == [("ci", 3), ("docs", 2), ("CI-infra", 1), ("flaky", 1)]
    assert await tags(q="ci") == [("ci", 3), ("CI-infra", 1)]
    assert [n for n, _ in await tags(sort="recent")] == ["ci", "docs", "CI-infra", "flaky"]
    # Merge "flaky" into "ci": entry a keeps one "ci".
    r = await api.post("/v1/tags/rename", json={"from": "flaky", "to": "ci"})
    assert r.status_code == 200 and r.json() == {"entries": 1}
    assert await tags() == [("ci", 3), ("docs", 2), ("CI-infra", 1)]
    a = [e for e in (await api.get("/v1/entries")).json()["entries"] if e["title"] == "a"]
    assert a[0]["tags"] == ["ci"]
    r = await api.post("/v1/tags/rename", json={"from": "nope", "to": "x"})
    assert r.status_code == 404
