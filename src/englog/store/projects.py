"""Projects and tags of one person's entries, for both backends over the account
primitives (`AccountStore._account_rows` / `_account_write`).

Entries name their project by name, as they always did; a project row adds a
description, a colour, a status, dates and the default flag. A name used by an entry
becomes a project the first time projects are listed (`sync_projects`), so today's
clients, which send only names, keep working. Renaming a project renames it in every
entry of its owner; deleting one leaves its entries without a project."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from englog.domain.tokens import new_id
from englog.store.accounts import AccountStore, Row, Step

PROJECT_FIELDS = ("name", "description", "colour", "status", "is_default", "start_date", "end_date")


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    user_id: str
    name: str
    description: str | None
    colour: str | None
    status: str
    is_default: bool
    start_date: str | None
    end_date: str | None
    created_at: float
    updated_at: float


def project_from(row: Row) -> Project:
    return Project(
        **{k: row[k] for k in ("id", "user_id", "name", "description", "colour", "status")},
        is_default=bool(row["is_default"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _insert(user_id: str, fields: Mapping[str, Any], now: float) -> Step:
    values = {"status": "active", "is_default": False, **fields}
    columns = ["id", "user_id", *values, "created_at", "updated_at"]
    marks = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO projects ({', '.join(columns)}) VALUES ({marks})",
        (new_id(), user_id, *values.values(), now, now),
    )


class ProjectStore(AccountStore):
    """The projects half (mixed into the `Store` after `AccountStore`)."""

    async def sync_projects(self, user_id: str, now: float) -> None:
        """Make a project of every name the user's entries use that has none yet."""
        rows = await self._account_rows(
            "SELECT DISTINCT project FROM entries WHERE user_id = ? AND project IS NOT NULL"
            " AND project NOT IN (SELECT name FROM projects WHERE user_id = ?)",
            user_id,
            user_id,
        )
        steps = []
        for row in rows:
            sql, args = _insert(user_id, {"name": row["project"]}, now)
            steps.append((sql + " ON CONFLICT (user_id, name) DO NOTHING", args))
        if steps:
            await self._account_write(steps)

    async def list_projects(self, user_id: str) -> list[Project]:
        rows = await self._account_rows(
            "SELECT * FROM projects WHERE user_id = ? ORDER BY name, id", user_id
        )
        return [project_from(row) for row in rows]

    async def get_project(self, user_id: str, project_id: str) -> Project | None:
        rows = await self._account_rows(
            "SELECT * FROM projects WHERE id = ? AND user_id = ?", project_id, user_id
        )
        return project_from(rows[0]) if rows else None

    async def default_project(self, user_id: str) -> str | None:
        rows = await self._account_rows(
            "SELECT name FROM projects WHERE user_id = ? AND is_default = ?", user_id, True
        )
        return str(rows[0]["name"]) if rows else None

    async def create_project(self, user_id: str, fields: Mapping[str, Any], now: float) -> Project:
        """`Conflict` ("name") when the user has a project of that name."""
        steps = []
        if fields.get("is_default"):
            steps.append(_unset_default(user_id))
        step = _insert(user_id, fields, now)
        await self._account_write([*steps, step])
        found = await self.get_project(user_id, step[1][0])
        assert found is not None
        return found

    async def update_project(
        self, user_id: str, project_id: str, changes: Mapping[str, Any], now: float
    ) -> Project | None:
        """Apply `changes` (fields of PROJECT_FIELDS; None clears a nullable one); a new
        name is carried to the user's entries in the same transaction."""
        current = await self.get_project(user_id, project_id)
        if current is None:
            return None
        steps: list[Step] = []
        if changes.get("is_default"):
            steps.append(_unset_default(user_id))
        if changes:
            sets = ", ".join(f"{column} = ?" for column in changes)
            steps.append(
                (
                    f"UPDATE projects SET {sets}, updated_at = ? WHERE id = ? AND user_id = ?",
                    (*changes.values(), now, project_id, user_id),
                )
            )
        new_name = changes.get("name")
        if new_name is not None and new_name != current.name:
            steps.append(
                (
                    "UPDATE entries SET project = ?, updated_at = ? WHERE user_id = ?"
                    " AND project = ?",
                    (new_name, now, user_id, current.name),
                )
            )
        if steps:
            await self._account_write(steps)
        return await self.get_project(user_id, project_id)

    async def delete_project(self, user_id: str, project_id: str, now: float) -> bool:
        current = await self.get_project(user_id, project_id)
        if current is None:
            return False
        counts = await self._account_write(
            [
                (
                    "UPDATE entries SET project = NULL, updated_at = ? WHERE user_id = ?"
                    " AND project = ?",
                    (now, user_id, current.name),
                ),
                ("DELETE FROM projects WHERE id = ? AND user_id = ?", (project_id, user_id)),
            ]
        )
        return counts[-1] > 0


@dataclass(frozen=True, slots=True)
class TagUse:
    name: str
    count: int  # entries carrying it
    last_used: float  # start of the latest of them (unix seconds)


def _tags_of(value: Any) -> list[str]:
    """The tags column: JSON text on SQLite, already decoded on PostgreSQL."""
    found = json.loads(value) if isinstance(value, str) else value
    return [str(t) for t in found or []]


class TagStore(ProjectStore):
    """Tags across one person's entries (mixed into the `Store`)."""

    async def tag_uses(self, user_id: str) -> list[TagUse]:
        rows = await self._account_rows(
            "SELECT tags, start_ts FROM entries WHERE user_id = ?", user_id
        )
        counts: dict[str, int] = {}
        last: dict[str, float] = {}
        for row in rows:
            for tag in set(_tags_of(row["tags"])):
                counts[tag] = counts.get(tag, 0) + 1
                last[tag] = max(last.get(tag, row["start_ts"]), row["start_ts"])
        return [TagUse(tag, n, last[tag]) for tag, n in counts.items()]

    async def entries_tagged(self, user_id: str, tag: str) -> list[tuple[str, list[str]]]:
        """(entry id, its tags) of the user's entries carrying `tag`."""
        rows = await self._account_rows("SELECT id, tags FROM entries WHERE user_id = ?", user_id)
        tagged = [(row["id"], _tags_of(row["tags"])) for row in rows]
        return [(entry_id, tags) for entry_id, tags in tagged if tag in tags]


def _unset_default(user_id: str) -> Step:
    return ("UPDATE projects SET is_default = ? WHERE user_id = ?", (False, user_id))
