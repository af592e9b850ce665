"""The pieces of issue 22's defences that need no server: body limits by route,
relative redirects, connection counts, registration bounds and log redaction."""

from __future__ import annotations

import pytest

from englog.logs import MASK, redact_value
from englog.protocol import worker_pb2 as pb
from englog.server.grpc_service import registration_problem
from englog.server.http.body_guard import DEFAULT_MAX_BODY, BodyLimits
from englog.server.http.redirects import relative
from englog.serving.connection_caps import ConnectionCounts

MIB = 1024 * 1024


def test_body_limits_fit_each_route_and_never_pass_the_cap() -> None:
    limits = BodyLimits(max_payload_bytes=MIB)
    assert limits.for_route("POST", "/v1/tasks") == 2 * MIB + 64 * 1024
    assert limits.for_route("POST", "/v1/tasks/wait") == 256 * 1024
    assert limits.for_route("PATCH", "/v1/entries/abc") == 64 * 1024
    assert limits.for_route("POST", "/app/entries") == 256 * 1024
    assert limits.for_route("POST", "/v1/entries/bulk") == DEFAULT_MAX_BODY
    assert limits.for_route("POST", "/v1/tasks/batch") == DEFAULT_MAX_BODY
    assert limits.for_route("GET", "/anything") == 64 * 1024


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (b"http://evil.example/app/", b"/app/"),
        (b"https://h:8080/app/week?start=2026-12-07", b"/app/week?start=2026-12-07"),
        (b"//evil.example/x", b"/x"),
        (b"/app/", b"/app/"),
        (b"week?start=1", b"week?start=1"),
    ],
)
def test_redirects_lose_scheme_and_host(location: bytes, expected: bytes) -> None:
    assert relative(location) == expected


def test_connection_counts_cap_per_address_and_in_all() -> None:
    counts = ConnectionCounts(per_address=2, total=3)
    assert counts.admit("a") and counts.admit("a")
    assert not counts.admit("a")
    assert counts.admit("b")
    assert not counts.admit("c")  # the total
    counts.release("a")
    assert counts.admit("c")
    assert counts.refused == 2
    with pytest.raises(ValueError):
        ConnectionCounts(0, 1)


def _register(**changes: object) -> pb.RegisterWorkerRequest:
    fields: dict[str, object] = {"worker_id": "w1", "capabilities": ["noop"], "max_concurrency": 4}
    fields.update(changes)
    return pb.RegisterWorkerRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"worker_id": "w" * 129}, "worker_id"),
        ({"name": "n" * (15 * MIB // 1000)}, "name"),
        ({"capabilities": [f"c{i}" for i in range(100_000)]}, "capabilities"),
        ({"max_concurrency": 2**31 - 1}, "max_concurrency"),
        ({"metadata": {"k": "v" * 2000}}, "metadata"),
        ({"version": "v" * 65}, "version"),
    ],
)
def test_registrations_are_bounded(changes: dict[str, object], word: str) -> None:
    problem = registration_problem(_register(**changes))
    assert problem is not None and word in problem
    assert registration_problem(_register()) is None


def test_nested_secrets_are_masked() -> None:
    value = {
        "headers": {"Authorization": "Bearer abc", "accept": "json"},
        "urls": ["postgresql://u:pw123@db/x"],
        "tokens_used": 5,
    }
    out = redact_value(value)
    assert out["headers"] == {"Authorization": MASK, "accept": "json"}
    assert "pw123" not in out["urls"][0]
    assert out["tokens_used"] == 5  # a count, not a secret
