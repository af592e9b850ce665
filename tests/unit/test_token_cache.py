"""The cache of verified API tokens (englog.server.token_cache) never lets a token
through that this process revoked, and lets one revoked elsewhere through for at most
its TTL. Both backends, through `principal_for` as every request resolves its token."""

from __future__ import annotations

import time

from englog.domain.tokens import hash_token
from englog.server.auth import principal_for
from englog.server.settings import ServerSettings
from englog.server.state import ServerState
from englog.server.token_cache import VerifiedTokens
from englog.store import Store, open_store
from englog.store.postgres.store import PostgresStore
from englog.store.records import ApiToken, TokenOwner, User
from tests.support.pg import truncate_all
from tests.support.procs import eventually


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _user_with_token(store: Store, token: str = "tok-ada") -> tuple[str, str]:
    user = await store.create_user("ada", hash_token(token), time.time())
    [api] = await store.list_tokens(user.id)
    return user.id, api.id


async def test_a_token_revoked_here_is_refused_on_the_very_next_request(store: Store) -> None:
    state = ServerState(store=store, settings=ServerSettings())
    if isinstance(store, PostgresStore):
        await store.wait_listening()  # its connect moves the generation on, once
    user_id, token_id = await _user_with_token(store)
    # This replica's own NOTIFY (which may arrive at any time) does not empty its cache.
    first = await principal_for(state, "tok-ada")
    assert first is not None and first.user_id == user_id
    assert state.verified_tokens.get(hash_token("tok-ada"), store.accounts_generation, 0.0)
    assert await store.revoke_token(user_id, token_id)
    assert await principal_for(state, "tok-ada") is None


async def test_disabling_the_account_here_is_seen_on_the_very_next_request(store: Store) -> None:
    state = ServerState(store=store, settings=ServerSettings())
    user_id, _ = await _user_with_token(store)
    assert await principal_for(state, "tok-ada") is not None
    await store.update_user(user_id, disabled=True)
    assert await principal_for(state, "tok-ada") is None


async def test_a_revocation_on_another_replica_is_seen_within_the_ttl(
    store: Store, store_url: str
) -> None:
    """The documented bound: until the TTL passes this replica may still accept it."""
    clock = FakeMonotonic()
    state = ServerState(store=store, settings=ServerSettings())
    state.verified_tokens = VerifiedTokens(ttl_s=1.0, monotonic=clock)
    user_id, token_id = await _user_with_token(store)
    assert await principal_for(state, "tok-ada") is not None
    other = open_store(store_url)
    await other.open()
    try:
        assert await other.revoke_token(user_id, token_id)
    finally:
        await other.close()
    clock.now += 1.0  # SQLite: the TTL alone; PostgreSQL: its NOTIFY, likely sooner
    assert await principal_for(state, "tok-ada") is None


async def test_on_postgres_another_replicas_change_arrives_as_a_notification(
    pg_database: str,
) -> None:
    """No clock moves here: the accounts NOTIFY alone makes the replica forget."""
    await truncate_all(pg_database)
    store, other = open_store(pg_database), open_store(pg_database)
    await store.open()
    await other.open()
    try:
        await store.wait_listening()  # type: ignore[attr-defined]
        state = ServerState(store=store, settings=ServerSettings())
        state.verified_tokens = VerifiedTokens(ttl_s=3600.0)
        user_id, token_id = await _user_with_token(store)
        assert await principal_for(state, "tok-ada") is not None
        assert await other.revoke_token(user_id, token_id)

        async def refused() -> bool:
            return await principal_for(state, "tok-ada") is None

        await eventually(refused, within=10.0, interval=0.01, what="the NOTIFY")
    finally:
        await store.close()
        await other.close()


async def test_an_expired_token_is_never_answered_from_the_cache(store: Store) -> None:
    now = time.time()
    state = ServerState(store=store, settings=ServerSettings(), clock=lambda: now)
    state.verified_tokens = VerifiedTokens(ttl_s=60.0)
    user_id, _ = await _user_with_token(store)
    await store.add_token(user_id, "short", hash_token("tok-short"), now, expires_at=now + 5)
    assert await principal_for(state, "tok-short") is not None
    state.clock = lambda: now + 6
    assert await principal_for(state, "tok-short") is None


def test_an_entry_remembered_under_an_older_generation_is_not_used() -> None:
    """The generation is read before the lookup: a lookup that raced an account write
    of this process is remembered as stale already."""
    cache = VerifiedTokens()
    user = User(id="u1", name="ada", created_at=0.0)
    owner = TokenOwner(user, ApiToken("t1", "u1", "cli", "api", 0.0))
    cache.put("h", 4, owner)
    assert cache.get("h", 4, 0.0) is owner
    assert cache.get("h", 5, 0.0) is None
    assert cache.get("h", 4, 0.0) is None  # dropped on the stale read
