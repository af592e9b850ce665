"""The running timer, the weekly target and trends over REST (in process, a real SQLite
store, a clock the test moves): what is logged, what is refused, what is flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from englog.domain.tokens import hash_token
from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore

ALICE = {"Authorization": "Bearer alice-token"}
BOB = {"Authorization": "Bearer bob-token"}
T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # a Wednesday


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def state(store: SQLiteStore, clock: Clock) -> ServerState:
    await store.create_user("alice", hash_token("alice-token"), clock())
    await store.create_user("bob", hash_token("bob-token"), clock())
    return ServerState(store=store, settings=ServerSettings(admin_token="admin"), clock=clock)


async def test_start_stop_logs_one_entry_in_the_users_zone(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await client.patch("/v1/me", json={"timezone": "Europe/Berlin"}, headers=ALICE)
    assert (await client.get("/v1/timer", headers=ALICE)).json() == {"timer": None}
    r = await client.post(
        "/v1/timer",
        json={"title": "Review", "type": "code_review", "project": "atlas"},
        headers=ALICE,
    )
    assert r.status_code == 201, r.text
    assert r.json()["stopped"] is None
    assert r.json()["timer"]["start_time"] == "2026-03-04T10:00:00+01:00"
    clock.now += timedelta(minutes=50)
    running = (await client.get("/v1/timer", headers=ALICE)).json()["timer"]
    assert running["elapsed_minutes"] == 50 and running["long_running"] is False
    assert (await client.get("/v1/timer", headers=BOB)).json() == {"timer": None}
    r = await client.post("/v1/timer/stop", headers=ALICE)
    assert r.status_code == 200, r.text
    entry = r.json()["entry"]
    assert (entry["title"], entry["type"], entry["project"]) == ("Review", "code_review", "atlas")
    assert entry["start_time"] == "2026-03-04T10:00:00+01:00"
    assert entry["end_time"] == "2026-03-04T10:50:00+01:00"
    assert (await client.get("/v1/timer", headers=ALICE)).json() == {"timer": None}
    listed = (await client.get("/v1/entries", headers=ALICE)).json()["entries"]
    assert [e["id"] for e in listed] == [entry["id"]]
    r = await client.post("/v1/timer/stop", headers=ALICE)
    assert r.status_code == 404 and "no timer is running" in r.json()["detail"]


async def test_a_new_start_stops_the_running_timer_and_says_so(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    first = await client.post("/v1/timer", json={"title": "one"}, headers=ALICE)
    clock.now += timedelta(minutes=30)
    second = await client.post("/v1/timer", json={"title": "two"}, headers=ALICE)
    assert second.status_code == 201
    stopped = second.json()["stopped"]
    assert stopped["title"] == "one" and stopped["type"] == "development"
    assert stopped["start_time"] == first.json()["timer"]["start_time"]
    assert stopped["end_time"] == second.json()["timer"]["start_time"]
    assert (await client.get("/v1/timer", headers=ALICE)).json()["timer"]["title"] == "two"


async def test_a_timer_over_twelve_hours_is_flagged_not_counted(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await client.post("/v1/timer", json={"title": "forgotten"}, headers=ALICE)
    clock.now += timedelta(hours=14)
    timer = (await client.get("/v1/timer", headers=ALICE)).json()["timer"]
    assert timer["long_running"] is True and "more than 12 hours" in timer["warnings"][0]
    refused = await client.post("/v1/timer/stop", headers=ALICE)
    assert refused.status_code == 409 and refused.json()["error"] == "timer_too_long"
    again = await client.post("/v1/timer", json={"title": "next"}, headers=ALICE)
    assert again.status_code == 409
    assert (await client.get("/v1/entries", headers=ALICE)).json()["entries"] == []
    end = (T0 + timedelta(hours=8)).isoformat()
    r = await client.post("/v1/timer/stop", json={"end_time": end}, headers=ALICE)
    assert r.status_code == 200, r.text
    assert r.json()["entry"]["end_time"] == "2026-03-04T17:00:00Z"


async def test_keep_long_and_discard(client: httpx.AsyncClient, clock: Clock) -> None:
    await client.post("/v1/timer", json={"title": "long"}, headers=ALICE)
    clock.now += timedelta(hours=13)
    r = await client.post("/v1/timer/stop", json={"keep_long": True}, headers=ALICE)
    assert r.status_code == 200 and r.json()["entry"] is not None
    await client.post("/v1/timer", json={"title": "oops"}, headers=ALICE)
    r = await client.post("/v1/timer/stop", json={"discard": True}, headers=ALICE)
    assert r.json()["discarded"] is True and r.json()["entry"] is None
    assert len((await client.get("/v1/entries", headers=ALICE)).json()["entries"]) == 1


async def test_bad_timer_input_is_refused_with_a_message(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    future = (T0 + timedelta(hours=1)).isoformat()
    r = await client.post("/v1/timer", json={"title": "x", "start_time": future}, headers=ALICE)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.start_time"
    r = await client.post("/v1/timer", json={"title": "x", "type": "nap"}, headers=ALICE)
    assert r.status_code == 422
    await client.post("/v1/timer", json={"title": "x"}, headers=ALICE)
    before = (T0 - timedelta(minutes=5)).isoformat()
    r = await client.post("/v1/timer/stop", json={"end_time": before}, headers=ALICE)
    assert r.status_code == 422 and "after the timer's start" in r.json()["detail"][0]["message"]
    for flag in ({"keep_long": 1}, {"discard": "yes"}):  # not JSON booleans
        r = await client.post("/v1/timer/stop", json=flag, headers=ALICE)
        assert r.status_code == 422, r.text


async def test_target_and_trends_per_local_week(client: httpx.AsyncClient, clock: Clock) -> None:
    r = await client.patch(
        "/v1/me", json={"weekly_target_hours": 10, "focus_target": 0.5}, headers=ALICE
    )
    assert r.json()["weekly_target_hours"] == 10 and r.json()["focus_target"] == 0.5
    bad = await client.patch("/v1/me", json={"weekly_target_hours": 200}, headers=ALICE)
    assert bad.status_code == 422
    # JSON `true` is not the number 1 (the schema says number; found by the fuzzer).
    for flag in ({"focus_target": True}, {"weekly_target_hours": True}):
        bad = await client.patch("/v1/me", json=flag, headers=ALICE)
        assert bad.status_code == 422, bad.text
    week_ago = T0 - timedelta(days=7)
    for start, hours, kind, project in (
        (T0 - timedelta(hours=3), 2, "development", "atlas"),
        (T0 - timedelta(hours=1), 1, "meeting", None),
        (week_ago, 4, "development", "zeus"),
    ):
        body = {
            "title": "w",
            "type": kind,
            "project": project,
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=hours)).isoformat(),
        }
        assert (await client.post("/v1/entries", json=body, headers=ALICE)).status_code == 201
    r = await client.get("/v1/trends", params={"weeks": 3}, headers=ALICE)
    assert r.status_code == 200, r.text
    weeks = r.json()["weeks"]
    assert [w["week_start"] for w in weeks] == ["2026-02-16", "2026-02-23", "2026-03-02"]
    assert weeks[0]["total_minutes"] == 0 and weeks[0]["target_progress"] == 0
    assert weeks[1]["clock_minutes"] == 240 and weeks[1]["top_projects"][0]["project"] == "zeus"
    this = weeks[2]
    assert (this["total_minutes"], this["meeting_minutes"]) == (180, 60)
    assert this["target_progress"] == 0.3 and this["focus_target_met"] is True
    assert (await client.get("/v1/trends", params={"weeks": 0}, headers=ALICE)).status_code == 422
    r = await client.patch("/v1/me", json={"weekly_target_hours": None}, headers=ALICE)
    assert r.json()["weekly_target_hours"] is None and r.json()["focus_target"] == 0.5


async def test_a_backdated_start_without_offset_is_utc_and_shown_in_the_users_zone(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await client.patch("/v1/me", json={"timezone": "Europe/Berlin"}, headers=ALICE)
    r = await client.post(
        "/v1/timer", json={"title": "x", "start_time": "2026-03-04T08:30:00"}, headers=ALICE
    )
    assert r.json()["timer"]["start_time"] == "2026-03-04T09:30:00+01:00"
    far = {"end_time": "9999-12-31T23:59:59+00:00"}
    r = await client.post("/v1/timer/stop", json=far, headers=ALICE)
    assert r.status_code == 422 and "at most 24 hours" in r.json()["detail"][0]["message"]
    r = await client.post(
        "/v1/timer/stop", json={"end_time": "2026-03-04T09:00:00Z"}, headers=ALICE
    )
    assert r.json()["entry"]["end_time"] == "2026-03-04T10:00:00+01:00"
    early = {"title": "y", "start_time": "0001-01-01T00:00:00+00:00"}
    assert (await client.post("/v1/timer", json=early, headers=ALICE)).status_code == 422
