"""What makes two requests with one Idempotency-Key the same (`fingerprint`), and its
shortcut for a batch item already parsed (`fingerprint_of`, issue 26): an item coalesced
into a batch must keep the digest its own `POST /v1/tasks` would have had."""

from __future__ import annotations

import json
import random

from englog.server.http.submission import fingerprint, fingerprint_of
from tests.support.json_values import json_value


def test_same_json_however_spaced_or_ordered_is_the_same_request() -> None:
    a = fingerprint("POST", "/v1/tasks", b'{"type": "noop", "payload": {"b": 1, "a": [1, 2]}}')
    b = fingerprint("POST", "/v1/tasks", b'{"payload":{"a":[1,2],"b":1},"type":"noop"}')
    assert a == b
    assert a != fingerprint(
        "POST", "/v1/tasks/batch", b'{"type":"noop","payload":{"a":[1,2],"b":1}}'
    )
    assert a != fingerprint("POST", "/v1/tasks", b'{"type":"noop","payload":{"a":[1,2],"b":2}}')


def test_a_parsed_item_has_the_digest_of_its_own_request() -> None:
    rng = random.Random(13)
    for _ in range(1_000):
        item = {"type": "noop", "payload": {"v": json_value(rng)}, "priority": rng.randrange(3)}
        body = json.dumps(item).encode()
        assert fingerprint_of("POST", "/v1/tasks", item) == fingerprint("POST", "/v1/tasks", body)
