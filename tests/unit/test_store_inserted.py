"""Both stores make the tasks they insert from what they inserted instead of reading the
rows back (issue 26: a returned row and its conversion cost a fifth of a submission's
CPU): each must equal what a read of its row gives, column defaults, a lease and the
store's own JSON included."""

from __future__ import annotations

from dataclasses import replace

from englog.client._calls import new_key
from englog.domain.tasks import NewTask, Task, TaskStatus
from englog.store import Claim, Store
from englog.store.records import KeyedTask

T0 = 1_700_000_000.0
# Non-ASCII text, a tuple (stored as a list), a float written with an exponent, keys out
# of order, nesting: what JSON text and jsonb may give back otherwise than as sent.
ODD = NewTask(
    type="noop",
    payload={"n": (1, 2), "s": "é", "big": 1e16, "b": {"z": None, "a": [0.5]}, "a": True},
    user_id="u1",
    priority=7,
    max_attempts=5,
    timeout_s=12,
    metadata={"source": "cli"},
)


async def _same_as_read(store: Store, made: list[Task]) -> None:
    for task in made:
        assert task == await store.get_task(task.id), task.id


async def test_submitted_pending_tasks_are_what_a_read_gives_back(store: Store) -> None:
    pending = await store.submit_tasks([ODD, NewTask(type="noop", payload={})], T0)
    assert [t.status for t in pending] == [TaskStatus.PENDING] * 2
    await _same_as_read(store, pending)


async def test_tasks_leased_at_submission_are_what_a_read_gives_back(store: Store) -> None:
    stored, claimed = await store.submit_and_claim(
        [replace(ODD, type="other", user_id=None)], T0, Claim("w1", {"other": 4}, 4)
    )
    leased = [t for t in [*stored, *claimed] if t.status is TaskStatus.RUNNING]
    assert leased and all(t.worker_id == "w1" for t in leased)
    await _same_as_read(store, [*stored, *claimed])
    [(_, attempts)] = await store.get_task_details([leased[0].id])
    assert [(a.attempt, a.worker_id, a.started_at) for a in attempts] == [(1, "w1", T0)]


async def test_keyed_tasks_leased_or_not_are_what_a_read_gives_back(store: Store) -> None:
    other = [replace(ODD, type="other"), NewTask(type="other", payload={"x": [1, "y"]})]
    keyed = [KeyedTask(t, new_key(), "print") for t in other]  # none of its type waits
    answers, leased = await store.submit_keyed(keyed, 3600, T0 + 1, Claim("w1", {"other": 8}, 8))
    assert [t.status for t in leased] == [TaskStatus.RUNNING] * 2
    pending, _ = await store.submit_keyed([KeyedTask(ODD, new_key(), "p")], 3600, T0 + 2)
    await _same_as_read(store, [*leased, *(t for t, _ in answers), *(t for t, _ in pending)])
    [(_, attempts)] = await store.get_task_details([leased[0].id])
    assert [(a.attempt, a.worker_id, a.started_at) for a in attempts] == [(1, "w1", T0 + 1)]
