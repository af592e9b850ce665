"""The running timer and the weekly target in both stores: a timer swap is all or
nothing and fenced on the timer it read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from englog.domain.timer import RunningTimer
from englog.store.base import Store

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def timer(id: str, start: datetime, title: str = "work") -> RunningTimer:
    return RunningTimer(id=id, title=title, project="atlas", tags=["x"], start_time=start)


async def test_start_swap_and_stop(store: Store) -> None:
    user = await store.create_user("alice", "h1", 0.0)
    assert await store.get_timer(user.id) is None
    assert await store.swap_timer(user.id, None, timer("t1", T0), None, 1.0) == (True, None)
    got = await store.get_timer(user.id)
    assert got is not None and (got.id, got.title, got.tags, got.start_time) == (
        "t1", "work", ["x"], T0,
    )  # fmt: skip
    # Fenced: a swap that read no timer (or another one) changes nothing.
    assert await store.swap_timer(user.id, None, timer("t2", T0), None, 2.0) == (False, None)
    assert await store.swap_timer(user.id, "t0", None, None, 2.0) == (False, None)
    end = T0 + timedelta(minutes=45)
    done, logged = await store.swap_timer(user.id, "t1", None, got.finished(end), 3.0)
    assert done and logged is not None and logged.duration_minutes == 45
    assert await store.get_timer(user.id) is None
    [entry] = await store.get_entries(user.id, [logged.id])
    assert (entry.title, entry.project, entry.start_time, entry.end_time) == (
        "work", "atlas", T0, end,
    )  # fmt: skip


async def test_weekly_target_set_and_cleared(store: Store) -> None:
    user = await store.create_user("alice", "h1", 0.0)
    settings = await store.get_user_settings(user.id)
    assert settings is not None and settings.weekly_target_hours is None
    changed = await store.set_weekly_target(user.id, 32.5, 0.6)
    assert changed is not None and (changed.weekly_target_hours, changed.focus_target) == (
        32.5,
        0.6,
    )
    await store.set_user_settings(user.id, timezone="Asia/Tokyo")
    kept = await store.get_user_settings(user.id)
    assert kept is not None and (kept.zone_name, kept.weekly_target_hours) == ("Asia/Tokyo", 32.5)
    cleared = await store.set_weekly_target(user.id, None, None)
    assert cleared is not None and cleared.weekly_target_hours is None
    assert await store.set_weekly_target("nobody", 1.0, None) is None
