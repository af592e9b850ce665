"""The REST API over a real SQLite store: auth, entries, task submission and
inspection, isolation between users, error shapes and the operational endpoints."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from englog.domain.tasks import ReportedResult, ResultOutcome, TaskStatus
from englog.domain.tokens import hash_token
from englog.server.auth import server_state
from englog.server.http import create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.store.base import Claim, WorkerInfo
from englog.store.sqlite import SQLiteStore
from tests.support.procs import eventually

ADMIN = {"Authorization": "Bearer admintoken"}
NOOP = {"type": "noop"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entry(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Implement the REST API",
        "type": "development",
        "project": "englog",
        "tags": ["api"],
        "start_time": "2024-05-06T09:00:00Z",
        "end_time": "2024-05-06T10:30:00Z",
        "value_rating": "high",
        "impact_level": "team",
    }
    body.update(changes)
    return body


def fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["error"] == "validation_error", body
    return [d["field"] for d in body["detail"]]


@pytest.fixture
def state(store: SQLiteStore, notified: list[int]) -> ServerState:
    state = ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))
    state.queue.dispatcher.notify = lambda: notified.append(1)  # type: ignore[method-assign]
    return state


@pytest.fixture
async def alice(store: SQLiteStore) -> dict[str, str]:
    await store.create_user("alice", hash_token("alice-token"), time.time())
    return auth("alice-token")


@pytest.fixture
async def bob(store: SQLiteStore) -> dict[str, str]:
    await store.create_user("bob", hash_token("bob-token"), time.time())
    return auth("bob-token")


async def add_entry(client: httpx.AsyncClient, who: dict[str, str], **changes: Any) -> str:
    response = await client.post("/v1/entries", json=entry(**changes), headers=who)
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["id"]
    return entry_id


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("wrong"),
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
    ],
)
async def test_unauthenticated_requests_get_401_with_challenge(
    client: httpx.AsyncClient, alice: dict[str, str], headers: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    for method, url in [
        ("GET", "/v1/entries"),
        ("GET", f"/v1/tasks/{task_id}"),
        ("GET", f"/v1/tasks/{task_id}?wait_s=5"),
        ("POST", "/v1/tasks"),
    ]:
        body = {"type": "noop"} if method == "POST" else None
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 401, url
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthenticated"


async def test_bearer_scheme_in_any_case_and_a_padded_token_are_accepted(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    for header in ("bearer alice-token", "BEARER   alice-token  "):
        who = {"Authorization": header}
        submitted = await client.post("/v1/tasks", json={"type": "noop"}, headers=who)
        assert submitted.status_code == 202
        task_id = submitted.json()["task_id"]
        assert (await client.get(f"/v1/tasks/{task_id}", headers=who)).status_code == 200


async def test_admin_token_has_no_entries(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/entries", headers=ADMIN)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


# --- entries ------------------------------------------------------------------------------


async def test_entry_crud(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    created = await client.post("/v1/entries", json=entry(), headers=alice)
    assert created.status_code == 201
    body = created.json()
    assert body["title"] == "Implement the REST API"
    assert body["type"] == "development" and body["tags"] == ["api"]
    assert "user_id" not in body
    entry_id = body["id"]

    got = await client.get(f"/v1/entries/{entry_id}", headers=alice)
    assert got.status_code == 200 and got.json()["id"] == entry_id

    patched = await client.patch(
        f"/v1/entries/{entry_id}",
        json={"title": "Review the REST API", "type": "code_review"},
        headers=alice,
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "Review the REST API"
    assert patched.json()["type"] == "code_review"
    assert patched.json()["end_time"] == body["end_time"]

    deleted = await client.delete(f"/v1/entries/{entry_id}", headers=alice)
    assert deleted.status_code == 204
    missing = await client.get(f"/v1/entries/{entry_id}", headers=alice)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    again = await client.delete(f"/v1/entries/{entry_id}", headers=alice)
    assert again.status_code == 404


async def test_list_entries_filters(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    await add_entry(client, alice)
    await add_entry(
        client,
        alice,
        type="meeting",
        project="other",
        start_time="2024-05-07T09:00:00Z",
        end_time="2024-05-07T10:00:00Z",
    )
    everything = await client.get("/v1/entries", headers=alice)
    assert everything.status_code == 200
    assert everything.json()["count"] == 2
    starts = [e["start_time"] for e in everything.json()["entries"]]
    assert starts == sorted(starts)

    meetings = await client.get("/v1/entries", params={"type": "meeting"}, headers=alice)
    assert [e["type"] for e in meetings.json()["entries"]] == ["meeting"]
    by_project = await client.get("/v1/entries", params={"project": "englog"}, headers=alice)
    assert [e["project"] for e in by_project.json()["entries"]] == ["englog"]
    window = await client.get(
        "/v1/entries",
        params={"from": "2024-05-07T00:00:00Z", "to": "2024-05-08T00:00:00Z"},
        headers=alice,
    )
    assert [e["type"] for e in window.json()["entries"]] == ["meeting"]
    page = await client.get("/v1/entries", params={"limit": 1, "offset": 1}, headers=alice)
    assert page.json()["count"] == 1

    too_many = await client.get("/v1/entries", params={"limit": 1001}, headers=alice)
    assert too_many.status_code == 422
    assert fields(too_many) == ["query.limit"]
    bad_type = await client.get("/v1/entries", params={"type": "nap"}, headers=alice)
    assert fields(bad_type) == ["query.type"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"end_time": "2024-05-06T08:00:00Z"}, "body.end_time", "after"),
        ({"end_time": "2024-05-07T09:00:01Z"}, "body.end_time", "24 hours"),
        ({"type": "napping"}, "body.type", "development"),
        ({"title": ""}, "body.title", "at least 1"),
        ({"value_rating": "huge"}, "body.value_rating", "critical"),
        ({"start_time": "yesterday"}, "body.start_time", "datetime"),
    ],
)
async def test_entry_validation_names_the_field(
    client: httpx.AsyncClient,
    alice: dict[str, str],
    changes: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = await client.post("/v1/entries", json=entry(**changes), headers=alice)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["field"] for d in detail] == [field]
    assert words in detail[0]["message"]


async def test_unknown_entry_field_is_rejected(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await client.post("/v1/entries", json=entry(owner="bob"), headers=alice)
    assert response.status_code == 422
    assert fields(response) == ["body.owner"]


async def test_patch_revalidates_against_stored_times(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    entry_id = await add_entry(client, alice)
    before_start = await client.patch(
        f"/v1/entries/{entry_id}", json={"end_time": "2024-05-06T08:59:00Z"}, headers=alice
    )
    assert before_start.status_code == 422
    assert fields(before_start) == ["body.end_time"]
    too_long = await client.patch(
        f"/v1/entries/{entry_id}", json={"start_time": "2024-05-05T09:00:00Z"}, headers=alice
    )
    assert too_long.status_code == 422
    null_title = await client.patch(f"/v1/entries/{entry_id}", json={"title": None}, headers=alice)
    assert fields(null_title) == ["body.title"]
    moved = await client.patch(
        f"/v1/entries/{entry_id}",
        json={"start_time": "2024-05-06T10:00:00Z", "end_time": "2024-05-06T11:00:00Z"},
        headers=alice,
    )
    assert moved.status_code == 200
    assert moved.json()["start_time"] == "2024-05-06T10:00:00Z"
    unchanged = await client.get(f"/v1/entries/{entry_id}", headers=alice)
    assert unchanged.json()["end_time"] == "2024-05-06T11:00:00Z"


async def test_bulk_is_all_or_nothing(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    bad = [entry(), entry(), entry(end_time="2024-05-06T08:00:00Z")]
    rejected = await client.post("/v1/entries/bulk", json={"entries": bad}, headers=alice)
    assert rejected.status_code == 422
    assert fields(rejected) == ["body.entries.2.end_time"]
    listed = await client.get("/v1/entries", headers=alice)
    assert listed.json()["count"] == 0

    good = [entry(title=f"entry {i}") for i in range(3)]
    accepted = await client.post("/v1/entries/bulk", json={"entries": good}, headers=alice)
    assert accepted.status_code == 201
    assert accepted.json()["count"] == 3
    assert len({e["id"] for e in accepted.json()["entries"]}) == 3

    empty = await client.post("/v1/entries/bulk", json={"entries": []}, headers=alice)
    assert fields(empty) == ["body.entries"]
    too_many = await client.post(
        "/v1/entries/bulk", json={"entries": [entry()] * 1001}, headers=alice
    )
    assert fields(too_many) == ["body.entries"]


@pytest.mark.parametrize(
    "content",
    [b'{"title": "x",', b"\xff\xfe not utf-8", b"{'single': 'quotes'}"],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, alice: dict[str, str], content: bytes
) -> None:
    headers = {**alice, "Content-Type": "application/json"}
    response = await client.post("/v1/entries", content=content, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


async def test_body_of_wrong_json_type_is_422(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await client.post("/v1/entries", json=[1, 2], headers=alice)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = await client.put("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


# --- isolation between users ------------------------------------------------------------


async def test_users_cannot_touch_each_others_entries_or_tasks(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    entry_id = await add_entry(client, alice)
    assert (await client.get(f"/v1/entries/{entry_id}", headers=bob)).status_code == 404
    patched = await client.patch(f"/v1/entries/{entry_id}", json={"title": "x"}, headers=bob)
    assert patched.status_code == 404
    assert (await client.delete(f"/v1/entries/{entry_id}", headers=bob)).status_code == 404
    assert (await client.get("/v1/entries", headers=bob)).json()["count"] == 0
    still = await client.get(f"/v1/entries/{entry_id}", headers=alice)
    assert still.json()["title"] == "Implement the REST API"

    submitted = await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)
    task_id = submitted.json()["task_id"]
    assert (await client.get(f"/v1/tasks/{task_id}", headers=bob)).status_code == 404
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=bob)).status_code == 404
    assert (await client.get("/v1/tasks", headers=bob)).json()["tasks"] == []
    admin_view = await client.get(f"/v1/tasks/{task_id}", headers=ADMIN)
    assert admin_view.status_code == 200


# --- insights and reports -----------------------------------------------------------------


async def test_insight_from_entry_ids(
    client: httpx.AsyncClient,
    store: SQLiteStore,
    alice: dict[str, str],
    notified: list[int],
) -> None:
    first = await add_entry(client, alice)
    second = await add_entry(
        client, alice, start_time="2024-05-06T11:00:00Z", end_time="2024-05-06T12:00:00Z"
    )
    response = await client.post(
        "/v1/tasks/insights",
        json={
            "insight_type": "productivity",
            "entry_ids": [second, first],
            "context": "sprint 12",
            "priority": 5,
        },
        headers=alice,
    )
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    task_id = response.json()["task_id"]
    assert response.headers["location"] == f"/v1/tasks/{task_id}"
    assert notified

    task = await store.get_task(task_id)
    assert task is not None
    assert task.type == "insight_generation" and task.priority == 5
    assert set(task.payload) == {"insight_type", "entries", "context", "time_zone"}
    assert task.payload["insight_type"] == "productivity"
    assert task.payload["context"] == "sprint 12"
    assert [e["id"] for e in task.payload["entries"]] == [first, second]
    assert "user_id" not in task.payload["entries"][0]


async def test_insight_from_range(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str]
) -> None:
    inside = await add_entry(client, alice)
    await add_entry(
        client, alice, start_time="2024-06-01T09:00:00Z", end_time="2024-06-01T10:00:00Z"
    )
    response = await client.post(
        "/v1/tasks/insights",
        json={
            "insight_type": "time_management",
            "from": "2024-05-06T00:00:00Z",
            "to": "2024-05-13T00:00:00Z",
        },
        headers=alice,
    )
    assert response.status_code == 202
    task = await store.get_task(response.json()["task_id"])
    assert task is not None
    assert [e["id"] for e in task.payload["entries"]] == [inside]
    assert task.payload["context"] is None


async def test_insight_rejects_other_users_entries(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    mine = await add_entry(client, alice)
    theirs = await add_entry(client, bob)
    response = await client.post(
        "/v1/tasks/insights",
        json={"insight_type": "productivity", "entry_ids": [mine, theirs, "nope"]},
        headers=alice,
    )
    assert response.status_code == 422
    body = response.json()
    assert fields(response) == ["body.entry_ids"]
    assert theirs in body["detail"][0]["message"] and "nope" in body["detail"][0]["message"]
    assert mine not in body["detail"][0]["message"]
    assert sorted(body["missing_entry_ids"]) == sorted([theirs, "nope"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"insight_type": "vibes", "entry_ids": ["x"]}, "body.insight_type"),
        ({"insight_type": "productivity"}, "body.entry_ids"),
        ({"insight_type": "productivity", "entry_ids": []}, "body.entry_ids"),
        (
            {"insight_type": "productivity", "entry_ids": ["x"], "from": "2024-05-01T00:00:00Z"},
            "body.entry_ids",
        ),
        (
            {
                "insight_type": "productivity",
                "from": "2024-05-08T00:00:00Z",
                "to": "2024-05-01T00:00:00Z",
            },
            "body.to",
        ),
        (
            {
                "insight_type": "productivity",
                "from": "2024-05-01T00:00:00Z",
                "to": "2024-06-02T00:00:00Z",
            },
            "body.to",
        ),
        (
            {
                "insight_type": "productivity",
                "from": "2020-01-01T00:00:00Z",
                "to": "2020-01-02T00:00:00Z",
            },
            "body.from",
        ),
        (
            {"insight_type": "productivity", "entry_ids": ["x"], "context": "c" * 2001},
            "body.context",
        ),
        ({"insight_type": "productivity", "entry_ids": ["x"], "priority": -1}, "body.priority"),
    ],
)
async def test_insight_validation(
    client: httpx.AsyncClient, alice: dict[str, str], body: dict[str, Any], field: str
) -> None:
    await add_entry(client, alice)
    response = await client.post("/v1/tasks/insights", json=body, headers=alice)
    assert response.status_code == 422, response.text
    assert fields(response) == [field]


async def test_weekly_report(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str]
) -> None:
    monday = await add_entry(client, alice)
    sunday_late = await add_entry(
        client, alice, start_time="2024-05-12T22:00:00Z", end_time="2024-05-12T23:59:00Z"
    )
    await add_entry(
        client, alice, start_time="2024-05-13T00:00:00Z", end_time="2024-05-13T01:00:00Z"
    )
    response = await client.post(
        "/v1/tasks/reports",
        json={"week_start": "2024-05-06", "week_end": "2024-05-12"},
        headers=alice,
    )
    assert response.status_code == 202
    task = await store.get_task(response.json()["task_id"])
    assert task is not None and task.type == "weekly_report"
    assert task.payload["week_start"] == "2024-05-06" and task.payload["week_end"] == "2024-05-12"
    assert set(task.payload) == {
        "week_start",
        "week_end",
        "entries",
        "time_zone",
        "previous_entries",
    }
    assert [e["id"] for e in task.payload["entries"]] == [monday, sunday_late]


@pytest.mark.parametrize(
    ("week_start", "week_end", "field"),
    [
        ("2024-05-12", "2024-05-06", "body.week_end"),
        ("2024-05-01", "2024-06-01", "body.week_end"),
        ("2020-01-06", "2020-01-12", "body.week_start"),
        ("2024-13-01", "2024-05-12", "body.week_start"),
    ],
)
async def test_weekly_report_validation(
    client: httpx.AsyncClient,
    alice: dict[str, str],
    week_start: str,
    week_end: str,
    field: str,
) -> None:
    await add_entry(client, alice)
    response = await client.post(
        "/v1/tasks/reports", json={"week_start": week_start, "week_end": week_end}, headers=alice
    )
    assert response.status_code == 422
    assert fields(response) == [field]


async def test_report_of_exactly_31_days_is_accepted(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await add_entry(client, alice)
    response = await client.post(
        "/v1/tasks/reports",
        json={"week_start": "2024-05-01", "week_end": "2024-05-31"},
        headers=alice,
    )
    assert response.status_code == 202


# --- generic tasks ------------------------------------------------------------------------

TASK_KEYS = {
    "task_id",
    "type",
    "status",
    "progress",
    "progress_message",
    "attempt",
    "max_attempts",
    "worker_id",
    "result",
    "error",
    "created_at",
    "started_at",
    "completed_at",
    "priority",
}


async def test_submit_get_list_and_cancel(
    client: httpx.AsyncClient, alice: dict[str, str], notified: list[int]
) -> None:
    submitted = await client.post(
        "/v1/tasks",
        json={"type": "noop", "payload": {"n": 1}, "priority": 3, "max_attempts": 5},
        headers=alice,
    )
    assert submitted.status_code == 202
    assert submitted.json()["status"] == "pending"
    assert len(notified) == 1
    task_id = submitted.json()["task_id"]

    got = (await client.get(f"/v1/tasks/{task_id}", headers=alice)).json()
    assert set(got) >= TASK_KEYS
    assert got["type"] == "noop" and got["status"] == "pending"
    assert got["priority"] == 3 and got["max_attempts"] == 5 and got["attempt"] == 1
    assert got["created_at"].endswith("Z") and got["started_at"] is None
    assert got["timeout_s"] == 30.0  # DEFAULT_TIMEOUTS_S["noop"]

    listed = await client.get("/v1/tasks", headers=alice)
    assert [t["task_id"] for t in listed.json()["tasks"]] == [task_id]
    pending = await client.get("/v1/tasks", params={"status": "pending"}, headers=alice)
    assert pending.json()["count"] == 1
    other_type = await client.get("/v1/tasks", params={"type": "sleep"}, headers=alice)
    assert other_type.json()["count"] == 0
    bad_status = await client.get("/v1/tasks", params={"status": "sleeping"}, headers=alice)
    assert fields(bad_status) == ["query.status"]

    cancelled = await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)
    assert again.status_code == 409
    assert again.json() == {
        "error": "conflict",
        "detail": "task is already cancelled",
        "task_status": "cancelled",
    }
    assert (await client.get("/v1/tasks/nope", headers=alice)).status_code == 404


async def test_cancel_running_task_is_requested(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str]
) -> None:
    submitted = await client.post("/v1/tasks", json={"type": "sleep"}, headers=alice)
    task_id = submitted.json()["task_id"]
    now = time.time()
    info = WorkerInfo(id="w1", name="w1", capabilities=("sleep",))
    await store.register_worker(info, hash_token("session"), now)
    claimed = await store.claim_tasks(Claim("w1", {"sleep": 1}, 1), now)
    assert [t.id for t in claimed] == [task_id]

    response = await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)
    assert response.status_code == 202
    assert response.json()["status"] == "running"
    assert response.json()["cancel_requested"] is True
    task = await store.get_task(task_id)
    assert task is not None and task.status is TaskStatus.RUNNING and task.cancel_requested


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority": -1}, "body.priority"),
        ({"max_attempts": 0}, "body.max_attempts"),
        ({"max_attempts": -1}, "body.max_attempts"),
        ({"max_attempts": 21}, "body.max_attempts"),
        ({"timeout_s": 0}, "body.timeout_s"),
        ({"timeout_s": -5}, "body.timeout_s"),
        ({"timeout_s": 86_401}, "body.timeout_s"),
        ({"payload": [1, 2]}, "body.payload"),
    ],
)
async def test_submit_validation(
    client: httpx.AsyncClient, alice: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/tasks", json={"type": "noop", **changes}, headers=alice)
    assert response.status_code == 422
    assert fields(response) == [field]


async def test_unknown_task_type_lists_known_types(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    state.known_types.add("custom_thing")
    response = await client.post("/v1/tasks", json={"type": "mystery"}, headers=ADMIN)
    assert response.status_code == 422
    body = response.json()
    assert fields(response) == ["body.type"]
    assert body["known_types"] == sorted(state.known_types)
    # The message names the type, never the list workers can bloat (issue 22).
    assert body["detail"][0]["message"] == "unknown task type 'mystery'"
    # A user is shown the types a user may submit.
    as_user = (await client.post("/v1/tasks", json={"type": "mystery"}, headers=alice)).json()
    assert as_user["known_types"] == ["noop", "sleep"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority": 101}, "body.priority"),
        ({"timeout_s": 3601}, "body.timeout_s"),
        ({"max_attempts": 6}, "body.max_attempts"),
        ({"type": "sleep", "payload": {"seconds": 3600}}, "body.payload.seconds"),
    ],
)
async def test_users_are_bounded_the_admin_is_not(
    client: httpx.AsyncClient, alice: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    body = {"type": "noop", **changes}
    response = await client.post("/v1/tasks", json=body, headers=alice)
    assert response.status_code == 422
    assert fields(response) == [field]
    assert (await client.post("/v1/tasks", json=body, headers=ADMIN)).status_code == 202


async def test_oversized_payload_is_413(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    big = {"blob": "x" * (1024 * 1024)}
    response = await client.post("/v1/tasks", json={"type": "noop", "payload": big}, headers=alice)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_submission_policy(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    state.known_types.add("custom_thing")
    for task_type in ("insight_generation", "custom_thing"):
        as_user = await client.post("/v1/tasks", json={"type": task_type}, headers=alice)
        assert as_user.status_code == 403
        as_admin = await client.post(
            "/v1/tasks", json={"type": task_type, "timeout_s": 5}, headers=ADMIN
        )
        assert as_admin.status_code == 202
    admin_list = await client.get("/v1/tasks", headers=ADMIN)
    assert admin_list.json()["count"] == 2
    assert {t["timeout_s"] for t in admin_list.json()["tasks"]} == {5.0}
    assert (await client.get("/v1/tasks", headers=alice)).json()["count"] == 0


# --- workers and operations ---------------------------------------------------------------


async def test_workers_are_admin_only(
    client: httpx.AsyncClient, store: SQLiteStore, state: ServerState, alice: dict[str, str]
) -> None:
    info = WorkerInfo(id="w1", name="gpu-box", capabilities=("noop", "sleep"), max_concurrency=4)
    await store.register_worker(info, hash_token("session"), time.time())
    await state.queue.dispatcher.open_stream("w1", info.capabilities, 4, [])

    forbidden = await client.get("/v1/workers", headers=alice)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "forbidden"

    response = await client.get("/v1/workers", headers=ADMIN)
    assert response.status_code == 200
    [worker] = response.json()["workers"]
    assert worker["id"] == "w1" and worker["name"] == "gpu-box"
    assert worker["capabilities"] == ["noop", "sleep"]
    assert worker["connected"] is True
    assert {"status", "last_heartbeat_at", "stats", "capacity"} <= set(worker)


async def test_health_readiness_and_metrics(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert {"version", "uptime_s"} <= set(health.json())

    not_ready = await client.get("/readiness")
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "not_ready"
    state.ready = True
    ready = await client.get("/readiness")
    assert ready.status_code == 200
    assert ready.json()["connected_workers"] == 0 and ready.json()["pending_tasks"] == 0

    await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)
    scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    assert 'englog_tasks_submitted_total{type="noop"} 1.0' in text
    assert 'route="/v1/tasks",status="202"' in text
    assert "englog_connected_workers 0.0" in text
    assert "englog_tasks_pending 1.0" in text


async def test_many_apps_in_one_process(state: ServerState) -> None:
    for _ in range(3):
        create_http_app(state)  # a shared global registry would raise on duplicates


async def test_store_failure_is_503(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str], bob: dict[str, str]
) -> None:
    """The admin's token needs no store read, so the task routes meet the failure in
    their own store calls (a long poll answers at once, not after its wait); bob's
    token, never used before, meets it when it is looked up."""
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=ADMIN)).json()[
        "task_id"
    ]
    await store.close()
    health = await client.get("/health")
    assert health.status_code == 503
    entries = await client.get("/v1/entries", headers=alice)
    assert entries.status_code == 503
    assert entries.json()["error"] == "store_unavailable"
    started = time.monotonic()
    for method, url in [
        ("GET", f"/v1/tasks/{task_id}"),
        ("GET", f"/v1/tasks/{task_id}?wait_s=20"),
        ("POST", "/v1/tasks"),
    ]:
        body = {"type": "noop"} if method == "POST" else None
        for who in (ADMIN, bob):
            response = await client.request(method, url, json=body, headers=who)
            assert response.json()["error"] == "store_unavailable"
            assert response.headers["retry-after"] == "1"
    assert time.monotonic() - started < 10
    text = (await client.get("/metrics")).text
    assert 'method="GET",route="/v1/tasks/{task_id}",status="503"' in text
    assert 'method="POST",route="/v1/tasks",status="503"' in text


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    assert "/v1/tasks/insights" in schema.json()["paths"]
    # The docs pages load scripts from a CDN: off unless asked (issue 22).
    assert (await client.get("/docs")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404


async def test_extreme_values_are_4xx_not_500(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    far = await client.post(
        "/v1/tasks/reports",
        json={"week_start": "9999-12-31", "week_end": "9999-12-31"},
        headers=alice,
    )
    assert far.status_code == 422 and "body.week_end" in fields(far)
    for path in ("/v1/tasks", "/v1/entries"):
        r = await client.get(path, params={"offset": 10**23}, headers=alice)
        assert r.status_code == 422, (path, r.text)
    nan = await client.post(
        "/v1/tasks",
        content=b'{"type": "noop", "payload": {"x": NaN}}',
        headers={**alice, "content-type": "application/json"},
    )
    assert nan.status_code in (400, 422), nan.text


# --- lifecycle: attempts, idempotency, readiness, cancelling finished tasks -----------------


async def test_get_task_shows_every_attempt(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    assert (await client.get(f"/v1/tasks/{task_id}", headers=alice)).json()["attempts"] == []
    for i, (worker, outcome) in enumerate((("w1", "failed"), ("w2", "completed"))):
        now = time.time() + 2 * i  # past the retry backoff (at most 1 s after attempt 1)
        [claimed] = await store.claim_tasks(Claim(worker, {"noop": 1}, 1), now)
        report = ReportedResult(
            claimed.id,
            claimed.attempt,
            worker,
            ResultOutcome(outcome),
            error="oops" * (outcome == "failed") or None,
        )
        await store.report_results([report], now)
    got = (await client.get(f"/v1/tasks/{task_id}", headers=alice)).json()
    assert got["status"] == "completed" and got["attempt"] == 2 and got["reassignments"] == 0
    assert [(a["attempt"], a["worker_id"], a["outcome"], a["error"]) for a in got["attempts"]] == [
        (1, "w1", "failed", "oops"),
        (2, "w2", "completed", None),
    ]
    assert all(a["started_at"].endswith("Z") and a["ended_at"] for a in got["attempts"])
    listed = (await client.get("/v1/tasks", headers=alice)).json()["tasks"]
    assert "attempts" not in listed[0]  # the listing stays one query


async def test_idempotency_key_returns_the_first_task(
    client: httpx.AsyncClient, notified: list[int], alice: dict[str, str], bob: dict[str, str]
) -> None:
    body = {"type": "noop", "payload": {"a": 1, "b": 2}, "priority": 2}
    key = {"Idempotency-Key": "order-42"}
    first = await client.post("/v1/tasks", json=body, headers=alice | key)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    # The same JSON, keys reordered: the same request.
    again = await client.post(
        "/v1/tasks",
        content=b'{"priority": 2, "payload": {"b": 2, "a": 1}, "type": "noop"}',
        headers=alice | key | {"Content-Type": "application/json"},
    )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert len(notified) == 1  # nothing new to dispatch
    assert (await client.get("/v1/tasks", headers=alice)).json()["count"] == 1

    changed = await client.post("/v1/tasks", json=body | {"priority": 3}, headers=alice | key)
    assert changed.status_code == 422
    assert changed.json()["error"] == "idempotency_key_reused"
    assert changed.json()["task_id"] == first.json()["task_id"]
    assert "order-42" in changed.json()["detail"]

    other_user = await client.post("/v1/tasks", json=body, headers=bob | key)
    assert other_user.status_code == 202
    assert other_user.json()["task_id"] != first.json()["task_id"]
    for bad in ("", "x" * 256, "na\xefve".encode("latin-1")):
        response = await client.post(
            "/v1/tasks", json=body, headers=alice | {"Idempotency-Key": bad}
        )
        assert response.status_code == 422, bad
        assert fields(response) == ["header.Idempotency-Key"]


async def test_readiness_lists_pending_types_no_connected_worker_can_run(
    client: httpx.AsyncClient, state: ServerState
) -> None:
    state.ready = True
    state.known_types.update({"gpu_job"})
    for task_type in ("noop", "gpu_job", "gpu_job"):
        r = await client.post("/v1/tasks", json={"type": task_type}, headers=ADMIN)
        assert r.status_code == 202
    ready = (await client.get("/readiness")).json()
    assert ready["unroutable_task_types"] == {"gpu_job": 2, "noop": 1}
    await state.queue.dispatcher.open_stream("w1", ["noop", "sleep"], 1, [])
    ready = (await client.get("/readiness")).json()
    assert ready["status"] == "ready" and ready["unroutable_task_types"] == {"gpu_job": 2}


async def test_cancelling_a_finished_task_is_409_with_its_status(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    done = ReportedResult(claimed.id, 1, "w1", ResultOutcome.COMPLETED, result={"ok": 1})
    await store.report_results([done], time.time())
    response = await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)
    assert response.status_code == 409
    assert response.json()["task_status"] == "completed"
    assert "completed" in response.json()["detail"]


async def test_retry_runs_a_failed_or_cancelled_task_again_as_a_new_task(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str], bob: dict[str, str]
) -> None:
    body = {"type": "noop", "payload": {"n": 7}, "priority": 2, "max_attempts": 1}
    task_id = (await client.post("/v1/tasks", json=body, headers=alice)).json()["task_id"]

    live = await client.post(f"/v1/tasks/{task_id}/retry", headers=alice)
    assert live.status_code == 409 and "pending" in live.json()["detail"]

    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    failed = ReportedResult(claimed.id, 1, "w1", ResultOutcome.FAILED, error="x", retriable=False)
    await store.report_results([failed], time.time())
    assert (await client.post(f"/v1/tasks/{task_id}/retry", headers=bob)).status_code == 404

    retried = await client.post(f"/v1/tasks/{task_id}/retry", headers=alice)
    assert retried.status_code == 201
    again = retried.json()
    assert again["retry_of"] == task_id and again["status"] == "pending"
    assert again["task_id"] != task_id
    assert retried.headers["location"] == f"/v1/tasks/{again['task_id']}"
    new = await store.get_task(again["task_id"], None)
    assert new is not None and new.user_id == claimed.user_id
    assert (new.type, new.payload, new.priority, new.max_attempts) == ("noop", {"n": 7}, 2, 1)
    assert new.metadata["retry_of"] == task_id
    original = await store.get_task(task_id)
    assert original is not None and original.status is TaskStatus.FAILED  # history kept

    cancelled = await client.post(f"/v1/tasks/{again['task_id']}/cancel", headers=alice)
    assert cancelled.json()["status"] == "cancelled"
    assert (
        await client.post(f"/v1/tasks/{again['task_id']}/retry", headers=alice)
    ).status_code == 201
    assert (await client.post("/v1/tasks/nope/retry", headers=alice)).status_code == 404


# --- long polling: GET /v1/tasks/{id}?wait_s= ------------------------------------------


async def _waiting(state: ServerState, count: int) -> bool:
    return state.watch.waiting == count


async def test_wait_s_answers_as_soon_as_the_result_is_accepted(
    client: httpx.AsyncClient, store: SQLiteStore, state: ServerState, alice: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    started = time.monotonic()
    waiter = asyncio.create_task(client.get(f"/v1/tasks/{task_id}?wait_s=20", headers=alice))
    await eventually(lambda: _waiting(state, 1), what="the request waits")
    assert not waiter.done()
    done = ReportedResult(claimed.id, 1, "w1", ResultOutcome.COMPLETED, result={"ok": 1})
    await store.report_results([done], time.time())
    state.watch.finished([task_id])  # what the gRPC service does after the commit
    response = await asyncio.wait_for(waiter, 5)
    assert response.status_code == 200
    assert response.json()["status"] == "completed" and response.json()["result"] == {"ok": 1}
    assert time.monotonic() - started < 10
    assert state.watch.waiting == 0


async def test_wait_s_is_woken_by_a_cancel(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    waiter = asyncio.create_task(client.get(f"/v1/tasks/{task_id}?wait_s=20", headers=alice))
    await eventually(lambda: _waiting(state, 1), what="the request waits")
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)).status_code == 200
    response = await asyncio.wait_for(waiter, 5)
    assert response.json()["status"] == "cancelled"


async def test_wait_s_ends_with_the_state_then_and_rereads_the_store(
    client: httpx.AsyncClient, store: SQLiteStore, state: ServerState, alice: dict[str, str]
) -> None:
    """Nobody wakes the request (as when another replica accepts the result): it
    answers after wait_s with what the store holds at that moment."""
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    started = time.monotonic()
    response = await client.get(f"/v1/tasks/{task_id}?wait_s=0.2", headers=alice)
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert time.monotonic() - started >= 0.2

    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    started = time.monotonic()
    waiter = asyncio.create_task(client.get(f"/v1/tasks/{task_id}?wait_s=0.5", headers=alice))
    # The request has read the task (running) and waits: only a re-read can see the result.
    await eventually(lambda: _waiting(state, 1), what="the request waits")
    done = ReportedResult(claimed.id, 1, "w1", ResultOutcome.COMPLETED)
    await store.report_results([done], time.time())  # no wake-up
    response = await asyncio.wait_for(waiter, 5)
    assert response.json()["status"] == "completed"
    assert time.monotonic() - started >= 0.5, "answered before wait_s: nothing was re-read"


async def test_wait_s_on_a_finished_or_unknown_task_answers_at_once(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)
    started = time.monotonic()
    response = await client.get(f"/v1/tasks/{task_id}?wait_s=20", headers=alice)
    assert response.json()["status"] == "cancelled"
    unknown = await client.get("/v1/tasks/nope?wait_s=20", headers=alice)
    assert unknown.status_code == 404
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=20"):
        foreign = await client.get(url, headers=bob)
        assert foreign.status_code == 404
        assert foreign.content == unknown.content  # nothing tells bob the task exists
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("wait_s", ["0", "0.0", "-1", "31", "30.5", "soon", "nan", "inf", ""])
async def test_wait_s_out_of_range_is_422(
    client: httpx.AsyncClient, alice: dict[str, str], wait_s: str
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    response = await client.get(f"/v1/tasks/{task_id}?wait_s={wait_s}", headers=alice)
    assert response.status_code == 422
    assert fields(response) == ["query.wait_s"]


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        # Only documented query parameters, each once (englog.server.http.query).
        ("GET", "?wait_s=5&x=1", 422),
        ("GET", "?x=1&wait_s=5", 422),
        ("GET", "?wait_s=5&wait_s=6", 422),
        ("GET", "?wait%5Fs=5", 200),
        ("GET", "?wait_s=1e1", 200),
        ("GET", "?wait_s=%201", 200),
        ("HEAD", "", 405),
        ("GET", "/", 307),
        ("GET", "/cancel", 405),
    ],
)
async def test_unusual_task_urls_get_what_the_route_makes_of_them(
    client: httpx.AsyncClient, alice: dict[str, str], method: str, suffix: str, status: int
) -> None:
    """The task is finished, so no long poll waits."""
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=alice)).status_code == 200
    response = await client.request(method, f"/v1/tasks/{task_id}{suffix}", headers=alice)
    assert response.status_code == status


async def test_task_reads_are_counted_by_route_template(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    task_id = (await client.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
        "task_id"
    ]
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=0.01"):
        assert (await client.get(url, headers=alice)).status_code == 200
    assert (await client.get("/v1/tasks/nope", headers=alice)).status_code == 404
    text = (await client.get("/metrics")).text
    route = 'method="GET",route="/v1/tasks/{task_id}"'
    assert f'englog_http_requests_total{{{route},status="200"}} 2.0' in text
    assert f'{route},status="404"' in text
    assert task_id not in text and "nope" not in text


# --- the fast paths -------------------------------------------------------------------------


async def test_both_paths_answer_the_same_bytes(
    state: ServerState, store: SQLiteStore, alice: dict[str, str]
) -> None:
    """A task read through the fast path and through the route, at each stage of its
    life, by its owner and by the admin, with and without a long poll."""
    apps = [create_http_app(state, fast_paths=on) for on in (True, False)]
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://t") as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://t") as slow,
    ):

        async def same(url: str, who: dict[str, str]) -> dict[str, Any]:
            a, b = await fast.get(url, headers=who), await slow.get(url, headers=who)
            assert a.status_code == b.status_code == 200, (a.text, b.text)
            assert a.content == b.content
            for header in ("content-type", "content-length"):
                assert a.headers[header] == b.headers[header]
            body: dict[str, Any] = a.json()
            return body

        task_id = (await fast.post("/v1/tasks", json={"type": "noop"}, headers=alice)).json()[
            "task_id"
        ]
        assert (await same(f"/v1/tasks/{task_id}", alice))["attempts"] == []
        [first] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
        failed = ReportedResult(task_id, first.attempt, "w1", ResultOutcome.FAILED, error="boom ✗")
        await store.report_results([failed], time.time())
        # Past the retry backoff (at most 1 s after attempt 1).
        [running] = await store.claim_tasks(Claim("w2", {"noop": 1}, 1), time.time() + 2)
        await store.update_progress(task_id, running.attempt, "w2", 42.5, "half-way é", time.time())
        assert (await same(f"/v1/tasks/{task_id}", alice))["progress_message"] == "half-way é"
        result = {"ok": 1, "text": 'naïve ✓ "quoted"', "f": 0.1, "big": 1e300, "l": [None, True]}
        report = ReportedResult(task_id, running.attempt, "w2", ResultOutcome.COMPLETED, result)
        await store.report_results([report], time.time())
        for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=5"):
            for who in (alice, ADMIN):
                body = await same(url, who)
                assert body["status"] == "completed" and body["result"] == result
                assert [a["outcome"] for a in body["attempts"]] == ["failed", "completed"]


def _counting_routes(state: ServerState) -> tuple[FastAPI, list[str]]:
    """An app whose FastAPI routes note each request they serve (each resolves
    `server_state`), and that list: what reached no route was a fast path's."""
    app = create_http_app(state)
    routed: list[str] = []

    async def counted(request: Request) -> ServerState:
        routed.append(f"{request.method} {request.url.path}")
        return state

    app.dependency_overrides[server_state] = counted
    return app, routed


