"""Finished results on their way to the server: reported at once, written behind.

A result is `pending` (reportable, held, counted) until the server acknowledges it
(accepted, duplicate, stale or unknown); alongside, the outbox loop writes it:
`unsaved` (write not begun) -> `in outbox` (handed to a commit: maybe in the file)
-> `acked` (to delete). Progress, best effort, leaves here too."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from englog.domain.tasks import ResultOutcome
from englog.resilience.backoff import Backoff
from englog.worker.grpc_errors import grpc_code
from englog.worker.metrics import WorkerMetrics
from englog.worker.outbox import Key, Outbox
from englog.worker.runner import FinishedResult, ProgressEvent
from englog.worker.session import ReportRefused, ResultsRejected, Session, SessionLost
from englog.worker.settings import WorkerSettings

MAX_REPORT_BYTES = 8 * 1024 * 1024
# How long the delete of an acknowledged result may wait for a write to ride along with.
FORGET_DELAY_S = 0.1
_RETRIED = (grpc.aio.AioRpcError, ReportRefused, ConnectionError, TimeoutError)


class ResultDelivery:
    def __init__(
        self,
        settings: WorkerSettings,
        outbox: Outbox,
        leftovers: list[FinishedResult],
        session: Session,
        metrics: WorkerMetrics,
        active_count: Callable[[], int],
        log: Any,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.session = session
        self.metrics = metrics
        self._active_count = active_count
        self._log = log
        self.pending: dict[Key, FinishedResult] = {r.key: r for r in leftovers}
        # key -> (result, monotonic time it was handed over: its linger starts there)
        self._unsaved: dict[Key, tuple[FinishedResult, float]] = {}
        self._in_outbox: set[Key] = set(self.pending)
        self._acked: list[Key] = []
        self._acked_since = 0.0  # monotonic time the first of `_acked` was queued
        self.outbox_wakeup = asyncio.Event()
        self.outbox_idle = asyncio.Event()
        self.outbox_idle.set()
        self.results_waiting = asyncio.Event()
        self.all_reported = asyncio.Event()
        self._update_reported()
        self._progress_latest: dict[Key, tuple[float, str]] = {}
        self.draining = False

    # --- hand-over ------------------------------------------------------------------
    def result_ready(self, result: FinishedResult) -> None:
        """A finished result is reported at once and written to the outbox behind it
        (write-behind): the report never waits for the disk. It leaves memory only
        when the server acknowledged it. If the server is unreachable, the result is in
        the outbox within the linger (5 ms) and one commit, so it survives an outage of
        any length and a later SIGKILL, and is delivered from there on the next start.
        A result acknowledged before its write began is never written (no put, no
        delete), which the linger makes the usual case. The window: a worker killed
        in the few milliseconds between a task finishing and its outbox commit loses
        that result, and the task runs again after its lease expires (at-least-once,
        as after a crash during the task itself): nothing is lost."""
        key = result.key
        self.pending[key] = result
        self.results_waiting.set()  # the reporter first: its call need not wait for us
        self._write_behind(result)
        self.all_reported.clear()
        self._progress_latest.pop(key, None)
        m = self.metrics
        m.outbox_depth.set(len(self.pending))
        m.tasks_active.set(self._active_count())
        m.tasks_finished_of(result.type or "unknown", str(result.outcome)).inc()
        if result.finished_at >= result.started_at > 0:
            m.task_duration_of(result.type or "unknown").observe(
                result.finished_at - result.started_at
            )

    def progress(self, e: ProgressEvent) -> None:
        key = (e.task_id, e.attempt)
        if key not in self.pending:
            self._progress_latest[key] = (e.percent, e.message)

    # --- loops ----------------------------------------------------------------------
    async def outbox_loop(self) -> None:
        """Commits what is due: every unsaved result once the oldest has lingered, and
        the deletes of acknowledged ones. Keys enter `_in_outbox` before their commit
        starts, so an ack that arrives during it queues the delete for a later commit,
        never before the put. A result's own write is not retried if it fails: it is
        still reported from memory, and only a crash could lose it then.

        Each result first waits `outbox_linger_s` (5 ms) from its hand-over for its
        acknowledgement, as a Kafka producer lingers to fill a batch: a server that
        answers within it leaves nothing to write, so the usual result costs the worker
        no write at all. Once the oldest has lingered unacknowledged (the server slow
        or away), every result not yet acknowledged goes into that one commit: a commit
        costs the worker ~0.1 ms of CPU and a row ~5 us, so a slow server costs one
        commit per linger, not one per result (measured: docs/benchmarks.md, "Client
        pattern"). No result waits longer than its linger and one commit. Deletes wait
        for the next write, or `FORGET_DELAY_S` (nobody needs them sooner: a row left by
        a crash is reported again and answered "duplicate"); when draining nothing
        waits."""
        while True:
            await self.outbox_wakeup.wait()
            self.outbox_wakeup.clear()
            while self._unsaved or self._acked:
                left = self._next_write_in()
                if left > 0:
                    await asyncio.sleep(left)
                    continue  # acknowledgements may have taken some meanwhile
                saving, self._unsaved = self._unsaved, {}
                # A key saved again after its ack (the same attempt finished twice) must
                # not have its new row deleted: puts and removes of one commit run in
                # that order.
                forgetting = [k for k in self._acked if k not in saving]
                self._acked = []
                self._in_outbox.update(saving)
                try:
                    await self.outbox.commit([r for r, _ in saving.values()], forgetting)
                except Exception as exc:
                    # A full or broken disk must not stop reporting: the results are
                    # in memory and reported anyway; `_in_outbox` keeps their keys, as
                    # a failed commit may or may not have reached the file.
                    self._log.error("outbox_write_failed", error=str(exc), results=len(saving))
            self.outbox_idle.set()

    async def reporter_loop(self) -> None:
        backoff = Backoff(self.settings.reconnect)
        while True:
            await self.results_waiting.wait()
            self.results_waiting.clear()
            while self.pending:
                await self.session.ready.wait()
                try:
                    await self._report_some()
                    backoff.reset()
                except SessionLost:
                    # The session loop notices too (its heartbeat) and registers again;
                    # the next attempt uses whatever session is current then.
                    await asyncio.sleep(backoff.next_delay())
                except _RETRIED as exc:
                    code = exc.code if isinstance(exc, ReportRefused) else grpc_code(exc)
                    self._log.warning(
                        "report_failed",
                        code=code or type(exc).__name__,
                        pending=len(self.pending),
                    )
                    await asyncio.sleep(backoff.next_delay())
                except Exception:
                    # A bug of ours must not take the worker (and its running tasks) down.
                    self._log.exception("report_crashed", pending=len(self.pending))
                    await asyncio.sleep(backoff.next_delay())

    async def progress_loop(self) -> None:
        """Best effort: the latest value per task every interval; failures are dropped
        (the next value supersedes them, and heartbeats keep the leases)."""
        while True:
            await asyncio.sleep(self.settings.progress_interval_s)
            session = self.session.token
            if not self._progress_latest or session is None:
                continue
            latest, self._progress_latest = self._progress_latest, {}
            await self.session.send_progress(session, latest.items())

    # --- reporting ------------------------------------------------------------------
    def _next_batch(self) -> list[FinishedResult]:
        """Oldest results first, bounded in count and bytes (one gRPC message)."""
        batch: list[FinishedResult] = []
        size = 0
        for result in self.pending.values():
            size += len(result.result) + len(result.error) + 128
            if batch and (
                size > MAX_REPORT_BYTES or len(batch) >= self.settings.max_results_per_report
            ):
                break
            batch.append(result)
        return batch

    async def _report_some(self) -> None:
        batch = self._next_batch()
        try:
            await self._report(batch)
        except ReportRefused:
            if len(batch) == 1:
                raise
            # One bad result must not hold back the others: report them one by one.
            for result in batch:
                with contextlib.suppress(grpc.aio.AioRpcError, ReportRefused):
                    await self._report([result])

    async def _report(self, batch: list[FinishedResult]) -> None:
        try:
            acks = await self.session.report(batch)
        except ResultsRejected as exc:
            self._log.warning("results_rejected", detail=str(exc), count=len(batch))
            self.forget(r.key for r in batch)
            return
        except ReportRefused as exc:
            if len(batch) == 1:
                self._replace_rejected(batch[0], exc)
            raise
        for ack in acks:
            self.metrics.results_acked_of(ack.disposition).inc()
            if ack.disposition == "stale":
                # Fenced: a newer attempt owns the task now; ours must not overwrite it.
                self._log.warning(
                    "stale_result_dropped",
                    task_id=ack.task_id,
                    attempt=ack.attempt,
                    worker_id=self.settings.worker_id,
                )
        self.forget((a.task_id, a.attempt) for a in acks)

    def _replace_rejected(self, result: FinishedResult, exc: ReportRefused) -> None:
        """The server refuses this result as such: report a non-retriable failure that
        says why instead, so the task ends and the queue behind it moves."""
        self._log.error(
            "result_refused",
            task_id=result.task_id,
            attempt=result.attempt,
            code=exc.code,
            detail=exc.detail,
        )
        replacement = dataclasses.replace(
            result, outcome=ResultOutcome.FAILED, result=b"", error=str(exc), retriable=False
        )
        self.pending[result.key] = replacement
        self._write_behind(replacement)  # a restart must not report the refused one again

    # --- the outbox's bookkeeping ---------------------------------------------------
    def _next_write_in(self) -> float:
        """Seconds until the next commit is due (0: now): the end of the oldest unsaved
        result's linger, or `FORGET_DELAY_S` after the first waiting delete."""
        if self.draining:
            return 0.0
        due = self._acked_since + FORGET_DELAY_S if self._acked else float("inf")
        if self._unsaved:
            oldest = min(since for _, since in self._unsaved.values())
            due = min(due, oldest + self.settings.outbox_linger_s)
        return max(0.0, due - time.monotonic())

    def _write_behind(self, result: FinishedResult) -> None:
        """Hand `result` to the outbox loop (nothing to do without a durable outbox)."""
        if self.outbox.durable:
            self._unsaved[result.key] = (result, time.monotonic())
            self.outbox_idle.clear()
            self.outbox_wakeup.set()

    def forget(self, keys: Iterable[Key]) -> None:
        """Acknowledged results leave memory. One whose write has not begun leaves
        `_unsaved` too and is never written; one handed to the outbox is deleted by a
        later commit (the outbox loop starts it after the one that wrote it)."""
        deleting = False
        for key in keys:
            if self.pending.pop(key, None) is None:
                continue
            self._unsaved.pop(key, None)
            if key in self._in_outbox:
                self._in_outbox.discard(key)
                if not self._acked:
                    self._acked_since = time.monotonic()
                self._acked.append(key)
                deleting = True
        if deleting:
            self.outbox_idle.clear()
            self.outbox_wakeup.set()
        self.metrics.outbox_depth.set(len(self.pending))
        self._update_reported()

    def _update_reported(self) -> None:
        if self.pending:
            self.all_reported.clear()
        else:
            self.all_reported.set()

    async def flush(self, timeout_s: float) -> None:
        """Shutdown: wait for the acknowledgements, then for whatever is still
        unacknowledged to be on disk (each within `timeout_s`)."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.all_reported.wait()
        self.outbox_wakeup.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.outbox_idle.wait()
        self.session.reports.close()
