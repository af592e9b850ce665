"""The figures behind the operator's pages: queue waits per minute, task timings and
the payload summary (issue 24)."""

from __future__ import annotations

from englog.domain.tasks import Task, TaskAttempt, TaskStatus
from englog.server.metrics import RecentWaits, ServerMetrics
from englog.web import task_view


def test_recent_waits_bucket_by_minute_and_forget_past_the_hour() -> None:
    waits = RecentWaits()
    waits.record(1000.0, 9.0)  # more than an hour before `now`: dropped
    for at, wait in ((5000.0, 1.0), (5010.0, 3.0), (5020.0, 2.0), (7000.0, 0.5)):
        waits.record(at, wait)
    minutes = waits.per_minute(now=7001.0)
    assert len(minutes) == 60
    busy = [m for m in minutes if m.count]
    assert [(m.count, m.median_s, m.max_s) for m in busy] == [(3, 2.0, 3.0), (1, 0.5, 0.5)]
    assert minutes[-1].count == 1


def test_first_lease_feeds_the_histogram_by_type() -> None:
    metrics = ServerMetrics()
    metrics.first_leased("noop", created_at=100.0, now=100.25)
    value = metrics.registry.get_sample_value(
        "englog_task_queue_wait_seconds_bucket", {"type": "noop", "le": "0.25"}
    )
    assert value == 1.0
    assert metrics.recent_waits.per_minute(100.3)[-1].max_s == 0.25


def _task(**kw: object) -> Task:
    base: dict[str, object] = {"id": "t", "type": "weekly_report", "payload": {},
                               "status": TaskStatus.COMPLETED, "created_at": 100.0}  # fmt: skip
    return Task(**{**base, **kw})  # type: ignore[arg-type]


def test_timing_counts_wait_to_the_first_attempt_and_every_attempts_run() -> None:
    attempts = [
        TaskAttempt("t", 1, "w", started_at=102.0, ended_at=105.0),
        TaskAttempt("t", 2, "w", started_at=110.0, ended_at=111.5),
    ]
    timing = task_view.timing(_task(started_at=110.0), attempts, now=200.0)
    assert (timing.waited_s, timing.ran_s, timing.still_waiting) == (2.0, 4.5, False)
    pending = task_view.timing(_task(status=TaskStatus.PENDING), [], now=130.0)
    assert (pending.waited_s, pending.ran_s, pending.still_waiting) == (30.0, None, True)


def test_seconds_read_at_a_glance() -> None:
    assert [task_view.seconds(v) for v in (0.0004, 0.005, 0.1234, 42.4, 185, 7800, None)] == [
        "0.4 ms", "5 ms", "0.12 s", "42 s", "3 min 5 s", "2 h 10 min", "-",
    ]  # fmt: skip


def test_payload_summary_counts_entries_instead_of_showing_them() -> None:
    entries = [
        {"title": "secret", "start_time": "2026-11-16T09:00:00+00:00",
         "end_time": "2026-11-16T10:30:00+00:00", "project": "atlas"},
        {"title": "other", "start_time": "2026-11-18T09:00:00+00:00",
         "end_time": "2026-11-18T09:30:00+00:00", "project": "zeus"},
    ]  # fmt: skip
    lines = dict(task_view.payload_summary(_task(payload={"entries": entries, "week": "W47"})))
    assert lines["entries"] == "2 entries from 2026-11-16 to 2026-11-18, 2.0 h in all, 2 project(s)"
    assert lines["week"] == "W47"
    assert "secret" not in str(lines)


def test_long_values_are_cut_with_their_size_said() -> None:
    text = task_view.shown({"blob": "x" * 10_000})
    assert len(text) < 4100 and "more characters" in text
    assert task_view.result_view(_task(result={"summary": "s", "facts": {"a": 1}})) == (
        '{\n  "summary": "s"\n}'
    )
