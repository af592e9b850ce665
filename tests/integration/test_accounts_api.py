"""Accounts over REST (issue 23), in process on a real SQLite store: an admin creates
accounts (409 for a taken name, any case), people trade a password for a named token,
list and revoke their tokens (a revoked token is refused on its next request), a
disabled account is refused at once, and failed sign-ins are throttled."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from englog.domain.entry_csv import from_csv
from englog.server.http import create_http_app
from englog.server.settings import ServerSettings
from englog.server.state import ServerState
from englog.server.token_cache import VERIFIED_TTL_S
from englog.store.postgres import PostgresStore
from englog.store.sqlite import SQLiteStore
from tests.support.pg import create_database, drop_database
from tests.support.procs import eventually

ADMIN = {"Authorization": "Bearer admintoken"}


@pytest.fixture
def state(store: SQLiteStore) -> ServerState:
    return ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))


@pytest.fixture
async def api(state: ServerState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_user(api: httpx.AsyncClient, name: str, role: str = "member") -> dict[str, str]:
    r = await api.post(
        "/v1/users", json={"name": name, "password": "correct horse", "role": role}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def token_for(api: httpx.AsyncClient, name: str, token_name: str = "laptop") -> str:
    r = await api.post(
        "/v1/auth/token",
        json={"name": name, "password": "correct horse", "token_name": token_name},
    )
    assert r.status_code == 201, r.text
    assert set(r.json()) >= {"id", "token"}
    return str(r.json()["token"])


async def test_admin_creates_accounts_and_a_taken_name_is_409(api: httpx.AsyncClient) -> None:
    ada = await make_user(api, "ada", "operator")
    assert ada["role"] == "operator" and ada["has_password"] and not ada["disabled"]
    again = await api.post(
        "/v1/users", json={"name": "ADA", "password": "whatever1"}, headers=ADMIN
    )
    assert again.status_code == 409
    assert again.json()["error"] == "conflict" and again.json()["field"] == "name"
    listed = (await api.get("/v1/users", headers=ADMIN)).json()["users"]
    assert [u["name"] for u in listed] == ["ada"]
    # An operator reads the workers' list; a member may not.
    operator = await token_for(api, "ada")
    assert (await api.get("/v1/workers", headers=bearer(operator))).status_code == 200
    # A member may not manage accounts; an admin account may.
    member = await make_user(api, "bob")
    bob = await token_for(api, "bob")
    assert (await api.get("/v1/users", headers=bearer(bob))).status_code == 403
    assert (await api.get("/v1/workers", headers=bearer(bob))).status_code == 403
    r = await api.patch(f"/v1/users/{member['id']}", json={"role": "admin"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert (await api.get("/v1/users", headers=bearer(bob))).status_code == 200
    assert (await api.get("/v1/me", headers=bearer(bob))).json()["role"] == "admin"


async def test_password_token_list_and_revoke_refused_on_next_request(
    api: httpx.AsyncClient,
) -> None:
    await make_user(api, "ada")
    laptop = await token_for(api, "ada", "laptop")
    phone = await token_for(api, "ada", "phone")
    assert (await api.get("/v1/entries", headers=bearer(laptop))).status_code == 200
    tokens = (await api.get("/v1/me/tokens", headers=bearer(phone))).json()["tokens"]
    assert [t["name"] for t in tokens] == ["laptop", "phone"]
    assert tokens[0]["last_used_at"] is not None  # used above
    assert all("token" not in t for t in tokens)
    gone = await api.delete(f"/v1/me/tokens/{tokens[0]['id']}", headers=bearer(phone))
    assert gone.status_code == 204
    refused = await api.get("/v1/entries", headers=bearer(laptop))
    assert refused.status_code == 401
    assert (await api.get("/v1/entries", headers=bearer(phone))).status_code == 200
    # A lifetime is a number of days: JSON `true` is not 1 day.
    flagged = {"name": "tablet", "expires_in_days": True}
    bad = await api.post("/v1/me/tokens", json=flagged, headers=bearer(phone))
    assert bad.status_code == 422, bad.text
    bad = await api.post("/v1/invites", json={"expires_in_hours": True}, headers=ADMIN)
    assert bad.status_code == 422, bad.text
    again = await api.delete(f"/v1/me/tokens/{tokens[0]['id']}", headers=bearer(phone))
    assert again.status_code == 404


async def test_wrong_password_is_401_and_failures_are_throttled(api: httpx.AsyncClient) -> None:
    await make_user(api, "ada")
    body = {"name": "ada", "password": "wrong password", "token_name": "x"}
    statuses = [(await api.post("/v1/auth/token", json=body)).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    throttled = await api.post("/v1/auth/token", json={**body, "password": "correct horse"})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1


async def test_disabled_account_is_refused_at_once_and_enabled_again(
    api: httpx.AsyncClient,
) -> None:
    ada = await make_user(api, "ada")
    token = await token_for(api, "ada")
    assert (await api.get("/v1/me", headers=bearer(token))).status_code == 200
    off = await api.patch(f"/v1/users/{ada['id']}", json={"disabled": True}, headers=ADMIN)
    assert off.status_code == 200 and off.json()["disabled"]
    assert (await api.get("/v1/me", headers=bearer(token))).status_code == 401
    no_token = await api.post(
        "/v1/auth/token", json={"name": "ada", "password": "correct horse", "token_name": "x"}
    )
    assert no_token.status_code == 401
    await api.patch(f"/v1/users/{ada['id']}", json={"disabled": False}, headers=ADMIN)
    assert (await api.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_change_password_and_delete_account(api: httpx.AsyncClient) -> None:
    ada = await make_user(api, "ada")
    token = await token_for(api, "ada")
    wrong = await api.post(
        "/v1/me/password",
        json={"current_password": "nope", "new_password": "battery staple"},
        headers=bearer(token),
    )
    assert wrong.status_code == 422
    ok = await api.post(
        "/v1/me/password",
        json={"current_password": "correct horse", "new_password": "battery staple"},
        headers=bearer(token),
    )
    assert ok.status_code == 204
    body = {"name": "ada", "password": "battery staple", "token_name": "new"}
    assert (await api.post("/v1/auth/token", json=body)).status_code == 201
    entry = {
        "title": "work",
        "type": "development",
        "start_time": "2026-01-05T09:00:00Z",
        "end_time": "2026-01-05T10:00:00Z",
        "value_rating": "high",
        "impact_level": "team",
    }
    assert (await api.post("/v1/entries", json=entry, headers=bearer(token))).status_code == 201
    assert (await api.delete(f"/v1/users/{ada['id']}", headers=ADMIN)).status_code == 204
    assert (await api.get("/v1/entries", headers=bearer(token))).status_code == 401
    assert (await api.get("/v1/users", headers=ADMIN)).json()["users"] == []


async def _refused_within_the_bound(client: httpx.AsyncClient, token: str, what: str) -> None:
    """The other replica refuses `token` within VERIFIED_TTL_S (in practice as soon as
    the accounts NOTIFY arrives; the TTL bounds it should that be lost)."""
    started = time.monotonic()

    async def refused() -> bool:
        return (await client.get("/v1/me", headers=bearer(token))).status_code == 401

    await eventually(refused, within=VERIFIED_TTL_S + 5, interval=0.02, what=what)
    assert time.monotonic() - started < VERIFIED_TTL_S + 1.0


async def test_a_revoke_or_disable_on_one_replica_is_refused_on_the_other() -> None:
    """Two server replicas on one PostgreSQL database: what one revokes or disables the
    other refuses within the bound of its verified-token cache (englog.server.
    token_cache); the replica that made the change refuses on the very next request."""
    url = await create_database("englog_accounts")
    stores = [PostgresStore(url), PostgresStore(url)]
    try:
        for s in stores:
            await s.open()
        apps = [
            create_http_app(ServerState(store=s, settings=ServerSettings(admin_token="admintoken")))
            for s in stores
        ]
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
        ):
            ada = await make_user(a, "ada")
            laptop = await token_for(a, "ada", "laptop")
            phone = await token_for(b, "ada", "phone")
            assert (await b.get("/v1/me", headers=bearer(laptop))).status_code == 200
            tokens = (await a.get("/v1/me/tokens", headers=bearer(phone))).json()["tokens"]
            laptop_id = next(t["id"] for t in tokens if t["name"] == "laptop")
            assert (
                await a.delete(f"/v1/me/tokens/{laptop_id}", headers=bearer(phone))
            ).status_code == 204
            assert (await a.get("/v1/me", headers=bearer(laptop))).status_code == 401
            await _refused_within_the_bound(b, laptop, "the revoked token refused on b")
            assert (await b.get("/v1/me", headers=bearer(phone))).status_code == 200
            assert (await a.get("/v1/me", headers=bearer(phone))).status_code == 200
            await b.patch(f"/v1/users/{ada['id']}", json={"disabled": True}, headers=ADMIN)
            assert (await b.get("/v1/me", headers=bearer(phone))).status_code == 401
            await _refused_within_the_bound(a, phone, "the disabled account refused on a")
    finally:
        for s in stores:
            await s.close()
        await drop_database(url)


async def test_export_json_and_csv_and_delete_me_with_confirmation(
    api: httpx.AsyncClient,
) -> None:
    await make_user(api, "ada")
    token = await token_for(api, "ada")
    entry = {
        "title": 'a "quoted", comma',
        "type": "development",
        "project": "atlas",
        "tags": ["ci", "a,b"],
        "start_time": "2026-01-05T09:00:00+01:00",
        "end_time": "2026-01-05T10:00:00+01:00",
        "value_rating": "high",
        "impact_level": "team",
    }
    assert (await api.post("/v1/entries", json=entry, headers=bearer(token))).status_code == 201
    as_json = await api.get("/v1/me/export", headers=bearer(token))
    assert as_json.json()["count"] == 1
    as_csv = await api.get("/v1/me/export", params={"format": "csv"}, headers=bearer(token))
    assert as_csv.headers["content-type"].startswith("text/csv")
    [back] = from_csv(as_csv.text)
    assert back == {k: v for k, v in entry.items()}
    wrong = await api.delete("/v1/me", params={"confirm": "bob"}, headers=bearer(token))
    assert wrong.status_code == 422
    gone = await api.delete("/v1/me", params={"confirm": "ada"}, headers=bearer(token))
    assert gone.status_code == 204
    assert (await api.get("/v1/me", headers=bearer(token))).status_code == 401
    assert (await api.get("/v1/users", headers=ADMIN)).json()["users"] == []
