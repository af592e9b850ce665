"""One send() per response: the coalescing transport under uvicorn's protocol."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from englog.serving.coalescing import _CoalescingTransport
from tests.support.procs import eventually


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_writes_of_one_loop_step_leave_together() -> None:
    fake = FakeTransport()
    t = _CoalescingTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert fake.writes == [] and t.get_write_buffer_size() == 38  # the head waits...
    t.write(b"{}")  # ...for its body, and both leave at once, together
    assert fake.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    t.write(b"alone")
    assert fake.writes[-1] != b"alone"
    await asyncio.sleep(0)  # a write with no follower leaves at the end of the step
    assert fake.writes[-1] == b"alone"
    await asyncio.sleep(0)
    assert len(fake.writes) == 2
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else forwarded


async def test_close_sends_what_is_pending_first() -> None:
    fake = FakeTransport()
    t = _CoalescingTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"bye")
    t.close()
    assert fake.writes == [b"bye"] and fake.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert fake.writes == [b"bye"]


async def test_uvicorn_serves_through_the_protocol() -> None:
    """A real uvicorn server with the protocol answers a real request in full."""
    import uvicorn

    from englog.serving.coalescing import CoalescingHttpToolsProtocol

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b'{"ok":true}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, http=CoalescingHttpToolsProtocol, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, 10, 0.01, what="uvicorn started")
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            first = await reader.read(65536)
            writer.close()
        assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b'\r\n\r\n{"ok":true}')
    finally:
        server.should_exit = True
        await serving
