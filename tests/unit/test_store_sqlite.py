"""SQLiteStore specifics: WAL, the group-commit writer thread, reads beside the writer.
The `Store` contract itself is tested on both backends in test_store.py."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from englog.client._calls import new_key
from englog.domain.entries import EntryFields
from englog.domain.tasks import Disposition, NewTask, ReportedResult, ResultOutcome, TaskStatus
from englog.store import Claim, EntryQuery, SQLiteStore, StoreError
from englog.store.migrations import migration_files
from englog.store.records import KeyedTask
from englog.store.sqlite.schema import MIGRATION_FILE
from tests.support.procs import eventually

T0 = 1_700_000_000.0
TTL = 30.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "englog.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """Overrides the two-backend fixture of conftest.py: these tests are SQLite's own.
    Every write goes through the writer thread, which some tests hold on purpose."""
    s = SQLiteStore(db_path, quiet_s=None)
    await s.open()
    yield s
    await s.close()


async def reopen(store: SQLiteStore) -> SQLiteStore:
    await store.close()
    fresh = SQLiteStore(store.path)
    await fresh.open()
    return fresh


def entry(hour: int, **kw: Any) -> EntryFields:
    start = datetime(2025, 1, 6, hour, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "title": f"work at {hour}",
        "type": "development",
        "start_time": start,
        "end_time": start + timedelta(hours=1),
    }
    return EntryFields(**(fields | kw))


def new(**kw: Any) -> NewTask:
    return NewTask(type="noop", payload={"n": kw.pop("n", 0)}, **kw)


async def test_open_applies_migrations_once_and_reopen_is_idempotent(db_path: Path) -> None:
    for _ in range(2):
        s = SQLiteStore(db_path)
        await s.open()
        await s.close()
    with sqlite3.connect(db_path) as conn:
        versions = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions[0] == (1, "sqlite_0001_initial.sql")
    # Every packaged migration once, in order (numbers are reserved per branch, so a
    # branch may have gaps until the others land).
    assert sorted(versions) == [(v, name) for v, name, _ in migration_files(MIGRATION_FILE)]
    assert mode == "wal"


async def test_close_drains_writes_already_queued(db_path: Path) -> None:
    s = SQLiteStore(db_path)
    await s.open()
    pending = [asyncio.ensure_future(s.submit_tasks([new(n=i)], T0)) for i in range(20)]
    await asyncio.sleep(0)  # let every submit reach the writer queue (no wall-clock wait)
    await s.close()
    assert all(len(f.result()) == 1 for f in pending)
    s = SQLiteStore(db_path)
    await s.open()
    try:
        assert await s.pending_count(now=T0) == 20
    finally:
        await s.close()


async def test_group_commit_batches_concurrent_writes(store: SQLiteStore) -> None:
    commits, ops = store.commits, store.write_operations
    submitted = await asyncio.gather(*(store.submit_tasks([new(n=i)], T0) for i in range(200)))
    assert sum(len(batch) for batch in submitted) == 200
    assert store.write_operations - ops == 200
    assert store.commits - commits < 200

    commits = store.commits
    claims = await asyncio.gather(
        *(store.claim_tasks(Claim(f"w{i}", {"noop": 1}, 1), T0) for i in range(200))
    )
    assert store.commits - commits < 200
    claimed = [t.id for batch in claims for t in batch]
    assert len(claimed) == 200 and len(set(claimed)) == 200  # no task leased twice
    assert await store.pending_count(now=T0) == 0


@pytest.mark.parametrize("quiet_s", [0.0, None], ids=["inline on the loop", "writer thread"])
async def test_an_operation_failing_alone_leaves_nothing_behind(
    db_path: Path, quiet_s: float | None
) -> None:
    """A write alone in its transaction runs without a savepoint: its failure rolls the
    whole transaction back, rows it wrote before failing included."""
    store = SQLiteStore(db_path, quiet_s=quiet_s)  # 0.0: every write inline; None: none
    await store.open()
    try:
        user = await store.create_user("ada", "taken", T0)
        commits = store.commits
        half_bad = [entry(12), entry(13).model_copy(update={"title": None})]  # row 2 fails
        with pytest.raises(StoreError):
            await store.add_entries(user.id, half_bad, T0)
        assert await store.list_entries(user.id, EntryQuery()) == []
        assert store.commits == commits  # rolled back, not committed
        [saved] = await store.add_entries(user.id, [entry(9)], T0)  # the connection is fine
        assert await store.list_entries(user.id, EntryQuery()) == [saved]
    finally:
        await store.close()


async def test_one_failing_operation_does_not_fail_its_batch(store: SQLiteStore) -> None:
    user = await store.create_user("ada", "taken", T0)
    [saved] = await store.add_entries(user.id, [entry(9)], T0)
    gate, started = threading.Event(), threading.Event()

    def hold_the_writer(_conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(10)

    blocker = asyncio.ensure_future(store._write(hold_the_writer))
    await asyncio.to_thread(started.wait, 10)
    commits = store.commits
    half_bad = [entry(12), entry(13).model_copy(update={"title": None})]  # row 2 fails
    batch = asyncio.gather(
        store.submit_tasks([new(n=1)], T0),
        store.create_user("eve", "taken", T0),  # unique violation
        store.update_entry(user.id, saved.id, {"end_time": saved.start_time}, T0),
        store.add_entries(user.id, half_bad, T0),  # row 1 was written before the failure
        store.submit_tasks([new(n=2)], T0),
        return_exceptions=True,
    )
    await asyncio.sleep(0)  # one loop turn: every operation reaches the writer queue
    assert store._writer is not None and store._writer._queue.qsize() == 5
    gate.set()
    first, dup, invalid, partial, second = await batch
    await blocker
    assert store.commits - commits == 2  # the blocker's batch, then all five together
    assert isinstance(dup, StoreError) and isinstance(dup.__cause__, sqlite3.IntegrityError)
    assert isinstance(invalid, ValueError)
    assert isinstance(partial, StoreError)
    assert not isinstance(first, BaseException) and not isinstance(second, BaseException)
    assert await store.list_entries(user.id, EntryQuery()) == [saved]  # savepoint undid row 1
    assert await store.pending_count(now=T0) == 2
    assert await store.get_entry(user.id, saved.id) == saved
    store = await reopen(store)
    try:
        assert await store.pending_count(now=T0) == 2
        assert await store.user_by_token_hash("taken") == user
    finally:
        await store.close()


async def test_reads_do_not_wait_for_the_writer(store: SQLiteStore) -> None:
    [task] = await store.submit_tasks([new()], T0)
    gate, started = threading.Event(), threading.Event()

    def hold_the_writer(_conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(10)

    blocker = asyncio.ensure_future(store._write(hold_the_writer))
    try:
        await asyncio.to_thread(started.wait, 10)
        assert await store.get_task(task.id) == task  # answered while a write is open
    finally:
        gate.set()
        await blocker


async def test_dispatch_path_queries_never_walk_the_pending_queue(
    store: SQLiteStore, db_path: Path
) -> None:
    """Claims, results and lease renewals must cost the same with 10 or 100,000 tasks
    queued: every statement they run on `tasks` is planned as a key lookup or an index
    range the LIMIT bounds, never a search on `status = 'pending'` alone (the claim's
    UPDATE once was: 10 ms per claim at 100,000 pending)."""
    await store.submit_tasks([new(n=i) for i in range(50)], T0)
    statements: list[str] = []
    await store._write(lambda conn: conn.set_trace_callback(statements.append))
    try:
        claimed = await store.claim_tasks(Claim("w1", {"noop": 4}, 4), T0)
        await store.renew_leases("w1", T0 + 1, [t.id for t in claimed])
        done = [ReportedResult(t.id, t.attempt, "w1", ResultOutcome.COMPLETED) for t in claimed]
        await store.report_results(done, T0 + 2)
    finally:
        await store._write(lambda conn: conn.set_trace_callback(None))
    on_tasks = [
        sql
        for sql in statements
        if " tasks " in sql and sql.startswith(("SELECT", "UPDATE", "WITH"))
    ]
    assert len(on_tasks) >= 4
    with sqlite3.connect(db_path) as conn:
        for sql in on_tasks:
            plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "SCAN tasks" not in plan and "(status=?)" not in plan, (sql, plan)


@pytest.fixture
async def quiet_store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """A store whose writes commit on the event loop after 50 ms without one."""
    s = SQLiteStore(db_path, quiet_s=0.05)
    await s.open()
    yield s
    await s.close()


class ThreadRecorder:
    """A write that records which thread ran it (the loop's, or the writer's)."""

    def __init__(self) -> None:
        self.ran_on: list[int] = []

    def __call__(self, _conn: sqlite3.Connection) -> int:
        self.ran_on.append(threading.get_ident())
        return len(self.ran_on)


async def test_a_write_after_a_quiet_spell_commits_on_the_event_loop(
    quiet_store: SQLiteStore,
) -> None:
    """No hop to the writer thread when there is nobody to share the commit with; a
    write right behind another still goes to the thread (group commit under load)."""
    store, record = quiet_store, ThreadRecorder()
    assert store._writer is not None
    await asyncio.sleep(0.06)  # the quiet spell itself
    quiet = store._writer.submit(record)
    assert quiet.done() and quiet.result() == 1  # committed before submit returned
    close_behind = store._writer.submit(record)
    assert not close_behind.done()
    assert await close_behind == 2
    assert record.ran_on[0] == threading.get_ident() != record.ran_on[1]
    commits = store.commits
    await asyncio.sleep(0.06)
    failing = store._writer.submit(lambda conn: conn.execute("INSERT INTO nope VALUES (1)"))
    with pytest.raises(sqlite3.OperationalError):
        await failing
    await asyncio.sleep(0.06)
    [task] = await store.submit_tasks([new()], T0)  # the connection is fine afterwards
    # The failed one alone in its transaction was rolled back (no commit); this one.
    assert store.commits == commits + 1
    assert await store.get_task(task.id) == task
    reopened = await reopen(store)
    try:
        assert await reopened.get_task(task.id) == task  # durable, as any commit
    finally:
        await reopened.close()


async def test_a_write_right_behind_a_slow_inline_commit_goes_to_the_thread(
    quiet_store: SQLiteStore,
) -> None:
    """Quiet counts from the end of an inline commit: one slower than `quiet_s` (a
    loaded disk) must not make the writes queued behind it inline too, one commit each
    with the loop stopped (CI saw a burst of eight stored in eight commits)."""
    store, record = quiet_store, ThreadRecorder()
    assert store._writer is not None

    def slow(conn: sqlite3.Connection) -> int:
        time.sleep(0.08)  # the commit a loaded disk makes slow, longer than quiet_s
        return record(conn)

    await asyncio.sleep(0.06)  # the quiet spell itself
    first = store._writer.submit(slow)
    assert first.done()  # inline: the store was quiet
    behind = store._writer.submit(record)
    assert not behind.done()
    assert await behind == 2
    assert record.ran_on[0] == threading.get_ident() != record.ran_on[1]


async def test_the_writer_thread_checkpoints_the_wal(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's automatic checkpoint is off (it would run inside a commit, maybe one on
    the event loop); the writer thread copies the WAL back every CHECKPOINT_EVERY."""
    import englog.store.sqlite.writer as sqlite_store

    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 5)
    ran_on: list[int] = []
    real = sqlite_store.GroupCommitWriter._checkpoint

    def recording(self: Any, conn: sqlite3.Connection) -> None:
        ran_on.append(threading.get_ident())
        real(self, conn)

    monkeypatch.setattr(sqlite_store.GroupCommitWriter, "_checkpoint", recording)
    store = SQLiteStore(db_path, quiet_s=0.0)  # every write inline: the thread is woken
    await store.open()
    try:
        auto = await store._write(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        assert auto == 0
        for i in range(12):
            await store.submit_tasks([new(n=i)], T0)
        await eventually(lambda: len(ran_on) >= 2, 5, 0.01, what="two checkpoints")
        assert threading.get_ident() not in ran_on  # never on the event loop
    finally:
        await store.close()


async def test_a_keyed_batch_and_its_results_write_few_pages_per_task(db_path: Path) -> None:
    """The client pattern's store work (keyed batches of 8 leased at submission, then
    their results) writes about 5 WAL frames (1 KiB pages) per task: its rows land at
    the end of every index (time-ordered task ids and client keys), and the finished
    task leaves the running-only worker index instead of moving in it. Random ids and
    whole-table lease and worker indexes wrote 8.4 (issue 26)."""
    store = SQLiteStore(db_path)
    await store.open()
    try:
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        claim = Claim("w1", {"noop": 100}, 100)
        batches = 90  # 180 commits: under the writer's checkpoint interval (200)
        for b in range(batches):
            keyed = [KeyedTask(new(n=b), new_key(), "print") for _ in range(8)]
            _, leased = await store.submit_keyed(keyed, 3600, T0 + b, claim)
            assert len(leased) == 8
            done = [ReportedResult(t.id, 1, "w1", ResultOutcome.COMPLETED) for t in leased]
            await store.report_results(done, T0 + b)
        with sqlite3.connect(db_path) as conn:
            busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        await store.close()
    assert busy == 0
    assert frames / (batches * 8) < 6.5


async def test_an_accepted_completion_is_one_statement_on_tasks(store: SQLiteStore) -> None:
    """A completion is judged by its own fenced UPDATE, with no read of the task before
    it; a refused one falls back to the read that says why (issue 26)."""
    await store.submit_tasks([new(n=i) for i in range(2)], T0)
    first, second = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0)
    statements: list[str] = []
    await store._write(lambda conn: conn.set_trace_callback(statements.append))
    try:
        done = ReportedResult(first.id, first.attempt, "w1", ResultOutcome.COMPLETED, {"a": 1})
        [accepted] = await store.report_results([done], T0 + 1)
        on_tasks = [sql for sql in statements if " tasks " in sql]
        statements.clear()
        stale = ReportedResult(second.id, second.attempt, "w2", ResultOutcome.COMPLETED)
        [refused] = await store.report_results([stale], T0 + 1)
        refusing = [sql for sql in statements if " tasks " in sql]
    finally:
        await store._write(lambda conn: conn.set_trace_callback(None))
    assert accepted.disposition is Disposition.ACCEPTED and accepted.status is TaskStatus.COMPLETED
    assert len(on_tasks) == 1 and "UPDATE tasks" in on_tasks[0], on_tasks
    assert refused.disposition is Disposition.STALE
    assert len(refusing) == 2 and "UPDATE tasks" in refusing[0], refusing
    assert refusing[1].startswith("SELECT"), refusing
    detail = await store.get_task_detail(first.id)
    assert detail is not None
    task, attempts = detail
    assert (task.status, task.result, task.progress) == (TaskStatus.COMPLETED, {"a": 1}, 100)
    assert attempts[0].outcome is not None and attempts[0].ended_at == T0 + 1


