"""Sign-in throttling: failed password checks are counted per account and per client
address (in the store, so replicas share them). After a few free failures each further
attempt must wait twice as long as the last, up to a ceiling; a key that has been
quiet for an hour starts again from zero. Never a permanent lockout: the owner of an
attacked account waits at most `MAX_DELAY_S`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from englog.domain.passwords import verify_password_async
from englog.errors import EnglogError
from englog.store.base import Store
from englog.store.records import User

FREE_FAILURES = 3
BASE_DELAY_S = 1.0
MAX_DELAY_S = 300.0
FORGET_AFTER_S = 3600.0


def delay_after(failures: int) -> float:
    """How long after the last failure the next attempt may come."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (failures - FREE_FAILURES))


def keys_for(account_key: str, address: str | None) -> list[str]:
    """The throttle keys of one attempt: the account (by id, or by the login given when
    no account has it) and the client address."""
    keys = [f"account:{account_key}"]
    if address:
        keys.append(f"address:{address}")
    return keys


async def wait_before(store: Store, keys: Sequence[str], now: float) -> float:
    """Seconds this attempt must still wait (0: it may be checked now)."""
    wait = 0.0
    for failures, last in (await store.signin_failures(keys)).values():
        if now - last >= FORGET_AFTER_S:
            continue
        wait = max(wait, last + delay_after(failures) - now)
    return wait


class SignInRefused(EnglogError):
    """A password sign-in that failed: `retry_after` is set when it was throttled."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def password_sign_in(
    store: Store, login: str, password: str, address: str | None, now: float
) -> User:
    """The enabled account `login` (name or email) whose password this is; SignInRefused
    otherwise, without telling an unknown name from a wrong password."""
    found = await store.user_for_login(login.strip()) if login.strip() else None
    account_key = found[0].id if found else f"login:{login.strip().lower()}"
    keys = keys_for(account_key, address)
    wait = await wait_before(store, keys, now)
    if wait > 0:
        raise SignInRefused(
            f"too many failed sign-ins: try again in {math.ceil(wait)} s", retry_after=wait
        )
    user, password_hash = found if found else (None, None)
    ok = await verify_password_async(password_hash, password)
    if not ok or user is None or user.disabled:
        await store.record_signin_failure(keys, now, now - FORGET_AFTER_S)
        raise SignInRefused("wrong name or password (or the account is disabled)")
    await store.clear_signin_failures(keys[:1])
    return user
