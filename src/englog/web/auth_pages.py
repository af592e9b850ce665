"""Sign in (name or email and password, throttled; or an API token), sign out, and the
root that sends each viewer home."""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from englog.domain.tokens import tokens_match
from englog.server.signin_throttle import SignInRefused, password_sign_in
from englog.web.pages import go, render
from englog.web.sessions import (
    AnyViewer,
    SignInRequired,
    checked_form,
    clear_cookie,
    set_cookie,
    sign_in,
    sign_in_account,
    sign_out,
    viewer,
    web_state,
)

router = APIRouter()


def home_of(is_admin: bool) -> str:
    return "/app/ops/queue" if is_admin else "/app/week"


def safe_next(value: str | None) -> str | None:
    """A page of this app to return to after signing in (`?next=`): a local /app/ path
    only, so the sign-in form never sends anyone to another site."""
    if not value or any(c in value for c in "\\\r\n"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/app/"):
        return None
    if parts.path.startswith("/app/signin"):
        return None
    return value


def signin_url(request: Request) -> str:
    """The sign-in page, asked to come back to the page a GET wanted."""
    if request.method != "GET":
        return "/app/signin"
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = safe_next(wanted)
    return f"/app/signin?next={quote(back, safe='')}" if back else "/app/signin"


@router.get("/")
async def root(request: Request) -> Response:
    try:
        found = await viewer(request)
    except SignInRequired:
        return go(request, "/app/signin")
    return go(request, home_of(found.is_admin))


# The sign-in form has no session yet: its CSRF token is a double-submit cookie.
PRE_CSRF_COOKIE = "englog_signin"


def _signin_form(
    request: Request, status_code: int = 200, problem: str = "", back: str | None = None
) -> HTMLResponse:
    pre = secrets.token_urlsafe(24)
    back = back or safe_next(request.query_params.get("next"))
    signup = web_state(request).settings.allow_signup
    page = render(
        request,
        "signin.html",
        status_code=status_code,
        problem=problem,
        pre=pre,
        next=back,
        signup=signup,
    )
    page.set_cookie(
        PRE_CSRF_COOKIE,
        pre,
        max_age=3600,
        path="/app/signin",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    return page


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> HTMLResponse:
    return _signin_form(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    back = safe_next(str(form.get("next") or ""))
    pre = request.cookies.get(PRE_CSRF_COOKIE, "")
    given = str(form.get("csrf") or "")
    if not pre or not tokens_match(given, pre):
        problem = "The sign-in form had expired; try again"
        return _signin_form(request, status_code=403, problem=problem, back=back)
    token = str(form.get("token") or "")
    login = str(form.get("login") or "")
    password = str(form.get("password") or "")
    state = web_state(request)
    if not token.strip() and login.strip() and password:
        address = request.client.host if request.client else None
        try:
            user = await password_sign_in(state.store, login, password, address, state.clock())
        except SignInRefused as exc:
            status = 401 if exc.retry_after is None else 429
            return _signin_form(request, status_code=status, problem=str(exc).capitalize())
        response = go(request, home_of(False))
        set_cookie(request, response, await sign_in_account(state, user))
        return response
    signed = await sign_in(state, token) if token.strip() else None
    if signed is None:
        message = (
            "That token is not valid"
            if token.strip()
            else "Enter your name and password, or paste an API token"
        )
        return _signin_form(request, status_code=401, problem=message, back=back)
    session_id, principal = signed
    if back and principal.is_admin != back.startswith("/app/ops"):
        back = None  # the other role's page would only say "not for you"
    response = go(request, back or home_of(principal.is_admin))
    set_cookie(request, response, session_id)
    return response


@router.post("/signout")
async def signout(request: Request, found: AnyViewer) -> Response:
    await checked_form(request, found)
    await sign_out(web_state(request), request)
    response = go(request, "/app/signin")
    clear_cookie(request, response)
    return response