async def test_the_fast_paths_answer_the_plain_cases_themselves(
    state: ServerState, alice: dict[str, str]
) -> None:
    """What the fast paths are for: the plain submission and read never reach the
    FastAPI routes (each resolves `server_state`); anything else does."""
    app, routed = _counting_routes(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        submitted = await c.post("/v1/tasks", json=NOOP, headers=alice)
        task_id = submitted.json()["task_id"]
        assert (await c.get(f"/v1/tasks/{task_id}", headers=alice)).status_code == 200
        polled = await c.get(f"/v1/tasks/{task_id}?wait_s=0.01", headers=alice)
        assert submitted.status_code == 202 and polled.status_code == 200
        assert routed == []
        keyed = {**alice, "Idempotency-Key": "k"}
        for _ in range(2):  # created, then replayed
            assert (await c.post("/v1/tasks", json=NOOP, headers=keyed)).status_code == 202
        assert routed == []
        # Not a plain decimal: the route reads it (a 10 ms long poll).
        assert (await c.get(f"/v1/tasks/{task_id}?wait_s=1e-2", headers=alice)).status_code == 200
        reused = await c.post("/v1/tasks", json={**NOOP, "priority": 1}, headers=keyed)
        too_long = {**alice, "Idempotency-Key": "k" * 256}
        bad_key = await c.post("/v1/tasks", json=NOOP, headers=too_long)
        assert (reused.status_code, bad_key.status_code) == (422, 422)
        assert routed == [f"GET /v1/tasks/{task_id}", "POST /v1/tasks", "POST /v1/tasks"]


async def test_a_batch_through_both_paths_answers_the_same_bytes(
    state: ServerState, alice: dict[str, str]
) -> None:
    """The batch fast path (what a coalescing client sends) and the route: a batch sent
    to one and resent under its key to the other answers the same tasks, byte for
    byte, replayed; items with their own keys alike (issue 26)."""
    apps = [create_http_app(state, fast_paths=on) for on in (True, False)]
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://t") as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://t") as slow,
    ):
        bodies = [
            {"tasks": [NOOP, {**NOOP, "payload": {"é": [1, 2.5]}, "priority": 3}]},
            {"tasks": [{**NOOP, "idempotency_key": "own-1"}, {**NOOP, "payload": {"n": 1}}]},
        ]
        for i, body in enumerate(bodies):
            for first, then in ((fast, slow), (slow, fast)):
                keyed = {**alice, "Idempotency-Key": f"batch-{i}-{id(first)}"}
                a = await first.post("/v1/tasks/batch", json=body, headers=keyed)
                b = await then.post("/v1/tasks/batch", json=body, headers=keyed)
                assert a.status_code == b.status_code == 202, (a.text, b.text)
                assert a.content == b.content
                assert "idempotent-replayed" not in a.headers
                assert b.headers["idempotent-replayed"] == "true"
                assert a.headers["content-type"] == b.headers["content-type"]
                assert len(a.json()["tasks"]) == 2


