"""The `store` fixture, parametrized over both backends: every store test runs against
a real SQLite file and the machine's real PostgreSQL.

PostgreSQL: one throwaway database per test session (created here, migrated by the
first store that opens it, dropped at the end), emptied before each test."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from englog.store import PostgresStore, Store, open_store
from tests.support.pg import create_database, drop_database, truncate_all

T = TypeVar("T")

STORE_BACKENDS = ("sqlite", "postgres")


def run_outside_loop(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on its own thread, so it never touches the test's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    url = run_outside_loop(create_database())
    try:
        yield url
    finally:
        run_outside_loop(drop_database(url))


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for a fresh, empty store of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'englog.db'}"
    url: str = request.getfixturevalue("pg_database")
    run_outside_loop(truncate_all(url))
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def pg_store(pg_database: str) -> AsyncIterator[PostgresStore]:
    """An open, empty PostgreSQL store, for what only PostgreSQL does."""
    run_outside_loop(truncate_all(pg_database))
    store = PostgresStore(pg_database)
    await store.open()
    yield store
    await store.close()
