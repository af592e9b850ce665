"""At most `BATCHES_AT_ONCE` large submissions (`POST /v1/tasks/batch`,
`POST /v1/entries/bulk`) are parsed and stored at once; the others wait their turn with
their bodies read but not parsed.

A batch of 1,000 tasks is about 40 KB of JSON and a few MB of Python objects once
validated (models, rows, the response). Sixteen clients sending such batches at once
took the server from 81 to 117 MB, and CPython keeps the high-water mark. Two at a time
kept it at 93 MB, in the same time: the event loop parses one request at a time anyway
and SQLite has one writer, so a third batch in flight only waits while holding its
objects. The body is read before the gate, so a client that trickles its body holds a
connection, never the gate."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from englog.server.http.asgi_body import read_body, replay

BATCHES_AT_ONCE = 2
GATED = frozenset({("POST", "/v1/tasks/batch"), ("POST", "/v1/entries/bulk")})


class BatchGate:
    def __init__(self, app: ASGIApp, at_once: int = BATCHES_AT_ONCE) -> None:
        self.app = app
        self._gate = asyncio.Semaphore(at_once)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in GATED:
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive)
        async with self._gate:
            await self.app(scope, replay(body, complete, receive), send)
