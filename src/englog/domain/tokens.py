"""Secrets: API and session tokens are random (secrets, 256 bits) and stored only as
SHA-256 hashes, so a leaked database does not leak credentials. A fast hash is
enough because the tokens are high-entropy, unlike passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def new_id() -> str:
    return uuid.uuid4().hex
