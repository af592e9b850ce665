"""`Client.submit` coalescing (englog.client.coalesce) against a scripted server
(httpx.MockTransport): concurrent submissions share batch requests and keep their own
keys, handles and errors; a lone submitter is not held back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from englog.client import (
    AsyncClient,
    Client,
    ClientError,
    CoalescePolicy,
    RetryPolicy,
    ServerUnreachable,
    TaskHandle,
    ValidationFailed,
    _calls,
    _retry,
)
from englog.client.errors import RateLimited

ONE_TRY = RetryPolicy(attempts=1)


class Server:
    """Answers `POST /v1/tasks` and `/v1/tasks/batch` with task id `t-{key}`, each
    request held `delay_s` (so submissions pile up behind it); an item whose payload
    has `bad` is a 422 (the whole batch, as the real route refuses it)."""

    def __init__(self, delay_s: float = 0.05, batch_status: int | None = None) -> None:
        self.delay_s = delay_s
        self.batch_status = batch_status
        self.lock = threading.Lock()
        self.singles: list[str] = []  # keys
        self.batches: list[list[str]] = []  # keys per request

    def __call__(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.delay_s)
        body = json.loads(request.content)
        if request.url.path == "/v1/tasks/batch":
            keys = [t["idempotency_key"] for t in body["tasks"]]
            with self.lock:
                self.batches.append(keys)
            if self.batch_status is not None:
                return httpx.Response(self.batch_status, json={"error": "x", "detail": "no"})
            if any(t["payload"].get("bad") for t in body["tasks"]):
                return refused(len(keys) - 1)
            tasks = [{"task_id": f"t-{k}", "status": "pending"} for k in keys]
            return httpx.Response(202, json={"tasks": tasks})
        key = request.headers["Idempotency-Key"]
        with self.lock:
            self.singles.append(key)
        if body["payload"].get("bad"):
            return refused(None)
        return httpx.Response(202, json={"task_id": f"t-{key}", "status": "pending"})


def refused(index: int | None) -> httpx.Response:
    field = "body.payload" if index is None else f"body.tasks.{index}.payload"
    return httpx.Response(
        422,
        json={"error": "validation_error", "detail": [{"field": field, "message": "bad"}]},
    )


DEFAULT = CoalescePolicy()


def client_for(server: Server, coalesce: CoalescePolicy | None = DEFAULT) -> Client:
    return Client(
        "http://test",
        "token",
        retry=ONE_TRY,
        transport=httpx.MockTransport(server),
        coalesce=coalesce,
    )


def at_once(n: int, submit: Callable[[int], Any]) -> list[Any]:
    """`submit(i)` from n threads released together; each result or exception."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return submit(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_submissions_share_requests_and_keep_their_keys_and_handles() -> None:
    server = Server()
    with client_for(server) as client:
        handles = at_once(8, lambda i: client.submit("noop", {"i": i}, idempotency_key=f"k{i}"))
    assert [h.id for h in handles] == [f"t-k{i}" for i in range(8)]
    assert all(isinstance(h, TaskHandle) and h.client is client for h in handles)
    sent = server.singles + [k for batch in server.batches for k in batch]
    assert sorted(sent) == sorted(f"k{i}" for i in range(8))  # each once, under its key
    assert server.batches and len(server.singles) + len(server.batches) < 8


def test_made_up_keys_are_distinct_and_sent_with_each_item() -> None:
    server = Server()
    with client_for(server) as client:
        handles = at_once(6, lambda i: client.submit("noop", {"i": i}))
    sent = server.singles + [k for batch in server.batches for k in batch]
    assert len(set(sent)) == 6 and {h.id for h in handles} == {f"t-{k}" for k in sent}


