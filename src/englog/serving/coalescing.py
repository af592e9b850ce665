"""One `send()` per HTTP response instead of two.

uvicorn writes a response's status line and headers, then its body, with two
`transport.write` calls: two syscalls on the server, and a client that reads the head
and the body as two segments. Measured on the bench machine those writes were 11 % of
the server's main thread under load, and a long poll's answer sits on the path of every
round trip. This protocol hands uvicorn a transport that gathers what is written within
one event-loop step and sends it at the end of that step. Written here because uvicorn
has no such option and its protocol classes are the documented extension point
(`uvicorn.Config(http=...)`). It leans on `HttpToolsProtocol` internals (it writes
through `self.transport`), so pyproject.toml pins uvicorn to the versions tests cover."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """Forwards everything to the real transport. A write is held until the next one
    (a head, then its body: both leave in one syscall at once) or the end of the loop
    step, whichever comes first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending:  # the body after its head: both leave now, no loop turn later
            self._pending.append(bytes(data))
            self._flush()
            return
        self._pending.append(bytes(data))
        self._loop.call_soon(self._flush)  # a write alone leaves at the end of the step

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `_CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing: Any = _CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(coalescing)
