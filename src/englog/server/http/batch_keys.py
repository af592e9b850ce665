"""`Idempotency-Key` on `POST /v1/tasks/batch`: a retried batch creates its tasks once.

Built on the single-task mechanism (`Store.submit_keyed`, the keys of single
submissions), no new storage: task `i` of the batch is stored under the key `{key}§{i}`
with the whole batch's fingerprint, every item in one store transaction. So:
- a retry of the same batch finds every item's key and answers the same task ids,
  creating nothing (`Idempotent-Replayed: true`);
- the same key with another batch is a 422 `idempotency_key_reused` and creates
  nothing (the transaction is all or nothing);
- a store failure stores none of the batch, and the client's retry with the same key
  stores all of it. Concurrent duplicates are safe too: the keys are looked up and
  written in one transaction (serialised per key on PostgreSQL by advisory locks).
  Until issue 26 each item was its own transaction: on PostgreSQL a 1,000-task keyed
  batch was 1,000 commits.
`§` cannot occur in a client's key (printable ASCII), so batch item keys never meet the
keys of single submissions.

An item may carry its own `idempotency_key` (`submit_items_once`): it is then stored
exactly as `POST /v1/tasks` with that key and the item's body (without the key) would
be, fingerprint included. That is what lets a client coalesce single submissions from
many threads into one batch (`englog.client`'s `CoalescePolicy`) and keep each one's
key: the item answers the same task whether it arrives in a batch, in another batch,
or alone. Items without a key of their own take the header's `{key}§{i}` (or none).
The keyed items go in that same one transaction: all or none, the new ones leased at
once when a worker has room, as unkeyed submissions are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from englog import json_loads
from englog.domain.tasks import NewTask, Task
from englog.server.http.errors import invalid
from englog.server.http.submission import (
    IDEMPOTENCY_HEADER,
    MAX_IDEMPOTENCY_KEY,
    fingerprint,
    fingerprint_of,
    key_reused,
    valid_key,
)
from englog.server.state import ServerState
from englog.store.base import IdempotencyKeyReused
from englog.store.records import KeyedTask

ITEM_SEPARATOR = "\u00a7"


async def submit_batch_once(
    request: Request, state: ServerState, tasks: Sequence[NewTask], key: str
) -> list[tuple[Task, bool]]:
    """Each task of the batch, in order, with whether this request created it."""
    return await submit_items_once(request, state, tasks, [None] * len(tasks), key)


SINGLE_PATH = "/v1/tasks"


def item_keys(keys: Sequence[str | None]) -> None:
    """Check each item's own key (a 422 naming the first bad one)."""
    for index, key in enumerate(keys):
        if key is not None and not valid_key(key):
            raise invalid(
                f"body.tasks.{index}.idempotency_key",
                f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            )


async def submit_items_once(
    request: Request,
    state: ServerState,
    tasks: Sequence[NewTask],
    keys: Sequence[str | None],
    batch_key: str | None,
) -> list[tuple[Task, bool]]:
    """Each task of a batch whose items carry their own keys, in order, with whether
    this request created it. An item's key gets the fingerprint of the single
    submission it stands for; the others are keyed as in `submit_batch_once`."""
    item_keys(keys)
    if batch_key is not None and not valid_key(batch_key):
        raise invalid(
            f"header.{IDEMPOTENCY_HEADER}",
            f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    raw: Any = json_loads.loads(await request.body())
    batch_print = None
    if batch_key is not None:
        batch_print = fingerprint(request.method, request.url.path, await request.body())
    keyed: list[KeyedTask] = []
    plain: list[NewTask] = []
    for index, (task, own) in enumerate(zip(tasks, keys, strict=True)):
        if own is not None:
            single = {k: v for k, v in raw["tasks"][index].items() if k != "idempotency_key"}
            single_print = fingerprint_of("POST", SINGLE_PATH, single)
            keyed.append(KeyedTask(task, own, single_print))
        elif batch_key is not None and batch_print is not None:
            keyed.append(KeyedTask(task, f"{batch_key}{ITEM_SEPARATOR}{index}", batch_print))
        else:
            plain.append(task)
    try:
        outcomes = iter(await state.queue.submit_keyed(keyed))
    except IdempotencyKeyReused as exc:
        raise key_reused(exc) from exc
    others = iter(await state.queue.submit(plain) if plain else [])
    return [
        next(outcomes) if own is not None or batch_key is not None else (next(others), True)
        for own in keys
    ]
