"""Submit and wait in one request: `Prefer: wait=N` (RFC 7240) on the submission routes.
The answer is the finished task, as `GET /v1/tasks/{id}` shows it, when it finishes
within N seconds; otherwise the usual 202. Plain and idempotent submissions (with an
Idempotency-Key) must answer alike, with and without the fast paths (conftest's
`client`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from englog.domain.tasks import ReportedResult, ResultOutcome
from englog.domain.tokens import hash_token
from englog.server.app import Server
from englog.server.http.models import MAX_WAIT_S
from englog.server.http.submission import prefer_wait
from englog.server.state import ServerSettings, ServerState
from englog.store import Claim
from englog.store.sqlite import SQLiteStore
from tests.support.procs import eventually

pytestmark = pytest.mark.timeout(60)

NOOP = {"type": "noop", "payload": {"n": 1}}


@pytest.fixture
def state(store: SQLiteStore) -> ServerState:
    return ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))


@pytest.fixture
async def alice(store: SQLiteStore) -> dict[str, str]:
    await store.create_user("alice", hash_token("alice-token"), time.time())
    return {"Authorization": "Bearer alice-token"}


async def complete_next(
    store: SQLiteStore, state: ServerState, result: object, handed_over: bool = True
) -> str:
    """Claim the next pending task as a worker would, report it done, and wake the
    waiting requests as the gRPC service does after its commit: with the task as
    committed handed over (`handed_over`), or without, as the lease reaper does."""
    [claimed] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), time.time())
    done = ReportedResult(claimed.id, claimed.attempt, "w1", ResultOutcome.COMPLETED, result)
    watched = state.watch.watched([claimed.id]) if handed_over else set()
    [decision] = await store.report_results([done], time.time(), watched=watched)
    assert (decision.final is not None) == handed_over
    finals = {claimed.id: decision.final} if decision.final is not None else None
    state.watch.finished([claimed.id], finals)
    return claimed.id


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([b"wait=5"], 5.0),
        ([b"respond-async, wait=10"], 10.0),
        ([b"WAIT = 3"], 3.0),
        ([b'wait="2"'], 2.0),
        ([b"handling=lenient; x=1, wait=1.5"], 1.5),
        ([b"respond-async", b"wait=4"], 4.0),
        ([b"wait=1000"], MAX_WAIT_S),
        ([b"wait=0"], None),
        ([b"wait=-1"], None),
        ([b"wait=abc"], None),
        ([b"wait=nan"], None),
        ([b"wait"], None),
        ([b"waiting=5"], None),
        ([b"return=minimal"], None),
    ],
)
def test_the_wait_preference_is_read_as_rfc_7240_writes_it(
    values: list[bytes], expected: float | None
) -> None:
    assert prefer_wait(values) == expected


@pytest.mark.parametrize("handed_over", [True, False])
@pytest.mark.parametrize("idempotent", [False, True])
async def test_a_task_finished_within_the_wait_is_the_answer(
    client: httpx.AsyncClient,
    store: SQLiteStore,
    state: ServerState,
    alice: dict[str, str],
    idempotent: bool,
    handed_over: bool,
) -> None:
    """Whether the commit hands the finished task over or the request reads it, the
    answer is the GET's, byte for byte."""
    headers = {**alice, "Prefer": "respond-async, wait=20"}
    if idempotent:
        headers["Idempotency-Key"] = "k1"
    waiter = asyncio.create_task(client.post("/v1/tasks", json=NOOP, headers=headers))
    await eventually(lambda: state.watch.waiting == 1, what="the submission waits")
    assert not waiter.done()
    task_id = await complete_next(store, state, {"ok": 1, "t": "naïve ✓"}, handed_over)
    response = await asyncio.wait_for(waiter, 5)

    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "wait=20"
    assert response.headers["location"] == response.headers["content-location"]
    assert response.headers["location"] == f"/v1/tasks/{task_id}"
    shown = await client.get(f"/v1/tasks/{task_id}", headers=alice)
    assert response.content == shown.content  # the GET's answer, byte for byte
    body = response.json()
    assert body["status"] == "completed" and body["result"] == {"ok": 1, "t": "naïve ✓"}
    assert [a["outcome"] for a in body["attempts"]] == ["completed"]
    assert state.watch.waiting == 0


@pytest.mark.parametrize("idempotent", [False, True])
async def test_a_task_still_running_after_the_wait_gets_the_usual_202(
    client: httpx.AsyncClient, store: SQLiteStore, alice: dict[str, str], idempotent: bool
) -> None:
    headers = {**alice, "Prefer": "wait=0.2"}
    if idempotent:
        headers["Idempotency-Key"] = "k2"
    started = time.monotonic()
    response = await client.post("/v1/tasks", json=NOOP, headers=headers)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=0.2"
    task_id = response.json()["task_id"]
    assert response.json() == {"task_id": task_id, "status": "pending"}
    assert response.headers["location"] == f"/v1/tasks/{task_id}"
    assert "content-location" not in response.headers
    assert (await store.get_task(task_id, None)) is not None


@pytest.mark.parametrize("prefer", [None, "wait=0", "wait=soon", "respond-async"])
async def test_without_a_wait_the_202_comes_at_once(
    client: httpx.AsyncClient, alice: dict[str, str], prefer: str | None
) -> None:
    """An absent, zero or malformed wait is no wait: preferences are hints (RFC 7240),
    and Preference-Applied says none was applied."""
    headers = alice if prefer is None else {**alice, "Prefer": prefer}
    started = time.monotonic()
    response = await client.post("/v1/tasks", json=NOOP, headers=headers)
    assert time.monotonic() - started < MAX_WAIT_S / 2
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert "preference-applied" not in response.headers


