"""The client's side of the protocol, against a scripted server (httpx.MockTransport):
which requests are resent and with what key, how `wait_all` uses `POST /v1/tasks/wait`
(windows of at most 1,000 ids, missing ids, an older server without the route), and
where its settings come from. The real server is in tests/integration/test_client.py."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from englog.client import (
    ApiError,
    AsyncClient,
    Client,
    ConfigError,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerUnreachable,
    Timeout,
    TransportError,
    resolve,
    write_config,
)

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC).isoformat()
LATER = datetime(2026, 11, 30, 10, tzinfo=UTC).isoformat()
QUICK = RetryPolicy(attempts=4, initial_s=0.0, max_s=0.0)
Handler = Callable[[httpx.Request], httpx.Response]


def task_json(task_id: str, status: str = "completed", result: Any = None) -> dict[str, Any]:
    return {
        "task_id": task_id, "type": "noop", "status": status, "progress": 100.0,
        "progress_message": None, "attempt": 1, "max_attempts": 3, "worker_id": "w1",
        "result": result, "error": None, "created_at": NOW, "started_at": NOW,
        "completed_at": NOW, "priority": 0, "timeout_s": 60.0, "cancel_requested": False,
        "reassignments": 0, "attempts": [],
    }  # fmt: skip


def scripted(handler: Handler) -> tuple[Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = Client("http://englog.test", "tok", retry=QUICK,
                    transport=httpx.MockTransport(record))  # fmt: skip
    return client, seen


def test_a_submission_is_resent_with_the_same_key_after_a_502_and_a_reset() -> None:
    answers = iter(["502", "reset", "202"])

    def handler(request: httpx.Request) -> httpx.Response:
        step = next(answers)
        if step == "reset":
            raise httpx.ReadError("connection reset", request=request)
        if step == "502":
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(202, json={"task_id": "t1", "status": "pending"})

    client, seen = scripted(handler)
    assert client.submit("noop", {"x": 1}).id == "t1"
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1 and len(keys.pop()) >= 16


def test_a_given_idempotency_key_is_sent_as_is() -> None:
    client, seen = scripted(
        lambda r: httpx.Response(202, json={"task_id": "t", "status": "pending"})
    )
    client.submit("noop", idempotency_key="order-42")
    assert seen[0].headers["Idempotency-Key"] == "order-42"


def test_requests_without_a_key_are_not_resent_once_they_may_have_arrived() -> None:
    client, seen = scripted(
        lambda r: httpx.Response(503, json={"error": "unavailable", "detail": "x"})
    )
    with pytest.raises(ApiError) as raised:
        client.log("x", start=datetime(2026, 11, 30, 9), end=datetime(2026, 11, 30, 10))
    assert raised.value.status == 503 and len(seen) == 1
    with pytest.raises(ApiError):
        client.delete_entry("e1")
    assert len(seen) == 2


def test_a_batch_is_resent_under_one_key_per_request() -> None:
    answers = iter([503, 202, 202])

    def handler(request: httpx.Request) -> httpx.Response:
        n = len(json.loads(request.content)["tasks"])
        tasks = [{"task_id": f"t{i}", "status": "pending"} for i in range(n)]
        status = next(answers)
        return httpx.Response(status, json={"tasks": tasks} if status == 202 else {"error": "x"})

    client, seen = scripted(handler)
    handles = client.submit_many([("noop", {"i": i}) for i in range(1500)], idempotency_key="b")
    assert len(handles) == 1500
    assert [r.headers["Idempotency-Key"] for r in seen] == ["b.0", "b.0", "b.1"]


def test_a_429_waits_as_told_then_retries_even_unkeyed_requests() -> None:
    answers = iter([429, 201])
    later = datetime(2026, 11, 30, 10, tzinfo=UTC).isoformat()
    entry = {"id": "e", "title": "x", "type": "other", "start_time": NOW, "end_time": later,
             "created_at": NOW, "updated_at": NOW}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if next(answers) == 429:
            body = {"error": "rate_limited", "detail": "slow down"}
            return httpx.Response(429, headers={"Retry-After": "0"}, json=body)
        return httpx.Response(201, json=entry)

    client, seen = scripted(handler)
    client.log("x", start=datetime(2026, 11, 30, 9), end=datetime(2026, 11, 30, 10))
    assert len(seen) == 2


def test_a_429_asking_longer_than_the_policy_allows_is_raised_at_once() -> None:
    body = {"error": "rate_limited", "detail": "later"}
    client, seen = scripted(
        lambda r: httpx.Response(429, headers={"Retry-After": "3600"}, json=body)
    )
    with pytest.raises(RateLimited) as raised:
        client.tasks()
    assert raised.value.retry_after == 3600 and len(seen) == 1


def test_reads_are_retried_then_give_up_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client, seen = scripted(handler)
    with pytest.raises(TransportError):
        client.tasks()
    assert len(seen) == QUICK.attempts


def test_a_refused_connection_is_retried_even_without_a_key() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(202, json={"tasks": [{"task_id": "a", "status": "pending"}]})

    client, _ = scripted(handler)
    assert [h.id for h in client.submit_many([("noop", {})])] == ["a"]
    assert len(calls) == 2


def test_unreachable_after_the_last_try() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, seen = scripted(handler)
    with pytest.raises(ServerUnreachable, match="is the server running"):
        client.tasks()
    assert len(seen) == QUICK.attempts


def wait_route(done_after: dict[str, int], missing: set[str] = frozenset()) -> Handler:
    """A server whose task `id` finishes on the n-th wait request that asks for it."""
    asked: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/tasks/wait"
        body = json.loads(request.content)
        assert len(body["ids"]) <= 1000 and 0 <= body["timeout_s"] <= 30
        finished, pending, gone = [], [], []
        for task_id in body["ids"]:
            asked[task_id] = asked.get(task_id, 0) + 1
            if task_id in missing:
                gone.append(task_id)
            elif asked[task_id] >= done_after.get(task_id, 1):
                finished.append(task_json(task_id, result={"id": task_id}))
            else:
                pending.append(task_id)
        return httpx.Response(200, json={"tasks": finished, "pending": pending, "missing": gone})

    return handler


def test_wait_all_asks_for_at_most_1000_ids_and_yields_every_task() -> None:
    ids = [f"t{i}" for i in range(2500)]
    client, seen = scripted(wait_route({"t7": 3, "t2400": 2}))
    finished = [t.task_id for t in client.wait_all(ids, timeout=10)]
    assert sorted(finished) == sorted(ids) and len(finished) == len(ids)
    assert all(len(json.loads(r.content)["ids"]) <= 1000 for r in seen)
    assert finished[-1] == "t7"  # the slowest comes last
    # While other windows wait their turn, each waits briefly so none starves the others;
    # once one request holds every id left, it waits as long as the caller may.
    assert max(json.loads(r.content)["timeout_s"] for r in seen[:2]) <= 1.0
    assert json.loads(seen[2].content)["timeout_s"] > 1.0


def test_wait_all_raises_not_found_for_ids_the_server_does_not_know() -> None:
    client, _ = scripted(wait_route({}, missing={"ghost"}))
    finished = []
    with pytest.raises(NotFound, match="ghost"):
        for task in client.wait_all(["real", "ghost"], timeout=5):
            finished.append(task.task_id)
    assert finished == ["real"]


def test_wait_all_times_out_naming_what_is_still_running() -> None:
    client, _ = scripted(wait_route({"slow": 10**9}))
    with pytest.raises(Timeout) as timed_out:
        list(client.wait_all(["slow"], timeout=0.05))
    assert timed_out.value.pending == ("slow",)


def test_wait_all_falls_back_to_long_polls_on_an_older_server() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/tasks/wait":
            return httpx.Response(405, json={"error": "method_not_allowed", "detail": "no"})
        task_id = request.url.path.rsplit("/", 1)[-1]
        assert "wait_s" in request.url.params
        return httpx.Response(200, json=task_json(task_id))

    client, seen = scripted(handler)
    assert [t.task_id for t in client.wait_all(["a", "b"], timeout=5)] == ["a", "b"]
    assert [r.method for r in seen] == ["POST", "GET", "GET"]


def entry_json(n: int) -> dict[str, Any]:
    return {
        "id": f"e{n}", "title": f"entry {n}", "type": "development", "project": None,
        "tags": [], "description": None, "start_time": NOW, "end_time": LATER,
        "value_rating": "medium", "impact_level": "personal", "created_at": NOW,
        "updated_at": NOW,
    }  # fmt: skip


def entry_pages(total: int) -> Handler:
    """`GET /v1/entries` over `total` entries, as the server pages them."""

    def handler(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(
            200,
            json={"entries": [entry_json(n) for n in range(offset, min(total, offset + limit))]},
        )

    return handler


@pytest.mark.parametrize("total", [0, 3, 1000, 2003])
def test_entries_reads_page_after_page_until_a_short_one(total: int) -> None:
    client, seen = scripted(entry_pages(total))
    assert [e.id for e in client.entries()] == [f"e{n}" for n in range(total)]
    assert [int(r.url.params["offset"]) for r in seen] == list(range(0, total + 1, 1000))


def test_the_async_client_pages_entries_the_same_way() -> None:
    async def read() -> list[str]:
        transport = httpx.MockTransport(entry_pages(1001))
        async with AsyncClient("http://englog.test", "tok", transport=transport) as client:
            return [e.id async for e in client.entries()]

    assert asyncio.run(read()) == [f"e{n}" for n in range(1001)]


def test_settings_precedence_arguments_then_environment_then_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("ENGLOG_CONFIG", raising=False)
    for name in ("ENGLOG_URL", "ENGLOG_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert resolve().token is None and resolve().url == "http://127.0.0.1:8080"
    path = write_config({"url": "http://file:1", "token": 'from "file"'})
    assert path == tmp_path / "englog" / "config.toml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert (resolve().url, resolve().token) == ("http://file:1", 'from "file"')
    monkeypatch.setenv("ENGLOG_URL", "http://env:2/")
    monkeypatch.setenv("ENGLOG_TOKEN", "from-env")
    assert (resolve().url, resolve().token) == ("http://env:2", "from-env")
    chosen = resolve("http://arg:3", "from-arg")
    assert (chosen.url, chosen.token, chosen.token_source) == (
        "http://arg:3",
        "from-arg",
        "argument",
    )


def test_a_broken_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("token = \n")
    monkeypatch.setenv("ENGLOG_CONFIG", str(path))
    monkeypatch.delenv("ENGLOG_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"c\.toml"):
        resolve()


def test_the_client_does_not_import_the_server_or_grpc() -> None:
    """A program that only talks REST should not pay for FastAPI, gRPC or the store."""
    import subprocess
    import sys

    code = (
        "import sys, englog.client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('grpc', 'fastapi', 'uvicorn', 'asyncpg') or m.startswith(('englog.server', "
        "'englog.store', 'englog.worker'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_task_answer_that_is_not_a_task_is_a_bad_answer() -> None:
    """Tasks and waited tasks are validated from the answer's bytes (issue 26): an
    answer that is not JSON, or not a task, is an ApiError naming it, never a raw
    parse error."""
    for body in (b"{not json", b'{"task_id": "t1"}', b"[]"):
        client, _ = scripted(lambda _r, b=body: httpx.Response(200, content=b))
        with pytest.raises(ApiError, match="unexpected answer") as raised:
            client.task("t1").refresh()
        assert raised.value.code == "bad_answer"
        with pytest.raises(ApiError, match="unexpected answer"):
            list(client.wait_all(["t1"], timeout=1))
    exact = task_json("t1", result={"big": 2**70, "f": 0.1, "s": "é"})
    client, _ = scripted(lambda _r: httpx.Response(200, json=exact))
    assert client.task("t1").refresh().result == {"big": 2**70, "f": 0.1, "s": "é"}
