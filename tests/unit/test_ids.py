"""Task ids and the client's idempotency keys are time-ordered (`englog.ids`), so the
indexes keyed on them grow at their end (issue 26: half the pages written per task)."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from englog import ids
from englog.client import _calls
from englog.ids import ordered_id


def test_an_ordered_id_is_a_version_7_uuid_in_32_hex_digits() -> None:
    value = ordered_id()
    assert re.fullmatch(r"[0-9a-f]{32}", value)
    parsed = uuid.UUID(value)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    millis = int(value[:12], 16)
    assert abs(millis - time.time_ns() // 1_000_000) < 60_000


def test_ids_of_later_milliseconds_sort_after(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for millis in (1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002, 1_800_000_000_000):
        monkeypatch.setattr(ids.time, "time_ns", lambda m=millis: m * 1_000_000 + 999_999)
        made += [ordered_id() for _ in range(50)]
    for earlier, later in zip(made[::50], made[50::50], strict=False):
        assert earlier < later
    assert len(set(made)) == len(made)


def test_ordered_ids_are_unique_and_keep_74_random_bits() -> None:
    made = {ordered_id() for _ in range(20_000)}
    assert len(made) == 20_000
    # Within one millisecond only the random bits differ: all 74 of them vary.
    first = int(next(iter(made)), 16)
    varying = 0
    for value in made:
        varying |= int(value, 16) ^ first
    assert bin(varying & ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)).count("1") == 74


def test_the_client_keys_a_submission_with_an_ordered_id() -> None:
    assert uuid.UUID(_calls.new_key()).version == 7