async def test_the_batch_fast_path_leaves_every_refusal_to_the_route(
    state: ServerState, alice: dict[str, str]
) -> None:
    app, routed = _counting_routes(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        plain = await c.post("/v1/tasks/batch", json={"tasks": [NOOP, NOOP]}, headers=alice)
        assert plain.status_code == 202 and routed == []
        unknown = {"tasks": [NOOP, {"type": "nope"}]}
        refused = await c.post("/v1/tasks/batch", json=unknown, headers=alice)
        assert refused.status_code == 422
        assert [d["field"] for d in refused.json()["detail"]] == ["body.tasks.1.type"]
        too_many = await c.post("/v1/tasks/batch", json={"tasks": []}, headers=alice)
        assert too_many.status_code == 422
        assert routed == ["POST /v1/tasks/batch"] * 2
    listed = await state.store.list_tasks(None)
    assert len(listed) == 2  # the refused batch stored nothing


async def test_the_batch_fast_path_is_held_by_the_batch_gate(state: ServerState) -> None:
    """Large batches are parsed two at a time (batch_gate), through the fast path too:
    ungated, sixteen 1,000-task batches at once took the server past 100 MB (issue 26)."""
    app = create_http_app(state)
    outermost_first = [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
    assert outermost_first.index("BatchGate") < outermost_first.index("FastBatch")
    assert outermost_first.index("FastSubmit") < outermost_first.index("BatchGate")
