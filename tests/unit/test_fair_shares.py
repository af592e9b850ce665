"""Fair shares on both stores (issue 22): users take turns at the same priority and a
user at the per-user running cap gets no more, so one user's burst cannot hold every
slot while another user's task waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from englog.domain.fairness import fair_pick
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import NewTask
from englog.store import Store, open_store
from englog.store.records import Claim

T0 = 1_000_000.0


@pytest.fixture
async def capped(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url, policy=QueuePolicy(max_running_per_user=2))
    await s.open()
    yield s
    await s.close()


async def _users(store: Store) -> tuple[str, str]:
    a = await store.create_user("a", "ha", T0)
    b = await store.create_user("b", "hb", T0)
    return a.id, b.id


async def test_a_user_at_the_cap_leaves_the_slots_to_others(capped: Store) -> None:
    a, b = await _users(capped)
    await capped.submit_tasks([NewTask(type="sleep", payload={}, user_id=a) for _ in range(8)], T0)
    [late] = await capped.submit_tasks([NewTask(type="sleep", payload={}, user_id=b)], T0 + 1)
    got = await capped.claim_tasks(Claim("w1", {"sleep": 4}, 4), T0 + 2)
    owners = [t.user_id for t in got]
    assert sorted(owners, key=str) == sorted([a, a, b], key=str)
    assert late.id in {t.id for t in got}
    # A stays capped in a later claim; nothing else waits, so the slot stays free.
    assert await capped.claim_tasks(Claim("w1", {"sleep": 1}, 1), T0 + 3) == []
    assert await capped.unfinished_count(a) == 8


async def test_users_take_turns_at_one_priority(capped: Store) -> None:
    store = capped
    a, b = await _users(store)
    await store.submit_tasks([NewTask(type="noop", payload={}, user_id=a) for _ in range(3)], T0)
    await store.submit_tasks([NewTask(type="noop", payload={}, user_id=b)], T0 + 1)
    got = await store.claim_tasks(Claim("w1", {"noop": 2}, 2), T0 + 2)
    assert {t.user_id for t in got} == {a, b}
    # A higher priority still goes first.
    await store.submit_tasks([NewTask(type="noop", payload={}, user_id=a, priority=5)], T0 + 3)
    [top] = await store.claim_tasks(Claim("w1", {"noop": 1}, 1), T0 + 4)
    assert top.priority == 5


def test_fair_pick_respects_type_capacity_and_cap() -> None:
    rows = [
        {"seq": i, "type": t, "priority": 0, "created_at": float(i), "user_id": u}
        for i, (t, u) in enumerate(
            [("x", "a"), ("x", "a"), ("x", "a"), ("y", "b"), ("x", None), ("x", "b")]
        )
    ]
    assert fair_pick(rows, 10, {"x": 3, "y": 1}, {}, 1) == [0, 3, 4]
    assert fair_pick(rows, 2, {"x": 5, "y": 5}, {"a": 1}, 0) == [3, 4]
