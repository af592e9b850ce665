"""The client's calls for the people side (issue 23): accounts, tokens, invites, my
data, projects, tags and analytics; built as `Call`s like the rest (`_calls`), sent by
the sync `Client`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import TypeAdapter

from englog.client._calls import Call, _model, _nothing, checked
from englog.client.models import Account, NewToken, TokenInfo

NEW_TOKEN = _model(TypeAdapter(NewToken))
TOKENS = _model(TypeAdapter(list[TokenInfo]), "tokens")
ACCOUNT = _model(TypeAdapter(Account))
ACCOUNTS = _model(TypeAdapter(list[Account]), "users")
_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_LIST: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(list[dict[str, Any]])


def _given(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def token_with_password(
    name: str, password: str, token_name: str, expires_in_days: int | None
) -> Call[NewToken]:
    body = _given({"name": name, "password": password, "token_name": token_name,
                   "expires_in_days": expires_in_days})  # fmt: skip
    return Call("POST", "/v1/auth/token", NEW_TOKEN, json=body, resend=False)


def create_token(token_name: str, expires_in_days: int | None) -> Call[NewToken]:
    body = _given({"token_name": token_name, "expires_in_days": expires_in_days})
    return Call("POST", "/v1/me/tokens", NEW_TOKEN, json=body, resend=False)


def list_tokens() -> Call[list[TokenInfo]]:
    return Call("GET", "/v1/me/tokens", TOKENS)


def revoke_token(token_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/me/tokens/{token_id}", _nothing, resend=False)


def change_password(current: str | None, new: str) -> Call[None]:
    body = _given({"current_password": current, "new_password": new})
    return Call("POST", "/v1/me/password", _nothing, json=body, resend=False)


def create_account(values: Mapping[str, Any]) -> Call[Account]:
    return Call("POST", "/v1/users", ACCOUNT, json=_given(values), resend=False)


def list_accounts() -> Call[list[Account]]:
    return Call("GET", "/v1/users", ACCOUNTS)


def update_account(user_id: str, changes: Mapping[str, Any]) -> Call[Account]:
    return Call("PATCH", f"/v1/users/{user_id}", ACCOUNT, json=_given(changes))


def delete_account(user_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/users/{user_id}", _nothing, resend=False)


def create_invite(role: str, expires_in_hours: int) -> Call[dict[str, Any]]:
    body = {"role": role, "expires_in_hours": expires_in_hours}
    return Call("POST", "/v1/invites", _model(_OBJECT), json=body,
                resend=False)  # fmt: skip


def export_entries(format: str) -> Call[str]:
    return Call("GET", "/v1/me/export", lambda r: checked(r).text, params={"format": format})


def delete_me(confirm: str) -> Call[None]:
    return Call("DELETE", "/v1/me", _nothing, params={"confirm": confirm}, resend=False)


# --- projects, tags, analytics -------------------------------------------------------------
def _days(start: date | None, end: date | None) -> dict[str, str]:
    return (
        {} if start is None or end is None else {"from": start.isoformat(), "to": end.isoformat()}
    )


def list_projects(start: date | None, end: date | None) -> Call[list[dict[str, Any]]]:
    return Call("GET", "/v1/projects", _model(_LIST, "projects"), params=_days(start, end))


def create_project(fields: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call("POST", "/v1/projects", _model(_OBJECT), json=_given(fields), resend=False)


def update_project(project_id: str, changes: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call("PATCH", f"/v1/projects/{project_id}", _model(_OBJECT), json=_given(changes))


def delete_project(project_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/projects/{project_id}", _nothing, resend=False)


def list_tags(q: str | None, sort: str) -> Call[list[dict[str, Any]]]:
    params = _given({"q": q, "sort": sort})
    return Call("GET", "/v1/tags", _model(_LIST, "tags"), params=params)


def rename_tag(old: str, new: str) -> Call[dict[str, Any]]:
    body = {"from": old, "to": new}
    return Call("POST", "/v1/tags/rename", _model(_OBJECT), json=body, resend=False)


def analytics(kind: str, start: date, end: date) -> Call[dict[str, Any]]:
    return Call("GET", f"/v1/analytics/{kind}", _model(_OBJECT), params=_days(start, end))