async def test_a_store_failure_during_the_wait_still_answers_202_with_the_id(
    client: httpx.AsyncClient, store: SQLiteStore, state: ServerState, alice: dict[str, str]
) -> None:
    """The task was committed before the wait began: the client must learn its id, not
    see an error it would answer by submitting again."""
    waiter = asyncio.create_task(
        client.post("/v1/tasks", json=NOOP, headers={**alice, "Prefer": "wait=20"})
    )
    await eventually(lambda: state.watch.waiting == 1, what="the submission waits")
    [task] = await store.list_tasks(None, None, None, 10, 0)
    await store.close()
    state.watch.finished([task.id])  # the re-read meets the closed store
    response = await asyncio.wait_for(waiter, 5)
    assert response.status_code == 202, response.text
    assert response.json() == {"task_id": task.id, "status": "pending"}


async def test_ai_submissions_take_the_preference_too(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    entry = {
        "title": "Queue fencing",
        "type": "development",
        "start_time": "2026-11-16T09:30:00Z",
        "end_time": "2026-11-16T12:00:00Z",
    }
    assert (await client.post("/v1/entries", json=entry, headers=alice)).status_code == 201
    response = await client.post(
        "/v1/tasks/reports",
        json={"week_start": "2026-11-16", "week_end": "2026-11-22"},
        headers={**alice, "Prefer": "wait=0.1"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=0.1"
    assert response.json()["status"] == "pending"


async def test_an_idempotent_replay_waits_for_the_first_tasks_result(
    client: httpx.AsyncClient, store: SQLiteStore, state: ServerState, alice: dict[str, str]
) -> None:
    """The same Idempotency-Key again creates nothing; with a wait it answers with the
    first task once that finishes, at once if it already has."""
    keyed = {**alice, "Idempotency-Key": "k3"}
    first = await client.post("/v1/tasks", json=NOOP, headers=keyed)
    assert first.status_code == 202, first.text
    waited = {**keyed, "Prefer": "wait=20"}
    waiter = asyncio.create_task(client.post("/v1/tasks", json=NOOP, headers=waited))
    await eventually(lambda: state.watch.waiting == 1, what="the replay waits")
    task_id = await complete_next(store, state, {"n": 1})
    assert task_id == first.json()["task_id"]
    response = await asyncio.wait_for(waiter, 5)
    assert response.status_code == 200, response.text
    assert response.headers["idempotent-replayed"] == "true"
    assert response.json()["task_id"] == task_id and response.json()["status"] == "completed"

    started = time.monotonic()
    again = await client.post("/v1/tasks", json=NOOP, headers=waited)
    assert time.monotonic() - started < 5  # finished already: no wait at all
    assert again.status_code == 200 and again.content == response.content
    assert len(await store.list_tasks(None, None, None, 10, 0)) == 1


async def test_a_stopping_server_answers_waiting_requests_at_once(tmp_path: Path) -> None:
    """A shutdown must not sit out the waits: a submission waiting for its task gets its
    202 (with the task id: the task is committed) and a long poll the task as it is,
    both at once, and the server stops."""
    server = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 's.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=("wt",),
            admin_token="admintoken",
        )
    )
    await server.start()
    assert server.addresses is not None
    admin = {"Authorization": "Bearer admintoken"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://{server.addresses.http}", headers=admin, timeout=60
        ) as c:
            submitting = asyncio.create_task(
                c.post("/v1/tasks", json=NOOP, headers={"Prefer": "wait=30"})
            )
            other = (await c.post("/v1/tasks", json=NOOP)).json()["task_id"]
            polling = asyncio.create_task(c.get(f"/v1/tasks/{other}", params={"wait_s": 30}))
            await eventually(lambda: server.state.watch.waiting == 2, what="both wait")
            started = time.monotonic()
            await asyncio.wait_for(server.stop(), 20)
            submitted, polled = await asyncio.wait_for(asyncio.gather(submitting, polling), 5)
            assert time.monotonic() - started < 10
    finally:
        await server.stop()
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["status"] == "pending" and len(submitted.json()["task_id"]) == 32
    assert polled.status_code == 200 and polled.json()["status"] == "pending"


async def test_waited_requests_stay_out_of_the_latency_histogram(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    """Their duration is the task's: counted, but not timed as server latency."""
    assert (await client.post("/v1/tasks", json=NOOP, headers=alice)).status_code == 202
    waited = await client.post("/v1/tasks", json=NOOP, headers={**alice, "Prefer": "wait=0.05"})
    assert waited.status_code == 202
    task_id = waited.json()["task_id"]
    polled = await client.get(f"/v1/tasks/{task_id}", params={"wait_s": 0.05}, headers=alice)
    assert polled.status_code == 200
    text = (await client.get("/metrics")).text
    submits = 'method="POST",route="/v1/tasks"'
    assert f'englog_http_requests_total{{{submits},status="202"}} 2.0' in text
    assert f"englog_http_request_duration_seconds_count{{{submits}}} 1.0" in text
    gets = 'method="GET",route="/v1/tasks/{task_id}"'
    assert f'englog_http_requests_total{{{gets},status="200"}} 1.0' in text
    assert f"englog_http_request_duration_seconds_count{{{gets}}}" not in text
