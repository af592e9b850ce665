"""The worker's connection to its server: one `grpc.aio` channel, kept alive.

`ConnectionManager` watches the channel's connectivity state, asks it to reconnect
with capped, fully jittered backoff when it is lost (forever: a worker never gives
up on its server), checks the server's gRPC health every `health_interval_s` and
replaces a channel that stopped answering (a black-holed connection looks READY until
keepalive notices). Each new connection bumps `generation`; the client's loops wait
for `ready` and re-register and reopen their stream on their own when their calls
fail, so no state is shared beyond "is there a usable channel now".

Keepalive (10 s time, 3 s timeout) notices a dead peer in seconds; TLS or mTLS come
from configuration; plaintext only when asked."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.resilience.backoff import Backoff, BackoffPolicy
from englog.worker.settings import WorkerSettings

log = structlog.get_logger("englog.worker.connection")

# Above the largest message either side sends: a 1 MiB payload per task in a batch
# (the server caps batches by bytes) and up to 8 MiB of results per report.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVICE_NAME = "englog.v1.WorkerService"

Connectivity = grpc.ChannelConnectivity

# Not connected this long after starting or losing the server: say why (within 5 s).
EXPLAIN_AFTER_S = 2.0
PROBE_TIMEOUT_S = 2.0
EXPLAIN_EVERY_S = 30.0


def connection_hint(cause: str, tls: bool) -> str:
    """What to check, from the words gRPC uses for the usual mistakes."""
    text = cause.lower()
    client_cert = (
        "the server refused the TLS connection: it may require a client certificate"
        " (mutual TLS: --tls-cert and --tls-key)"
    )
    if "certificate_required" in text or "certificate required" in text:
        return client_cert
    if tls and ("socket closed" in text or "connection reset" in text):
        return client_cert
    if "wrong_version_number" in text or ("handshake" in text and "ssl" in text and tls):
        if "certificate" in text and "verify" in text:
            return "the server's certificate is not trusted: check --tls-ca"
        return "TLS handshake failed: the server may serve plaintext (it runs --insecure)"
    if "socket closed" in text:  # plaintext (TLS was answered above)
        return "the server closed a plaintext connection: it probably wants TLS (drop --insecure)"
    if "connection refused" in text:
        return "nothing listens there: check --server HOST:PORT and that the server runs"
    if "resolv" in text or ("name" in text and "not found" in text):
        return "the host name does not resolve: check --server"
    if "no answer" in text:
        return "check --server HOST:PORT and the network between worker and server"
    if "certificate" in text or "handshake" in text:
        return "TLS failed: check --tls-ca, --tls-cert and --tls-key against the server's"
    return "check --server and the TLS flags against the server's"


def channel_options(reconnect: BackoffPolicy) -> tuple[tuple[str, int], ...]:
    return (
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 3_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # gRPC's own reconnect backoff (default cap 120 s) would leave a worker idle
        # for minutes after an outage: keep it within our policy's bounds.
        ("grpc.initial_reconnect_backoff_ms", int(reconnect.initial_s * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(reconnect.initial_s * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(reconnect.max_s * 1000)),
    )


def channel_credentials(settings: WorkerSettings) -> grpc.ChannelCredentials:
    """The files were checked by WorkerSettings (they exist; cert and key go together)."""
    ca = Path(settings.tls_ca).read_bytes() if settings.tls_ca else None
    key = Path(settings.tls_key).read_bytes() if settings.tls_key else None
    cert = Path(settings.tls_cert).read_bytes() if settings.tls_cert else None
    return grpc.ssl_channel_credentials(ca, key, cert)


def uses_tls(settings: WorkerSettings) -> bool:
    return bool(settings.tls_ca or settings.tls_cert) or not settings.insecure


def make_channel(settings: WorkerSettings) -> grpc.aio.Channel:
    options = channel_options(settings.connect_backoff)
    if not uses_tls(settings):
        return grpc.aio.insecure_channel(settings.server, options=options)
    return grpc.aio.secure_channel(settings.server, channel_credentials(settings), options=options)


def cancelled_by_grpc() -> bool:
    """grpc.aio reports a call cut by its channel closing as CancelledError; it is the
    channel's doing, not a cancellation, only if this task was not asked to cancel."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    state: str
    generation: int
    reconnects: int
    health_failures: int
    connected_for_s: float | None
    # Why the server cannot be reached, while it cannot (None once connected).
    last_error: str | None = None
    hint: str | None = None


StateListener = Callable[[str], None]


