"""The operator's task page says what a task carried, what came of it and how long it
waited and ran; the queue page charts queue wait with axes in units (issue 24)."""

from __future__ import annotations

import re

from englog.ai.sample import load_sample_week
from tests.support.procs import eventually
from tests.web.conftest import ADMIN, ALICE
from tests.web.test_web_results_and_ops import _browser, http  # noqa: F401 (fixture)

API = {"Authorization": f"Bearer {ALICE}"}


async def _finished(client, task_id: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    async def done() -> dict | None:  # type: ignore[type-arg]
        task = (await client.get(f"/v1/tasks/{task_id}", headers=API)).json()
        return task if task["status"] in ("completed", "failed", "cancelled") else None

    return await eventually(done, within=30, interval=0.1, what=f"task {task_id} finished")


async def test_task_page_shows_payload_summary_result_error_and_times(http: str) -> None:  # noqa: F811
    async with _browser(http, ALICE) as alice:
        week = load_sample_week()
        stored = await alice.post("/v1/entries/bulk", json={"entries": week}, headers=API)
        assert stored.status_code == 201
        report = await alice.post(
            "/v1/tasks/reports",
            json={"week_start": "2026-11-16", "week_end": "2026-11-22"},
            headers=API,
        )
        assert report.status_code in (200, 201, 202), report.text
        report_id = report.json()["task_id"]
        bad = await alice.post(
            "/v1/tasks", json={"type": "sleep", "payload": {"seconds": "soon"}}, headers=API
        )
        bad_id = bad.json()["task_id"]
        await _finished(alice, report_id)
        failed = await _finished(alice, bad_id)
    assert failed["status"] == "failed"
    async with _browser(http, ADMIN) as admin:
        page = (await admin.get(f"/app/ops/tasks/{report_id}")).text
        payload = page.split('data-testid="task-payload"', 1)[1].split("</dl>", 1)[0]
        assert f"{len(week)} entries from 2026-11-16 to 2026-11-2" in payload
        assert week[0]["title"] not in payload  # a summary, not the engineer's entries
        assert "week_start" in payload and "2026-11-16" in payload
        result = page.split('data-testid="task-result">', 1)[1].split("</pre>", 1)[0]
        assert "summary" in result and "builtin" in result
        assert re.search(r'data-testid="task-wait">[\d.]+ m?s<', page)
        assert re.search(r'data-testid="task-run">[\d.]+ m?s<', page)

        failed_page = (await admin.get(f"/app/ops/tasks/{bad_id}")).text
        error = failed_page.split('data-testid="task-error">', 1)[1].split("</p>", 1)[0]
        assert "seconds" in error  # the handler's own words
        assert "<dt>seconds</dt><dd><pre>soon</pre></dd>" in failed_page

        queue = (await admin.get("/app/ops/queue")).text
        assert re.search(r'data-testid="wait-summary">2 leased, longest [\d.]+ m?s<', queue)
        assert 'data-testid="wait-bar"' in queue
        yaxis = re.search(r'data-testid="wait-yaxis">(.*?)</div>', queue)
        assert yaxis and yaxis.group(1).endswith("<span>0 s</span>")
        assert "Vertical: tasks finished per minute" in queue
        throughput = re.search(r'data-testid="throughput-yaxis">(.*?)</div>', queue)
        assert throughput and throughput.group(1).endswith("<span>0</span>")
