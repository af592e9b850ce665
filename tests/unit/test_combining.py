"""Concurrent submissions stored together (englog.server.combining): each submitter gets
its own tasks or its own error, a submitter that leaves before its group goes stores
nothing, one that leaves while its group is stored does not strand the others; and
through the dispatcher, against real SQLite and PostgreSQL stores, concurrent
submissions share statements and are each stored once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from englog.domain.tasks import NewTask, Task
from englog.server.combining import MAX_GROUP_TASKS, SubmissionCombiner
from englog.server.dispatcher import Dispatcher
from englog.store import SQLiteStore, Store, open_store
from englog.store.base import IdempotencyKeyReused, InvalidData, StoreError
from englog.store.records import KeyedTask
from tests.support.pg import truncate_all
from tests.unit.conftest import run_outside_loop


class Recorder:
    """A submit function that holds each call at its own gate until that gate or all
    of them are opened (`open`), and records its items; refuses a group holding "bad"
    (as a store refuses one bad payload) or "reused", or everything once `down`."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.entered = asyncio.Event()
        self.opened = False
        self.down = False

    def open(self) -> None:
        """Let every call through, held or to come."""
        self.opened = True
        for gate in self.gates:
            gate.set()

    async def __call__(self, items: Sequence[str], now: float) -> list[str]:
        self.calls.append(list(items))
        gate = asyncio.Event()
        if self.opened:
            gate.set()
        self.gates.append(gate)
        self.entered.set()
        await gate.wait()
        if self.down:
            raise StoreError("database unreachable")
        if "bad" in items:
            raise InvalidData("a value of this request was refused")
        if "reused" in items:
            raise IdempotencyKeyReused("k", "t")
        return [f"stored:{item}" for item in items]


async def _started(combiner: SubmissionCombiner[str, str], items: list[str]) -> asyncio.Task:
    task = asyncio.create_task(combiner.submit(items, time.time()))
    await asyncio.sleep(0)  # queued (or leading) before the next one arrives
    return task


async def test_submissions_during_a_flight_go_together_next_each_answered_with_its_own() -> None:
    store = Recorder()
    combiner = SubmissionCombiner(store)
    first = await _started(combiner, ["a"])
    await store.entered.wait()
    others = [await _started(combiner, [f"b{i}", f"c{i}"]) for i in range(5)]
    store.open()
    assert await first == ["stored:a"]
    answers = await asyncio.gather(*others)
    assert answers == [[f"stored:b{i}", f"stored:c{i}"] for i in range(5)]
    assert store.calls == [["a"], [x for i in range(5) for x in (f"b{i}", f"c{i}")]]
    assert combiner.groups == 2


async def test_a_full_group_waiting_goes_beside_the_flight_up_to_the_limit() -> None:
    """Batches of MAX_GROUP_TASKS gain nothing from waiting: up to `flights` calls go
    at once; a small submission still waits for a flight to land, and so does a full
    group once `flights` are in the air."""
    store = Recorder()
    combiner = SubmissionCombiner(store, flights=2)
    full, more = ([f"{c}{i}" for i in range(MAX_GROUP_TASKS)] for c in "xy")
    first = await _started(combiner, ["a"])
    second = await _started(combiner, full)
    assert store.calls == [["a"], full]  # beside the first
    small = await _started(combiner, ["s"])
    third = await _started(combiner, more)
    await asyncio.sleep(0)
    assert len(store.calls) == 2  # two in flight: the limit
    store.open()
    assert await first == ["stored:a"] and await small == ["stored:s"]
    assert await second == [f"stored:{x}" for x in full]
    assert await third == [f"stored:{y}" for y in more]
    assert sorted(store.calls[2:]) == [["s"], more]  # a group never outgrows the limit


async def test_a_submission_alone_goes_at_once() -> None:
    store = Recorder()
    store.open()
    combiner = SubmissionCombiner(store)
    assert await combiner.submit(["a"], time.time()) == ["stored:a"]
    assert await combiner.submit(["b"], time.time()) == ["stored:b"]
    assert store.calls == [["a"], ["b"]]


@pytest.mark.parametrize("refusal", ["bad", "reused"])
async def test_only_the_submitter_whose_data_was_refused_hears_of_it(refusal: str) -> None:
    store = Recorder()
    combiner = SubmissionCombiner(store)
    first = await _started(combiner, ["a"])
    await store.entered.wait()
    good, bad, other = [await _started(combiner, items) for items in (["g"], [refusal], ["o"])]
    store.open()
    assert await first == ["stored:a"]
    assert await good == ["stored:g"] and await other == ["stored:o"]
    with pytest.raises(InvalidData if refusal == "bad" else IdempotencyKeyReused):
        await bad
    # The group, refused whole, then each of its submitters alone.
    assert store.calls == [["a"], ["g", refusal, "o"], ["g"], [refusal], ["o"]]


