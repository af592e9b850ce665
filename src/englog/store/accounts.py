"""Accounts, personal access tokens and sign-in failures: one implementation for both
backends, written once in SQL both dialects speak (`?` placeholders; PostgreSQL's
store numbers them). A backend supplies two primitives: `_account_rows` (a read) and
`_account_write` (statements in one transaction, a unique violation raised as
`Conflict`).

Every account write bumps `accounts_generation` once it is done, so a process that
remembers verified tokens (englog.server.token_cache) forgets them all at once when it
changed an account itself; other replicas bound their staleness with a short TTL."""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from englog.domain.tokens import new_id
from englog.errors import EnglogError
from englog.store.records import ApiToken, NewAccount, TokenOwner, User

Row = Mapping[str, Any]
Step = tuple[str, tuple[Any, ...]]


class Conflict(EnglogError):
    """A unique value is taken: `field` is "name" or "email" (HTTP 409)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"that {field} is already taken")
        self.field = field


_USER = (
    "u.id AS id, u.name AS name, u.created_at AS created_at, u.email AS email,"
    " u.role AS role, u.disabled AS disabled, u.password_hash IS NOT NULL AS has_password"
)
_TOKEN = (
    "t.id AS token_id, t.user_id AS token_user_id, t.name AS token_name, t.kind AS kind,"
    " t.created_at AS token_created_at, t.last_used_at AS last_used_at,"
    " t.expires_at AS expires_at"
)
_LIVE_TOKEN = (
    f"SELECT {_USER}, {_TOKEN} FROM api_tokens t JOIN users u ON u.id = t.user_id"
    " WHERE t.token_hash = ? AND u.disabled = ? AND (t.expires_at IS NULL OR t.expires_at > ?)"
)
_SESSIONS_OF_USER = (
    "DELETE FROM web_sessions WHERE token_hash IN"
    " (SELECT token_hash FROM api_tokens WHERE user_id = ?{kind})"
)
# A deleted user's attempt records and idempotency keys, by their tasks (`{table}`).
_OF_USERS_TASKS = "DELETE FROM {table} WHERE task_id IN (SELECT id FROM tasks WHERE user_id = ?)"


def user_from(row: Row) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        email=row["email"],
        role=row["role"],
        disabled=bool(row["disabled"]),
        has_password=bool(row["has_password"]),
    )


def token_from(row: Row) -> ApiToken:
    return ApiToken(
        id=row["token_id"],
        user_id=row["token_user_id"],
        name=row["token_name"],
        kind=row["kind"],
        created_at=row["token_created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
    )


def conflict_field(message: str) -> str | None:
    """Which unique value a backend's violation message is about: "email" or "name";
    None for a token hash (random, so a clash is the store's problem, not the caller's)."""
    if "token_hash" in message:
        return None
    return "email" if "email" in message else "name"


class AccountStore(abc.ABC):
    """The accounts half of the `Store` (mixed into it)."""

    @abc.abstractmethod
    async def _account_rows(self, sql: str, *args: Any, lookup: bool = False) -> list[Row]:
        """Rows of one read; `lookup`: a read by key (SQLite runs it on the loop)."""

    @abc.abstractmethod
    async def _account_write(self, steps: Sequence[Step]) -> list[int]:
        """Run the statements in one transaction; their row counts. Raises `Conflict`
        on a unique violation (nothing is written)."""

    _accounts_generation = 0
    # Statements a backend adds to every account change (PostgreSQL: a NOTIFY, so
    # the other replicas move their generation on too).
    _ANNOUNCE_ACCOUNTS: tuple[Step, ...] = ()

    @property
    def accounts_generation(self) -> int:
        """Changes after every account write of this process (committed or not), and
        on PostgreSQL after another replica's (as soon as its NOTIFY arrives)."""
        return self._accounts_generation

    def _accounts_changed(self) -> None:
        self._accounts_generation += 1

    async def _change_accounts(self, steps: Sequence[Step]) -> list[int]:
        """`_account_write` (announced), then a new `accounts_generation`."""
        try:
            counts = await self._account_write([*steps, *self._ANNOUNCE_ACCOUNTS])
            return counts[: len(steps)]
        finally:
            self._accounts_changed()

    # --- accounts -------------------------------------------------------------------
    async def create_user(self, name: str, token_hash: str, now: float) -> User:
        """An account with a first API token (today's `englog users create`)."""
        return await self.create_account(NewAccount(name=name, token_hash=token_hash), now)

    async def create_account(self, account: NewAccount, now: float) -> User:
        """Insert the account (and its first token when given); `Conflict` when the name
        or email is taken, case-insensitively."""
        user_id = new_id()
        steps: list[Step] = [
            (
                "INSERT INTO users (id, name, token_hash, created_at, email, password_hash,"
                " role) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    account.name,
                    f"unused:{user_id}",
                    now,
                    account.email,
                    account.password_hash,
                    account.role,
                ),
            )
        ]
        if account.token_hash is not None:
            steps.append(_insert_token(user_id, account.token_name, "api", account.token_hash, now))
        await self._change_accounts(steps)
        return User(
            id=user_id,
            name=account.name,
            created_at=now,
            email=account.email,
            role=account.role,
            has_password=account.password_hash is not None,
        )

    async def get_user(self, user_id: str) -> User | None:
        rows = await self._account_rows(f"SELECT {_USER} FROM users u WHERE u.id = ?", user_id)
        return user_from(rows[0]) if rows else None

    async def user_by_name(self, name: str) -> User | None:
        rows = await self._account_rows(
            f"SELECT {_USER} FROM users u WHERE lower(u.name) = lower(?)", name
        )
        return user_from(rows[0]) if rows else None

    async def user_for_login(self, login: str) -> tuple[User, str | None] | None:
        """The account named `login` (name or email, any case) and its password hash."""
        rows = await self._account_rows(
            f"SELECT {_USER}, u.password_hash AS password_hash FROM users u"
            " WHERE lower(u.name) = lower(?) OR lower(u.email) = lower(?)"
            " ORDER BY lower(u.name) = lower(?) DESC LIMIT 1",
            login,
            login,
            login,
        )
        return (user_from(rows[0]), rows[0]["password_hash"]) if rows else None

    async def list_users(self) -> list[User]:
        """Every account, by name."""
        rows = await self._account_rows(f"SELECT {_USER} FROM users u ORDER BY u.name, u.id")
        return [user_from(row) for row in rows]

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> User | None:
        """Change what is given (None: unchanged; email "" clears it); the account
        after, None when unknown. `Conflict` when the new name or email is taken."""
        changes: dict[str, Any] = {
            "name": name,
            "email": (email or None) if email is not None else None,
            "role": role,
            "disabled": disabled,
            "password_hash": password_hash,
        }
        sets = [(column, value) for column, value in changes.items() if value is not None]
        if email == "":
            sets.append(("email", None))
        if sets:
            assignments = ", ".join(f"{column} = ?" for column, _ in sets)
            values = tuple(value for _, value in sets)
            await self._change_accounts(
                [(f"UPDATE users SET {assignments} WHERE id = ?", (*values, user_id))]
            )
        return await self.get_user(user_id)

    async def delete_user(self, user_id: str) -> bool:
        """The account and everything of it: entries, tasks (with their attempts and
        keys), tokens and web sessions, in one transaction."""
        counts = await self._change_accounts(
            [
                (_SESSIONS_OF_USER.format(kind=""), (user_id,)),
                # Named first: PostgreSQL has no foreign key to cascade from tasks.
                (_OF_USERS_TASKS.format(table="task_attempts"), (user_id,)),
                (_OF_USERS_TASKS.format(table="idempotency_keys"), (user_id,)),
                ("DELETE FROM tasks WHERE user_id = ?", (user_id,)),
                ("DELETE FROM signin_failures WHERE key = ?", (f"account:{user_id}",)),
                ("DELETE FROM users WHERE id = ?", (user_id,)),
            ]
        )
        return counts[-1] > 0

    # --- tokens ---------------------------------------------------------------------
    async def add_token(
        self,
        user_id: str,
        name: str,
        token_hash: str,
        now: float,
        *,
        kind: str = "api",
        expires_at: float | None = None,
    ) -> ApiToken:
        step = _insert_token(user_id, name, kind, token_hash, now, expires_at)
        await self._change_accounts([step])
        return ApiToken(step[1][0], user_id, name, kind, now, None, expires_at)

    async def resolve_token(self, token_hash: str, now: float) -> TokenOwner | None:
        """The enabled account a live (known, unexpired) token belongs to."""
        rows = await self._account_rows(_LIVE_TOKEN, token_hash, False, now, lookup=True)
        return TokenOwner(user_from(rows[0]), token_from(rows[0])) if rows else None

    async def user_by_token_hash(self, token_hash: str, now: float | None = None) -> User | None:
        owner = await self.resolve_token(token_hash, time.time() if now is None else now)
        return None if owner is None else owner.user

    async def list_tokens(self, user_id: str, kind: str = "api") -> list[ApiToken]:
        rows = await self._account_rows(
            f"SELECT {_TOKEN} FROM api_tokens t WHERE t.user_id = ? AND t.kind = ?"
            " ORDER BY t.created_at, t.id",
            user_id,
            kind,
        )
        return [token_from(row) for row in rows]

    async def revoke_token(self, user_id: str, token_id: str) -> bool:
        """Delete the user's token and the web sessions opened with it."""
        counts = await self._change_accounts(
            [
                (
                    "DELETE FROM web_sessions WHERE token_hash IN (SELECT token_hash FROM"
                    " api_tokens WHERE id = ? AND user_id = ?)",
                    (token_id, user_id),
                ),
                ("DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id)),
            ]
        )
        return counts[-1] > 0

    async def revoke_token_hash(self, token_hash: str, kind: str = "web") -> bool:
        """Delete a token of `kind` by hash (a password sign-in's, at sign-out)."""
        counts = await self._change_accounts(
            [("DELETE FROM api_tokens WHERE token_hash = ? AND kind = ?", (token_hash, kind))]
        )
        return counts[0] > 0

    async def end_web_sessions(self, user_id: str) -> int:
        """Sign out everywhere: every web session of the account ends (password or
        token sign-in) and the tokens behind password sign-ins go."""
        counts = await self._change_accounts(
            [
                (_SESSIONS_OF_USER.format(kind=""), (user_id,)),
                ("DELETE FROM api_tokens WHERE user_id = ? AND kind = ?", (user_id, "web")),
            ]
        )
        return counts[0]

    async def touch_token(self, token_id: str, now: float) -> None:
        """A last-used stamp: who may use which token is unchanged, so no new
        `accounts_generation` (verified tokens stay remembered)."""
        await self._account_write(
            [("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token_id))]
        )

    # --- invites --------------------------------------------------------------------
    async def create_invite(self, code_hash: str, role: str, now: float, expires_at: float) -> str:
        """A one-time invite (only its code's hash is kept); returns its id."""
        invite_id = new_id()
        await self._change_accounts(
            [
                (
                    "INSERT INTO invites (id, code_hash, role, created_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (invite_id, code_hash, role, now, expires_at),
                )
            ]
        )
        return invite_id

    async def invite_role(self, code_hash: str, now: float) -> str | None:
        """The role an unused, unexpired invite gives; None otherwise."""
        rows = await self._account_rows(
            "SELECT role FROM invites WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            code_hash,
            now,
        )
        return str(rows[0]["role"]) if rows else None

    async def accept_invite(self, code_hash: str, account: NewAccount, now: float) -> User | None:
        """Use the invite once and create the account with the invite's role; None when
        the invite is unknown, used or expired. A taken name (`Conflict`) leaves the
        invite usable."""
        role = await self.invite_role(code_hash, now)
        if role is None:
            return None
        counts = await self._change_accounts(
            [
                (
                    "UPDATE invites SET used_at = ? WHERE code_hash = ? AND used_at IS NULL"
                    " AND expires_at > ?",
                    (now, code_hash, now),
                )
            ]
        )
        if counts[0] == 0:
            return None  # another request used it meanwhile
        try:
            return await self.create_account(replace(account, role=role), now)
        except Conflict:
            await self._change_accounts(
                [("UPDATE invites SET used_at = NULL WHERE code_hash = ?", (code_hash,))]
            )
            raise

    # --- sign-in throttling ---------------------------------------------------------
    async def signin_failures(self, keys: Sequence[str]) -> dict[str, tuple[int, float]]:
        """key -> (failures, last failure) for those of `keys` that failed before."""
        if not keys:
            return {}
        marks = ", ".join("?" for _ in keys)
        rows = await self._account_rows(
            f"SELECT key, failures, last_failure_at FROM signin_failures WHERE key IN ({marks})",
            *keys,
        )
        return {row["key"]: (row["failures"], row["last_failure_at"]) for row in rows}

    async def record_signin_failure(
        self, keys: Sequence[str], now: float, forget_before: float
    ) -> None:
        """Count a failure on each key; a key quiet since `forget_before` restarts at 1,
        and the other quiet keys go (the table holds only recent failures)."""
        marks = ", ".join("?" for _ in keys)
        prune: Step = (
            f"DELETE FROM signin_failures WHERE last_failure_at < ? AND key NOT IN ({marks})",
            (forget_before, *keys),
        )
        count = (
            "INSERT INTO signin_failures (key, failures, last_failure_at) VALUES (?, 1, ?)"
            " ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN"
            " signin_failures.last_failure_at < ? THEN 1"
            " ELSE signin_failures.failures + 1 END,"
            " last_failure_at = excluded.last_failure_at"
        )
        await self._change_accounts([prune, *((count, (key, now, forget_before)) for key in keys)])

    async def clear_signin_failures(self, keys: Sequence[str]) -> None:
        await self._change_accounts(
            [("DELETE FROM signin_failures WHERE key = ?", (key,)) for key in keys]
        )


def _insert_token(
    user_id: str,
    name: str,
    kind: str,
    token_hash: str,
    now: float,
    expires_at: float | None = None,
) -> Step:
    return (
        "INSERT INTO api_tokens (id, user_id, name, kind, token_hash, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (new_id(), user_id, name, kind, token_hash, now, expires_at),
    )
