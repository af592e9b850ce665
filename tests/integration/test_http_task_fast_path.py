"""`GET /v1/tasks/{id}` (and `?wait_s=`) answered by FastTaskGet, the raw ASGI fast
path: its answers must be the FastAPI route's byte for byte, and whatever it declines
(bad or missing token, a bad `wait_s`, another user's task, extra parameters) must reach
the route unchanged. A spy behind the fast path tells which of the two answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from englog.domain.tasks import ReportedResult, ResultOutcome, RetryBackoff
from englog.domain.tokens import hash_token
from englog.server.http_api import FastTaskGet, create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.store.sqlite import SQLiteStore
from tests.support.procs import eventually

pytestmark = pytest.mark.timeout(60)

ADMIN = {"Authorization": "Bearer admintoken"}
TASK_ROUTE = "/v1/tasks/{task_id}"


@pytest.fixture
def state(store: SQLiteStore, notified: list[int]) -> ServerState:
    return ServerState(
        store=store,
        settings=ServerSettings(admin_token="admintoken"),
        notify_tasks=lambda: notified.append(1),
    )


@pytest.fixture
def app(state: ServerState) -> FastAPI:
    return create_http_app(state)


@pytest.fixture
def routed(app: FastAPI) -> list[str]:
    """`METHOD path?query` of every request for one task (`/v1/tasks/...`) that
    FastTaskGet passed on to the app behind it."""
    app.middleware_stack = app.build_middleware_stack()
    layer: Any = app.middleware_stack
    while not isinstance(layer, FastTaskGet):
        layer = layer.app
    behind = layer.app
    seen: list[str] = []

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/tasks/"):
            seen.append(f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}")
        await behind(scope, receive, send)

    layer.app = spy
    return seen


@pytest.fixture
async def client(app: FastAPI, routed: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def user(store: SQLiteStore, name: str) -> dict[str, str]:
    await store.create_user(name, hash_token(f"{name}-token"), time.time())
    return {"Authorization": f"Bearer {name}-token"}


@pytest.fixture
async def alice(store: SQLiteStore) -> dict[str, str]:
    return await user(store, "alice")


@pytest.fixture
async def bob(store: SQLiteStore) -> dict[str, str]:
    return await user(store, "bob")


async def submit(client: httpx.AsyncClient, who: dict[str, str]) -> str:
    response = await client.post("/v1/tasks", json={"type": "noop"}, headers=who)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


async def cancelled(client: httpx.AsyncClient, routed: list[str], who: dict[str, str]) -> str:
    """A task submitted and cancelled at once: finished, so a long poll answers at once."""
    task_id = await submit(client, who)
    assert (await client.post(f"/v1/tasks/{task_id}/cancel", headers=who)).status_code == 200
    routed.clear()
    return task_id


async def finish(store: SQLiteStore, worker: str, outcome: ResultOutcome, **fields: Any) -> str:
    """Claim the next pending task as `worker` and report `outcome` for it."""
    [claimed] = await store.claim_tasks(worker, {"noop": 1}, 1, 30.0, time.time())
    report = ReportedResult(claimed.id, claimed.attempt, worker, outcome, **fields)
    await store.report_results([report], RetryBackoff(initial_s=0, jitter=False), time.time())
    return claimed.id


async def same_as_route(
    client: httpx.AsyncClient, routed: list[str], url: str, who: dict[str, str]
) -> httpx.Response:
    """GET `url` through the fast path and, with a parameter only the route accepts (and
    ignores), through the route; both answers must be the same bytes."""
    fast = await client.get(url, headers=who)
    assert not routed, f"the fast path declined {url}"
    slow = await client.get(url + ("&" if "?" in url else "?") + "via=route", headers=who)
    assert len(routed) == 1, routed
    routed.clear()
    assert fast.status_code == slow.status_code == 200, (fast.text, slow.text)
    assert fast.json() == slow.json()
    assert fast.content == slow.content
    for header in ("content-type", "content-length"):
        assert fast.headers[header] == slow.headers[header]
    return fast


async def test_answers_are_the_routes_byte_for_byte(
    client: httpx.AsyncClient,
    store: SQLiteStore,
    routed: list[str],
    alice: dict[str, str],
) -> None:
    task_id = await submit(client, alice)
    pending = await same_as_route(client, routed, f"/v1/tasks/{task_id}", alice)
    assert pending.json()["status"] == "pending" and pending.json()["attempts"] == []

    await finish(store, "w1", ResultOutcome.FAILED, error="boom ✗")
    [running] = await store.claim_tasks("w2", {"noop": 1}, 1, 30.0, time.time())
    await store.update_progress(
        task_id, running.attempt, "w2", 42.5, "half-way é", 30.0, time.time()
    )
    got = await same_as_route(client, routed, f"/v1/tasks/{task_id}", alice)
    assert got.json()["status"] == "running" and got.json()["progress_message"] == "half-way é"

    result = {"ok": 1, "text": 'naïve ✓ "quoted"', "f": 0.1, "big": 1e300, "l": [None, True]}
    report = ReportedResult(task_id, running.attempt, "w2", ResultOutcome.COMPLETED, result)
    await store.report_results([report], RetryBackoff(), time.time())
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=5"):
        for who in (alice, ADMIN):
            done = await same_as_route(client, routed, url, who)
            body = done.json()
            assert body["status"] == "completed" and body["result"] == result
            assert [a["outcome"] for a in body["attempts"]] == ["failed", "completed"]


async def test_long_poll_is_answered_when_the_result_is_committed(
    client: httpx.AsyncClient,
    store: SQLiteStore,
    state: ServerState,
    routed: list[str],
    alice: dict[str, str],
) -> None:
    task_id = await submit(client, alice)
    waiter = asyncio.create_task(client.get(f"/v1/tasks/{task_id}?wait_s=20", headers=alice))
    await eventually(lambda: state.watch.waiting == 1, what="the request waits")
    assert not waiter.done()
    await finish(store, "w1", ResultOutcome.COMPLETED, result={"ok": 1})
    state.watch.finished([task_id])  # what the gRPC service does after the commit
    response = await asyncio.wait_for(waiter, 5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed" and body["result"] == {"ok": 1}
    assert [a["outcome"] for a in body["attempts"]] == ["completed"]  # the last read's
    assert state.watch.waiting == 0
    assert not routed


async def test_another_users_task_is_the_routes_404(
    client: httpx.AsyncClient, routed: list[str], alice: dict[str, str], bob: dict[str, str]
) -> None:
    task_id = await submit(client, alice)
    unknown = await client.get("/v1/tasks/nope", headers=alice)
    assert unknown.status_code == 404
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=20"):
        started = time.monotonic()
        response = await client.get(url, headers=bob)
        assert response.status_code == 404
        assert response.content == unknown.content  # nothing tells bob the task exists
        assert time.monotonic() - started < 10
    assert len(routed) == 3  # the route answered every 404


@pytest.mark.parametrize("wait_s", ["0", "0.0", "-1", "31", "30.5", "abc", "nan", "inf", ""])
async def test_bad_wait_s_is_the_routes_422(
    client: httpx.AsyncClient, routed: list[str], alice: dict[str, str], wait_s: str
) -> None:
    task_id = await submit(client, alice)
    response = await client.get(f"/v1/tasks/{task_id}?wait_s={wait_s}", headers=alice)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert [d["field"] for d in body["detail"]] == ["query.wait_s"]
    assert routed == [f"GET /v1/tasks/{task_id}?wait_s={wait_s}"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
    ],
)
async def test_missing_or_unknown_token_is_the_routes_401(
    client: httpx.AsyncClient,
    routed: list[str],
    alice: dict[str, str],
    headers: dict[str, str],
) -> None:
    task_id = await submit(client, alice)
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=5"):
        response = await client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthenticated"
    assert len(routed) == 2


async def test_token_is_read_as_the_route_reads_it(
    client: httpx.AsyncClient, routed: list[str], alice: dict[str, str]
) -> None:
    """Scheme in any case and a padded token are fine for the route, so for the fast
    path too."""
    task_id = await submit(client, alice)
    for header in ("bearer alice-token", "BEARER   alice-token  "):
        response = await client.get(f"/v1/tasks/{task_id}", headers={"Authorization": header})
        assert response.status_code == 200
    assert not routed


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        ("GET", "?wait_s=5&x=1", 200),
        ("GET", "?x=1&wait_s=5", 200),
        ("GET", "?wait_s=5&wait_s=6", 200),
        ("GET", "?wait%5Fs=5", 200),
        ("GET", "?wait_s=1e1", 200),
        ("GET", "?wait_s=%201", 200),
        ("HEAD", "", 405),
        ("GET", "/", 307),
        ("GET", "/cancel", 405),
    ],
)
async def test_anything_else_goes_to_the_route(
    client: httpx.AsyncClient,
    routed: list[str],
    alice: dict[str, str],
    method: str,
    suffix: str,
    status: int,
) -> None:
    """Declined requests get whatever the route makes of them (the task is finished, so
    no long poll waits)."""
    task_id = await cancelled(client, routed, alice)
    response = await client.request(method, f"/v1/tasks/{task_id}{suffix}", headers=alice)
    assert response.status_code == status
    assert len(routed) == 1, routed


async def test_metrics_label_is_the_route_template(
    client: httpx.AsyncClient, routed: list[str], alice: dict[str, str]
) -> None:
    task_id = await cancelled(client, routed, alice)
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=5"):
        assert (await client.get(url, headers=alice)).status_code == 200
    assert (await client.get("/v1/tasks/nope", headers=alice)).status_code == 404
    assert len(routed) == 1  # the 404 only
    text = (await client.get("/metrics")).text
    assert f'englog_http_requests_total{{method="GET",route="{TASK_ROUTE}",status="200"}} 2.0' in (
        text
    )
    assert f'method="GET",route="{TASK_ROUTE}",status="404"' in text
    assert task_id not in text and "nope" not in text


async def test_store_failure_during_the_read_is_503(
    client: httpx.AsyncClient, store: SQLiteStore, routed: list[str]
) -> None:
    """The admin's token needs no store read, so the fast path meets the failure itself:
    it answers the route's 503 rather than handing over (a long poll would restart)."""
    task_id = await submit(client, ADMIN)
    await store.close()
    for url in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}?wait_s=5"):
        response = await client.get(url, headers=ADMIN)
        assert response.status_code == 503
        assert response.json()["error"] == "store_unavailable"
        assert response.headers["retry-after"] == "1"
    assert not routed
    text = (await client.get("/metrics")).text
    assert f'method="GET",route="{TASK_ROUTE}",status="503"' in text
