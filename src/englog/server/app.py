"""The server process: store, gRPC (workers), HTTP (people) and the lease reaper in one
asyncio loop, started and stopped in stages."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from englog.addresses import split_hostport
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.dispatcher import Dispatcher
from englog.server.grpc_service import WorkerService
from englog.server.http_api import create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.store import open_store
from englog.store.base import Store, StoreError

log = structlog.get_logger("englog.server")

SERVICE_NAME = "englog.v1.WorkerService"
# Above the largest message: assignment batches are cut at 4 MiB, reports at 8 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
HTTP_START_TIMEOUT_S = 10.0
# httptools parses HTTP in C (h11, the pure-Python fallback, cost ~7 % of the main
# thread under load). The event loop stays asyncio's: grpc.aio does not support uvloop.
HTTP_PARSER = "httptools" if importlib.util.find_spec("httptools") else "h11"


def _http_protocol() -> Any:
    """httptools with one write per response (`http_transport`), or h11 without it."""
    if HTTP_PARSER != "httptools":
        return HTTP_PARSER
    from englog.server.http_transport import CoalescingHttpToolsProtocol

    return CoalescingHttpToolsProtocol


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
        self._store = store or open_store(settings.db_url)
        self.state = ServerState(store=self._store, settings=settings)
        self.dispatcher = Dispatcher(
            self._store,
            settings.lease_ttl_s,
            self.state.clock,
            max_reassignments=settings.max_reassignments,
        )
        self.state.notify_tasks = self.dispatcher.notify
        self.state.handoff = self.dispatcher.submit
        # Tasks another replica made claimable (PostgreSQL NOTIFY); 0.5 s poll otherwise.
        self._store.add_task_listener(self.dispatcher.notify)
        self._grpc: grpc.aio.Server | None = None
        self._health = HealthServicer()
        self._http: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.addresses: BoundAddresses | None = None
        self._stopped = False

    async def start(self) -> BoundAddresses:
        await self._store.open()
        self.state.started_at = self.state.clock()
        extended = await self._store.extend_running_leases(
            self.settings.lease_ttl_s, self.state.started_at
        )
        if extended:
            log.info("running_leases_extended", count=extended)
        grpc_addr = await self._start_grpc()
        http_addr = await self._start_http()
        self._tasks.append(asyncio.create_task(self._reap_forever(), name="lease-reaper"))
        self._tasks.append(asyncio.create_task(self._prune_forever(), name="retention"))
        self.state.ready = True
        await self._health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.addresses = BoundAddresses(grpc_addr, http_addr)
        log.info("server_started", grpc=grpc_addr, http=http_addr, db=self.settings.db_url)
        return self.addresses

    async def _start_grpc(self) -> str:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 3_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
                ("grpc.http2.max_pings_without_data", 0),
            ]
        )
        pb_grpc.add_WorkerServiceServicer_to_server(
            WorkerService(self.state, self.dispatcher), server
        )
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
        host, port = split_hostport(self.settings.http_listen, "--http-listen")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: without it a keep-alive response (headers and
        # body written separately) waits ~40 ms for the client's delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            reason = exc.strerror or str(exc)
            raise OSError(
                f"cannot listen for HTTP on {self.settings.http_listen}: {reason}"
            ) from exc
        sock.set_inheritable(True)
        bound = sock.getsockname()[1]
        config = uvicorn.Config(
            create_http_app(self.state, self.state.metrics.registry),
            http=_http_protocol(),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._http = uvicorn.Server(config)
        # The process owns SIGTERM/SIGINT (graceful drain): uvicorn must not take them.
        self._http.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self._tasks.append(asyncio.create_task(self._serve_http(sock), name="http"))
        # uvicorn offers no "started" event to await; poll its flag, bounded.
        async with asyncio.timeout(HTTP_START_TIMEOUT_S):
            while not self._http.started:
                if self._tasks[-1].done():
                    self._tasks[-1].result()
                    raise OSError(f"HTTP server on {self.settings.http_listen} stopped at start")
                await asyncio.sleep(0.01)
        return f"{host}:{bound}"

    async def _serve_http(self, sock: socket.socket) -> None:
        assert self._http is not None
        await self._http.serve(sockets=[sock])

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
        settings, now = self.settings, self.state.clock()
        # Sessions count as heard from at start (extend_running_leases), so a worker
        # is silent only after 3 intervals without reaching the restarted server.
        lost = await self._store.reap_lost_workers(
            now - settings.worker_dead_after_s,
            settings.retry_backoff,
            now,
            max_reassignments=settings.max_reassignments,
        )
        if lost.worker_ids:
            dead = set(lost.worker_ids)
            self.state.forget_workers(dead)
            self.dispatcher.drop_workers(dead)
            for worker_id in dead:
                self.state.connected_workers.pop(worker_id, None)
            self.state.metrics.workers_lost.inc(len(dead))
            log.warning("workers_lost", worker_ids=sorted(dead), tasks=len(lost.tasks))
        # Running tasks may have finished while the server was down: like the leases
        # extended at start, their deadlines get one lease TTL for the report to arrive.
        restarting = now < self.state.started_at + settings.lease_ttl_s
        expired = await self._store.requeue_expired(
            settings.retry_backoff,
            now,
            max_reassignments=settings.max_reassignments,
            deadline_grace_s=math.inf if restarting else settings.deadline_grace_s,
        )
        if expired:
            self.state.metrics.leases_expired.inc(len(expired))
            for task in expired:
                log.warning(
                    "lease_expired",
                    task_id=task.id,
                    attempt=task.attempt,
                    status=str(task.status),
                    error=task.error,
                )
        if lost.tasks or expired:
            ended = [*lost.tasks, *expired]
            self.state.watch.finished(t.id for t in ended if t.status.terminal)
            self.dispatcher.tasks_requeued(ended)

    async def _prune_forever(self) -> None:
        """Delete finished tasks older than `retention_s`, in short transactions."""
        while True:
            try:
                await self.prune_once()
            except StoreError as exc:
                log.error("retention_store_error", error=str(exc))
            await asyncio.sleep(self.settings.prune_interval_s)

    async def prune_once(self) -> int:
        settings = self.settings
        cutoff = self.state.clock() - settings.retention_s
        total = 0
        while True:
            deleted = await self._store.prune_finished(cutoff, settings.prune_batch)
            total += deleted
            if deleted < settings.prune_batch:
                break
            await asyncio.sleep(0)  # let other writers in between batches
        if total:
            self.state.metrics.tasks_pruned.inc(total)
            log.info("finished_tasks_pruned", count=total, older_than_s=settings.retention_s)
        return total

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
        if self._http is not None:
            self._http.should_exit = True
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
