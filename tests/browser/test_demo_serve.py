"""`englog demo --serve`: the demo's scenario, then the web app stays up with the URL and
tokens printed; people sign in with them; Ctrl-C (SIGINT) ends it with exit 0."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import WAIT_MS, screenshot
from tests.support.procs import base_env, englog_cmd

pytestmark = pytest.mark.timeout(90)

URL = re.compile(r"web app: (http://127\.0\.0\.1:\d+/app/)")
SAMPLE_WEEK = re.compile(r"web app: (http://127\.0\.0\.1:\d+/app/week\?start=2026-11-16)")
USER_TOKEN = re.compile(r"API token: (eng_\S+)")
ADMIN_TOKEN = re.compile(r"admin\) token: (\S+)")


class Output:
    """The lines a process prints, read on a thread so every wait is bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._new: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        """After the process has ended: the reader has met EOF; the pipe is closed."""
        self._thread.join(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> str:
        for line in self.lines:
            if found := pattern.search(line):
                return found.group(1)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if found := pattern.search(line):
                return found.group(1)
        raise AssertionError(f"no line matching {pattern.pattern!r}:\n{''.join(self.lines)}")


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], Output]]:
    proc = subprocess.Popen(
        englog_cmd("demo", "--serve", "--port", "0"),
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out = Output(proc)
    try:
        yield proc, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.close()


def test_demo_serve_prints_the_app_and_stops_on_ctrl_c(
    demo: tuple[subprocess.Popen[str], Output], browser: Browser
) -> None:
    proc, out = demo
    url = out.wait_for(URL, timeout=60)
    user_token = out.wait_for(USER_TOKEN, timeout=5)
    admin_token = out.wait_for(ADMIN_TOKEN, timeout=5)
    base = url.removesuffix("/app/")
    assert httpx.get(f"{url}signin", timeout=10).status_code == 200

    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        page.goto(out.wait_for(SAMPLE_WEEK, timeout=5))  # the printed URL: sign in first
        page.get_by_label("API token").fill(user_token)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/app/week?start=2026-11-16")  # the sample week
        expect(page.get_by_test_id("block").first).to_be_visible()  # the calendar view
        assert int(page.get_by_test_id("week-total").get_attribute("data-minutes") or 0) > 0
        screenshot(page, "demo-week")
        screenshot(page, "demo-week-window", full_page=False)  # docs/img/week.png
        page.goto("/app/reports")
        expect(page.get_by_role("link", name="Week of 2026-11-16")).to_be_visible()
        page.context.clear_cookies()

        page.goto("/app/signin")
        page.get_by_label("API token").fill(admin_token)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/app/ops/queue")
        expect(page.get_by_test_id("task-row")).to_have_count(2)
        screenshot(page, "demo-queue")
        screenshot(page, "demo-queue-window", full_page=False)  # docs/img/queue.png
    finally:
        context.close()

    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0, "".join(out.lines)


def test_demo_serve_on_a_taken_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            englog_cmd("demo", "--serve", "--port", str(port)),
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr
    assert "cannot listen for HTTP" in out.stderr.strip().splitlines()[-1]
