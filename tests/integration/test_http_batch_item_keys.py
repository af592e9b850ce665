"""`POST /v1/tasks/batch` items with their own `idempotency_key` (what the client's
coalescing sends): each item is the single submission with that key, so the item, the
batch resent, or the item sent alone answer one task; a conflict stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore

ADMIN = {"Authorization": "Bearer admintoken"}


@pytest.fixture
def state(store: SQLiteStore, notified: list[int]) -> ServerState:
    state = ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))
    state.queue.dispatcher.notify = lambda: notified.append(1)  # type: ignore[method-assign]
    return state


def keyed(*keys: str, **payload: Any) -> dict[str, Any]:
    return {
        "tasks": [
            {"type": "noop", "payload": {"k": key, **payload}, "idempotency_key": key}
            for key in keys
        ]
    }


async def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 202, response.text
    return [t["task_id"] for t in response.json()["tasks"]]


async def test_item_keys_make_each_item_the_single_submission(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    first = await ids(await client.post("/v1/tasks/batch", json=keyed("a", "b"), headers=ADMIN))
    assert len(set(first)) == 2
    again = await client.post("/v1/tasks/batch", json=keyed("a", "b"), headers=ADMIN)
    assert await ids(again) == first and again.headers["Idempotent-Replayed"] == "true"
    # Item "b" resent alone, as the single submission it stands for: the same task.
    alone = await client.post(
        "/v1/tasks",
        json={"type": "noop", "payload": {"k": "b"}},
        headers={**ADMIN, "Idempotency-Key": "b"},
    )
    assert alone.status_code == 202 and alone.json()["task_id"] == first[1]
    assert alone.headers["Idempotent-Replayed"] == "true"
    # A single submission first, then the same item in another batch with a new one.
    single = await client.post(
        "/v1/tasks",
        json={"type": "noop", "payload": {"k": "c"}},
        headers={**ADMIN, "Idempotency-Key": "c"},
    )
    mixed = await ids(await client.post("/v1/tasks/batch", json=keyed("c", "d"), headers=ADMIN))
    assert mixed[0] == single.json()["task_id"] and mixed[1] not in first
    assert len(await store.list_tasks(None, limit=100)) == 4


async def test_a_reused_item_key_stores_nothing_of_the_batch(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    [a] = await ids(await client.post("/v1/tasks/batch", json=keyed("a"), headers=ADMIN))
    clash = await client.post("/v1/tasks/batch", json=keyed("new", "a", other=1), headers=ADMIN)
    assert clash.status_code == 422
    assert clash.json()["error"] == "idempotency_key_reused", clash.text
    assert clash.json()["task_id"] == a
    # Two items of one batch under one key with different bodies.
    body = keyed("x", "y")
    body["tasks"][1]["idempotency_key"] = "x"
    clash = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert clash.status_code == 422 and clash.json()["error"] == "idempotency_key_reused"
    assert [t.id for t in await store.list_tasks(None)] == [a]
    # The same body twice under one key: one task, answered twice.
    twice = keyed("z", "z")
    assert len(set(await ids(await client.post("/v1/tasks/batch", json=twice, headers=ADMIN)))) == 1


async def test_item_keys_mix_with_unkeyed_items_and_the_batch_key(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    body = keyed("a")
    body["tasks"].append({"type": "noop", "payload": {"plain": True}})
    first = await ids(await client.post("/v1/tasks/batch", json=body, headers=ADMIN))
    # Unkeyed: a resend makes a second task for the plain item only.
    second = await ids(await client.post("/v1/tasks/batch", json=body, headers=ADMIN))
    assert second[0] == first[0] and second[1] != first[1]
    # With a batch key, the unkeyed item is keyed by it: a resend replays both.
    headers = {**ADMIN, "Idempotency-Key": "batch-1"}
    third = await ids(await client.post("/v1/tasks/batch", json=body, headers=headers))
    fourth = await ids(await client.post("/v1/tasks/batch", json=body, headers=headers))
    assert third == fourth and third[0] == first[0]
    assert len(await store.list_tasks(None, limit=100)) == 4


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_bad_item_keys_are_422_naming_the_item(
    client: httpx.AsyncClient, store: SQLiteStore, key: str
) -> None:
    body = keyed("fine", "bad")
    body["tasks"][1]["idempotency_key"] = key
    response = await client.post("/v1/tasks/batch", json=body, headers=ADMIN)
    assert response.status_code == 422
    fields = [d["field"] for d in response.json()["detail"]]
    assert fields == ["body.tasks.1.idempotency_key"], response.text
    assert await store.list_tasks(None) == []
