"""The web app in a real browser: one real `englog server` (SQLite in a temporary
directory, loopback ports) and one real `englog worker` (builtin AI backend) for the
whole session, driven by headless Chromium through Playwright's sync API.

Playwright cannot download its own browsers here, so it drives the distribution's
Chromium (`make test` installs it). Every test gets a fresh browser context (no cookies
carried over), and `screenshot` keeps a PNG of each page under `test-output/browser/`
for people to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.support.procs import ADMIN_TOKEN, REPO, Cluster, wait_for

SHOTS = REPO / "test-output" / "browser"
WORKER_ID = "browser-worker"
# A worker that registers the test handlers and leaves: its task types stay known to
# the server, but no connected worker runs them, so a task of such a type stays pending.
GONE_WORKER_ID = "browser-gone-worker"
ORPHAN_TYPE = "retry_after"
# Playwright's default waits are 30 s; a page of this app answers in milliseconds.
WAIT_MS = 10_000
expect.set_options(timeout=WAIT_MS)


@dataclass(frozen=True)
class Live:
    """The running server, its worker, and the tokens of the people who use it."""

    cluster: Cluster
    url: str
    admin_token: str
    tokens: dict[str, str]

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )

    def add_entries(self, token: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.api(token) as c:
            answer = c.post("/v1/entries/bulk", json={"entries": entries})
            answer.raise_for_status()
            stored: list[dict[str, Any]] = answer.json()["entries"]
            return stored

    def report(self, token: str, week_start: str, week_end: str) -> dict[str, Any]:
        """A weekly report over REST, waited for until finished."""
        with self.api(token) as c:
            answer = c.post(
                "/v1/tasks/reports",
                json={"week_start": week_start, "week_end": week_end},
                headers={"Prefer": "wait=20"},
            )
            answer.raise_for_status()
            task: dict[str, Any] = answer.json()
            return task

    def orphan_task(self) -> str:
        """A task no connected worker runs: it stays pending until cancelled."""
        with self.api(self.admin_token) as c:
            answer = c.post("/v1/tasks", json={"type": ORPHAN_TYPE, "payload": {"seconds": 1}})
            answer.raise_for_status()
            task_id: str = answer.json()["task_id"]
            return task_id


def _create_users(cluster: Cluster, names: list[str]) -> dict[str, str]:
    """An account and a first token for each name, through the admin's REST API (the
    CLI's `users create` is tested elsewhere; here nine process starts would only slow
    the session's set-up on a busy machine)."""
    tokens = {}
    with cluster.admin() as api:
        for name in names:
            r = api.post("/v1/users", json={"name": name, "with_token": True})
            assert r.status_code == 201, r.text
            tokens[name] = r.json()["token"]
    return tokens


def _worker_connected(cluster: Cluster, worker_id: str, connected: bool) -> bool:
    with cluster.admin() as c:
        rows = c.get("/v1/workers").json()["workers"]
    return any(w["id"] == worker_id and w["connected"] is connected for w in rows)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    cluster = Cluster(tmp_path_factory.mktemp("browser"), heartbeat=1.0)
    try:
        server = cluster.start_server()
        cluster.start_worker(WORKER_ID, concurrency=4)
        gone = cluster.start_worker(
            GONE_WORKER_ID, "--handlers", "tests.support.handlers", concurrency=1
        )
        tokens = _create_users(
            cluster, ["alice", "bob", "carol", "dana", "erin", "fay", "gwen", "hal", "ivy"]
        )
        cluster.wait_workers_connected(WORKER_ID, GONE_WORKER_ID)
        assert gone.terminate(30) == 0, gone.log()[-2000:]
        wait_for(
            lambda: _worker_connected(cluster, GONE_WORKER_ID, connected=False),
            20,
            what="the departed worker shown as not connected",
        )
        yield Live(cluster, server.url, ADMIN_TOKEN, tokens)
    finally:
        cluster.stop_all()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=chromium, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, live: Live) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Keep a PNG of what the browser shows (the whole page, or the window only), for
    people to look at; docs/img/ holds two of the demo's."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, token: str) -> None:
    """Sign in through the form and wait for the page it leads to."""
    page.goto("/app/signin")
    page.get_by_label("API token").fill(token)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def minutes_of(page: Page, testid: str) -> int:
    return int(page.get_by_test_id(testid).get_attribute("data-minutes") or "-1")


def expect_minutes(page: Page, testid: str, expected: int) -> None:
    """Wait until the element's data-minutes is `expected` (htmx may swap it in)."""
    expect(page.get_by_test_id(testid)).to_have_attribute("data-minutes", str(expected))


def entry(
    title: str, start: str, end: str, type_: str = "development", project: str = "atlas"
) -> dict[str, Any]:
    """An entry for the REST API; times as `YYYY-MM-DDTHH:MM` in UTC."""
    return {
        "title": title,
        "type": type_,
        "project": project,
        "start_time": datetime.fromisoformat(start).isoformat() + "+00:00",
        "end_time": datetime.fromisoformat(end).isoformat() + "+00:00",
    }
