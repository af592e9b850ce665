"""The operator's pages in a real browser: the queue and a task with its attempt, the
cancelling of a pending task, the retry of a cancelled one, and the workers (one
connected, one gone)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    GONE_WORKER_ID,
    ORPHAN_TYPE,
    WORKER_ID,
    Live,
    entry,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.timeout(60)
STATUSES = ("pending", "running", "completed", "failed", "cancelled")


def test_the_queue_and_a_report_task_with_its_attempt(page: Page, live: Live) -> None:
    token = live.tokens["bob"]
    live.add_entries(token, [entry("Deploy", "2026-08-03T09:00", "2026-08-03T10:00", "deployment")])
    task = live.report(token, "2026-08-03", "2026-08-09")
    assert task["status"] == "completed", task
    task_id = task["task_id"]

    sign_in(page, live.admin_token)
    page.goto("/app/ops/queue")
    for status in STATUSES:
        expect(page.get_by_test_id(f"count-{status}")).to_have_text(re.compile(r"^\s*\d+\s*$"))
    assert int(page.get_by_test_id("count-completed").inner_text()) >= 1
    expect(page.locator('svg[role="img"][aria-label]').first).to_be_visible()
    for label in ("Status", "Type", "User"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Filter")).to_be_visible()
    row = page.get_by_test_id("task-row").filter(has_text=task_id)
    expect(row).to_have_count(1)
    screenshot(page, "queue")

    row.get_by_role("link", name=task_id).click()
    expect(page).to_have_url(f"{live.url}/app/ops/tasks/{task_id}")
    expect(page.get_by_test_id("task-status")).to_have_text("completed")
    attempts = page.get_by_test_id("attempt-row")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_contain_text(WORKER_ID)
    expect(page.get_by_role("button", name="Cancel task")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry task")).to_have_count(0)
    screenshot(page, "ops-task")


def test_the_queue_filters_by_status(page: Page, live: Live) -> None:
    live.orphan_task()
    sign_in(page, live.admin_token)
    page.goto("/app/ops/queue")
    page.get_by_label("Status", exact=True).select_option("pending")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=pending"))
    rows = page.get_by_test_id("task-row")
    expect(rows.first).to_be_visible()
    for text in rows.all_inner_texts():
        assert "pending" in text and ORPHAN_TYPE in text, text


def test_the_admin_cancels_a_pending_task(page: Page, live: Live) -> None:
    task_id = live.orphan_task()
    sign_in(page, live.admin_token)
    page.goto(f"/app/ops/tasks/{task_id}")
    expect(page.get_by_test_id("task-status")).to_have_text("pending")
    expect(page.get_by_test_id("attempt-row")).to_have_count(0)
    screenshot(page, "ops-task-pending")
    page.get_by_role("button", name="Cancel task").click()
    expect(page.get_by_test_id("task-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel task")).to_have_count(0)
    with live.api(live.admin_token) as api:
        assert api.get(f"/v1/tasks/{task_id}").json()["status"] == "cancelled"


def test_the_admin_retries_a_cancelled_task_as_a_new_one(page: Page, live: Live) -> None:
    task_id = live.orphan_task()
    with live.api(live.admin_token) as api:
        assert api.post(f"/v1/tasks/{task_id}/cancel").status_code == 200
    sign_in(page, live.admin_token)
    page.goto(f"/app/ops/tasks/{task_id}")
    expect(page.get_by_role("button", name="Cancel task")).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("button", name="Retry task").click()
    expect(page.get_by_test_id("retry-of")).to_contain_text(task_id)
    expect(page.get_by_test_id("task-status")).to_have_text("pending")
    again = page.url.rsplit("/", 1)[-1].split("?", 1)[0]
    assert again != task_id
    screenshot(page, "ops-task-retried")
    page.get_by_role("button", name="Cancel task").click()  # leave nothing pending behind
    expect(page.get_by_test_id("task-status")).to_have_text("cancelled")
    with live.api(live.admin_token) as api:
        assert api.get(f"/v1/tasks/{task_id}").json()["status"] == "cancelled"  # as it was


def test_the_workers_page_lists_the_connected_and_the_lost(page: Page, live: Live) -> None:
    sign_in(page, live.admin_token)
    page.get_by_role("link", name="Workers", exact=True).click()
    expect(page).to_have_url(f"{live.url}/app/ops/workers")
    up = (
        page.get_by_test_id("worker-row")
        .filter(has_text=WORKER_ID)
        .filter(has_not_text=GONE_WORKER_ID)
    )
    expect(up).to_have_count(1)
    expect(up).to_contain_text("connected")
    expect(up).to_contain_text("weekly_report")
    gone = page.get_by_test_id("worker-row").filter(has_text=GONE_WORKER_ID)
    expect(gone).to_have_count(1)
    expect(gone).to_contain_text("lost")
    screenshot(page, "workers")


def test_a_user_cannot_open_the_operator_pages(page: Page, live: Live) -> None:
    task_id = live.orphan_task()
    sign_in(page, live.tokens["alice"])
    for path in ("/app/ops/queue", "/app/ops/workers", f"/app/ops/tasks/{task_id}"):
        answer = page.goto(path)
        assert answer is not None
        assert answer.status in (403, 404), (path, answer.status)
        expect(page.get_by_test_id("task-row")).to_have_count(0)
        expect(page.get_by_role("button", name="Cancel task")).to_have_count(0)
