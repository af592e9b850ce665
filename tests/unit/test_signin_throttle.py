"""Sign-in throttling: growing delays after a few free failures, a ceiling, and a key
forgotten after a quiet hour (never a permanent lockout), on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from englog.server.signin_throttle import (
    FORGET_AFTER_S,
    MAX_DELAY_S,
    delay_after,
    keys_for,
    wait_before,
)
from englog.store.sqlite import SQLiteStore


def test_delays_grow_then_stop_growing() -> None:
    assert [delay_after(n) for n in range(6)] == [0, 0, 0, 1, 2, 4]
    assert delay_after(100) == MAX_DELAY_S


async def test_failures_make_later_attempts_wait_and_are_forgotten(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    try:
        keys = keys_for("acct", "10.0.0.1")
        for _ in range(5):
            await store.record_signin_failure(keys, 1000.0, 1000.0 - FORGET_AFTER_S)
        assert await wait_before(store, keys, 1000.0) == 4.0
        assert await wait_before(store, keys, 1003.0) == 1.0
        assert await wait_before(store, keys, 1004.0) == 0.0
        # Another account from the same address waits too; another address does not.
        assert await wait_before(store, keys_for("other", "10.0.0.1"), 1000.0) == 4.0
        assert await wait_before(store, keys_for("other", "10.0.0.2"), 1000.0) == 0.0
        # After a quiet hour the count starts again from one.
        later = 1000.0 + FORGET_AFTER_S + 1
        assert await wait_before(store, keys, later) == 0.0
        await store.record_signin_failure(keys, later, later - FORGET_AFTER_S)
        assert (await store.signin_failures(keys))[keys[0]][0] == 1
    finally:
        await store.close()


async def test_quiet_keys_are_pruned(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    try:
        await store.record_signin_failure(["address:old"], 10.0, 10.0 - FORGET_AFTER_S)
        later = 10.0 + FORGET_AFTER_S + 1
        await store.record_signin_failure(["address:new"], later, later - FORGET_AFTER_S)
        assert set(await store.signin_failures(["address:old", "address:new"])) == {"address:new"}
    finally:
        await store.close()
