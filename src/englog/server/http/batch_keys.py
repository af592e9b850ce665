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
from dataclasses import dataclass
from typing import Any

from englog import json_loads
from englog.domain.tasks import NewTask, Task
from englog.server.auth import Principal
from englog.server.http.errors import ApiError, invalid
from englog.server.http.models import BatchSubmit
from englog.server.http.submission import (
    IDEMPOTENCY_HEADER,
    MAX_IDEMPOTENCY_KEY,
    check_payload_size,
    fingerprint,
    fingerprint_of,
    generic_task,
    key_reused,
    learn_types,
    valid_key,
)
from englog.server.state import ServerState
from englog.store.base import IdempotencyKeyReused
from englog.store.records import KeyedTask

ITEM_SEPARATOR = "\u00a7"
# The payloads of one batch together are capped at this many times the per-task limit,
# so one request stays bounded in memory.
BATCH_PAYLOAD_FACTOR = 8


BATCH_PATH = "/v1/tasks/batch"
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
    state: ServerState,
    tasks: Sequence[NewTask],
    keys: Sequence[str | None],
    batch_key: str | None,
    body: bytes,
    raw: Any = None,
) -> list[tuple[Task, bool]]:
    """Each task of a batch, in order, with whether this request created it: an item
    with its own key gets the fingerprint of the single submission it stands for, the
    others `{batch_key}§{i}` and the batch's (or no key). `body` is the request's,
    `raw` its parsed JSON when the caller has it."""
    item_keys(keys)
    if batch_key is not None and not valid_key(batch_key):
        raise invalid(
            f"header.{IDEMPOTENCY_HEADER}",
            f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    batch_print = None
    if batch_key is not None:
        batch_print = fingerprint("POST", BATCH_PATH, body)
    keyed: list[KeyedTask] = []
    plain: list[NewTask] = []
    for index, (task, own) in enumerate(zip(tasks, keys, strict=True)):
        if own is not None:
            if raw is None:
                raw = json_loads.loads(body)
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


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The tasks of an accepted batch in order, and those this request created."""

    stored: list[Task]
    created: list[Task]

    @property
    def replayed(self) -> bool:
        return not self.created


async def accept_batch(
    state: ServerState,
    principal: Principal,
    batch: BatchSubmit,
    body: bytes,
    key: str | None,
    raw: Any = None,
) -> BatchOutcome:
    """`POST /v1/tasks/batch` past its parsing, for the route and its fast path alike:
    every item checked (the first bad one rejects the batch, nothing stored), then all
    of them stored in one transaction. ApiError for a refusal, raised before anything
    is stored; TooManyTasks and StoreError as the queue raises them."""
    new_tasks: list[NewTask] = []
    total = 0
    await learn_types(state, [item.type for item in batch.tasks])
    for i, item in enumerate(batch.tasks):
        field = f"body.tasks.{i}"
        new_tasks.append(generic_task(state, principal, item, field))
        total += check_payload_size(state, item.payload, f"{field}.payload")
    limit = state.settings.max_payload_bytes * BATCH_PAYLOAD_FACTOR
    if total > limit:
        raise ApiError(
            413, "payload_too_large", f"the batch's payloads total {total} bytes; limit {limit}"
        )
    own_keys = [item.idempotency_key for item in batch.tasks]
    if key is None and all(k is None for k in own_keys):
        stored = await state.queue.submit(new_tasks)
        return BatchOutcome(stored, stored)
    outcomes = await submit_items_once(state, new_tasks, own_keys, key, body, raw)
    return BatchOutcome([t for t, _ in outcomes], [t for t, new in outcomes if new])
