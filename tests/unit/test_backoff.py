"""The never-ending loops' backoff: capped, fully jittered, reset after a healthy run."""

from __future__ import annotations

import pytest

from englog.resilience.backoff import Backoff, BackoffPolicy, ExponentialBackoff


def ceilings(backoff: Backoff, n: int) -> list[float]:
    backoff.rng = lambda low, high: high  # the top of each window
    return [backoff.next_delay() for _ in range(n)]


def test_grows_by_the_factor_up_to_the_cap() -> None:
    b = Backoff(BackoffPolicy(initial_s=0.1, factor=2.0, max_s=1.0))
    assert ceilings(b, 6) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_an_outage_of_hours_never_overflows() -> None:
    """A worker retries a few times a second for as long as its server is away."""
    b = Backoff(BackoffPolicy(initial_s=0.1, max_s=5.0))
    b.failures = 100_000
    assert ceilings(b, 3) == [5.0, 5.0, 5.0]


def test_full_jitter_stays_within_the_window() -> None:
    b = Backoff(BackoffPolicy(initial_s=0.1, max_s=1.0))
    delays = [b.next_delay() for _ in range(200)]
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed sequence


def test_resets_only_after_a_healthy_period() -> None:
    now = [0.0]
    b = Backoff(BackoffPolicy(initial_s=0.1, max_s=5.0, healthy_after_s=10.0), clock=lambda: now[0])
    ceilings(b, 5)
    b.mark_healthy()
    now[0] = 5.0
    b.mark_healthy()
    assert b.failures == 5  # not healthy for long enough yet
    now[0] = 10.0
    b.mark_healthy()
    assert b.failures == 0
    assert ceilings(b, 1) == [0.1]


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        BackoffPolicy(initial_s=2.0, max_s=1.0)


def test_every_policy_uses_the_one_formula() -> None:
    """RetryPolicy (single operations), BackoffPolicy (endless loops) and the server's
    RetryBackoff (between attempts of a task) all delegate to ExponentialBackoff."""
    from englog.domain.tasks import RetryBackoff
    from englog.resilience import RetryPolicy

    curve = ExponentialBackoff(0.5, 3.0, 10.0, jitter=False)
    expected = [curve.ceiling(n) for n in range(1, 8)]
    assert expected == pytest.approx([0.5, 1.5, 4.5, 10.0, 10.0, 10.0, 10.0])
    retry = RetryPolicy(max_attempts=9, initial_delay_s=0.5, multiplier=3.0, max_delay_s=10.0)
    assert [retry.ceiling(n) for n in range(1, 8)] == expected
    server = RetryBackoff(initial_s=0.5, factor=3.0, max_s=10.0, jitter=False)
    assert [server.delay(n) for n in range(1, 8)] == expected
    loop = Backoff(BackoffPolicy(initial_s=0.5, factor=3.0, max_s=10.0))
    assert ceilings(loop, 7) == expected
    assert curve.ceiling(10**6) == 10.0  # no overflow, however long the outage


def test_jittered_delay_uses_the_whole_window() -> None:
    curve = ExponentialBackoff(1.0, 2.0, 8.0)
    delays = [curve.delay(3) for _ in range(300)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 3.0
    assert curve.delay(3, rng=lambda low, high: high) == 4.0
    with pytest.raises(ValueError, match="backoff needs"):
        ExponentialBackoff(1.0, factor=0.5)
