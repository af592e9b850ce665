"""Verified API tokens, remembered for a second so that a busy client's requests do not
each look their token up in the store (a key lookup: about 0.6 ms on PostgreSQL, a
round trip to the database on the path of every request).

What stays true with the cache:
- This process refuses a token on the first request after it revoked it, disabled or
  deleted its account, or changed anything else about accounts: every account write
  bumps the store's `accounts_generation` once it is done, and an entry remembered
  under an older generation is never used (the generation is read before the lookup,
  so a lookup racing a revocation is remembered as already stale).
- Another replica (or the CLI writing to the same database) may accept a token it
  revoked for at most `VERIFIED_TTL_S` after the revocation committed: each replica
  forgets what it verified after that long. A token past its `expires_at` is never
  used from the cache.
The trade: at most one lookup per token per second per replica instead of one per
request, against a revocation taking up to a second to reach the other replicas."""

from __future__ import annotations

import time
from collections.abc import Callable

from englog.store.records import TokenOwner

VERIFIED_TTL_S = 1.0
VERIFIED_MAX = 10_000


class VerifiedTokens:
    """Token hash -> (monotonic deadline, accounts generation, owner)."""

    def __init__(
        self,
        ttl_s: float = VERIFIED_TTL_S,
        max_entries: int = VERIFIED_MAX,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, int, TokenOwner]] = {}

    def get(self, token_hash: str, generation: int, now: float) -> TokenOwner | None:
        """The owner remembered for this hash, if still usable: within the TTL, under
        the current `generation`, and the token not expired at `now` (wall clock)."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        deadline, remembered, owner = entry
        expires = owner.token.expires_at
        if (
            remembered != generation
            or self._monotonic() >= deadline
            or (expires is not None and expires <= now)
        ):
            self._entries.pop(token_hash, None)
            return None
        return owner

    def put(self, token_hash: str, generation: int, owner: TokenOwner) -> None:
        """Remember `owner`, verified under `generation` (read before the lookup)."""
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[token_hash] = (self._monotonic() + self.ttl_s, generation, owner)
