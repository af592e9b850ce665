"""The worker: builds its parts, runs their loops in one task group, stops them.

Loops (cancelled together at the end of shutdown):
- connection: `ConnectionManager` keeps a usable channel, forever;
- session (`Session`): registers behind the control-plane breaker, then heartbeat +
  task stream until the session or the connection is lost, and starts over; it keeps
  going while draining, so finishing tasks keep their leases;
- reporter, outbox and progress (`ResultDelivery`): results reported at once and
  written behind; a result leaves memory only once the server acknowledged it;
- ai-watch (`AIWatch`): whether AI task types can be taken now;
- stats: a periodic statistics log line; health: the optional HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import psutil
import structlog

from englog.ai.backend import AIBackend
from englog.ai.builtin import BuiltinBackend
from englog.domain.tasks import ResultOutcome
from englog.resilience.breaker import BreakerTransition, CircuitBreaker
from englog.resilience.retry import RetryEvent
from englog.tasks.base import HandlerRegistry
from englog.worker.ai_watch import AIWatch
from englog.worker.connection import ConnectionManager
from englog.worker.delivery import ResultDelivery
from englog.worker.grpc_errors import control_plane_retrier, grpc_breaker_failure
from englog.worker.metrics import WorkerMetrics
from englog.worker.outbox import Outbox
from englog.worker.runner import CancelReason, FinishedResult, Runner
from englog.worker.session import Beat, Session, SessionHooks
from englog.worker.settings import WorkerSettings
from englog.worker.status import Readiness, WorkerStatus

log = structlog.get_logger("englog.worker")

# How long shutdown waits for the server to acknowledge the last results; what is
# still unacknowledged then stays in the outbox for the next start.
RESULT_FLUSH_TIMEOUT_S = 10.0


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        registry: HandlerRegistry,
        *,
        metrics: WorkerMetrics | None = None,
        backend: AIBackend | None = None,
    ) -> None:
        """`backend`: the AI backend this worker's handlers get (`ctx.ai`); it is closed
        at the end. None: the builtin one."""
        if not registry.names():
            raise ValueError("the worker has no task handlers")
        self._backend = backend
        self.ai: AIBackend = backend if backend is not None else BuiltinBackend()
        self.outbox = Outbox(settings.outbox)
        leftovers = self.outbox.open()  # OutboxError: the caller says why and exits
        self.outbox.remember_worker_id(settings.worker_id)
        self.settings = settings
        self.registry = registry
        self.metrics = metrics or WorkerMetrics()
        self._log = log.bind(worker_id=settings.worker_id)
        self._draining = False
        self.session = self._control_plane_session()
        self.delivery = ResultDelivery(
            settings,
            self.outbox,
            leftovers,
            self.session,
            self.metrics,
            lambda: self.runner.active_count,
            self._log,
        )
        self.runner = Runner(
            registry,
            settings.concurrency,
            settings.worker_id,
            self._result_ready,
            self.delivery.progress,
            ai=self.ai,
        )
        self.ai_watch = AIWatch(self.ai, settings, self.session.heartbeat_now.set, self._log)
        # AI tasks that failed, held while a probe tells whether the backend broke
        # under them (then they are given back, not reported).
        self._checking: dict[str, asyncio.Task[None]] = {}
        self._started = time.monotonic()
        self._process = psutil.Process(os.getpid())
        self.health_port: int | None = None
        self._ever_connected = False
        if leftovers:
            self._log.info("outbox_recovered", results=len(leftovers), outbox=settings.outbox)

    def _control_plane_session(self) -> Session:
        """The channel, its retry policy and breaker, and the session over them."""
        settings = self.settings
        self.conn = ConnectionManager(settings)
        self.retrier = control_plane_retrier(settings.retry, on_retry=self._on_retry)
        self.breaker = CircuitBreaker(
            "control_plane", settings.breaker, is_failure=grpc_breaker_failure
        )
        self._watch_control_plane()
        return Session(
            settings,
            self.conn,
            self.registry.names(),
            self.metrics,
            self.retrier,
            self.breaker,
            self._session_hooks(),
            self._log,
        )

    def _watch_control_plane(self) -> None:
        self.conn.add_listener(self._on_connection_state)
        self.breaker.add_listener(self._on_breaker_change)
        self.metrics.set_breaker_state("control_plane", "closed")
        self.metrics.set_connection_state("idle")

    def _session_hooks(self) -> SessionHooks:
        return SessionHooks(
            beat=self._beat,
            held_ids=self._held_ids,
            assign=lambda a: self.runner.submit(a),
            cancel=self._cancel,
            draining=lambda: self._draining,
            on_assigned=lambda: self.metrics.tasks_active.set(self.runner.active_count),
            on_registered=lambda: self.delivery.results_waiting.set(),
        )

    # --- running ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then drain, flush and close."""
        self._log.info(
            "worker_starting",
            server=self.settings.server,
            concurrency=self.settings.concurrency,
            outbox=self.settings.outbox or "memory (results do not survive this process)",
            types=self.registry.names(),
        )
        self.conn.open()  # bad TLS files fail here, before anything starts
        health_sock = None
        if self.settings.health_listen:
            from englog.worker.health import bind_health

            health_sock = bind_health(self.settings.health_listen)  # OSError: caller reports
            host, self.health_port = health_sock.getsockname()[:2]
            # The address bound (port 0 picks one), for whoever must find it.
            self._log.info("health_listening", address=f"{host}:{self.health_port}")
        try:
            async with asyncio.TaskGroup() as tg:
                loops = self._start_loops(tg, health_sock)
                await stop.wait()
                await self._shutdown(loops)
        finally:
            await self._close()

    def _start_loops(self, tg: asyncio.TaskGroup, health_sock: Any) -> list[asyncio.Task[None]]:
        d = self.delivery
        loops = [
            tg.create_task(self.conn.run(), name="connection"),
            tg.create_task(self.session.run(), name="session"),
            tg.create_task(d.outbox_loop(), name="outbox"),
            tg.create_task(d.reporter_loop(), name="reporter"),
            tg.create_task(d.progress_loop(), name="progress"),
            tg.create_task(self._stats_loop(), name="stats"),
            tg.create_task(self.ai_watch.run(), name="ai-watch"),
        ]
        if health_sock is not None:
            from englog.worker.health import serve_health

            serving = serve_health(self.status, self.metrics.registry, health_sock)
            loops.append(tg.create_task(serving, name="health"))
        return loops

    async def _shutdown(self, loops: list[asyncio.Task[None]]) -> None:
        """Stop taking tasks, let running ones finish within the drain timeout (the
        rest are cancelled and reported retriable), flush results, close."""
        self._draining = True
        self.delivery.draining = True
        self.session.stop_stream()
        self._log.info("draining", active=self.runner.active_count)
        await self.runner.drain(self.settings.drain_timeout_s)
        if self._checking:
            await asyncio.wait(list(self._checking.values()))
        await self.delivery.flush(RESULT_FLUSH_TIMEOUT_S)
        for loop in loops:
            loop.cancel()

    async def _close(self) -> None:
        self.runner.close()
        await self.conn.close()
        await self.outbox.close()
        if self._backend is not None:  # ours: close its HTTP connections
            aclose = getattr(self._backend, "aclose", None)
            if callable(aclose):
                with contextlib.suppress(Exception):
                    await aclose()
        self._log.info(
            "worker_stopped",
            unacknowledged_results=self.pending_results,
            kept_in_outbox=self.outbox.durable,
        )

    # --- what the session asks ----------------------------------------------------------
    def _cancel(self, task_id: str) -> None:
        if self.runner.cancel(task_id, CancelReason.SERVER):
            self._log.info("task_cancel_requested", task_id=task_id)

    def _held_ids(self) -> set[str]:
        """Tasks this worker still answers for: running, or finished but not yet
        acknowledged (their leases must hold until the server has the result)."""
        held = set(self.runner.active_ids)
        held.update(task_id for task_id, _ in self.delivery.pending)
        held.update(self._checking)
        return held

    # --- a backend that breaks under running tasks ----------------------------------
    def _result_ready(self, result: FinishedResult) -> None:
        if result.outcome is ResultOutcome.FAILED and self._needs_ai(result.type):
            self._checking[result.task_id] = asyncio.create_task(self._check_failed(result))
            return
        self.delivery.result_ready(result)

    def _needs_ai(self, task_type: str) -> bool:
        spec = self.registry.get(task_type)
        return spec is not None and "ai" in spec.requires

    async def _check_failed(self, result: FinishedResult) -> None:
        """An AI task failed: if the backend has just become unusable (its model
        removed, its server gone), the failure is not the task's. It is then given
        back: not reported and no longer held, so its lease lapses and the server
        requeues it as a reassignment, which spends none of its attempts; meanwhile
        this worker advertises no AI capacity, so it goes to a worker that can run it."""
        try:
            ok, why = await self.ai_watch.recheck()
            if ok:
                self.delivery.result_ready(result)
                return
            self._log.warning(
                "task_given_back", task_id=result.task_id, attempt=result.attempt, reason=why
            )
            self.metrics.tasks_finished_of(result.type or "unknown", "given_back").inc()
        finally:
            del self._checking[result.task_id]

    def _blocked(self) -> dict[str, str]:
        """Task types this worker cannot run now, and why (their capacity is zero)."""
        ok, why = self.ai_watch.usable
        if ok:
            return {}
        blocked = {}
        for name in self.registry.names():
            spec = self.registry.get(name)
            if spec is not None and "ai" in spec.requires:
                blocked[name] = f"AI unusable: {why}"
        return blocked

    def _capacity(self) -> dict[str, int]:
        """The per-type ceiling (the server counts what it has in flight against it);
        zero pauses a type whose dependency is unusable, or everything while draining."""
        if self._draining:
            return {name: 0 for name in self.registry.names()}
        blocked = self._blocked()
        return {
            name: 0 if name in blocked else self.settings.concurrency
            for name in self.registry.names()
        }

    def _dependencies(self) -> dict[str, str]:
        """What the server shows of this worker's dependencies (GET /v1/workers)."""
        ok, why = self.ai_watch.usable
        deps = {
            "control_plane": str(self.breaker.state),
            "ai": "usable" if ok else f"unusable: {why}",
        }
        if self.ai_watch.health is not None:
            deps["ai_health"] = str(self.ai_watch.health.get("status", "unknown"))
        if (ai_breaker := self._ai_breaker_state()) is not None:
            deps["ai_breaker"] = ai_breaker
        return deps

    def _beat(self) -> Beat:
        return Beat(
            draining=self._draining,
            active=self.runner.active_count,
            completed=self.runner.completed,
            failed=self.runner.failed,
            cpu_percent=self._process.cpu_percent(None),
            memory_bytes=self._process.memory_info().rss,
            uptime_s=time.monotonic() - self._started,
            capacity=self._capacity(),
            held_ids=sorted(self._held_ids()),
            dependencies=self._dependencies(),
        )

    # --- what others read ---------------------------------------------------------------
    @property
    def pending_results(self) -> int:
        """Finished results the server has not acknowledged yet (saved or not)."""
        return len(self.delivery.pending)

    @property
    def registered(self) -> asyncio.Event:
        return self.session.registered

    @property
    def stream_up(self) -> bool:
        return self.session.stream_up

    @property
    def registrations(self) -> int:
        return self.session.registrations

    @property
    def ai_health(self) -> dict[str, Any] | None:
        return self.ai_watch.health

    def ai_usable(self) -> tuple[bool, str]:
        """Whether AI task types can be taken now, and if not why (readiness)."""
        return self.ai_watch.usable

    def _not_ready(self) -> str | None:
        """Why no task type can be taken now, or None."""
        if self._draining:
            return "draining"
        if self.session.refusal is not None:
            return self.session.refusal
        if not self.conn.ready:
            return f"not connected to {self.settings.server} ({self.conn.state.name})"
        if self.session.token is None:
            return "not registered"
        if not self.session.stream_up:
            return "task stream not open"
        return None

    def readiness(self) -> Readiness:
        names = self.registry.names()
        why = self._not_ready()
        if why is not None:
            return Readiness(False, why, {name: why for name in names})
        blocked = self._blocked()
        types = {name: blocked.get(name, "") for name in names}
        if not blocked:
            return Readiness(True, "ready", types)
        reason = next(iter(blocked.values()))
        return Readiness(False, reason, types)

    def status(self) -> WorkerStatus:
        conn = self.conn.stats()
        breaker = self.breaker.stats()
        return WorkerStatus(
            worker_id=self.settings.worker_id,
            server=self.settings.server,
            connection=conn.state,
            connection_error=conn.last_error,
            connection_hint=conn.hint,
            reconnects=conn.reconnects,
            registered=self.session.registered.is_set(),
            stream_up=self.session.stream_up,
            breaker=str(breaker.state),
            breaker_failures=breaker.consecutive_failures,
            seconds_until_half_open=breaker.seconds_until_half_open,
            ai=self._ai_status(),
            outbox_durable=self.outbox.durable,
            unacknowledged=self.pending_results,
            stats=self.stats(),
            readiness=self.readiness(),
        )

    def _ai_status(self) -> dict[str, Any]:
        ok, why = self.ai_watch.usable
        ai: dict[str, Any] = {"backend": getattr(self.ai, "name", "?"), "usable": ok}
        if why:
            ai["reason"] = why
        if self.ai_watch.health is not None:
            ai["health"] = self.ai_watch.health
        if (ai_breaker := self._ai_breaker_state()) is not None:
            ai["breaker"] = ai_breaker
        return ai

    def _ai_breaker_state(self) -> str | None:
        """The AI client's breaker state; None for a backend without one (builtin)."""
        breaker = getattr(self.ai, "breaker", None)
        return None if breaker is None else str(breaker.state)

    def stats(self) -> dict[str, Any]:
        c = self.conn.stats()
        b = self.breaker.stats()
        return {
            "active": self.runner.active_count,
            "completed": self.runner.completed,
            "failed": self.runner.failed,
            "unacknowledged_results": self.pending_results,
            "connection": c.state,
            "reconnects": c.reconnects,
            "registrations": self.session.registrations,
            "stream_up": self.session.stream_up,
            "control_plane_breaker": str(b.state),
            "retries": {name: s.retries for name, s in self.retrier.stats().items()},
            "ai_usable": self.ai_watch.usable[0],
        }

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval_s)
            self._log.info("worker_stats", **self.stats())

    # --- hooks ----------------------------------------------------------------------------
    def _on_connection_state(self, state: str) -> None:
        self.metrics.set_connection_state(state)
        if state == "ready":
            if self._ever_connected:
                self.metrics.reconnects.inc()
            self._ever_connected = True

    def _on_breaker_change(self, e: BreakerTransition) -> None:
        self.metrics.set_breaker_state(e.name, str(e.new))
        self.metrics.breaker_transitions.labels(e.name, str(e.old), str(e.new)).inc()
        self._log.warning("breaker_state_changed", breaker=e.name, from_state=e.old, to_state=e.new)

    def _on_retry(self, e: RetryEvent) -> None:
        self.metrics.retries.labels(e.operation, e.code or type(e.error).__name__).inc()
