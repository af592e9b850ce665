"""A fault-injecting TCP proxy for chaos tests: sits between workers and the server's
gRPC port on loopback and cuts, delays, stalls or refuses their traffic on command.

gRPC runs HTTP/2 over one TCP connection per channel, so cutting connections here is
what a worker sees when a router or the server drops it. Faults:
- `cut()`: reset every current connection (SO_LINGER 0, so the peers get an RST);
- `latency`: seconds added before forwarding each chunk, in both directions;
- `blackhole(seconds)`: keep connections (and accept new ones) but forward nothing
  for a while, like a partition that heals; held bytes flow again afterwards;
- `refuse()` / `resume()`: stop listening (and cut), then listen again on the port;
- `drop_responses`: the next N answers from upstream are not passed on; their
  connection is reset instead (the request reached the server, its reply was lost).

`FaultProxy` is async, for tests on their own loop; `ThreadedProxy` runs one on a
loop in a daemon thread, for synchronous tests that drive real processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests.support.procs import free_port

T = TypeVar("T")
CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    """Counters a test can print or assert on."""

    accepted: int = 0
    upstream_failures: int = 0
    cut: int = 0
    cut_rounds: int = 0
    blackholes: int = 0
    refusals: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    dropped_responses: int = 0
    lost_chunks: int = 0


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            _reset(writer)
        for pump in self.pumps:
            pump.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN: what a crashed peer or middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:`port` to `upstream_host`:`upstream_port`, faults on demand."""

    def __init__(self, upstream_port: int, port: int = 0, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.latency = 0.0
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._blackhole_until = 0.0
        self._open = asyncio.Event()  # clear while blackholed
        self._open.set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.drop_responses = 0
        # Packet loss as a TCP connection lives it: a lost segment is retransmitted after
        # a timeout, so with probability `loss` a chunk is held `loss_delay` longer.
        self.loss = 0.0
        self.loss_delay = (0.2, 1.0)
        self._rng = random.Random()

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def start(self) -> FaultProxy:
        """Listen (again) on the same port; the first start picks a free one outside
        the ephemeral range (`free_port()`: nothing takes it while refusing)."""
        if self._server is not None:
            return self
        if self.port:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )
            return self
        for attempt in range(3):
            port = free_port()
            try:
                self._server = await asyncio.start_server(
                    self._accept, "127.0.0.1", port, reuse_address=True
                )
            except OSError:  # picked by another test in the meantime
                if attempt == 2:
                    raise
                continue
            self.port = port
            break
        return self

    async def cut(self) -> int:
        """Reset every open connection; returns how many there were."""
        conns = list(self._conns)
        self._conns.clear()
        for conn in conns:
            conn.abort()
        self.stats.cut += len(conns)
        self.stats.cut_rounds += 1
        await asyncio.sleep(0)  # let the pumps see their cancellation
        return len(conns)

    def blackhole(self, seconds: float) -> None:
        """Forward nothing for `seconds` from now (connections stay open)."""
        loop = asyncio.get_running_loop()
        self._blackhole_until = max(self._blackhole_until, loop.time() + seconds)
        self._open.clear()
        loop.call_at(self._blackhole_until, self._maybe_heal)
        self.stats.blackholes += 1

    def _maybe_heal(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._blackhole_until:
            self._open.set()
        else:  # extended meanwhile, or woken a clock tick early
            loop.call_at(self._blackhole_until, self._maybe_heal)

    def heal(self) -> None:
        """End a blackhole, any latency and any loss now."""
        self.latency = 0.0
        self.loss = 0.0
        self._blackhole_until = 0.0
        self._open.set()

    @property
    def blackholed(self) -> bool:
        return asyncio.get_running_loop().time() < self._blackhole_until

    async def refuse(self) -> None:
        """Stop listening and cut: new connections are refused until `resume()`."""
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            self.stats.refusals += 1
        await self.cut()

    async def resume(self) -> None:
        await self.start()

    async def close(self) -> None:
        """Refuse and reset everything, then wait for the connection handlers to end
        (cancelled only if they hang: asyncio logs cancelled connection callbacks)."""
        await self.refuse()
        handlers = list(self._handlers)
        if handlers:
            _, hung = await asyncio.wait(handlers, timeout=5)
            for task in hung:
                task.cancel()
            # A cancelled handler must still run its `finally` (closing its sockets).
            await asyncio.gather(*hung, return_exceptions=True)

    # --- forwarding -------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._forward(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        writers = [writer]
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self.stats.upstream_failures += 1
                _reset(writer)
                return
            writers.append(up_writer)
            if self._server is None:  # refused while we were connecting upstream
                _reset(writer)
                _reset(up_writer)
                return
            conn = _Conn(writer, up_writer)
            self._conns.add(conn)
            conn.pumps = [
                asyncio.create_task(self._pump(conn, reader, up_writer, up=True)),
                asyncio.create_task(self._pump(conn, up_reader, writer, up=False)),
            ]
            try:
                await asyncio.gather(*conn.pumps, return_exceptions=True)
            finally:
                self._conns.discard(conn)
        finally:
            for w in writers:
                w.close()  # a no-op after a reset
            # Let the transports finish closing before the loop may stop.
            await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)

    async def _pump(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        up: bool,
    ) -> None:
        """One direction. EOF is passed on (half-close); an error on either side
        resets both, as a real hop would."""
        try:
            while data := await reader.read(CHUNK):
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                if self.loss > 0 and self._rng.random() < self.loss:
                    self.stats.lost_chunks += 1
                    await asyncio.sleep(self._rng.uniform(*self.loss_delay))
                await self._open.wait()
                if not up and self.drop_responses > 0:
                    self.drop_responses -= 1
                    self.stats.dropped_responses += 1
                    conn.abort()
                    return
                writer.write(data)
                await writer.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        except (OSError, ConnectionError):
            conn.abort()


