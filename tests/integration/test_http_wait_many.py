"""`POST /v1/tasks/wait`: one request that waits for any of many tasks, the contract
`englog.client`'s `wait_all` relies on. Answers at once when some are finished, as soon
as one finishes otherwise, and at its timeout with none; ids the caller may not see
are `missing`, never an error."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from englog.domain.tasks import ReportedResult, ResultOutcome
from englog.domain.tokens import hash_token
from englog.server.http.models import MAX_WAIT_IDS
from englog.server.state import ServerSettings, ServerState
from englog.store import Claim
from englog.store.sqlite import SQLiteStore
from tests.support.procs import eventually

pytestmark = pytest.mark.timeout(60)

ADMIN = {"Authorization": "Bearer admintoken"}
NOOP = {"type": "noop"}


@pytest.fixture
def state(store: SQLiteStore) -> ServerState:
    return ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))


async def user(store: SQLiteStore, name: str) -> dict[str, str]:
    await store.create_user(name, hash_token(f"{name}-token"), time.time())
    return {"Authorization": f"Bearer {name}-token"}


@pytest.fixture
async def alice(store: SQLiteStore) -> dict[str, str]:
    return await user(store, "alice")


@pytest.fixture
async def bob(store: SQLiteStore) -> dict[str, str]:
    return await user(store, "bob")


async def submit(client: httpx.AsyncClient, who: dict[str, str], n: int = 1) -> list[str]:
    if n == 1:
        response = await client.post("/v1/tasks", json=NOOP, headers=who)
        assert response.status_code == 202, response.text
        return [response.json()["task_id"]]
    response = await client.post("/v1/tasks/batch", json={"tasks": [NOOP] * n}, headers=who)
    assert response.status_code == 202, response.text
    return [t["task_id"] for t in response.json()["tasks"]]


async def cancel(client: httpx.AsyncClient, who: dict[str, str], task_id: str) -> None:
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=who)).status_code == 200


async def complete(
    store: SQLiteStore, state: ServerState, result: Any, wake: str = "handed over"
) -> str:
    """Claim the next pending task and report it done, then wake waiting requests as
    the gRPC service does (`handed over`: with the task as committed), as the lease
    reaper does (`named`: the id only), or not at all (`none`: another replica)."""
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    done = ReportedResult(claimed.id, claimed.attempt, "w1", ResultOutcome.COMPLETED, result)
    watched = state.watch.watched([claimed.id]) if wake == "handed over" else set()
    [decision] = await store.report_results([done], time.time(), watched=watched)
    if wake != "none":
        finals = {claimed.id: decision.final} if decision.final is not None else None
        state.watch.finished([claimed.id], finals)
    return claimed.id


async def wait(
    client: httpx.AsyncClient, who: dict[str, str], ids: list[str], timeout_s: float
) -> dict[str, Any]:
    response = await client.post(
        "/v1/tasks/wait", json={"ids": ids, "timeout_s": timeout_s}, headers=who
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def shown(client: httpx.AsyncClient, who: dict[str, str], task_id: str) -> Any:
    return (await client.get(f"/v1/tasks/{task_id}", headers=who)).json()


async def test_tasks_already_finished_are_the_answer_at_once(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    first, second, third = await submit(client, alice, 3)
    await cancel(client, alice, third)
    await cancel(client, alice, first)
    started = time.monotonic()
    body = await wait(client, alice, [first, second, third, "nope"], 20)
    assert time.monotonic() - started < 10
    assert [t["task_id"] for t in body["tasks"]] == [first, third]  # in the order asked
    assert body["pending"] == [second] and body["missing"] == ["nope"]
    for task in body["tasks"]:
        assert task == await shown(client, alice, task["task_id"])  # as GET shows it


@pytest.mark.parametrize("wake", ["handed over", "named"])
async def test_a_task_finishing_during_the_wait_ends_it(
    client: httpx.AsyncClient,
    store: SQLiteStore,
    state: ServerState,
    alice: dict[str, str],
    wake: str,
) -> None:
    ids = await submit(client, alice, 3)
    waiter = asyncio.create_task(wait(client, alice, ids, 20))
    await eventually(lambda: state.watch.waiting == 3, what="the request waits")
    assert not waiter.done()
    done_id = await complete(store, state, {"ok": "naïve ✓"}, wake)
    body = await asyncio.wait_for(waiter, 5)
    [task] = body["tasks"]
    assert task["task_id"] == done_id and task["result"] == {"ok": "naïve ✓"}
    assert [a["outcome"] for a in task["attempts"]] == ["completed"]
    assert task == await shown(client, alice, done_id)
    assert body["pending"] == [i for i in ids if i != done_id] and body["missing"] == []
    assert state.watch.waiting == 0


async def test_a_cancel_ends_the_wait(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    ids = await submit(client, alice, 2)
    waiter = asyncio.create_task(wait(client, alice, ids, 20))
    await eventually(lambda: state.watch.waiting == 2, what="the request waits")
    await cancel(client, alice, ids[1])
    body = await asyncio.wait_for(waiter, 5)
    assert [t["status"] for t in body["tasks"]] == ["cancelled"]
    assert body["pending"] == [ids[0]]


async def test_at_the_timeout_nothing_finished_is_an_empty_answer(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    ids = await submit(client, alice, 2)
    started = time.monotonic()
    body = await wait(client, alice, ids, 0.2)
    assert time.monotonic() - started >= 0.2
    assert body == {"tasks": [], "pending": ids, "missing": []}
    assert state.watch.waiting == 0


async def test_timeout_zero_looks_once(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    pending, done = await submit(client, alice, 2)
    assert (await wait(client, alice, [pending], 0))["pending"] == [pending]
    await cancel(client, alice, done)
    body = await wait(client, alice, [pending, done], 0)
    assert [t["task_id"] for t in body["tasks"]] == [done] and body["pending"] == [pending]


async def test_a_result_nobody_announces_is_read_when_the_wait_runs_out(
    client: httpx.AsyncClient, store: SQLiteStore, state: ServerState, alice: dict[str, str]
) -> None:
    """As when another replica accepts the result: no wake-up, the last read finds it."""
    ids = await submit(client, alice, 2)
    waiter = asyncio.create_task(wait(client, alice, ids, 0.5))
    await eventually(lambda: state.watch.waiting == 2, what="the request waits")
    done_id = await complete(store, state, {"ok": 1}, "none")
    body = await asyncio.wait_for(waiter, 5)
    assert [t["task_id"] for t in body["tasks"]] == [done_id]


async def test_other_users_tasks_are_missing_and_never_shown(
    client: httpx.AsyncClient,
    store: SQLiteStore,
    state: ServerState,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    [bobs] = await submit(client, bob)
    [alices] = await submit(client, alice)
    waiter = asyncio.create_task(wait(client, alice, [bobs, alices], 0.5))
    await eventually(lambda: state.watch.waiting == 2, what="the request waits")
    await cancel(client, bob, bobs)  # wakes alice's request: it must not answer with it
    body = await asyncio.wait_for(waiter, 5)
    assert body == {"tasks": [], "pending": [alices], "missing": [bobs]}
    admin = await wait(client, ADMIN, [bobs, alices], 0)
    assert [t["task_id"] for t in admin["tasks"]] == [bobs]
    assert admin["pending"] == [alices] and admin["missing"] == []


async def test_many_ids_and_repeats(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    ids = await submit(client, alice, MAX_WAIT_IDS)
    finished = ids[10:13]
    for task_id in finished:
        await cancel(client, alice, task_id)
    asked = [*ids[: MAX_WAIT_IDS - 3], ids[11], "gone-1", "gone-2"]
    body = await wait(client, alice, asked, 5)
    assert [t["task_id"] for t in body["tasks"]] == finished
    assert body["pending"] == [i for i in ids[: MAX_WAIT_IDS - 3] if i not in finished]
    assert body["missing"] == ["gone-1", "gone-2"]


async def test_only_missing_ids_are_answered_without_waiting(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    [bobs] = await submit(client, bob, 1)
    waited = asyncio.create_task(wait(client, alice, ["gone", bobs], 30))
    # Nothing alice may see can finish: the answer is final now, not in 30 s.
    body = await asyncio.wait_for(waited, timeout=10)
    assert body == {"tasks": [], "pending": [], "missing": ["gone", bobs]}


async def test_a_stopping_server_answers_at_once(
    client: httpx.AsyncClient, state: ServerState, alice: dict[str, str]
) -> None:
    ids = await submit(client, alice, 2)
    waiter = asyncio.create_task(wait(client, alice, ids, 20))
    await eventually(lambda: state.watch.waiting == 2, what="the request waits")
    state.watch.close()
    body = await asyncio.wait_for(waiter, 5)
    assert body == {"tasks": [], "pending": ids, "missing": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": [], "timeout_s": 1}, "body.ids"),
        ({"ids": ["x"] * (MAX_WAIT_IDS + 1), "timeout_s": 1}, "body.ids"),
        ({"ids": [""], "timeout_s": 1}, "body.ids.0"),
        ({"ids": ["x" * 65], "timeout_s": 1}, "body.ids.0"),
        ({"ids": "abc", "timeout_s": 1}, "body.ids"),
        ({"ids": [1], "timeout_s": 1}, "body.ids.0"),
        ({"ids": ["a"], "timeout_s": -1}, "body.timeout_s"),
        ({"ids": ["a"], "timeout_s": 30.5}, "body.timeout_s"),
        ({"ids": ["a"], "timeout_s": "soon"}, "body.timeout_s"),
        ({"ids": ["a"]}, "body.timeout_s"),
        ({"timeout_s": 1}, "body.ids"),
        ({"ids": ["a"], "timeout_s": 1, "extra": 1}, "body.extra"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, alice: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/tasks/wait", json=body, headers=alice)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "validation_error"
    assert [d["field"] for d in answer["detail"]] == [field]


async def test_nan_timeout_and_malformed_json_are_refused(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    headers = {**alice, "content-type": "application/json"}
    nan = await client.post(
        "/v1/tasks/wait", content=b'{"ids":["a"],"timeout_s":NaN}', headers=headers
    )
    assert nan.status_code in (400, 422) and nan.json()["error"] in (
        "invalid_json",
        "validation_error",
    )
    broken = await client.post("/v1/tasks/wait", content=b'{"ids":', headers=headers)
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"


async def test_unauthenticated_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/tasks/wait", json={"ids": ["a"], "timeout_s": 0})
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"


async def test_documented_in_the_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    route = schema["paths"]["/v1/tasks/wait"]["post"]
    answer = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/TasksWaited"}
    waited = schema["components"]["schemas"]["TasksWaited"]["properties"]
    assert set(waited) == {"tasks", "pending", "missing"}
    assert waited["tasks"]["items"] == {"$ref": "#/components/schemas/TaskDetail"}
    request = schema["components"]["schemas"]["WaitRequest"]
    assert set(request["required"]) == {"ids", "timeout_s"}
    assert "422" in route["responses"]
