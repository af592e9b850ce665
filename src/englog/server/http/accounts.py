"""Accounts over REST (issue 23): personal access tokens (`/v1/auth/token`,
`/v1/me/tokens`), a password of one's own (`/v1/me/password`) and, for admins (the
admin token or an account with role admin), the accounts themselves (`/v1/users`)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from englog.domain.passwords import WeakPassword, hash_password_async, verify_password_async
from englog.domain.tokens import hash_token, new_token
from englog.server.auth import AccountAdmin, CurrentUser, State
from englog.server.http.errors import ApiError, error_json, invalid, not_found
from englog.server.signin_throttle import SignInRefused, password_sign_in
from englog.store.accounts import Conflict
from englog.store.records import ApiToken, NewAccount, User

router = APIRouter(tags=["accounts"])

Role = Literal["member", "operator", "admin"]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s\x00-\x1f][^\x00-\x1f]*$")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
Password = Annotated[str, Field(min_length=8, max_length=1024, pattern=r"^[^\x00]*$")]
TokenName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
ExpiresDays = Annotated[
    int, Field(ge=1, le=3650, strict=True, description="Days until the token expires")
]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]
DAY_S = 86400.0


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name = Field(description="Account name or email")
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    token_name: TokenName = Field(description="What the token is for, e.g. the machine")
    expires_in_days: ExpiresDays | None = None


class NewTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token_name: TokenName
    expires_in_days: ExpiresDays | None = None


class TokenView(BaseModel):
    id: str
    name: str
    created_at: float
    last_used_at: float | None = None
    expires_at: float | None = None


class NewToken(TokenView):
    token: str = Field(description="The token itself: shown once, keep it")


class TokenList(BaseModel):
    tokens: list[TokenView]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    current_password: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="Needed when the account already has a password"
    )
    new_password: Password


class UserView(BaseModel):
    id: str
    name: str
    email: str | None = None
    role: Role
    disabled: bool
    has_password: bool
    created_at: float


class NewUserView(UserView):
    token: str | None = Field(default=None, description="A first API token, when asked for")


class UserList(BaseModel):
    users: list[UserView]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    password: Password | None = None
    email: Email | None = None
    role: Role = "member"
    with_token: bool = Field(default=False, description="Also issue a first API token")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name | None = None
    email: Email | Literal[""] | None = Field(default=None, description='"" removes it')
    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


def token_view(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
    )


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        name=user.name,
        email=user.email,
        role=user.role,  # type: ignore[arg-type]
        disabled=user.disabled,
        has_password=user.has_password,
        created_at=user.created_at,
    )


def conflict(exc: Conflict) -> ApiError:
    return ApiError(409, "conflict", str(exc), {"field": exc.field})


async def _issue(state: State, user_id: str, name: str, days: int | None, now: float) -> NewToken:
    token = new_token("eng_")
    expires = None if days is None else now + days * DAY_S
    stored = await state.store.add_token(user_id, name, hash_token(token), now, expires_at=expires)
    return NewToken(token=token, **token_view(stored).model_dump())


@router.post(
    "/v1/auth/token",
    status_code=201,
    response_model=NewToken,
)
async def create_token_with_password(
    body: TokenRequest, request: Request, state: State
) -> NewToken | JSONResponse:
    """A new personal access token for the account, by name (or email) and password.
    Failed attempts are throttled per account and per address (429 with Retry-After)."""
    address = request.client.host if request.client else None
    now = state.clock()
    try:
        user = await password_sign_in(state.store, body.name, body.password, address, now)
    except SignInRefused as exc:
        if exc.retry_after is not None:
            wait = math.ceil(exc.retry_after)
            response = error_json(429, "rate_limited", str(exc), retry_after=wait)
            response.headers["Retry-After"] = str(wait)
            return response
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return await _issue(state, user.id, body.token_name, body.expires_in_days, now)


@router.get("/v1/me/tokens")
async def list_my_tokens(user: CurrentUser, state: State) -> TokenList:
    """Your personal access tokens (never the tokens themselves)."""
    return TokenList(tokens=[token_view(t) for t in await state.store.list_tokens(user.id)])


@router.post("/v1/me/tokens", status_code=201)
async def create_my_token(body: NewTokenRequest, user: CurrentUser, state: State) -> NewToken:
    """Another token for your account, made with the one you hold."""
    return await _issue(state, user.id, body.token_name, body.expires_in_days, state.clock())


@router.delete("/v1/me/tokens/{token_id}", status_code=204)
async def revoke_my_token(token_id: Id, user: CurrentUser, state: State) -> Response:
    """Revoke one of your tokens: refused from its next request on, and the web sessions
    opened with it end."""
    if not await state.store.revoke_token(user.id, token_id):
        raise not_found("token")
    return Response(status_code=204)


@router.post("/v1/me/password", status_code=204)
async def change_my_password(body: PasswordChange, user: CurrentUser, state: State) -> Response:
    """Set or change your password (the current one is needed once there is one)."""
    if user.has_password:
        found = await state.store.user_for_login(user.name)
        current = found[1] if found else None
        if not await verify_password_async(current, body.current_password or ""):
            raise invalid("body.current_password", "the current password is not right")
    await state.store.update_user(user.id, password_hash=await _hashed(body.new_password))
    return Response(status_code=204)


async def _hashed(password: str) -> str:
    try:
        return await hash_password_async(password)
    except WeakPassword as exc:
        raise invalid("body.password", str(exc)) from None


# --- admins -----------------------------------------------------------------------------
@router.post("/v1/users", status_code=201)
async def create_user(body: UserCreate, admin: AccountAdmin, state: State) -> NewUserView:
    """Create an account (409 when the name or email is taken, in any case)."""
    password_hash = None if body.password is None else await _hashed(body.password)
    token = new_token("eng_") if body.with_token else None
    account = NewAccount(
        name=body.name.strip(),
        password_hash=password_hash,
        email=body.email,
        role=body.role,
        token_hash=None if token is None else hash_token(token),
    )
    try:
        user = await state.store.create_account(account, state.clock())
    except Conflict as exc:
        raise conflict(exc) from None
    return NewUserView(token=token, **user_view(user).model_dump())


@router.get("/v1/users")
async def list_users(admin: AccountAdmin, state: State) -> UserList:
    return UserList(users=[user_view(u) for u in await state.store.list_users()])


@router.patch("/v1/users/{user_id}")
async def patch_user(user_id: Id, body: UserPatch, admin: AccountAdmin, state: State) -> UserView:
    """Rename, set the email, role or password, disable or enable an account. A disabled
    account is refused on its next request (REST and web; other replicas: within 1 s)."""
    password_hash = None if body.password is None else await _hashed(body.password)
    try:
        user = await state.store.update_user(
            user_id,
            name=None if body.name is None else body.name.strip(),
            email=body.email,
            role=body.role,
            disabled=body.disabled,
            password_hash=password_hash,
        )
    except Conflict as exc:
        raise conflict(exc) from None
    if user is None:
        raise not_found("user")
    if body.disabled:
        await state.store.end_web_sessions(user_id)
    return user_view(user)


@router.delete("/v1/users/{user_id}", status_code=204)
async def delete_user(user_id: Id, admin: AccountAdmin, state: State) -> Response:
    """Delete an account with its entries, tasks, results, tokens and sessions."""
    if not await state.store.delete_user(user_id):
        raise not_found("user")
    return Response(status_code=204)


class InviteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Role = "member"
    expires_in_hours: Annotated[int, Field(ge=1, le=720, strict=True)] = 72


class InviteView(BaseModel):
    id: str
    role: Role
    expires_at: float
    code: str = Field(description="Shown once: the link is `path` on this server")
    path: str


@router.post("/v1/invites", status_code=201)
async def create_invite(body: InviteCreate, admin: AccountAdmin, state: State) -> InviteView:
    """A one-time link that creates one account with `role`; it expires unused."""
    code = new_token()
    now = state.clock()
    expires = now + body.expires_in_hours * 3600.0
    invite_id = await state.store.create_invite(hash_token(code), body.role, now, expires)
    return InviteView(
        id=invite_id, role=body.role, expires_at=expires, code=code, path=f"/app/invite/{code}"
    )
