"""The PostgreSQL backend, for several server replicas sharing one database.

Modules: `schema` (connection set-up and migrations), `listener` (LISTEN/NOTIFY between
replicas), `entries`, `tasks`, `attempts` (ending attempts), `workers`, `store` (the
`PostgresStore` class)."""

from englog.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
