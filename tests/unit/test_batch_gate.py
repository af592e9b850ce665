"""Large submissions are parsed and stored two at a time (englog.server.http.batch_gate):
the others wait with their bodies read, and get the same body and answer as before."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from englog.server.http.batch_gate import BATCHES_AT_ONCE, BatchGate


class Recording:
    """An ASGI app that holds each request until released, counting how many it holds."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.bodies: list[bytes] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Condition()

    async def holding(self, n: int) -> None:
        """Until `n` requests are inside (bounded by the caller's timeout)."""
        async with self.entered:
            await self.entered.wait_for(lambda: self.inside >= n)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        async with self.entered:
            self.entered.notify_all()
        message = await receive()
        self.bodies.append(message["body"])
        await self.release.wait()
        self.inside -= 1
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _request(path: str, body: bytes) -> tuple[Scope, Receive]:
    parts = [body[: len(body) // 2], body[len(body) // 2 :]]

    async def receive() -> Message:
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    return {"type": "http", "method": "POST", "path": path}, receive


async def _send_all(gate: BatchGate, path: str, n: int) -> list[list[Message]]:
    answers: list[list[Message]] = [[] for _ in range(n)]

    async def one(i: int) -> None:
        scope, receive = _request(path, f'{{"tasks": [{i}]}}'.encode())

        async def send(message: Message) -> None:
            answers[i].append(message)

        await gate(scope, receive, send)

    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(one(i))
    return answers


@pytest.mark.parametrize("path", ["/v1/tasks/batch", "/v1/entries/bulk"])
async def test_at_most_two_batches_are_in_the_app_at_once(path: str) -> None:
    app = Recording()
    gate = BatchGate(app)
    sending = asyncio.create_task(_send_all(gate, path, 6))
    async with asyncio.timeout(5):
        await app.holding(BATCHES_AT_ONCE)
    for _ in range(50):  # loop turns enough for every request to reach the gate
        await asyncio.sleep(0)
    assert app.inside == BATCHES_AT_ONCE
    app.release.set()
    async with asyncio.timeout(5):
        answers = await sending
    assert app.most == BATCHES_AT_ONCE
    assert sorted(app.bodies) == sorted(f'{{"tasks": [{i}]}}'.encode() for i in range(6))
    assert all(a[0]["status"] == 202 and a[1]["body"] == b"ok" for a in answers)


async def test_other_routes_are_not_held() -> None:
    app = Recording()
    gate = BatchGate(app)
    sending = asyncio.create_task(_send_all(gate, "/v1/tasks", 5))
    async with asyncio.timeout(5):
        await app.holding(5)
    app.release.set()
    async with asyncio.timeout(5):
        await sending
    assert app.most == 5
