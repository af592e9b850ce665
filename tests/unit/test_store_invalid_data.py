"""Values a database can never hold are the request's fault, not the store's:
`InvalidData` (a StoreError that callers answer 422 / INVALID_ARGUMENT), never the
retriable "store unavailable". PostgreSQL refuses NUL in text and NaN in JSON with a
data exception (SQLSTATE class 22), translated at the store boundary; NUL in entry
text is refused by both backends alike. The `store` fixture (conftest.py) runs the
shared tests on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import asyncpg
import grpc
import pytest

from englog.domain.entries import EntryFields
from englog.domain.tasks import NewTask
from englog.server.grpc_service import WorkerService
from englog.server.settings import ServerSettings
from englog.server.state import ServerState
from englog.store import EntryQuery, InvalidData, PostgresStore, Store, StoreError, open_store

START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def entry(**changes: Any) -> EntryFields:
    fields: dict[str, Any] = {
        "title": "Standup",
        "type": "meeting",
        "start_time": START,
        "end_time": START + timedelta(minutes=15),
    }
    return EntryFields(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "stand\x00up"}, "title"),
        ({"description": "\x00"}, "description"),
        ({"project": "core\x00"}, "project"),
        ({"tags": ["ok", "b\x00d"]}, "tags"),
    ],
)
async def test_nul_in_entry_text_is_invalid_data_on_every_backend(
    store: Store, changes: dict[str, Any], field: str
) -> None:
    user = await store.create_user("ada", "hash-ada", time.time())
    with pytest.raises(InvalidData, match=f"{field} must not contain the NUL"):
        await store.add_entries(user.id, [entry(), entry(**changes)], time.time())
    assert await store.list_entries(user.id, EntryQuery()) == []  # bulk: all or nothing
    [kept] = await store.add_entries(user.id, [entry()], time.time())
    with pytest.raises(InvalidData, match=field):
        await store.update_entry(user.id, kept.id, changes, time.time())
    [unchanged] = await store.list_entries(user.id, EntryQuery())
    assert unchanged.model_dump() == kept.model_dump()


async def test_nul_in_an_entry_filter_is_invalid_data_on_every_backend(store: Store) -> None:
    user = await store.create_user("ada", "hash-ada", time.time())
    for query in (EntryQuery(project="core\x00"), EntryQuery(type="meeting\x00")):
        with pytest.raises(InvalidData, match="NUL"):
            await store.list_entries(user.id, query)


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        (NewTask("noop", {"text": "a\x00b"}), "cannot be converted to text"),
        (NewTask("noop", {"n": float("nan")}), 'Token "NaN" is invalid'),
        (NewTask("noop", {"n": float("inf")}), 'Token "Infinity" is invalid'),
        (NewTask("no\x00op", {}), "0x00"),
        (NewTask("noop", {}, metadata={"k": "\x00"}), "cannot be converted to text"),
    ],
)
async def test_postgres_data_errors_are_invalid_data(
    pg_store: PostgresStore, task: NewTask, reason: str
) -> None:
    with pytest.raises(InvalidData, match="PostgreSQL refused a value") as caught:
        await pg_store.submit_tasks([task], time.time())
    assert isinstance(caught.value, StoreError)
    assert isinstance(caught.value.__cause__, asyncpg.DataError)
    assert reason in str(caught.value) and "\n" not in str(caught.value)
    # The refusal cost nothing else: the pool's connection serves the next request.
    [stored] = await pg_store.submit_tasks([NewTask("noop", {"ok": 1})], time.time())
    assert (await pg_store.get_task(stored.id)) is not None


async def test_a_postgres_read_of_a_nul_key_is_invalid_data(pg_store: PostgresStore) -> None:
    with pytest.raises(InvalidData, match="0x00"):
        await pg_store.get_task("task\x00id")


async def test_a_lost_database_stays_a_plain_store_error() -> None:
    """Only data exceptions become InvalidData: nothing listening is still retriable."""
    store = open_store("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert not isinstance(caught.value, InvalidData)


class _Aborted(Exception):
    pass


class _Context:
    """What `_store_call` uses of a grpc ServicerContext: abort raises, as grpc's does."""

    def __init__(self) -> None:
        self.status: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, detail: str) -> NoReturn:
        self.status = (code, detail)
        raise _Aborted


async def test_grpc_answers_invalid_data_with_invalid_argument(pg_store: PostgresStore) -> None:
    service = WorkerService(ServerState(store=pg_store, settings=ServerSettings()))
    context = _Context()
    with pytest.raises(_Aborted):
        await service._store_call(context, pg_store.get_task("task\x00id"))  # type: ignore[arg-type]
    assert context.status is not None
    code, detail = context.status
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "0x00" in detail

    async def store_down() -> None:
        raise StoreError("connection refused")

    with pytest.raises(_Aborted):
        await service._store_call(context, store_down())  # type: ignore[arg-type]
    assert context.status[0] is grpc.StatusCode.UNAVAILABLE


async def test_a_number_the_database_cannot_hold_is_invalid_data(store: Store) -> None:
    """An integer past 64 bits: SQLite's OverflowError, asyncpg's DataError."""
    user = await store.create_user("ada", "hash-ada", time.time())
    with pytest.raises(InvalidData, match="refused a value"):
        await store.list_entries(user.id, EntryQuery(limit=2**70))
    assert await store.list_entries(user.id, EntryQuery()) == []