async def test_a_report_of_thousands_of_completions_is_written_in_chunks(
    store: SQLiteStore,
) -> None:
    """A report may hold more completions than one statement takes values (32,766 by
    SQLite's default; a build may allow more, so the test sets it): they are written
    IN_CHUNK at a time, every one accepted."""
    limit = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
    await store._write(lambda conn: conn.setlimit(limit, 32_766))
    n = 7_000  # one statement of them would bind 8,192 padded rows of 5 values
    tasks = await store.submit_tasks([new(n=i) for i in range(n)], T0)
    await store.claim_tasks(Claim("w1", {"noop": n}, n), T0)
    report = [ReportedResult(t.id, t.attempt, "w1", ResultOutcome.COMPLETED) for t in tasks]
    decisions = await store.report_results(report, T0 + 1)
    assert {d.disposition for d in decisions} == {Disposition.ACCEPTED}
    assert len(decisions) == n
    last = await store.get_task(tasks[-1].id)
    assert last is not None and last.status is TaskStatus.COMPLETED


async def test_a_reports_completions_are_one_statement_and_judged_each(
    store: SQLiteStore,
) -> None:
    """Completions of distinct tasks nobody waits on are written in one statement
    (issue 26); each is still judged on its own: a stale one among them is refused with
    the read that says why, the others' attempts close, and the results of a task named
    twice, a failure and a watched task are judged one by one, in the report's order."""
    tasks = await store.submit_tasks([new(n=i) for i in range(6)], T0)
    await store.claim_tasks(Claim("w1", {"noop": 6}, 6), T0)
    ok = [
        ReportedResult(t.id, t.attempt, "w1", ResultOutcome.COMPLETED, {"n": i})
        for i, t in enumerate(tasks)
    ]
    stale = ReportedResult(tasks[3].id, tasks[3].attempt, "w2", ResultOutcome.COMPLETED)
    failed = ReportedResult(tasks[4].id, tasks[4].attempt, "w1", ResultOutcome.FAILED, error="no")
    report = [ok[0], ok[1], ok[2], stale, failed, ok[5], ok[0]]
    statements: list[str] = []
    await store._write(lambda conn: conn.set_trace_callback(statements.append))
    try:
        decisions = await store.report_results(report, T0 + 1, watched={tasks[5].id})
    finally:
        await store._write(lambda conn: conn.set_trace_callback(None))
    assert [d.disposition for d in decisions] == [
        Disposition.ACCEPTED,
        Disposition.ACCEPTED,
        Disposition.ACCEPTED,
        Disposition.STALE,
        Disposition.ACCEPTED,
        Disposition.ACCEPTED,
        Disposition.DUPLICATE,
    ]
    assert decisions[4].status is TaskStatus.PENDING  # a retriable failure: tried again
    assert decisions[5].final is not None  # watched: its final state comes back
    many = [sql for sql in statements if sql.startswith("WITH v(")]
    assert len(many) == 1 and all(t.id in many[0] for t in tasks[1:4]), many
    for i in (1, 2):
        detail = await store.get_task_detail(tasks[i].id)
        assert detail is not None
        task, attempts = detail
        assert (task.status, task.result, task.completed_at) == (
            TaskStatus.COMPLETED,
            {"n": i},
            T0 + 1,
        )
        assert [(a.outcome, a.ended_at) for a in attempts] == [(ResultOutcome.COMPLETED, T0 + 1)]
    running = await store.get_task(tasks[3].id)
    assert running is not None and running.status is TaskStatus.RUNNING
