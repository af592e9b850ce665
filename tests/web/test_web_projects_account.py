"""The projects page and deleting one's account in the web app (issue 23), in process
over a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime

from englog.server.state import ServerState
from tests.web.conftest import ALICE, csrf_of, signed_in


async def test_projects_page_lists_totals_adds_and_renames(state: ServerState) -> None:
    state.clock = lambda: datetime(2026, 3, 4, 12, tzinfo=UTC).timestamp()
    async with signed_in(state, ALICE) as client:
        entry = {"title": "a", "type": "development", "project": "atlas",
                 "start_time": "2026-03-02T09:00:00Z", "end_time": "2026-03-02T10:30:00Z",
                 "value_rating": "high", "impact_level": "team"}  # fmt: skip
        r = await client.post(
            "/v1/entries", json=entry, headers={"Authorization": f"Bearer {ALICE}"}
        )
        assert r.status_code == 201
        page = await client.get("/app/projects")
        assert page.status_code == 200
        assert 'data-testid="minutes-atlas" data-minutes="90"' in page.text
        csrf = csrf_of(page)
        bad = await client.post("/app/projects", data={"csrf": csrf, "name": "x", "colour": "red"})
        assert bad.status_code == 422 and "#rrggbb" in bad.text
        made = await client.post(
            "/app/projects", data={"csrf": csrf, "name": "comet", "colour": "#112233"}
        )
        assert made.status_code == 303
        alice = await state.store.user_by_name("alice")
        assert alice is not None
        [atlas] = [p for p in await state.store.list_projects(alice.id) if p.name == "atlas"]
        renamed = await client.post(
            f"/app/projects/{atlas.id}",
            data={"csrf": csrf, "name": "atlas-2", "status": "completed", "default": "on"},
        )
        assert renamed.status_code == 303
        page = await client.get("/app/projects")
        assert 'data-minutes="90"' in page.text and "atlas-2" in page.text
        assert 'fill="#112233"' in page.text


async def test_deleting_my_account_needs_my_name(state: ServerState) -> None:
    async with signed_in(state, ALICE) as client:
        page = await client.get("/app/account")
        assert "<title>Account · englog</title>" in page.text
        assert page.text.count("Delete my account") == 1
        csrf = csrf_of(page)
        wrong = await client.post("/app/account/delete", data={"csrf": csrf, "confirm": "bob"})
        assert wrong.status_code == 422
        gone = await client.post("/app/account/delete", data={"csrf": csrf, "confirm": "alice"})
        assert gone.status_code == 303 and gone.headers["location"] == "/app/signin"
        assert (await client.get("/app/week")).status_code == 303
    assert [u.name for u in await state.store.list_users()] == ["bob"]
