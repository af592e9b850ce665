"""Who is calling the REST API: FastAPI dependencies for bearer-token authentication.

Two kinds of caller exist:
- a *user*, whose API token (printed once by `englog users create`) is stored only as
  a SHA-256 hash, so we hash what we are given and look the hash up;
- the *admin*, whose token is the server setting `ENGLOG_ADMIN_TOKEN`, compared in
  constant time. The admin owns no entries; it may read and cancel any task, list
  workers and submit any known task type through `POST /v1/tasks`.

Submission policy for `POST /v1/tasks` (the generic route): the admin may submit any
type in `state.known_types`; a user may submit only the test types in
`USER_GENERIC_TYPES` (noop, sleep). Users reach `insight_generation` and
`weekly_report` only through `/v1/tasks/insights` and `/v1/tasks/reports`, which build
the payload from the user's own entries, so a user can never hand a worker arbitrary
entries or another user's data.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from englog.domain.tokens import hash_token, tokens_match
from englog.server.state import ServerState
from englog.store.base import User

USER_GENERIC_TYPES: frozenset[str] = frozenset({"noop", "sleep"})
# Tokens can be revoked and accounts disabled (issue 23), on any replica: a request's
# token is looked up in the store unless this process verified it within the last
# second and changed no account since (`state.verified_tokens`, englog.server.
# token_cache, which says what that bounds). `state.users_by_token` only remembers who
# a token was, for the rate limiter's buckets (englog.server.http.limits); it never
# authenticates anyone.
USER_CACHE_TTL_S = 60.0
USER_CACHE_MAX = 10_000
# A token's last use is written at most this often (one write, not one per request).
LAST_USED_EVERY_S = 60.0

# auto_error=False: we answer 401 ourselves, in the API's error shape.
_bearer = HTTPBearer(auto_error=False, description="A user API token or the admin token")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user, or the admin (user is None)."""

    user: User | None

    @property
    def is_admin(self) -> bool:
        return self.user is None

    @property
    def user_id(self) -> str | None:
        """Scope for store queries: None means every user's data (admin only)."""
        return None if self.user is None else self.user.id

    @property
    def role(self) -> str:
        """The admin token acts as an admin account; a user has its account's role."""
        return "admin" if self.user is None else self.user.role

    @property
    def operates(self) -> bool:
        """Sees the queue and the workers (role operator or admin)."""
        return self.user is None or self.user.operates

    @property
    def manages_accounts(self) -> bool:
        return self.role == "admin"

    def may_submit(self, task_type: str) -> bool:
        return self.is_admin or task_type in USER_GENERIC_TYPES


async def server_state(request: Request) -> ServerState:
    """The ServerState the app was built with (set by create_http_app). `async` so
    FastAPI calls it inline instead of through its thread pool, once per request."""
    state: ServerState = request.app.state.englog
    return state


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


# Where a middleware that already resolved this request's token leaves the answer
# (`EarlyAuth`), so the route does not look the same token up a second time.
_RESOLVED = "englog_principal"


def remember_principal(
    scope: MutableMapping[str, Any], token: str, found: Principal | None
) -> None:
    scope.setdefault("state", {})[_RESOLVED] = (token, found)


async def current_principal(
    request: Request,
    state: Annotated[ServerState, Depends(server_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Resolve `Authorization: Bearer <token>` to a user or the admin; 401 otherwise."""
    if credentials is None:
        raise _unauthenticated("missing bearer token (Authorization: Bearer <token>)")
    resolved = request.scope.get("state", {}).get(_RESOLVED)
    if resolved is not None and resolved[0] == credentials.credentials:
        principal = resolved[1]
    else:
        principal = await principal_for(state, credentials.credentials)
    if principal is None:
        raise _unauthenticated("invalid or unknown token")
    return principal


_ADMIN = Principal(user=None)


async def principal_for(state: ServerState, token: str) -> Principal | None:
    """The admin or the user a bearer token names; None for an unknown token."""
    admin_token = state.settings.admin_token
    if admin_token and tokens_match(token, admin_token):
        return _ADMIN
    return await _user_by_hash(state, hash_token(token))


async def principal_by_hash(state: ServerState, token_hash: str) -> Principal | None:
    """The admin or the user whose token hashes to `token_hash` (a web session keeps the
    hash, never the token); None for an unknown one."""
    admin_token = state.settings.admin_token
    if admin_token and tokens_match(token_hash, hash_token(admin_token)):
        return _ADMIN
    return await _user_by_hash(state, token_hash)


async def _user_by_hash(state: ServerState, token_hash: str) -> Principal | None:
    """From `state.verified_tokens` when it may answer (englog.server.token_cache),
    else from the store."""
    now = state.clock()
    generation = state.store.accounts_generation
    cached = state.verified_tokens.get(token_hash, generation, now)
    if cached is not None:
        return Principal(user=cached.user)
    owner = await state.store.resolve_token(token_hash, now)
    if owner is None:
        state.users_by_token.pop(token_hash, None)
        return None
    state.verified_tokens.put(token_hash, generation, owner)
    if len(state.users_by_token) >= USER_CACHE_MAX:
        state.users_by_token.clear()
    state.users_by_token[token_hash] = (time.monotonic() + USER_CACHE_TTL_S, owner.user)
    last = owner.token.last_used_at
    if last is None or now - last >= LAST_USED_EVERY_S:
        await state.store.touch_token(owner.token.id, now)
    return Principal(user=owner.user)


async def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> User:
    """A user (not the admin): for routes about the caller's own entries and tasks."""
    if principal.user is None:
        raise HTTPException(
            status_code=403, detail="the admin token has no entries; use a user token"
        )
    return principal.user


async def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status_code=403, detail="admin token required")
    return principal


async def require_account_admin(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """The admin token or an account with role admin: managing accounts."""
    if not principal.manages_accounts:
        raise HTTPException(status_code=403, detail="managing accounts needs role admin")
    return principal


async def require_operator(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """The admin token or an account with role operator or admin: the workers' list."""
    if not principal.operates:
        raise HTTPException(
            status_code=403, detail="admin token required (or an account with role operator)"
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
AccountAdmin = Annotated[Principal, Depends(require_account_admin)]
OperatorPrincipal = Annotated[Principal, Depends(require_operator)]
State = Annotated[ServerState, Depends(server_state)]
