"""The README's "Resilience" numbers and the small promises no chaos test pins down.

The chaos and integration tests prove the outcomes (nothing lost, nothing doubled); these
check the figures the README quotes (keepalive, reconnect cap, retry and breaker
policies, drain timeout, linger, heartbeats, reassignment cap) are the ones a worker or
server started from the CLI really runs with, and two behaviours that the README promises
and nothing else asserts: a heartbeat holds the leases of finished but unacknowledged
results, and every log line about a task names the task, its attempt and the worker."""

from __future__ import annotations

import asyncio
import json

import pytest
import structlog
from structlog.testing import capture_logs

from englog.cli.server_cmd import ServerOptions
from englog.cli.worker_cmd import WorkerOptions
from englog.domain.tasks import ResultOutcome
from englog.resilience.backoff import Backoff
from englog.server.settings import ServerSettings
from englog.tasks.base import HandlerRegistry, TaskContext
from englog.worker import Worker
from englog.worker.assignment import Assignment
from englog.worker.connection import channel_options
from englog.worker.handlers import load_handlers
from englog.worker.runner import FinishedResult, Runner
from englog.worker.session import Ack, ResultsRejected
from englog.worker.settings import WorkerSettings


def idle_worker(worker_id: str) -> Worker:
    """A worker that is never run: its parts are called directly."""
    settings = WorkerSettings(server="127.0.0.1:9", token="t", worker_id=worker_id, insecure=True)
    return Worker(settings, load_handlers(None))


def cli_worker_settings() -> WorkerSettings:
    """What `englog worker` runs with when given no flags."""
    return WorkerOptions().settings("w-defaults")


def test_connection_keeps_alive_and_reconnects_within_a_second_for_ever() -> None:
    settings = cli_worker_settings()
    options = dict(channel_options(settings.connect_backoff))
    assert (options["grpc.keepalive_time_ms"], options["grpc.keepalive_timeout_ms"]) == (
        10_000,
        3_000,
    )
    assert options["grpc.max_reconnect_backoff_ms"] == 1_000
    assert settings.health_check_interval_s == 30.0
    backoff = Backoff(settings.connect_backoff)
    delays = [backoff.next_delay() for _ in range(10_000)]  # an outage of hours
    assert max(delays) <= 1.0 and min(delays) >= 0.0
    assert max(delays[-1000:]) > 0.5  # fully jittered over [0, 1 s], not stuck low


def test_retry_policy_is_the_documented_one() -> None:
    retry = cli_worker_settings().retry
    assert (
        retry.max_attempts,
        retry.initial_delay_s,
        retry.max_delay_s,
        retry.multiplier,
        retry.jitter,
    ) == (5, 0.1, 30.0, 2.0, True)


async def test_both_breakers_use_the_documented_thresholds() -> None:
    from englog.ai.ollama import OllamaBackend

    control_plane = cli_worker_settings().breaker
    llm = OllamaBackend("http://127.0.0.1:9", "m:1b")
    try:
        for policy in (control_plane, llm.breaker.policy):
            assert (
                policy.failure_threshold,
                policy.open_timeout_s,
                policy.success_threshold,
                policy.half_open_max_calls,
            ) == (5, 30.0, 3, 1)
    finally:
        await llm.aclose()


def test_drain_linger_and_heartbeat_figures() -> None:
    settings = cli_worker_settings()
    assert settings.drain_timeout_s == 30.0
    assert settings.outbox_linger_s == 0.005
    assert settings.give_up_after_s == 300.0
    assert ServerSettings().missed_heartbeats == 3
    assert ServerOptions().max_reassignments == 10 == ServerSettings().max_reassignments


async def test_heartbeats_hold_finished_but_unacknowledged_tasks() -> None:
    """A result the server has not acknowledged keeps its lease: the heartbeat names it
    (the server renews exactly the named tasks: test_grpc_protocol's heartbeat test)."""
    worker = idle_worker("w-held")
    finished = FinishedResult("t-done", 1, ResultOutcome.COMPLETED, b"{}", type="noop")
    worker.delivery.result_ready(finished)
    assert worker.pending_results == 1
    assert worker._beat().held_ids == ["t-done"]
    worker.delivery.forget([finished.key])
    assert worker._beat().held_ids == []


@pytest.mark.parametrize("how", ["in_a_batch", "alone"])
async def test_a_stale_result_is_dropped_by_the_worker_with_a_log_line(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fenced by the server (a newer attempt owns the task): the worker neither keeps
    reporting it nor stays silent about it. In a batch the ack says `stale`; a report of
    stale results alone is refused whole (FAILED_PRECONDITION, `ResultsRejected`)."""
    worker = idle_worker("w-stale")
    old = FinishedResult("t-old", 1, ResultOutcome.COMPLETED, b"{}", type="noop")
    worker.delivery.result_ready(old)

    async def report(batch: list[FinishedResult]) -> list[Ack]:
        if how == "alone":
            raise ResultsRejected("result of attempt 1 is stale")
        return [Ack(r.task_id, r.attempt, "stale") for r in batch]

    monkeypatch.setattr(worker.session, "report", report)
    with capture_logs() as logs:
        await worker.delivery._report([old])
    assert worker.pending_results == 0 and worker._beat().held_ids == []
    event = "stale_result_dropped" if how == "in_a_batch" else "results_rejected"
    [line] = [e for e in logs if e["event"] == event]
    assert line["worker_id"] == "w-stale" and line["log_level"] == "warning"
    if how == "in_a_batch":
        assert (line["task_id"], line["attempt"]) == ("t-old", 1)


async def test_every_log_line_about_a_task_names_it_its_attempt_and_the_worker() -> None:
    async def in_loop(ctx: TaskContext, payload: object) -> dict[str, bool]:
        structlog.get_logger("handler").info("async_handler_says")
        return {"ok": True}

    def in_thread(ctx: TaskContext, payload: object) -> dict[str, bool]:
        structlog.get_logger("handler").info("thread_handler_says")
        raise RuntimeError("crash")  # the runner's own line about it too

    registry = HandlerRegistry()
    registry.register("in_loop", in_loop)
    registry.register("in_thread", in_thread)
    results: list[FinishedResult] = []
    both_done = asyncio.Event()

    def finished(result: FinishedResult) -> None:
        results.append(result)
        if len(results) == 2:
            both_done.set()

    runner = Runner(registry, 2, "w-logs", finished, lambda _e: None)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        for task_id, type_ in (("t-a", "in_loop"), ("t-b", "in_thread")):
            runner.submit(Assignment(task_id, type_, 3, json.dumps({}).encode(), 5.0))
        await asyncio.wait_for(both_done.wait(), 10)
    runner.close()
    said = {e["event"]: e for e in logs}
    for event, task_id in (
        ("async_handler_says", "t-a"),
        ("thread_handler_says", "t-b"),
        ("handler_crashed", "t-b"),
    ):
        line = said[event]
        assert (line["task_id"], line["attempt"], line["worker_id"]) == (task_id, 3, "w-logs")