async def test_a_store_that_is_down_fails_every_submitter_of_the_group() -> None:
    store = Recorder()
    combiner = SubmissionCombiner(store)
    first = await _started(combiner, ["a"])
    await store.entered.wait()
    others = [await _started(combiner, [f"b{i}"]) for i in range(3)]
    store.down = True
    store.open()
    for waiting in (first, *others):
        with pytest.raises(StoreError, match="unreachable"):
            await waiting
    assert len(store.calls) == 2


async def test_a_submitter_gone_before_its_group_went_stores_nothing() -> None:
    store = Recorder()
    combiner = SubmissionCombiner(store)
    first = await _started(combiner, ["a"])
    await store.entered.wait()
    gone = await _started(combiner, ["gone"])
    stays = await _started(combiner, ["stays"])
    gone.cancel()
    await asyncio.sleep(0)
    store.open()
    assert await first == ["stored:a"] and await stays == ["stored:stays"]
    assert gone.cancelled()
    assert ["gone"] not in store.calls and all("gone" not in call for call in store.calls)


async def test_a_leader_gone_mid_flight_does_not_strand_its_group() -> None:
    store = Recorder()
    combiner = SubmissionCombiner(store)
    first = await _started(combiner, ["a"])
    await store.entered.wait()
    second, third = await _started(combiner, ["b"]), await _started(combiner, ["c"])
    store.entered.clear()
    store.gates[0].set()
    assert await first == ["stored:a"]
    await store.entered.wait()  # the group of b and c goes next, led by b
    assert store.calls[1] == ["b", "c"] and not store.gates[1].is_set()
    second.cancel()  # b's client leaves while its group is being stored
    with pytest.raises(asyncio.CancelledError):
        await second
    store.gates[1].set()
    assert await third == ["stored:c"]  # stored all the same, and answered


async def test_a_group_never_outgrows_a_batch() -> None:
    store = Recorder()
    combiner = SubmissionCombiner(store)
    first = await _started(combiner, ["a"])
    await store.entered.wait()
    size = MAX_GROUP_TASKS // 4
    many = [await _started(combiner, [f"{i}:{n}" for n in range(size)]) for i in range(6)]
    store.open()
    await first
    assert [len(a) for a in await asyncio.gather(*many)] == [size] * 6
    assert [len(call) for call in store.calls] == [1, 4 * size, 2 * size]


# --- through the dispatcher, on real stores ------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'd.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        run_outside_loop(truncate_all(url))
    s = open_store(url)
    await s.open()
    yield s
    await s.close()


async def test_concurrent_submissions_share_statements_and_are_each_stored_once(
    store: Store,
) -> None:
    d = Dispatcher(store, time.time)
    news = [NewTask("noop", {"n": n}, user_id=None) for n in range(64)]
    answers = await asyncio.gather(*(d.submit([task], time.time()) for task in news))
    assert [a.payload for [a] in answers] == [t.payload for t in news]
    assert len({a.id for [a] in answers}) == 64
    assert d.combiner.groups < 64  # they went together
    stored = await store.list_tasks(None, limit=100)
    assert sorted(t.payload["n"] for t in stored) == list(range(64))


async def test_concurrent_keyed_submissions_replay_and_refuse_each_their_own(
    store: Store,
) -> None:
    d = Dispatcher(store, time.time)
    first = await d.submit_keyed(
        [KeyedTask(NewTask("noop", {"n": 0}), "k0", "f0")], 60, time.time()
    )
    items = [KeyedTask(NewTask("noop", {"n": n}), f"k{n}", f"f{n}") for n in range(1, 20)]
    replay = KeyedTask(NewTask("noop", {"n": 0}), "k0", "f0")
    reused = KeyedTask(NewTask("noop", {"n": 99}), "k0", "another fingerprint")
    calls = [d.submit_keyed([i], 60, time.time()) for i in (*items, replay, reused)]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(answers[-1], IdempotencyKeyReused)
    [(replayed, created)] = answers[-2]
    assert (replayed.id, created) == (first[0][0].id, False)
    assert [(t.payload["n"], created) for [(t, created)] in answers[:-2]] == [
        (n, True) for n in range(1, 20)
    ]
    stored: list[Task] = await store.list_tasks(None, limit=100)
    assert sorted(t.payload["n"] for t in stored) == list(range(20))


async def test_a_payload_the_database_refuses_fails_only_its_own_submission(
    store: Store,
) -> None:
    """PostgreSQL refuses a NUL in JSON text; SQLite stores it. Either way, the others of
    the group are stored."""
    d = Dispatcher(store, time.time)
    news = [NewTask("noop", {"n": n, "text": "\x00" if n == 3 else "ok"}) for n in range(8)]
    answers = await asyncio.gather(
        *(d.submit([t], time.time()) for t in news), return_exceptions=True
    )
    failed = [n for n, a in enumerate(answers) if isinstance(a, BaseException)]
    assert failed == ([] if isinstance(store, SQLiteStore) else [3])
    assert all(isinstance(e, InvalidData) for e in answers if isinstance(e, BaseException))
    assert d.combiner.groups < 8  # the refused one went in a group with others
    stored = await store.list_tasks(None, limit=100)
    assert sorted(t.payload["n"] for t in stored) == [n for n in range(8) if n not in failed]