class ConnectionManager:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        # The channel binds to the running loop: it is made in `open`, inside the loop.
        self._channel: grpc.aio.Channel | None = None
        self.stub: pb_grpc.WorkerServiceStub | None = None
        self._ready = asyncio.Event()
        self._unready = asyncio.Event()  # the opposite of _ready, to wait for
        self._unready.set()
        self.state: Connectivity = Connectivity.IDLE
        self.generation = 0
        self.reconnects = 0
        self.health_failures = 0
        self._connected_at: float | None = None
        self._replace = asyncio.Event()
        self._listeners: list[StateListener] = []
        self._last_error: tuple[str, str] | None = None  # (cause, hint) while unreachable

    # --- public ---------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def add_listener(self, fn: StateListener) -> None:
        """Called with the state's name on every change (metrics, logs)."""
        self._listeners.append(fn)

    def report_broken(self, reason: str) -> None:
        """A caller saw the connection fail in a way the channel may not have noticed
        (e.g. a deadline on a READY channel): check it now."""
        log.info("connection_suspect", reason=reason)
        self._replace.set()

    def stats(self) -> ConnectionStats:
        connected = time.monotonic() - self._connected_at if self._connected_at else None
        return ConnectionStats(
            self.state.name.lower(),
            self.generation,
            self.reconnects,
            self.health_failures,
            connected,
            *(self._last_error or (None, None)),
        )

    def open(self) -> None:
        """Create the channel (TLS files are read here: errors surface at start)."""
        if self._channel is None:
            self._channel = make_channel(self.settings)
            self.stub = pb_grpc.WorkerServiceStub(self._channel)

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            raise RuntimeError("ConnectionManager.open() was not called")
        return self._channel

    async def run(self) -> None:
        """Watch and repair the connection until cancelled."""
        self.open()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._watch(), name="connection-watch")
                tg.create_task(self._health_loop(), name="connection-health")
                tg.create_task(self._explain_loop(), name="connection-explain")
        finally:
            await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(grace=None)

    # --- internals ------------------------------------------------------------------
    async def _watch(self) -> None:
        backoff = Backoff(self.settings.connect_backoff)
        ever_connected = False
        while True:
            channel = self.channel
            state = channel.get_state(try_to_connect=True)
            self._set_state(state)
            if state is Connectivity.READY:
                backoff.reset()
                if not self._ready.is_set():
                    self.generation += 1
                    if ever_connected:
                        self.reconnects += 1
                    ever_connected = True
                    self._connected_at = time.monotonic()
                    self._ready.set()
                    self._unready.clear()
                    self._last_error = None
                    log.info("connected", server=self.settings.server, generation=self.generation)
            elif self._ready.is_set():
                self._mark_unready()
                self._connected_at = None
                log.warning("connection_lost", server=self.settings.server, state=state.name)
            wait_s = None
            if state is Connectivity.TRANSIENT_FAILURE:
                # Ask again after a jittered delay; gRPC's own backoff is capped to ours.
                wait_s = backoff.next_delay()
            changed = asyncio.ensure_future(channel.wait_for_state_change(state))
            replace = asyncio.ensure_future(self._replace.wait())
            try:
                await asyncio.wait(
                    {changed, replace}, timeout=wait_s, return_when="FIRST_COMPLETED"
                )
            finally:
                for fut in (changed, replace):
                    fut.cancel()
                # Waited for, not awaited: `await fut` under suppress(CancelledError)
                # also swallowed this task's own cancellation when it came in just then,
                # and the loop went on watching a closed server's channel: the worker's
                # shutdown waited for it forever (seen as a hung test under load).
                await asyncio.wait({changed, replace})
            if self._replace.is_set():
                self._replace.clear()
                await self._check_or_replace()

    async def _explain_loop(self) -> None:
        """Say why the server cannot be reached, at warning level, within a few seconds
        of trying (a wrong address, a refused port, plaintext against TLS or the other
        way round) and again every EXPLAIN_EVERY_S while it lasts: the channel itself
        only says TRANSIENT_FAILURE, a failing call says why."""
        while True:
            await self._unready.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EXPLAIN_AFTER_S):
                    await self._ready.wait()
                continue  # connected in time: nothing to say
            while not self._ready.is_set():
                cause = await self._probe()
                if cause is not None and not self._ready.is_set():
                    hint = connection_hint(cause, uses_tls(self.settings))
                    self._last_error = (cause, hint)
                    log.warning(
                        "cannot_reach_server",
                        server=self.settings.server,
                        tls=uses_tls(self.settings),
                        cause=cause,
                        hint=hint,
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(EXPLAIN_EVERY_S):
                        await self._ready.wait()

    def _mark_unready(self) -> None:
        self._ready.clear()
        self._unready.set()

    async def _probe(self) -> str | None:
        """The reason a call on the channel fails now (None: it got through)."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            await stub.Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=PROBE_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return f"no answer within {PROBE_TIMEOUT_S:g} s (a wrong address or a firewall)"
            return f"{exc.code().name}: {exc.details()}"
        except asyncio.CancelledError:
            if not cancelled_by_grpc():
                raise
        return None

    def _set_state(self, state: Connectivity) -> None:
        if state is self.state:
            return
        self.state = state
        for fn in self._listeners:
            try:
                fn(state.name.lower())
            except Exception:
                log.exception("connection_listener_failed")

    async def _health_loop(self) -> None:
        interval = self.settings.health_check_interval_s
        while True:
            await asyncio.sleep(interval)
            if self._ready.is_set() and not await self._healthy():
                self._replace.set()

    async def _healthy(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                timeout=self.settings.rpc_timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            self.health_failures += 1
            log.warning("health_check_failed", code=exc.code().name, detail=exc.details())
            return False
        except asyncio.CancelledError:
            if not cancelled_by_grpc():
                raise
            return False  # the channel was closed under the call
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            self.health_failures += 1
            log.warning("server_not_serving", status=reply.status)
            return False
        return True

    async def _check_or_replace(self) -> None:
        """A suspect channel that fails a health check is replaced by a new one: calls
        on the old one end (CANCELLED), and the client's loops start over."""
        if not self._ready.is_set() or await self._healthy():
            return  # not connected: the watch loop is already reconnecting
        old = self.channel
        self._channel = make_channel(self.settings)
        self.stub = pb_grpc.WorkerServiceStub(self._channel)
        self._mark_unready()
        self._connected_at = None
        log.warning("channel_replaced", server=self.settings.server)
        await old.close(grace=None)
