"""Sign-in comes back to the page that asked for it (`englog demo --serve` prints the
sample week's URL), and never leaves the app."""

from __future__ import annotations

import pytest

from englog.server.state import ServerState
from englog.web.auth_pages import safe_next
from tests.web.conftest import ADMIN, ALICE, browser, csrf_of

pytestmark = pytest.mark.timeout(30)


async def test_a_page_asked_for_before_signing_in_opens_after_it(state: ServerState) -> None:
    async with browser(state) as client:
        asked = await client.get("/app/week?start=2026-11-16")
        assert asked.status_code == 303
        assert asked.headers["location"] == "/app/signin?next=%2Fapp%2Fweek%3Fstart%3D2026-11-16"
        form = await client.get(asked.headers["location"])
        assert 'name="next" value="/app/week?start=2026-11-16"' in form.text
        answer = await client.post(
            "/app/signin",
            data={"token": ALICE, "csrf": csrf_of(form), "next": "/app/week?start=2026-11-16"},
        )
        assert answer.headers["location"] == "/app/week?start=2026-11-16"
        week = await client.get(answer.headers["location"])
    assert "2026-11-16" in week.text


async def test_the_admin_goes_home_rather_than_to_an_engineer_page(state: ServerState) -> None:
    async with browser(state) as client:
        form = await client.get("/app/signin?next=/app/week")
        answer = await client.post(
            "/app/signin", data={"token": ADMIN, "csrf": csrf_of(form), "next": "/app/week"}
        )
    assert answer.headers["location"] == "/app/ops/queue"


@pytest.mark.parametrize(
    "wanted",
    [
        "https://evil.example/app/week",
        "//evil.example/app/week",
        "/\\evil.example",
        "/v1/tasks",
        "/app/signin",
        "/app/week\r\nSet-Cookie: x=1",
        "",
    ],
)
def test_next_never_leaves_the_app(wanted: str) -> None:
    assert safe_next(wanted) is None


async def test_a_foreign_next_is_ignored_at_sign_in(state: ServerState) -> None:
    async with browser(state) as client:
        form = await client.get("/app/signin?next=https://evil.example/")
        assert 'name="next"' not in form.text
        answer = await client.post(
            "/app/signin",
            data={"token": ALICE, "csrf": csrf_of(form), "next": "https://evil.example/"},
        )
    assert answer.headers["location"] == "/app/week"
