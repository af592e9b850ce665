"""Token buckets and wait slots on a fake clock: exact arithmetic, no sleeping."""

from __future__ import annotations

import pytest

from englog.server.ratelimit import Rate, TokenBuckets, WaitSlots, retry_after_header


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_full_bucket_allows_its_burst_then_says_how_long_to_wait(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=8, burst=3), clock)  # binary-exact steps of 1/8 s
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.125
    clock.now += 0.0625
    assert buckets.take("a") == 0.0625  # a refusal spends nothing
    clock.now += 0.0625
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == 0.125


def test_the_sustained_rate_is_the_configured_one(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=200, burst=400), clock)
    allowed = 0
    for _ in range(10_000):  # 10 s of a client asking every millisecond
        clock.now += 0.001
        allowed += buckets.take("k") == 0.0
    assert allowed == pytest.approx(400 + 200 * 10, abs=2)


def test_keys_have_their_own_buckets(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=1, burst=1), clock)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_a_quiet_spell_refills_only_up_to_the_burst(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=100, burst=2), clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a") for _ in range(3)][:2] == [0.0, 0.0]
    assert buckets.take("a") > 0


def test_a_clock_going_backwards_adds_no_tokens(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=1, burst=1), clock)
    buckets.take("a")
    clock.now -= 50
    assert buckets.take("a") > 0


def test_rate_zero_means_unlimited(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=0, burst=1), clock)
    assert all(buckets.take("a") == 0.0 for _ in range(1000))
    assert len(buckets) == 0
    assert str(buckets.rate) == "unlimited"


def test_idle_buckets_are_forgotten_and_memory_is_bounded(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=10, burst=5), clock, max_keys=100)
    for i in range(1000):  # forged tokens, each seen once
        buckets.take(i)
    assert len(buckets) == 100
    clock.now += 10  # every bucket has refilled: they are dropped as others are used
    for _ in range(60):
        buckets.take("busy")
    assert len(buckets) < 10


def test_forgetting_a_bucket_never_hands_out_more_than_its_burst(clock: FakeClock) -> None:
    buckets = TokenBuckets(Rate(per_s=1, burst=2), clock, max_keys=1)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") > 0


@pytest.mark.parametrize(
    ("per_s", "burst"), [(-1, 1), (float("nan"), 1), (float("inf"), 1), (1, 0)]
)
def test_bad_rates_are_refused(per_s: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Rate(per_s, burst)


@pytest.mark.parametrize(("wait", "header"), [(0.001, "1"), (1.0, "1"), (1.2, "2"), (0.0, "1")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


def test_wait_slots_cap_each_key_and_the_total() -> None:
    slots = WaitSlots(per_key=2, total=3)
    assert slots.acquire("a") and slots.acquire("a")
    assert not slots.acquire("a")
    assert slots.acquire("b")
    assert not slots.acquire("c")  # the total is reached
    assert slots.in_use == 3 and slots.held_by("a") == 2
    slots.release("a")
    assert slots.acquire("c")
    assert not slots.acquire("a")


def test_a_slot_held_for_a_block_is_given_back_even_on_error() -> None:
    slots = WaitSlots(per_key=1, total=10)
    with pytest.raises(RuntimeError), slots.hold("a") as granted:
        assert granted
        raise RuntimeError("boom")
    assert slots.in_use == 0 and slots.held_by("a") == 0
    with slots.hold("a") as first, slots.hold("a") as second:
        assert first and not second
    assert slots.in_use == 0


def test_releasing_a_slot_never_taken_is_an_error() -> None:
    with pytest.raises(ValueError, match="no wait slot"):
        WaitSlots(1, 1).release("a")
