"""The chaos tests' fault-injecting proxy, against a plain echo server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.procs import eventually, wait_for
from tests.support.proxy import ChaosSchedule, FaultProxy, ThreadedProxy, run_chaos

pytestmark = pytest.mark.timeout(30)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        await shut(writer)


async def shut(writer: asyncio.StreamWriter) -> None:
    """Close and wait until the transport is gone (no ResourceWarning at loop close)."""
    writer.close()
    with contextlib.suppress(OSError, ConnectionError):
        await writer.wait_closed()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    handlers: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        await _echo(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        if handlers:
            await asyncio.wait(handlers, timeout=5)


@pytest.fixture
async def proxy(echo_port: int) -> AsyncIterator[FaultProxy]:
    p = await FaultProxy(echo_port).start()
    try:
        yield p
    finally:
        await p.close()


async def connect(p: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", p.port)


async def round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, within: float = 5.0
) -> bytes:
    writer.write(data)
    await writer.drain()
    async with asyncio.timeout(within):
        return await reader.readexactly(len(data))


async def test_forwards_both_ways_and_counts(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    payload = b"x" * 200_000
    assert await round_trip(reader, writer, payload) == payload
    assert proxy.stats.accepted == 1
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(payload)
    await shut(writer)


async def test_half_close_still_delivers_the_reply(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"bye")
    writer.write_eof()
    async with asyncio.timeout(5):
        assert await reader.read() == b"bye"
    await shut(writer)


async def test_latency_is_added_per_chunk_each_way(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.latency = 0.15
    started = time.monotonic()
    assert await round_trip(reader, writer, b"ping") == b"ping"
    assert time.monotonic() - started >= 0.3  # once up, once down
    proxy.latency = 0.0
    await shut(writer)


async def test_cut_resets_every_connection_and_new_ones_work(proxy: FaultProxy) -> None:
    conns = [await connect(proxy) for _ in range(3)]
    for reader, writer in conns:
        assert await round_trip(reader, writer, b"hi") == b"hi"
    assert await proxy.cut() == 3
    for reader, writer in conns:
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(5):
                await reader.readexactly(1)
        await shut(writer)
    assert proxy.connections == 0 and proxy.stats.cut == 3
    reader, writer = await connect(proxy)
    assert await round_trip(reader, writer, b"again") == b"again"
    await shut(writer)


async def test_blackhole_holds_traffic_then_lets_it_through(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.blackhole(0.8)
    writer.write(b"held")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.4):
            await reader.readexactly(4)
    assert proxy.connections == 1  # the connection stays up, silent
    async with asyncio.timeout(5):
        assert await reader.readexactly(4) == b"held"
    await shut(writer)


async def test_blackhole_also_silences_new_connections(proxy: FaultProxy) -> None:
    proxy.blackhole(0.6)
    reader, writer = await connect(proxy)  # accepted...
    writer.write(b"new")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await reader.readexactly(3)  # ...but nothing comes back yet
    async with asyncio.timeout(5):
        assert await reader.readexactly(3) == b"new"
    await shut(writer)


async def test_refuse_stops_listening_until_resumed_on_the_same_port(
    proxy: FaultProxy,
) -> None:
    reader, writer = await connect(proxy)
    port = proxy.port
    await proxy.refuse()
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        async with asyncio.timeout(5):
            await reader.readexactly(1)
    await shut(writer)
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)
    await proxy.resume()
    assert proxy.port == port
    reader, writer = await connect(proxy)
    assert await round_trip(reader, writer, b"back") == b"back"
    await shut(writer)


async def test_upstream_down_resets_the_client(echo_port: int) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    p = await FaultProxy(dead_port).start()
    try:
        reader, writer = await connect(p)
        async with asyncio.timeout(5):
            with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                await reader.readexactly(1)
        await shut(writer)
        assert p.stats.upstream_failures == 1
    finally:
        await p.close()


async def test_schedule_cuts_and_blackholes_then_ends_healed(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    schedule = ChaosSchedule(
        duration=1.0, cut_every=0.3, latency=0.01, blackhole_every=0.45, blackhole_for=0.1
    )
    started = time.monotonic()
    await run_chaos(proxy, schedule, asyncio.Event())
    assert 0.9 <= time.monotonic() - started < 5
    assert proxy.stats.cut_rounds >= 3 and proxy.stats.blackholes >= 2
    assert proxy.stats.cut >= 1  # the open connection was among them
    assert proxy.latency == 0.0 and not proxy.blackholed
    await shut(writer)
    reader, writer = await connect(proxy)
    assert await round_trip(reader, writer, b"calm", within=1.0) == b"calm"
    await shut(writer)


async def test_schedule_stops_early_when_asked(proxy: FaultProxy) -> None:
    stop = asyncio.Event()
    runner = asyncio.create_task(run_chaos(proxy, ChaosSchedule(duration=60, cut_every=0.1), stop))
    await eventually(lambda: proxy.stats.cut_rounds >= 1, 5, what="a first round of cuts")
    stop.set()
    async with asyncio.timeout(2):
        await runner  # long before the 60 s schedule would end


def test_schedule_validates_itself() -> None:
    with pytest.raises(ValueError, match="positive duration"):
        ChaosSchedule(duration=0)
    with pytest.raises(ValueError, match="shorter"):
        ChaosSchedule(duration=5, blackhole_every=1, blackhole_for=1)


def _blocking_echo_server() -> tuple[socket.socket, int]:
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)
    return srv, srv.getsockname()[1]


def test_threaded_proxy_controls_from_synchronous_code() -> None:
    srv, port = _blocking_echo_server()
    with srv, ThreadedProxy(port) as tp:
        client = socket.create_connection(("127.0.0.1", tp.port), timeout=5)
        upstream, _ = srv.accept()
        with client, upstream:
            client.sendall(b"sync")
            assert upstream.recv(4) == b"sync"
            wait_for(lambda: tp.proxy.connections == 1, 5, what="connection tracked")
            assert tp.cut() == 1
            with pytest.raises(ConnectionResetError):
                client.recv(1)
        tp.refuse()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", tp.port), timeout=5).close()
        tp.resume()
        future = tp.start_chaos(ChaosSchedule(duration=30, cut_every=0.05))
        tp.stop_chaos()
        assert future.done()
        accepted = tp.stats.accepted
        socket.create_connection(("127.0.0.1", tp.port), timeout=5).close()
        # Close only once the proxy took the connection: one still being accepted
        # when the loop stops is a socket nobody closes.
        wait_for(lambda: tp.stats.accepted > accepted, 5, what="last connection accepted")
