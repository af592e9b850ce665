"""`englog.serving`: the one way the server's REST port and the worker's health port
run uvicorn (bind first, started event, graceful stop, signals left to the process)."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import pytest

from englog.serving import bind_listener, serve

pytestmark = pytest.mark.timeout(30)


SLOW_ARRIVED: list[asyncio.Event] = []  # set when a /slow request reaches the app


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        for arrived in SLOW_ARRIVED:
            arrived.set()
        await asyncio.sleep(0.3)  # the request's own work: still running at the stop
    body = b"ok"
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def get(port: int, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen for health on 127.0.0.1:{port}: "):
            bind_listener(f"127.0.0.1:{port}", "--health-listen", "health")


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999", "127.0.0.1:x"])
def test_a_malformed_address_names_the_flag(listen: str) -> None:
    with pytest.raises(ValueError, match="--http-listen"):
        bind_listener(listen, "--http-listen", "HTTP")


@pytest.mark.parametrize("coalesce_writes", [True, False])
async def test_serves_until_stop_and_lets_requests_finish(coalesce_writes: bool) -> None:
    sock = bind_listener("127.0.0.1:0", "--http-listen", "HTTP")
    port = sock.getsockname()[1]
    stop, started = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(
        serve(app, sock, stop=stop, started=started, coalesce_writes=coalesce_writes)
    )
    await asyncio.wait_for(started.wait(), 10)
    assert (await get(port)).endswith(b"\r\n\r\nok")
    arrived = asyncio.Event()
    SLOW_ARRIVED[:] = [arrived]
    slow = asyncio.create_task(get(port, "/slow"))
    await asyncio.wait_for(arrived.wait(), 10)  # in flight before the stop
    stop.set()
    assert (await asyncio.wait_for(slow, 10)).endswith(b"ok")  # in flight: finished
    await asyncio.wait_for(serving, 10)
    assert sock.fileno() == -1  # closed
    with pytest.raises(OSError):
        await get(port)


async def test_cancelling_stops_at_once_and_leaves_signals_alone() -> None:
    sock = bind_listener("127.0.0.1:0", "--health-listen", "health")
    before = signal.getsignal(signal.SIGTERM)
    started = asyncio.Event()
    serving = asyncio.create_task(serve(app, sock, started=started))
    await asyncio.wait_for(started.wait(), 10)
    assert signal.getsignal(signal.SIGTERM) is before  # uvicorn took no handler
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert sock.fileno() == -1
