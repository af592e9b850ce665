"""The SQLite backend (the default): one file, a group-commit writer thread, WAL reads.

Modules: `writer` (group commit), `schema` (connections and migrations), `rows`
(decoding), `entries`, `tasks`, `attempts` (ending attempts), `workers`, `store` (the
`SQLiteStore` class)."""

from englog.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