@dataclass(frozen=True)
class ChaosSchedule:
    """Faults on a clock, for at most `duration` seconds. Zero disables a fault."""

    duration: float
    cut_every: float = 0.0
    latency: float = 0.0
    blackhole_every: float = 0.0
    blackhole_for: float = 0.0

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ValueError("a chaos schedule needs a positive duration")
        if self.blackhole_every and self.blackhole_for >= self.blackhole_every:
            raise ValueError("blackhole_for must be shorter than blackhole_every")


async def run_chaos(proxy: FaultProxy, schedule: ChaosSchedule, stop: asyncio.Event) -> None:
    """Apply `schedule` until its duration ends or `stop` is set; faults cleared at the
    end, so whatever follows runs on a healthy network."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + schedule.duration
    next_cut = start + schedule.cut_every if schedule.cut_every else float("inf")
    next_hole = start + schedule.blackhole_every if schedule.blackhole_every else float("inf")
    proxy.latency = schedule.latency
    try:
        while not stop.is_set() and (now := loop.time()) < end:
            if now >= next_cut:
                await proxy.cut()
                next_cut = now + schedule.cut_every
            if now >= next_hole:
                proxy.blackhole(schedule.blackhole_for)
                next_hole = now + schedule.blackhole_every
            wake = min(next_cut, next_hole, end) - loop.time()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake)):
                    await stop.wait()
    finally:
        proxy.heal()


async def _cancel_leftovers() -> None:
    """What asyncio.run does before closing a loop: cancel every other task and let it
    finish, so no transport is left for the garbage collector to warn about."""
    this = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not this]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ThreadedProxy:
    """A FaultProxy on its own event loop in a daemon thread, with blocking controls."""

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.proxy = FaultProxy(upstream_port, port)
        self._stop_chaos: asyncio.Event | None = None
        self._chaos: concurrent.futures.Future[None] | None = None

    def __enter__(self) -> ThreadedProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"

    @property
    def stats(self) -> ProxyStats:
        return self.proxy.stats

    def start(self) -> ThreadedProxy:
        self._thread.start()
        self._call(self.proxy.start())
        return self

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def cut(self) -> int:
        return self._call(self.proxy.cut())

    def drop_next_responses(self, count: int = 1) -> None:
        async def drop() -> None:
            self.proxy.drop_responses = count

        self._call(drop())

    def set_latency(self, seconds: float) -> None:
        self._loop.call_soon_threadsafe(setattr, self.proxy, "latency", seconds)

    def set_loss(self, probability: float) -> None:
        self._loop.call_soon_threadsafe(setattr, self.proxy, "loss", probability)

    def blackhole(self, seconds: float) -> None:
        async def hole() -> None:
            self.proxy.blackhole(seconds)

        self._call(hole())

    def heal(self) -> None:
        """End a blackhole and latency now."""

        async def heal() -> None:
            self.proxy.heal()

        self._call(heal())

    def refuse(self) -> None:
        self._call(self.proxy.refuse())

    def resume(self) -> None:
        self._call(self.proxy.resume())

    def start_chaos(self, schedule: ChaosSchedule) -> concurrent.futures.Future[None]:
        """Run `schedule` in the proxy's thread; `stop_chaos()` ends it early."""
        if self._chaos is not None and not self._chaos.done():
            raise RuntimeError("a chaos schedule is already running")
        self._stop_chaos = stop = asyncio.Event()  # binds to the proxy's loop on first wait
        self._chaos = asyncio.run_coroutine_threadsafe(
            run_chaos(self.proxy, schedule, stop), self._loop
        )
        return self._chaos

    def stop_chaos(self, timeout: float = 10.0) -> None:
        if self._chaos is None:
            return
        stop = self._stop_chaos
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._chaos.result(timeout)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.stop_chaos()
        with contextlib.suppress(Exception):
            self._call(self.proxy.close())
        with contextlib.suppress(Exception):
            self._call(_cancel_leftovers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
