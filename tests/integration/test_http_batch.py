"""`POST /v1/tasks/batch` over a real SQLite store: all-or-nothing submission of up to
1,000 generic tasks, the same validation and submission policy as `POST /v1/tasks`,
and one dispatcher wake-up per batch."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from englog.domain.tasks import DEFAULT_TIMEOUTS_S, TaskStatus
from englog.domain.tokens import hash_token
from englog.server.http.models import MAX_BATCH
from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore

ADMIN = {"Authorization": "Bearer admintoken"}
PAYLOAD_LIMIT = 2000


@pytest.fixture
def state(store: SQLiteStore, notified: list[int]) -> ServerState:
    settings = ServerSettings(admin_token="admintoken", max_payload_bytes=PAYLOAD_LIMIT)
    state = ServerState(store=store, settings=settings)
    state.queue.dispatcher.notify = lambda: notified.append(1)  # type: ignore[method-assign]
    return state


async def user(store: SQLiteStore, name: str) -> dict[str, str]:
    await store.create_user(name, hash_token(f"{name}-token"), time.time())
    return {"Authorization": f"Bearer {name}-token"}


def noops(n: int, **fields: Any) -> dict[str, Any]:
    return {"tasks": [{"type": "noop", "payload": {"i": i}, **fields} for i in range(n)]}


async def stored_count(store: SQLiteStore) -> int:
    return len(await store.list_tasks(None, limit=10_000))


def error_fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["error"] == "validation_error", body
    return [d["field"] for d in body["detail"]]


async def test_full_batch_is_stored_in_order_with_one_wakeup(
    client: httpx.AsyncClient, store: SQLiteStore, notified: list[int]
) -> None:
    response = await client.post("/v1/tasks/batch", json=noops(MAX_BATCH), headers=ADMIN)
    assert response.status_code == 202, response.text
    accepted = response.json()["tasks"]
    assert len(accepted) == MAX_BATCH
    assert len({t["task_id"] for t in accepted}) == MAX_BATCH
    assert {t["status"] for t in accepted} == {"pending"}
    assert notified == [1]
    # Reply order is request order: the i-th id carries the i-th payload.
    for i in (0, 499, MAX_BATCH - 1):
        task = await store.get_task(accepted[i]["task_id"])
        assert task is not None and task.payload == {"i": i}
        assert task.status is TaskStatus.PENDING
    assert await store.pending_count() == MAX_BATCH
    metrics = await client.get("/metrics")
    assert 'englog_tasks_submitted_total{type="noop"} 1000.0' in metrics.text


async def test_fields_and_defaults_per_task(client: httpx.AsyncClient, store: SQLiteStore) -> None:
    body = {
        "tasks": [
            {"type": "noop", "priority": 7, "max_attempts": 5, "timeout_s": 2.5},
            {"type": "sleep", "payload": {"seconds": 0.1}},
        ]
    }
    response = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    first, second = [await store.get_task(t["task_id"]) for t in response.json()["tasks"]]
    assert first is not None and second is not None
    assert (first.priority, first.max_attempts, first.timeout_s) == (7, 5, 2.5)
    assert (second.type, second.payload) == ("sleep", {"seconds": 0.1})
    assert second.max_attempts == 3
    assert second.timeout_s == DEFAULT_TIMEOUTS_S.get("sleep", 60.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tasks": []}, "body.tasks"),
        (noops(MAX_BATCH + 1), "body.tasks"),
        ({}, "body.tasks"),
        ({"tasks": [{"type": "noop"}], "extra": 1}, "body.extra"),
        ({"tasks": [{"type": "noop"}, {"type": "noop", "priority": -1}]}, "body.tasks.1.priority"),
        ({"tasks": [{"type": "noop", "max_attempts": 0}]}, "body.tasks.0.max_attempts"),
        ({"tasks": [{"type": "noop", "timeout_s": 0}]}, "body.tasks.0.timeout_s"),
        ({"tasks": [{"type": ""}]}, "body.tasks.0.type"),
        ({"tasks": [{"type": "noop", "payload": [1]}]}, "body.tasks.0.payload"),
        ({"tasks": ["noop"]}, "body.tasks.0"),
    ],
)
async def test_invalid_batches_are_422_and_store_nothing(
    client: httpx.AsyncClient, store: SQLiteStore, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert field in error_fields(response)
    assert await stored_count(store) == 0


async def test_unknown_type_names_the_task(
    client: httpx.AsyncClient, store: SQLiteStore, notified: list[int]
) -> None:
    body = {"tasks": [{"type": "noop"}, {"type": "noop"}, {"type": "mystery"}]}
    response = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert error_fields(response) == ["body.tasks.2.type"]
    assert "noop" in response.json()["known_types"]
    assert await stored_count(store) == 0 and notified == []


async def test_users_batch_test_types_only_and_see_only_their_own(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    mixed = {"tasks": [{"type": "noop"}, {"type": "insight_generation"}]}
    refused = await client.post("/v1/tasks/batch", json=mixed, headers=alice)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert await stored_count(store) == 0

    accepted = await client.post("/v1/tasks/batch", json=noops(3), headers=alice)
    assert accepted.status_code == 202
    task_id = accepted.json()["tasks"][0]["task_id"]
    assert (await client.get(f"/v1/tasks/{task_id}", headers=alice)).status_code == 200
    assert (await client.get(f"/v1/tasks/{task_id}", headers=bob)).status_code == 404
    listed = await client.get("/v1/tasks", headers=bob)
    assert listed.json()["count"] == 0


async def test_unauthenticated_batch_is_401(client: httpx.AsyncClient, store: SQLiteStore) -> None:
    response = await client.post("/v1/tasks/batch", json=noops(2))
    assert response.status_code == 401
    assert await stored_count(store) == 0


async def test_one_oversized_payload_is_413_naming_the_task(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    body = noops(3)
    body["tasks"][1]["payload"] = {"blob": "x" * PAYLOAD_LIMIT}
    response = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert "body.tasks.1.payload" in response.json()["detail"]
    assert await stored_count(store) == 0


async def test_batch_total_payload_is_capped(client: httpx.AsyncClient, store: SQLiteStore) -> None:
    # Each payload fits the per-task limit; together they exceed eight times it.
    fits = {"blob": "x" * (PAYLOAD_LIMIT - 20)}
    body = {"tasks": [{"type": "noop", "payload": fits} for _ in range(9)]}
    response = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert response.status_code == 413
    assert "batch" in response.json()["detail"]
    assert await stored_count(store) == 0
    body["tasks"] = body["tasks"][:8]
    assert (await client.post("/v1/tasks/batch", json=body, headers=ADMIN)).status_code == 202


async def test_non_json_payload_values_are_rejected(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    raw = b'{"tasks": [{"type": "noop", "payload": {"x": NaN}}]}'
    response = await client.post(
        "/v1/tasks/batch",
        content=raw,
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert await stored_count(store) == 0


async def test_store_down_is_503_not_500(client: httpx.AsyncClient, store: SQLiteStore) -> None:
    await store.close()
    response = await client.post("/v1/tasks/batch", json=noops(2), headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
