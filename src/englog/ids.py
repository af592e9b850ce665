"""Time-ordered ids (the UUIDv7 layout of RFC 9562, as 32 hex digits like `uuid4().hex`).

A random id lands each new row of an index keyed on it on a random page: a commit of
eight tasks dirtied eight leaf pages of the task-id index, eight of the attempts' and
eight of the keys' by task, each a WAL frame written and synced. An id that starts with
the time lands new rows together at the end of those indexes, as `seq` does for the
table. 74 random bits remain (uuid4 has 122): no id can be guessed, and who may read a
task is decided by its owner, never by knowing its id. Python 3.11 has no
`uuid.uuid7` (3.14 adds it)."""

from __future__ import annotations

import os
import time

_VERSION = 0x7 << 76  # the version nibble of a 128-bit UUID
_VARIANT = 0x2 << 62  # RFC 9562's variant bits


def ordered_id() -> str:
    """48 bits of Unix milliseconds, then the version, 74 random bits and the variant."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 used
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | _VERSION
        | (rand >> 68) << 64  # rand_a: 12 bits
        | _VARIANT
        | rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    )
    return f"{value:032x}"
