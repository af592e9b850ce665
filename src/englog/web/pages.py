"""Rendering shared by every page module: one templates object, the context every page
gets (viewer, CSRF token, active nav), and redirects that htmx follows too."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from englog.errors import EnglogError
from englog.web.sessions import Viewer
from englog.web.templating import make_templates

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


@functools.cache
def templates() -> Jinja2Templates:
    """The one templates object, made with the first page (see `make_templates`)."""
    return make_templates()


class NotFound(EnglogError, LookupError):
    """No such thing for this viewer: another user's is answered the same as none."""


def render(
    request: Request,
    name: str,
    viewer: Viewer | None = None,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    context = {
        "viewer": viewer,
        "csrf": viewer.csrf if viewer else "",
        "timer_bar": getattr(request.state, "timer_bar", None),
        **values,
    }
    return templates().TemplateResponse(request, name, context, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def go(request: Request, url: str) -> Response:
    """303 to `url`; an htmx request that is not boosted is told to navigate there."""
    if is_htmx(request) and request.headers.get("hx-boosted") != "true":
        return Response(status_code=204, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)
