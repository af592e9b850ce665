"""Your account in the browser: change the password, sign out everywhere, and the
personal access tokens (made here, shown once; revoked here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.params import Path
from fastapi.responses import HTMLResponse, Response

from englog.domain.entry_csv import to_csv
from englog.domain.passwords import WeakPassword, hash_password_async, verify_password_async
from englog.domain.tokens import hash_token, new_token
from englog.server.http.my_data import all_entries
from englog.web.pages import NotFound, go, render
from englog.web.sessions import Engineer, checked_form, clear_cookie, user_of, web_state

router = APIRouter(prefix="/account")
TokenId = Annotated[str, Path(min_length=1, max_length=64)]


def when(ts: float | None) -> str:
    return "never" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


async def _page(
    request: Request,
    found: Engineer,
    *,
    status_code: int = 200,
    problem: str = "",
    notice: str = "",
    new_token: str = "",
) -> HTMLResponse:
    user = user_of(found)
    state = web_state(request)
    fresh = await state.store.get_user(user.id)
    tokens = await state.store.list_tokens(user.id)
    return render(
        request,
        "account.html",
        found,
        status_code=status_code,
        nav="account",
        account=fresh or user,
        tokens=tokens,
        when=when,
        problem=problem,
        notice=notice,
        new_token=new_token,
    )


@router.get("", response_class=HTMLResponse)
async def account_page(request: Request, found: Engineer) -> HTMLResponse:
    return await _page(request, found)


@router.post("/password", response_class=HTMLResponse)
async def change_password(request: Request, found: Engineer) -> HTMLResponse:
    form = await checked_form(request, found)
    state = web_state(request)
    user = user_of(found)
    current, new = str(form.get("current") or ""), str(form.get("new") or "")
    if new != str(form.get("confirm") or ""):
        return await _page(request, found, status_code=422, problem="The new passwords differ")
    if user.has_password:
        stored = await state.store.user_for_login(user.name)
        if not await verify_password_async(stored[1] if stored else None, current):
            problem = "The current password is not right"
            return await _page(request, found, status_code=422, problem=problem)
    try:
        password_hash = await hash_password_async(new)
    except WeakPassword as exc:
        return await _page(request, found, status_code=422, problem=str(exc).capitalize())
    await state.store.update_user(user.id, password_hash=password_hash)
    return await _page(request, found, notice="Password changed")


@router.post("/signout-everywhere")
async def sign_out_everywhere(request: Request, found: Engineer) -> Response:
    """Every web session of the account ends, this one too."""
    await checked_form(request, found)
    await web_state(request).store.end_web_sessions(user_of(found).id)
    response = go(request, "/app/signin")
    clear_cookie(request, response)
    return response


@router.post("/tokens", response_class=HTMLResponse)
async def create_token(request: Request, found: Engineer) -> HTMLResponse:
    form = await checked_form(request, found)
    name = str(form.get("name") or "").strip()
    if not name or len(name) > 100:
        problem = "Name the token (up to 100 characters)"
        return await _page(request, found, status_code=422, problem=problem)
    state = web_state(request)
    token = new_token("eng_")
    await state.store.add_token(user_of(found).id, name, hash_token(token), state.clock())
    return await _page(request, found, status_code=201, new_token=token,
                       notice=f"Token {name!r} created: copy it now, it is shown once")  # fmt: skip


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(request: Request, found: Engineer, token_id: TokenId) -> Response:
    await checked_form(request, found)
    if not await web_state(request).store.revoke_token(user_of(found).id, token_id):
        raise NotFound(token_id)
    return go(request, "/app/account")


@router.post("/delete")
async def delete_account(request: Request, found: Engineer) -> Response:
    """Delete the account and everything of it, once its name is typed to confirm."""
    form = await checked_form(request, found)
    user = user_of(found)
    if str(form.get("confirm") or "").strip() != user.name:
        problem = "Type your account name to confirm"
        return await _page(request, found, status_code=422, problem=problem)
    await web_state(request).store.delete_user(user.id)
    response = go(request, "/app/signin")
    clear_cookie(request, response)
    return response


@router.get("/export.csv")
async def export_csv(request: Request, found: Engineer) -> Response:
    """All my entries as the CSV `englog import` reads."""
    user = user_of(found)
    entries = [e.to_payload() for e in await all_entries(web_state(request), user.id)]
    return Response(
        to_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="englog-{user.name}.csv"'},
    )
