"""`/v1/analytics/summary|productivity` (issue 23): the facts of a range answered at
once, in the person's zone, equal to what the AI tasks compute from their payload for
the same range."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from englog.ai.analytics import compute_facts
from englog.ai.schemas import WeeklyReportRequest
from englog.server.http import create_http_app
from englog.server.settings import ServerSettings
from englog.server.state import ServerState
from englog.store.sqlite import SQLiteStore

ADMIN = {"Authorization": "Bearer admintoken"}


@pytest.fixture
async def api(store: SQLiteStore) -> AsyncIterator[httpx.AsyncClient]:
    state = ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))
    transport = httpx.ASGITransport(app=create_http_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        made = await c.post("/v1/users", json={"name": "ada", "with_token": True}, headers=ADMIN)
        c.headers["Authorization"] = f"Bearer {made.json()['token']}"
        yield c


def entry(title: str, start: str, end: str, type_: str = "development", **more: str) -> dict:
    return {"title": title, "type": type_, "start_time": start, "end_time": end,
            "value_rating": "high", "impact_level": "team", **more}  # fmt: skip


async def test_summary_in_the_users_zone_matches_the_report_tasks_facts(
    api: httpx.AsyncClient, store: SQLiteStore
) -> None:
    assert (await api.patch("/v1/me", json={"timezone": "America/Los_Angeles"})).status_code == 200
    entries = [
        entry("plan", "2026-03-02T17:00:00Z", "2026-03-02T18:30:00Z", project="atlas"),
        entry("sync", "2026-03-03T16:00:00Z", "2026-03-03T17:00:00Z", "meeting"),
        # 23:00-01:00 Los Angeles on Sunday 8 March: one hour inside the range.
        entry("late", "2026-03-08T07:00:00Z", "2026-03-08T09:00:00Z", tags=["ops"]),
        entry("outside", "2026-03-10T16:00:00Z", "2026-03-10T17:00:00Z"),
    ]
    r = await api.post("/v1/entries/bulk", json={"entries": entries})
    assert r.status_code == 201, r.text
    summary = await api.get(
        "/v1/analytics/summary", params={"from": "2026-03-02", "to": "2026-03-08"}
    )
    assert summary.status_code == 200, summary.text
    facts = summary.json()
    assert facts["time_zone"] == "America/Los_Angeles"
    assert facts["minutes_by_project"]["atlas"] == 90
    assert facts["meeting_minutes"] == 60
    # The weekly report task over the same days carries the same facts.
    task = await api.post(
        "/v1/tasks/reports", json={"week_start": "2026-03-02", "week_end": "2026-03-08"}
    )
    assert task.status_code in (200, 201, 202), task.text
    # A number is not a day (lax parsing took 0 as 1970-01-01).
    bad = await api.post("/v1/tasks/reports", json={"week_start": 0, "week_end": "2026-03-08"})
    assert bad.status_code == 422 and "ISO 8601 date" in bad.text, bad.text
    stored = await store.get_task(task.json()["task_id"])
    assert stored is not None
    req = WeeklyReportRequest.model_validate(stored.payload)
    expected = compute_facts(req.entries, req.week_start, req.week_end, req.time_zone).as_dict()
    assert facts == expected
    productivity = await api.get(
        "/v1/analytics/productivity", params={"from": "2026-03-02", "to": "2026-03-08"}
    )
    assert productivity.status_code == 200
    for name, value in productivity.json().items():
        assert facts[name] == value
    assert productivity.json()["focus_minutes"] == expected["focus_minutes"]


async def test_bad_ranges_are_422(api: httpx.AsyncClient) -> None:
    for params in (
        {"from": "2026-03-08", "to": "2026-03-01"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "2020-01-01", "to": "2026-03-01"},
        {"from": "2026-03-01"},
    ):
        r = await api.get("/v1/analytics/summary", params=params)
        assert r.status_code == 422, (params, r.text)
