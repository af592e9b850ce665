"""Web sessions: a person signs in once (name or email and password, or an API token)
and the browser then carries an opaque session cookie (HttpOnly, SameSite=Strict,
Secure under TLS). The server keeps
only hashes (of the session id and of the token), so a stolen database lets no one in,
and signing out deletes the session on the server, not just the cookie.

Every state-changing request also carries the session's CSRF token (a hidden `csrf`
field, or the `X-CSRF-Token` header htmx sends), compared in constant time."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from englog.domain.tokens import hash_token, new_token, tokens_match
from englog.errors import EnglogError
from englog.server.auth import Principal, principal_by_hash
from englog.server.state import ServerState
from englog.store.base import User
from englog.store.records import WebSession
from englog.web.timer_bar import timer_bar

COOKIE = "englog_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 12 * 3600.0


class SignInRequired(EnglogError):
    """No session, or an expired or signed-out one: the page answers with the sign-in."""


class Forbidden(EnglogError):
    """Signed in, but the page is for the other kind of viewer (user vs admin)."""


class CsrfRejected(EnglogError):
    """A state-changing request without its session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a page: the principal behind the session, and its CSRF token."""

    principal: Principal
    session: WebSession

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def operates(self) -> bool:
        """Sees the queue and workers: the admin token, or role operator or admin."""
        return self.principal.operates

    @property
    def name(self) -> str:
        return "admin" if self.principal.user is None else self.principal.user.name


def web_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.englog
    return state


async def sign_in(state: ServerState, token: str) -> tuple[str, Principal] | None:
    """A new session for the holder of `token`: (cookie value, principal), or None."""
    token_hash = hash_token(token.strip())
    principal = await principal_by_hash(state, token_hash)
    if principal is None:
        return None
    return await _open_session(state, token_hash), principal


async def sign_in_account(state: ServerState, user: User) -> str:
    """A new session for an account that gave its password: behind it, a token of kind
    "web" that lives as long as the session, so revoking it, disabling the account or
    signing out everywhere ends the session on its next request (on the other replicas
    within `token_cache.VERIFIED_TTL_S`)."""
    token_hash = hash_token(new_token("web_"))
    now = state.clock()
    await state.store.add_token(
        user.id, "web sign-in", token_hash, now, kind="web", expires_at=now + SESSION_TTL_S
    )
    return await _open_session(state, token_hash)


async def _open_session(state: ServerState, token_hash: str) -> str:
    session_id = secrets.token_urlsafe(32)
    now = state.clock()
    await state.store.create_web_session(
        WebSession(
            id_hash=hash_token(session_id),
            token_hash=token_hash,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_TTL_S,
        )
    )
    return session_id


def set_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(SESSION_TTL_S),
        path="/app",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path="/app",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


async def sign_out(state: ServerState, request: Request) -> None:
    """End this browser's session (and the token of a password sign-in behind it)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        id_hash = hash_token(session_id)
        session = await state.store.get_web_session(id_hash, state.clock())
        await state.store.delete_web_session(id_hash)
        if session is not None:
            await state.store.revoke_token_hash(session.token_hash, kind="web")


async def viewer(request: Request) -> Viewer:
    """The signed-in viewer; SignInRequired otherwise (also when the token behind the
    session no longer names anyone, e.g. a changed admin token)."""
    state = web_state(request)
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise SignInRequired("sign in to continue")
    session = await state.store.get_web_session(hash_token(session_id), state.clock())
    if session is None:
        raise SignInRequired("your session has ended; sign in again")
    principal = await principal_by_hash(state, session.token_hash)
    if principal is None:
        raise SignInRequired("the token behind this session is no longer valid")
    remember_viewer(state, session.id_hash, principal)
    return Viewer(principal=principal, session=session)


# How long a seen session counts as its user for the rate limits, and how many are kept.
VIEWER_CACHE_TTL_S = 60.0
VIEWER_CACHE_MAX = 10_000


def remember_viewer(state: ServerState, id_hash: str, principal: Principal) -> None:
    if len(state.web_viewers) >= VIEWER_CACHE_MAX:
        state.web_viewers.clear()
    state.web_viewers[id_hash] = (time.monotonic() + VIEWER_CACHE_TTL_S, principal.user_id)


async def engineer(request: Request, found: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    """Pages about one's own entries: the admin owns none. A page (GET) also gets the
    header's running timer (`request.state.timer_bar`, which `render` passes on)."""
    if found.principal.user is None:
        raise Forbidden("the admin token has no entries: sign in with a user token")
    if request.method == "GET":
        request.state.timer_bar = await timer_bar(web_state(request), found.principal.user.id)
    return found


async def operator(found: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    if not found.operates:
        raise Forbidden("operator pages need role operator or admin (or the admin token)")
    return found


def user_of(found: Viewer) -> User:
    user = found.principal.user
    assert user is not None  # engineer() let only users through
    return user


async def checked_form(request: Request, found: Viewer) -> FormData:
    """The posted form, once its CSRF token matches the session's."""
    form = await request.form()
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(given, str) or not tokens_match(given, found.csrf):
        raise CsrfRejected("the form is out of date or was not sent by this site; reload it")
    return form


AnyViewer = Annotated[Viewer, Depends(viewer)]
Engineer = Annotated[Viewer, Depends(engineer)]
Operator = Annotated[Viewer, Depends(operator)]
