"""Making an account in the browser: with a one-time invite link (`/app/invite/CODE`,
made by an admin with `POST /v1/invites` or `englog users invite`), or at `/app/signup`
when the server runs with `--allow-signup` (off by default; members only). Either way
the new account is signed in at once."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.params import Path
from fastapi.responses import HTMLResponse, Response

from englog.domain.passwords import WeakPassword, hash_password_async
from englog.domain.tokens import hash_token, tokens_match
from englog.server.state import ServerState
from englog.store.accounts import Conflict
from englog.store.records import NewAccount, User
from englog.web.pages import NotFound, go, render
from englog.web.sessions import set_cookie, sign_in_account, web_state

router = APIRouter()
JOIN_COOKIE = "englog_join"
Code = Annotated[str, Path(min_length=10, max_length=100)]


def _form(
    request: Request, action: str, heading: str, *, status_code: int = 200, problem: str = ""
) -> HTMLResponse:
    pre = secrets.token_urlsafe(24)
    page = render(
        request,
        "join.html",
        status_code=status_code,
        problem=problem,
        pre=pre,
        action=action,
        heading=heading,
    )
    page.set_cookie(
        JOIN_COOKIE,
        pre,
        max_age=3600,
        path=action,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    return page


async def _account_from_form(request: Request) -> NewAccount | str:
    """The account the posted form asks for, or what is wrong with it."""
    form = await request.form()
    pre = request.cookies.get(JOIN_COOKIE, "")
    if not pre or not tokens_match(str(form.get("csrf") or ""), pre):
        return "The form had expired; try again"
    name = str(form.get("name") or "").strip()
    email = str(form.get("email") or "").strip() or None
    password = str(form.get("password") or "")
    if not name or len(name) > 100:
        return "Choose a name (up to 100 characters)"
    if email is not None and ("@" not in email or len(email) > 254):
        return "That email does not look right"
    if password != str(form.get("confirm") or ""):
        return "The passwords differ"
    try:
        password_hash = await hash_password_async(password)
    except WeakPassword as exc:
        return str(exc).capitalize()
    return NewAccount(name=name, email=email, password_hash=password_hash)


async def _signed_in(request: Request, state: ServerState, user: User) -> Response:
    response = go(request, "/app/week")
    set_cookie(request, response, await sign_in_account(state, user))
    return response


@router.get("/invite/{code}", response_class=HTMLResponse)
async def invite_page(request: Request, code: Code) -> HTMLResponse:
    state = web_state(request)
    if await state.store.invite_role(hash_token(code), state.clock()) is None:
        raise NotFound("invite")
    return _form(request, f"/app/invite/{code}", "Create your account")


@router.post("/invite/{code}")
async def accept_invite(request: Request, code: Code) -> Response:
    state = web_state(request)
    action = f"/app/invite/{code}"
    account = await _account_from_form(request)
    if isinstance(account, str):
        return _form(request, action, "Create your account", status_code=422, problem=account)
    try:
        user = await state.store.accept_invite(hash_token(code), account, state.clock())
    except Conflict as exc:
        return _form(request, action, "Create your account", status_code=409,
                     problem=f"That {exc.field} is taken")  # fmt: skip
    if user is None:
        raise NotFound("invite")
    return await _signed_in(request, state, user)


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request) -> HTMLResponse:
    if not web_state(request).settings.allow_signup:
        raise NotFound("signup")
    return _form(request, "/app/signup", "Sign up")


@router.post("/signup")
async def signup(request: Request) -> Response:
    state = web_state(request)
    if not state.settings.allow_signup:
        raise NotFound("signup")
    account = await _account_from_form(request)
    if isinstance(account, str):
        return _form(request, "/app/signup", "Sign up", status_code=422, problem=account)
    try:
        user = await state.store.create_account(account, state.clock())
    except Conflict as exc:
        return _form(request, "/app/signup", "Sign up", status_code=409,
                     problem=f"That {exc.field} is taken")  # fmt: skip
    return await _signed_in(request, state, user)
