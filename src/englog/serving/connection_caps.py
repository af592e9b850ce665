"""A cap on open HTTP connections per client address and in all.

Without one, a client could open ~20,000 silent sockets and exhaust the server's file
descriptors until the read deadline closed them (issue 22). A connection beyond
either cap is closed as soon as it is accepted, before any byte is read, so it costs
an accept and a close; the connections already open (a signed-in person's, a load
balancer's probe from another address) keep being served."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ConnectionCounts:
    """Open connections by peer address (shared by every protocol of one server)."""

    def __init__(self, per_address: int, total: int) -> None:
        if per_address < 1 or total < 1:
            raise ValueError("connection caps must be >= 1")
        self.per_address = per_address
        self.total = total
        self.open = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0

    def admit(self, address: str) -> bool:
        held = self.by_address.get(address, 0)
        if held >= self.per_address or self.open >= self.total:
            self.refused += 1
            return False
        self.by_address[address] = held + 1
        self.open += 1
        return True

    def release(self, address: str) -> None:
        held = self.by_address.get(address, 0)
        if held <= 1:
            self.by_address.pop(address, None)
        else:
            self.by_address[address] = held - 1
        self.open -= 1


class ConnectionCapped(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection past the caps at once."""

    counts: ConnectionCounts
    _counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "unknown"
        if not self.counts.admit(address):
            transport.abort()
            return
        self._counted = address
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted is None:
            return  # refused: never set up
        self.counts.release(self._counted)
        self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._counted is not None:
            super().data_received(data)


def with_connection_caps(protocol: type[HttpToolsProtocol], counts: ConnectionCounts) -> type[Any]:
    """`protocol` (httptools-based) with the caps in `counts`."""
    return type(
        f"{protocol.__name__}WithConnectionCaps", (ConnectionCapped, protocol), {"counts": counts}
    )
