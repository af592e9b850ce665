"""Passwords: argon2id hashes (argon2-cffi, its recommended parameters), unlike API
tokens, which are random and need only SHA-256. Hashing costs tens of milliseconds on
purpose, so callers run it off the event loop (`hash_password_async`)."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from englog.errors import EnglogError

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id by default


@functools.cache
def _dummy() -> str:
    """Verified when an account has no password or is unknown, so a failed sign-in
    takes as long either way and does not tell which names exist. Made on first use,
    not at import: every process that imports the web app would pay its 0.2-0.8 s."""
    return _hasher.hash("not a password anyone has")


class WeakPassword(EnglogError, ValueError):
    """A password the server refuses to store."""


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; False for an account without a password."""
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    check_password(password)
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
