"""The small findings of issue 22: calendar-limit dates are a 4xx, the operator page's
notice comes from a fixed set, redirects never carry the request's Host, /docs and
/redoc are off by default, and /metrics can require a token."""

from __future__ import annotations

import dataclasses
import time

import pytest

from englog.domain.tasks import NewTask
from englog.server.state import ServerState
from englog.web.totals import EARLIEST, LATEST
from tests.web.conftest import ADMIN, ALICE, browser, signed_in


@pytest.mark.parametrize("start", ["9999-12-27", "0001-01-01", "9999-12-31"])
async def test_calendar_limit_dates_are_4xx(state: ServerState, start: str) -> None:
    async with signed_in(state, ALICE) as client:
        page = await client.get("/app/week", params={"start": start})
        assert 400 <= page.status_code < 500, page.status_code
    async with signed_in(state, ALICE) as client:
        # The first and last weeks a page can show with its previous and next links.
        for day in (EARLIEST, LATEST):
            assert (await client.get("/app/week", params={"start": str(day)})).status_code == 200


async def test_the_operator_notice_is_a_key_not_text(state: ServerState) -> None:
    [task] = await state.store.submit_tasks([NewTask(type="noop", payload={})], time.time())
    async with signed_in(state, ADMIN) as client:
        page = await client.get(
            f"/app/ops/tasks/{task.id}", params={"notice": "Your session expired: call 555"}
        )
        assert page.status_code == 200
        assert "call 555" not in page.text
        known = await client.get(f"/app/ops/tasks/{task.id}", params={"notice": "cancelled"})
        assert 'role="status" class="card">Cancelled<' in known.text


async def test_redirects_never_carry_the_host(state: ServerState) -> None:
    async with browser(state) as client:
        answer = await client.get("/app", headers={"Host": "evil.example"})
        assert answer.status_code in (301, 302, 303, 307, 308)
        assert answer.headers["location"].startswith("/"), answer.headers["location"]
        assert "evil" not in answer.headers["location"]


async def test_api_docs_are_off_unless_asked(state: ServerState) -> None:
    async with browser(state) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200
    on = dataclasses.replace(state.settings, api_docs=True)
    async with browser(ServerState(store=state.store, settings=on)) as client:
        assert (await client.get("/docs")).status_code == 200


async def test_metrics_can_require_a_token(state: ServerState) -> None:
    guarded = ServerState(
        store=state.store, settings=dataclasses.replace(state.settings, metrics_token="m-tok")
    )
    async with browser(guarded) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer m-tok"})
        assert ok.status_code == 200 and "englog_http_requests" in ok.text
    async with browser(state) as client:
        assert (await client.get("/metrics")).status_code == 200