def test_a_refused_group_is_resent_item_by_item_so_each_caller_gets_its_own_answer() -> None:
    server = Server()
    with client_for(server) as client:
        outcomes = at_once(
            6, lambda i: client.submit("noop", {"i": i, "bad": i == 3}, idempotency_key=f"k{i}")
        )
    assert isinstance(outcomes[3], ValidationFailed)
    assert outcomes[3].errors[0].field == "body.payload"
    for i, outcome in enumerate(outcomes):
        if i != 3:
            assert isinstance(outcome, TaskHandle) and outcome.id == f"t-k{i}"
    if any(len(b) > 1 and "k3" in b for b in server.batches):
        assert "k3" in server.singles  # its group refused, then resent alone


def test_a_payload_that_is_not_json_fails_only_its_own_caller() -> None:
    server = Server()
    with client_for(server) as client:
        outcomes = at_once(
            6,
            lambda i: client.submit(
                "noop", {"i": object() if i == 2 else i}, idempotency_key=f"k{i}"
            ),
        )
    assert isinstance(outcomes[2], TypeError)
    assert [o.id for i, o in enumerate(outcomes) if i != 2] == [f"t-k{i}" for i in (0, 1, 3, 4, 5)]


def test_a_server_without_the_batch_route_turns_coalescing_off() -> None:
    server = Server(batch_status=404)
    with client_for(server) as client:
        first = at_once(6, lambda i: client.submit("noop", {"i": i}, idempotency_key=f"a{i}"))
        assert [h.id for h in first] == [f"t-a{i}" for i in range(6)]
        assert client.coalescer is not None
        if server.batches:
            assert not client.coalescer.enabled
            batches = len(server.batches)
            at_once(6, lambda i: client.submit("noop", {"i": i}, idempotency_key=f"b{i}"))
            assert len(server.batches) == batches


