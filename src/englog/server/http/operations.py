"""What operators and load balancers call: `/v1/workers`, `/health`, `/readiness` and
`/metrics`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from englog import __version__
from englog.domain.tokens import tokens_match
from englog.server.auth import OperatorPrincipal, State
from englog.server.http.metrics import api_metrics
from englog.server.http.models import worker_json
from englog.server.state import ServerState

router = APIRouter(tags=["operations"])


@router.get("/v1/workers")
async def list_workers(_: OperatorPrincipal, state: State) -> dict[str, Any]:
    records = await state.store.list_workers()
    connected = state.queue.connected_workers()
    workers = [worker_json(r, r.info.id in connected) for r in records]
    return {"workers": workers, "count": len(workers)}


def _uptime(state: ServerState) -> float:
    return round(max(0.0, state.clock() - state.started_at), 3)


@router.get("/health")
async def health(state: State) -> JSONResponse:
    """Liveness: the process answers and so does its store. Pending tasks are the
    queue's own count (englog.server.pending): a health check never counts rows."""
    body: dict[str, Any] = {"status": "ok", "version": __version__, "uptime_s": _uptime(state)}
    try:
        await state.probe_store()
    except Exception as exc:  # any failure of the store means unhealthy, never a 500
        body.update(status="unhealthy", reason=f"store: {exc}")
        return JSONResponse(body, status_code=503)
    body["pending_tasks"] = state.queue.pending.total
    # A queue at its bound is visible here, not only in the submitters' 429s.
    body["queue_bound"] = {
        "max_queued_per_user": state.settings.max_queued_per_user,
        "refused_submissions": state.queue.refused_at_cap,
    }
    return JSONResponse(body)


@router.get("/readiness")
async def readiness(state: State) -> JSONResponse:
    """Readiness: startup finished (migrations, lease extension) and the store answers.
    `unroutable_task_types` counts pending tasks, per type, that no worker connected to
    this server can run: they wait until such a worker connects. The counts are the
    queue's own (englog.server.pending), not a count of rows."""
    connected = state.queue.connected_workers()
    if not state.ready:
        return JSONResponse({"status": "not_ready", "reason": "starting"}, status_code=503)
    by_type = state.queue.pending.by_type()
    try:
        if by_type:
            records = await state.store.list_workers()
        else:
            await state.probe_store()
            records = []
    except Exception as exc:
        return JSONResponse({"status": "not_ready", "reason": f"store: {exc}"}, status_code=503)
    # Workers streaming from this server, and those heard from lately by any replica.
    routable = set().union(*connected.values())
    recent = state.clock() - 3 * state.settings.heartbeat_interval_s
    for record in records:
        heard = record.last_heartbeat_at or 0.0
        if record.status != "offline" and heard >= recent:
            routable.update(record.info.capabilities)
    unroutable = {t: n for t, n in by_type.items() if t not in routable}
    return JSONResponse(
        {
            "status": "ready",
            "connected_workers": len(connected),
            "pending_tasks": state.queue.pending.total,
            "unroutable_task_types": unroutable,
        }
    )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Scraped every few seconds: reads no store (the gauges read the server's state).
    With ENGLOG_METRICS_TOKEN set, only `Authorization: Bearer <that token>` sees it."""
    wanted = request.app.state.englog.settings.metrics_token
    if wanted:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not tokens_match(given.strip(), wanted):
            return JSONResponse(
                {"error": "unauthenticated", "detail": "/metrics needs the metrics token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(generate_latest(api_metrics(request).registry), media_type=CONTENT_TYPE_LATEST)
