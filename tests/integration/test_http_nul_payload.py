"""A task payload holding NUL (U+0000) is refused at submission on every backend,
with the fast paths and without: PostgreSQL could not store it, and a 422 naming the
payload tells the client what to fix (tests/integration/test_invalid_data.py runs a
real server on PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest

from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore

ADMIN = {"Authorization": "Bearer admintoken"}


@pytest.fixture
def state(store: SQLiteStore) -> ServerState:
    return ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))


def refused_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error", body
    assert all("NUL" in d["message"] for d in body["detail"]), body
    return [d["field"] for d in body["detail"]]


@pytest.mark.parametrize(
    "payload",
    [{"text": "a\x00b"}, {"key\x00": 1}, {"nested": [{"deep": ["\x00"]}]}],
    ids=["value", "key", "nested"],
)
async def test_a_payload_with_nul_is_refused(
    client: httpx.AsyncClient, store: SQLiteStore, payload: dict[str, object]
) -> None:
    r = await client.post("/v1/tasks", json={"type": "noop", "payload": payload}, headers=ADMIN)
    assert refused_fields(r) == ["body.payload"]
    tasks = [{"type": "noop", "payload": {}}, {"type": "noop", "payload": payload}]
    r = await client.post("/v1/tasks/batch", json={"tasks": tasks}, headers=ADMIN)
    assert refused_fields(r) == ["body.tasks.1.payload"]
    assert await store.list_tasks(None) == []


async def test_an_escaped_backslash_is_not_nul(
    client: httpx.AsyncClient, store: SQLiteStore
) -> None:
    """The text `\\u0000` (a backslash, then u0000) is plain text, kept as sent."""
    payload = {"text": "\\u0000"}
    r = await client.post("/v1/tasks", json={"type": "noop", "payload": payload}, headers=ADMIN)
    assert r.status_code == 202, r.text
    task = await store.get_task(r.json()["task_id"])
    assert task is not None and task.payload == payload
