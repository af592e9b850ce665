"""Query strings hold only the parameters an operation documents, each once.

FastAPI ignores a query parameter it does not know (`?limt=5` silently lists 100) and
keeps the last of a repeated one, so a typo or a list where one value is documented
passes unnoticed, and the OpenAPI document (which lists the parameters) would not tell
the truth. An app-wide dependency answers both with the API's 422 naming the parameter.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from englog.server.http.errors import invalid

# Kept on the route object itself (routes are not hashable, and ids are reused).
_KNOWN = "_englog_query_names"


def _known(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, _KNOWN, None)
    if names is None:
        names = frozenset(_query_names(route.dependant))
        setattr(route, _KNOWN, names)
    return names


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def documented_query_only(request: Request) -> None:
    """422 for a query parameter the operation does not take, or one given twice."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known(route)
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise invalid(
                f"query.{name}", f"unknown query parameter (this operation takes: {takes})"
            )
        if name in seen:
            raise invalid(f"query.{name}", "given more than once; give it once")
        seen.add(name)
