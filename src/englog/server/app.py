"""The server process: store, gRPC (workers), HTTP (people) and the lease reaper in one
asyncio loop, started and stopped in stages."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from englog.addresses import split_hostport
from englog.logs import redact_url
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.grpc_guard import MalformedRequestGuard
from englog.server.grpc_service import WorkerService
from englog.server.http import create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.serving import bind_listener
from englog.serving import serve as serve_http
from englog.store import open_store
from englog.store.base import Store, StoreError

log = structlog.get_logger("englog.server")

SERVICE_NAME = "englog.v1.WorkerService"
# Above the largest message: assignment batches are cut at 4 MiB, reports at 8 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
HTTP_START_TIMEOUT_S = 10.0


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS when a certificate is configured; mTLS (client certificates required) when a
    CA is configured too."""
    if not settings.tls_cert:
        return None
    if not settings.tls_key:
        raise ValueError("--tls-cert needs --tls-key")
    pair = (Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())
    ca = Path(settings.tls_ca).read_bytes() if settings.tls_ca else None
    return grpc.ssl_server_credentials([pair], ca, require_client_auth=ca is not None)


@dataclass(frozen=True, slots=True)
class BoundAddresses:
    grpc: str
    http: str


class Server:
    """One englog server. `start()` returns once both listeners accept connections."""

    def __init__(self, settings: ServerSettings, store: Store | None = None) -> None:
        self.settings = settings
        self._store = store or open_store(settings.db_url, policy=settings.queue_policy)
        self.state = ServerState(store=self._store, settings=settings)
        self.queue = self.state.queue
        self.dispatcher = self.queue.dispatcher
        # Tasks another replica made claimable (PostgreSQL NOTIFY); 0.5 s poll otherwise.
        self._store.add_task_listener(self.dispatcher.notify)
        self._grpc: grpc.aio.Server | None = None
        self._health = HealthServicer()
        self._http_stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.addresses: BoundAddresses | None = None
        self._stopped = False

    async def start(self) -> BoundAddresses:
        await self._store.open()
        self.state.started_at = self.state.clock()
        extended = await self.queue.recover()
        if extended:
            log.info("running_leases_extended", count=extended)
        # HTTP first: building its app takes 0.12 s idle, longer under load. With gRPC
        # first, workers were back before anyone could submit them a task (CI measured
        # the restart's first task after 1.04 s).
        http_addr = await self._start_http()
        grpc_addr = await self._start_grpc()
        self._tasks.append(asyncio.create_task(self._reap_forever(), name="lease-reaper"))
        self._tasks.append(asyncio.create_task(self._prune_forever(), name="retention"))
        self._tasks.append(
            asyncio.create_task(self.queue.recount_forever(), name="pending-recount")
        )
        self.state.ready = True
        await self._health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.addresses = BoundAddresses(grpc_addr, http_addr)
        log.info(
            "server_started", grpc=grpc_addr, http=http_addr, db=redact_url(self.settings.db_url)
        )
        if self.settings.worker_tokens:
            log.warning(
                "shared_worker_tokens",
                detail="holders of a shared worker token (ENGLOG_WORKER_TOKENS) can pose as"
                " each other; give each worker its own credential (englog workers create)",
            )
        return self.addresses

    async def _start_grpc(self) -> str:
        server = grpc.aio.server(
            # Calls without a known worker token end UNAUTHENTICATED unread; undecodable
            # requests INVALID_ARGUMENT, not grpc's UNKNOWN + traceback.
            interceptors=[MalformedRequestGuard(self.state.worker_auth)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 3_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
                ("grpc.http2.max_pings_without_data", 0),
                # gRPC shares ports (SO_REUSEPORT) by default: a second server on the same
                # port would bind, silently split the workers, and never fail.
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_WorkerServiceServicer_to_server(WorkerService(self.state), server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        creds = server_credentials(self.settings)
        host, port = split_hostport(self.settings.grpc_listen, "--grpc-listen")
        target = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        try:
            if creds is None:
                bound = server.add_insecure_port(target)
            else:
                bound = server.add_secure_port(target, creds)
        except RuntimeError as exc:  # grpc reports a failed bind this way
            bound = 0
            cause: Exception | None = exc
        else:
            cause = None
        if bound == 0:
            raise OSError(
                f"cannot listen for gRPC on {self.settings.grpc_listen}: address in use or invalid"
            ) from cause
        await server.start()
        self._grpc = server
        return f"{host}:{bound}"

    async def _start_http(self) -> str:
        sock = bind_listener(self.settings.http_listen, "--http-listen", "HTTP")
        host, bound = split_hostport(self.settings.http_listen)[0], sock.getsockname()[1]
        app = create_http_app(self.state, self.state.metrics.registry)
        started = asyncio.Event()
        serving = asyncio.create_task(
            serve_http(
                app,
                sock,
                stop=self._http_stop,
                started=started,
                coalesce_writes=True,
                idle_timeout_s=self.settings.http_limits.idle_timeout_s,
                read_timeout_s=self.settings.http_limits.read_timeout_s,
                connection_caps=(
                    self.settings.http_limits.connections_per_address,
                    self.settings.http_limits.connections_total,
                ),
                trusted_proxies=self.settings.trusted_proxies,
            ),
            name="http",
        )
        self._tasks.append(serving)
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait(
            {serving, waiting}, timeout=HTTP_START_TIMEOUT_S, return_when="FIRST_COMPLETED"
        )
        waiting.cancel()
        if not started.is_set():
            if serving.done():
                serving.result()
            raise OSError(f"HTTP server on {self.settings.http_listen} did not start")
        return f"{host}:{bound}"

    async def _reap_forever(self) -> None:
        """Take tasks back from dead workers and expired leases, and end tasks past
        their deadline, every `reap_interval_s`."""
        while True:
            await asyncio.sleep(self.settings.reap_interval_s)
            try:
                await self.reap_once()
            except StoreError as exc:
                log.error("reaper_store_error", error=str(exc))

    async def reap_once(self) -> None:
        """One pass of the reaper; the sessions of workers it declared dead go too."""
        restarting = self.state.clock() < self.state.started_at + self.settings.lease_ttl_s
        dead = await self.queue.reap(restarting=restarting)
        if dead:
            self.state.forget_workers(dead)

    async def _prune_forever(self) -> None:
        """Delete finished tasks older than `retention_s`, in short transactions; then
        sample the database's size (englog_database_size_bytes) for the growth alert."""
        while True:
            try:
                await self.queue.prune()
                size = await self._store.size_bytes()
                if size is not None:
                    self.state.metrics.database_bytes.set(size)
            except StoreError as exc:
                log.error("retention_store_error", error=str(exc))
            await asyncio.sleep(self.settings.prune_interval_s)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls, let in-flight RPCs finish within `grace_s`, close the store.
        Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.state.ready = False
        # Waiting requests answer now with what they have (a submission its 202 and task
        # id) instead of holding the shutdown up for the rest of their wait.
        self.state.watch.close()
        with contextlib.suppress(Exception):
            await self._health.enter_graceful_shutdown()
        for stream in list(self.dispatcher.streams.values()):
            self.dispatcher.close_stream(stream)
            stream.wake.set()
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
        self._http_stop.set()
        for task in self._tasks:
            if task.get_name() != "http":
                task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("server_task_failed", error=repr(result))
        await self._store.close()
        log.info("server_stopped")


async def serve(settings: ServerSettings, stop: asyncio.Event) -> None:
    """Run until `stop` is set (the CLI sets it on SIGTERM/SIGINT)."""
    server = Server(settings)
    try:
        await server.start()
        await stop.wait()
    finally:
        await server.stop()