def test_a_server_refusing_item_keys_turns_coalescing_off() -> None:
    """An englog older than item keys answers every keyed batch with a 422 naming the
    unknown field: the items go alone, and later submissions too."""
    server = Server()

    def older(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/tasks/batch":
            with server.lock:
                server.batches.append([])
            field = "body.tasks.0.idempotency_key"
            detail = [{"field": field, "message": "Extra inputs are not permitted"}]
            return httpx.Response(422, json={"error": "validation_error", "detail": detail})
        return server(request)

    transport = httpx.MockTransport(older)
    with Client("http://test", "token", retry=ONE_TRY, transport=transport) as client:
        for attempt in range(5):  # until a group forms
            handles = at_once(
                6,
                lambda i, a=attempt: client.submit("noop", {"i": i}, idempotency_key=f"{a}-{i}"),
            )
            assert [h.id for h in handles] == [f"t-{attempt}-{i}" for i in range(6)]
            if server.batches:
                break
        assert server.batches and client.coalescer is not None
        assert not client.coalescer.enabled


def test_a_transport_failure_reaches_every_caller_of_the_group() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        raise httpx.ConnectError("refused", request=request)

    with Client(
        "http://test", "token", retry=ONE_TRY, transport=httpx.MockTransport(down)
    ) as client:
        outcomes = at_once(5, lambda i: client.submit("noop", {"i": i}))
    assert all(isinstance(o, ServerUnreachable) for o in outcomes)


def test_a_lone_submitter_is_not_held_back_longer_than_the_linger() -> None:
    linger = 0.3
    server = Server(delay_s=0.0)
    with client_for(server, CoalescePolicy(linger_s=linger)) as client:
        at_once(6, lambda i: client.submit("noop", {"i": i}))  # the client has seen 6
        took = []
        for i in range(8):
            started = time.monotonic()
            client.submit("noop", {"alone": i})
            took.append(time.monotonic() - started)
    assert max(took) < linger + 0.25
    assert min(took[-3:]) < linger / 3  # soon it lingers for nobody


def test_without_a_linger_a_lone_submission_goes_at_once_on_the_single_route() -> None:
    server = Server(delay_s=0.0)
    with client_for(server, CoalescePolicy(linger_s=0.0)) as client:
        for i in range(3):
            client.submit("noop", {"i": i}, idempotency_key=f"k{i}")
    assert server.singles == ["k0", "k1", "k2"] and server.batches == []


def test_waiting_submissions_and_coalesce_none_use_the_single_route() -> None:
    server = Server()
    with client_for(server, coalesce=None) as client:
        at_once(4, lambda i: client.submit("noop", {"i": i}))
    assert len(server.singles) == 4 and server.batches == []

    seen: list[httpx.Request] = []

    def finished(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        task = {"task_id": "t1", "type": "noop", "status": "completed", "result": {"x": 1}}
        return httpx.Response(200, json={**task, "priority": 0, "attempt": 1, "max_attempts": 3})

    client = Client("http://test", "token", transport=httpx.MockTransport(finished))
    with client, contextlib.suppress(ClientError):  # only the request matters here
        client.submit("noop", {}, wait=5)
    assert seen[0].url.path == "/v1/tasks" and "wait=" in seen[0].headers["Prefer"]


@pytest.mark.parametrize(
    "kwargs", [{"linger_s": -0.1}, {"linger_s": 2.0}, {"max_items": 0}, {"max_items": 1001}]
)
def test_bad_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="coalesce"):
        CoalescePolicy(**kwargs)


# --- AsyncClient: tasks on one event loop ---------------------------------------------


class AsyncServer:
    """`Server` for httpx.MockTransport's async handler: each request held `delay_s`."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.sync = Server(delay_s=0.0)
        self.delay_s = delay_s

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.delay_s)
        await request.aread()
        return self.sync(request)


def async_client_for(server: AsyncServer, coalesce: CoalescePolicy | None = DEFAULT) -> AsyncClient:
    return AsyncClient(
        "http://test",
        "token",
        retry=ONE_TRY,
        transport=httpx.MockTransport(server),
        coalesce=coalesce,
    )


async def test_async_tasks_share_requests_and_keep_their_keys_and_errors() -> None:
    server = AsyncServer()
    async with async_client_for(server) as client:
        outcomes = await asyncio.gather(
            *(
                client.submit("noop", {"i": i, "bad": i == 4}, idempotency_key=f"k{i}")
                for i in range(10)
            ),
            return_exceptions=True,
        )
    assert isinstance(outcomes[4], ValidationFailed)
    assert [o.id for i, o in enumerate(outcomes) if i != 4] == [
        f"t-k{i}" for i in range(10) if i != 4
    ]
    assert server.sync.batches  # some went together
    assert client.coalescer is not None and client.coalescer.requests < 10


async def test_a_lone_async_submission_goes_at_once_alone() -> None:
    server = AsyncServer(delay_s=0.0)
    async with async_client_for(server, CoalescePolicy(linger_s=0.5)) as client:
        started = time.monotonic()
        handle = await client.submit("noop", {}, idempotency_key="solo")
        assert time.monotonic() - started < 0.25
    assert handle.id == "t-solo" and server.sync.singles == ["solo"]


async def test_async_coalesce_none_sends_each_alone() -> None:
    server = AsyncServer()
    async with async_client_for(server, coalesce=None) as client:
        await asyncio.gather(*(client.submit("noop", {"i": i}) for i in range(4)))
    assert len(server.sync.singles) == 4 and server.sync.batches == []


def _limited(code: str) -> RateLimited:
    error = RateLimited(429, code, "refused")
    error.retry_after = 5.0
    return error


def test_a_group_at_the_users_cap_is_split_at_once_not_resent_whole() -> None:
    """A group larger than the room under `max_queued_per_user` would be refused for
    ever: its items go alone (each waiting out its own 429). A request-rate 429 is
    waited out by the group, as splitting it would only send more requests."""
    group = _calls.submit_items([({"type": "noop"}, "k1"), ({"type": "noop"}, "k2")])
    single = _calls.submit("/v1/tasks", {"type": "noop"}, "k1")
    patient = RetryPolicy(attempts=10, total_s=60)
    assert _retry.retry_delay(patient, group, _limited("too_many_tasks"), 1, 0.0) is None
    assert _retry.retry_delay(patient, group, _limited("rate_limited"), 1, 0.0) == 5.0
    assert _retry.retry_delay(patient, single, _limited("too_many_tasks"), 1, 0.0) == 5.0
