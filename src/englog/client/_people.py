"""The sync `Client`'s methods for the people side (issue 23): accounts, tokens,
invites, my data, projects, tags and analytics; and `token_with_password`, which
needs no token yet (`englog login --name`)."""

from __future__ import annotations

from abc import abstractmethod
from datetime import date
from typing import Any, TypeVar

import httpx

from englog import __version__
from englog.client import _account_calls, _calls
from englog.client._calls import Call
from englog.client.models import Account, NewToken, TokenInfo

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 15.0


class PeopleCalls:
    """Mixed into `Client`, which sends the calls."""

    @abstractmethod
    def send(self, call: Call[T]) -> T: ...

    url: str

    # --- accounts and tokens ----------------------------------------------------------------
    def create_token(self, token_name: str, *, expires_in_days: int | None = None) -> NewToken:
        """Another personal access token for your account."""
        return self.send(_account_calls.create_token(token_name, expires_in_days))

    def tokens(self) -> list[TokenInfo]:
        """Your personal access tokens (names and dates, never the tokens)."""
        return self.send(_account_calls.list_tokens())

    def revoke_token(self, token_id: str) -> None:
        """Revoke one of your tokens: refused from its next request on."""
        self.send(_account_calls.revoke_token(token_id))

    def change_password(self, new: str, *, current: str | None = None) -> None:
        self.send(_account_calls.change_password(current, new))

    def users(self) -> list[Account]:
        """Every account (admin)."""
        return self.send(_account_calls.list_accounts())

    def create_user(
        self,
        name: str,
        *,
        password: str | None = None,
        role: str = "member",
        email: str | None = None,
        with_token: bool = False,
    ) -> Account:
        """Create an account (admin); `with_token`: its first API token is in the answer."""
        values = {"name": name, "password": password, "role": role, "email": email,
                  "with_token": with_token or None}  # fmt: skip
        return self.send(_account_calls.create_account(values))

    def update_user(self, user_id: str, **changes: Any) -> Account:
        """Change an account (admin): name, email, role, disabled, password."""
        return self.send(_account_calls.update_account(user_id, changes))

    def export(self, format: str = "csv") -> str:
        """All your entries as CSV (what `englog import` reads) or JSON text."""
        return self.send(_account_calls.export_entries(format))

    def delete_me(self, confirm: str) -> None:
        """Delete your account and all of its data; `confirm` is your account name."""
        self.send(_account_calls.delete_me(confirm))

    def projects(self, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
        """Your projects; with start and end (local days), each with its `minutes`."""
        return self.send(_account_calls.list_projects(start, end))

    def create_project(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new project: description, colour (#rrggbb), status, is_default, dates."""
        return self.send(_account_calls.create_project({"name": name, **fields}))

    def update_project(self, project_id: str, **changes: Any) -> dict[str, Any]:
        """Rename (entries follow), describe, colour, set status or default."""
        return self.send(_account_calls.update_project(project_id, changes))

    def delete_project(self, project_id: str) -> None:
        """Delete a project; its entries stay, without a project."""
        self.send(_account_calls.delete_project(project_id))

    def tags(self, q: str | None = None, *, sort: str = "popular") -> list[dict[str, Any]]:
        """Your tags with `count` and `last_used`; `q` a prefix; sort popular|recent|name."""
        return self.send(_account_calls.list_tags(q, sort))

    def rename_tag(self, old: str, new: str) -> int:
        """Rename (or merge into an existing tag) across your entries; entries changed."""
        return int(self.send(_account_calls.rename_tag(old, new))["entries"])

    def analytics(self, start: date, end: date, *, kind: str = "summary") -> dict[str, Any]:
        """The facts of local days start..end (`summary` or `productivity`), at once."""
        return self.send(_account_calls.analytics(kind, start, end))

    def create_invite(self, role: str = "member", *, expires_in_hours: int = 72) -> str:
        """A one-time invite link (the full URL) that creates one account (admin)."""
        made = self.send(_account_calls.create_invite(role, expires_in_hours))
        return f"{self.url}{made['path']}"

    def delete_user(self, user_id: str) -> None:
        """Delete an account with all of its data (admin)."""
        self.send(_account_calls.delete_account(user_id))


def token_with_password(
    url: str,
    name: str,
    password: str,
    token_name: str,
    *,
    expires_in_days: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> NewToken:
    """A new personal access token for account `name` (or its email), by password: what
    `englog login --name` does, before there is a token to build a `Client` with."""
    call = _account_calls.token_with_password(name, password, token_name, expires_in_days)
    headers = {"User-Agent": f"englog-client/{__version__}"}
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, headers=headers) as http:
        try:
            response = http.request(call.method, call.path, json=call.json)
        except httpx.TransportError as exc:
            raise _calls.transport_error(exc, url) from exc
    return call.parse(response)
