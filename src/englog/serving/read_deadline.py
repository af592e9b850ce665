"""Connections that never finish sending a request are closed.

uvicorn closes a keep-alive connection idle *between* requests (`timeout_keep_alive`),
but nothing else: a connection opened and left silent, or one that sends a request a
byte at a time (slowloris), holds its socket and protocol object forever, and a few
thousand of them exhaust the process's file descriptors. This gives uvicorn's httptools
protocol a deadline: from the connection opening, or from the first byte of each
request, the whole request (head and body) must arrive within `read_timeout_s`;
otherwise the connection is closed. The wait for the *response* is not limited here
(a long poll is bounded by its own wait)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ReadDeadline(HttpToolsProtocol):
    """HttpToolsProtocol with the read deadline; `with_read_deadline` sets its length."""

    read_timeout_s: float = 15.0
    _read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_deadline is None:
            self._arm_read_deadline()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def _arm_read_deadline(self) -> None:
        self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def with_read_deadline(protocol: type[HttpToolsProtocol], read_timeout_s: float) -> type[Any]:
    """`protocol` (uvicorn's httptools protocol or a subclass) with the read deadline."""
    if read_timeout_s <= 0:
        raise ValueError(f"read_timeout_s must be positive, got {read_timeout_s}")
    return type(
        f"{protocol.__name__}WithReadDeadline",
        (ReadDeadline, protocol),
        {"read_timeout_s": read_timeout_s},
    )
