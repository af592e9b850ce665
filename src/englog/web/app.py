"""`create_web_app`: the web app for engineers and operators, a FastAPI sub-app that the
server's HTTP app mounts at `/app`. Pages are rendered on the server (Jinja2); htmx,
shipped in the package, swaps fragments for live figures and in-place edits. No Node at
run time and nothing from a CDN, so it works offline."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from englog.server.state import ServerState
from englog.web import (
    account_pages,
    auth_pages,
    join_pages,
    ops,
    projects_page,
    results,
    settings,
    timer,
    trends_page,
    week,
)
from englog.web.auth_pages import signin_url
from englog.web.pages import NotFound, go, render
from englog.web.security import SecurityHeaders
from englog.web.sessions import CsrfRejected, Forbidden, SignInRequired
from englog.web.templating import STATIC

PREFIX = "/app"  # where englog.server.http mounts it (WEB_PREFIX)


def create_web_app(state: ServerState) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.englog = state
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    pages = (auth_pages, account_pages, join_pages, projects_page, week, timer, trends_page)
    for module in (*pages, results, settings, ops):
        app.include_router(module.router)
    _install_error_pages(app)
    app.add_middleware(SecurityHeaders)
    return app


def _install_error_pages(app: FastAPI) -> None:
    async def sign_in_first(request: Request, exc: Exception) -> Response:
        return go(request, signin_url(request))

    async def forbidden(request: Request, exc: Exception) -> HTMLResponse:
        return render(request, "error.html", status_code=403, title="Not for you", message=str(exc))

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return render(
            request,
            "error.html",
            status_code=404,
            title="Not found",
            message="There is nothing here, or it belongs to someone else.",
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return await not_found(request, exc)
        return render(
            request,
            "error.html",
            status_code=exc.status_code,
            title="Cannot do that",
            message=str(exc.detail),
        )

    async def bad_input(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, RequestValidationError)
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return render(request, "error.html", status_code=422, title="Bad input", message=fields)

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(CsrfRejected, forbidden)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_input)
