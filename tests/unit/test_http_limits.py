"""LimitsMiddleware in front of a recording ASGI app, on a fake clock: who is charged
to which bucket, the 429 it answers, and what a request beyond the wait caps becomes."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.types import Message, Receive, Scope, Send

from englog.domain.tokens import hash_token
from englog.server.http.limits import LimitsMiddleware
from englog.server.ratelimit import HttpLimits, Rate
from englog.store.base import User

ADMIN = "admin-token"
USER = "user-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Settings:
    http_limits: HttpLimits
    admin_token: str = ADMIN


@dataclass
class State:
    """The two things the middleware reads of ServerState."""

    settings: Settings
    users_by_token: dict[str, tuple[float, User]] = field(default_factory=dict)


class Recorder:
    """The app behind the middleware: remembers what reached it; a request whose path
    ends in /slow waits until `release` is set."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, list[tuple[bytes, bytes]], bytes]] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message: Message = await receive()
        body = message.get("body", b"")
        self.seen.append((scope["path"], scope["query_string"], list(scope["headers"]), body))
        self.entered.set()
        if scope["path"].endswith("/slow"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@dataclass
class Built:
    app: LimitsMiddleware
    inner: Recorder
    clock: FakeClock
    registry: CollectorRegistry

    def metrics(self) -> str:
        return generate_latest(self.registry).decode()


def build(limits: HttpLimits, *, user_known: bool = True) -> Built:
    state = State(Settings(limits))
    if user_known:
        user = User(id="u1", name="alice", created_at=0.0)
        state.users_by_token[hash_token(USER)] = (time.monotonic() + 60, user)
    inner, clock, registry = Recorder(), FakeClock(), CollectorRegistry()
    app = LimitsMiddleware(inner, state, registry, clock=clock)  # type: ignore[arg-type]
    return Built(app, inner, clock, registry)


def client(app: Any, token: str | None = USER) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers
    )


async def test_submissions_and_other_requests_have_their_own_buckets() -> None:
    built = build(HttpLimits(submit=Rate(1, 2), requests=Rate(1, 3)))
    app, clock = built.app, built.clock
    async with client(app) as c:
        posts = [(await c.post("/v1/tasks", json={})).status_code for _ in range(3)]
        gets = [(await c.get("/v1/entries")).status_code for _ in range(4)]
        assert posts == [200, 200, 429] and gets == [200, 200, 200, 429]
        refused = await c.post("/v1/tasks/batch", json={})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        body = refused.json()
        assert body["error"] == "rate_limited"
        assert body["detail"].startswith("too many submissions from this token: limit 1/s burst 2")
        clock.now += 1.0
        assert (await c.post("/v1/tasks/reports", json={})).status_code == 200
        assert {(await c.get("/health")).status_code for _ in range(10)} == {200}
    assert 'englog_http_rate_limited_total{limit="submit"} 2.0' in built.metrics()


async def test_unknown_tokens_share_their_address_bucket_and_the_admin_is_free() -> None:
    app = build(HttpLimits(anonymous=Rate(1, 2), requests=Rate(1, 1)), user_known=False).app
    codes = []
    for i in range(3):
        async with client(app, token=f"forged-{i}") as c:
            codes.append((await c.get("/v1/tasks")).status_code)
    assert codes == [200, 200, 429]
    async with client(app, token=None) as c:
        refused = await c.get("/v1/tasks")
        assert refused.status_code == 429
        assert "address 127.0.0.1 (no known token)" in refused.json()["detail"]
    async with client(app, token=ADMIN) as c:
        assert {(await c.get("/v1/tasks")).status_code for _ in range(50)} == {200}


async def test_a_rate_of_zero_is_no_limit() -> None:
    app = build(HttpLimits(submit=Rate(0, 1))).app
    async with client(app) as c:
        assert {(await c.post("/v1/tasks", json={})).status_code for _ in range(50)} == {200}


async def test_waits_beyond_the_cap_are_stripped_of_their_wait() -> None:
    built = build(HttpLimits(waits_per_token=1, waits_total=5))
    app, inner = built.app, built.inner
    async with client(app) as c:
        held = asyncio.create_task(c.get("/v1/tasks/slow", params={"wait_s": 9}))
        await asyncio.wait_for(inner.entered.wait(), 5)
        await c.get("/v1/tasks/t1", params={"wait_s": 9, "x": "1"})
        await c.post("/v1/tasks", json={}, headers={"Prefer": "wait=9", "X-Keep": "1"})
        await c.post("/v1/tasks/wait", json={"ids": ["t1"], "timeout_s": 9})
        await c.post("/v1/tasks/wait", content=b"not json")
        inner.release.set()
        assert (await held).status_code == 200
        # The slot is back: the next long poll keeps its wait.
        await c.get("/v1/tasks/t2", params={"wait_s": 9})
    _, query, _, _ = inner.seen[1]
    assert query == b"x=1"
    _, _, headers, _ = inner.seen[2]
    assert b"prefer" not in dict(headers) and dict(headers)[b"x-keep"] == b"1"
    _, _, _, body = inner.seen[3]
    assert json.loads(body) == {"ids": ["t1"], "timeout_s": 0}
    assert inner.seen[4][3] == b"not json"
    assert inner.seen[5][1] == b"wait_s=9"
    text = built.metrics()
    assert 'englog_http_waits_refused_total{cap="token"} 4.0' in text
    assert "englog_http_waiting_requests 0.0" in text


async def test_the_total_cap_counts_every_caller() -> None:
    built = build(HttpLimits(waits_per_token=5, waits_total=1))
    app, inner = built.app, built.inner
    async with client(app) as c, client(app, token=ADMIN) as admin:
        held = asyncio.create_task(c.get("/v1/tasks/slow", params={"wait_s": 9}))
        await asyncio.wait_for(inner.entered.wait(), 5)
        await admin.get("/v1/tasks/t1", params={"wait_s": 9})
        inner.release.set()
        await held
    assert inner.seen[1][1] == b""
    assert 'englog_http_waits_refused_total{cap="total"} 1.0' in built.metrics()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"waits_total": -1}, "wait limits"), ({"read_timeout_s": 0}, "read_timeout_s")],
)
def test_bad_limits_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HttpLimits(**kwargs)
