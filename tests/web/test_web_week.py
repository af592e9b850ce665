"""The week view: quick-add, totals, edit and delete in place, escaping, and one user's
entries never on another's page (issue 14)."""

from __future__ import annotations

import re

import pytest

from englog.server.state import ServerState
from tests.web.conftest import ALICE, BOB, post_form, signed_in

pytestmark = pytest.mark.timeout(30)
WEEK = "/app/week?start=2026-11-30"


def minutes(page: str, testid: str) -> int:
    found = re.search(rf'data-testid="{re.escape(testid)}" data-minutes="(\d+)"', page)
    assert found, f"{testid} not on the page"
    return int(found.group(1))


def entry(title: str, start: str, **more: str) -> dict[str, str]:
    return {"title": title, "type": "development", "project": "englog", "start": start, **more}


async def test_quick_add_updates_the_day_project_and_type_totals(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        added = [
            entry("Design review", "2026-11-30T09:00", duration="45m", type="meeting"),
            entry("Write the queue", "2026-11-30T10:00", end="2026-11-30T11:30"),
            entry("Fix the flake", "2026-12-01T14:00", duration="1h10m", project="infra"),
        ]
        for fields in added:
            answer = await post_form(alice, WEEK, "/app/entries", fields)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/app/week?start=2026-11-30"
        page = (await alice.get(WEEK)).text
    assert minutes(page, "day-total-2026-11-30") == 135
    assert minutes(page, "day-total-2026-12-01") == 70
    assert minutes(page, "day-total-2026-12-02") == 0
    assert minutes(page, "project-total-englog") == 135
    assert minutes(page, "project-total-infra") == 70
    assert minutes(page, "type-total-meeting") == 45
    assert minutes(page, "type-total-development") == 160
    assert minutes(page, "week-total") == 205
    assert page.count('data-testid="entry"') == 3
    assert '<option value="infra">' in page  # past projects offered for completion


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"duration": ""}, "Give an End time or a Duration"),
        ({"duration": "soon"}, "is not like 45m"),
        ({"title": ""}, "Title"),
        ({"end": "2026-11-29T08:00", "duration": ""}, "end_time must be after start_time"),
        ({"end": "2026-11-30T09:00", "duration": ""}, "end_time must be after start_time"),
        ({"start": "yesterday"}, "is not a date and time"),
        ({"type": "napping"}, "Type"),
        ({"duration": "30h"}, "at most 24 hours"),
    ],
)
async def test_a_bad_entry_is_refused_with_what_to_fix(
    state: ServerState, fields: dict[str, str], message: str
) -> None:
    async with signed_in(state, ALICE) as alice:
        bad = {**entry("Bad one", "2026-11-30T09:00", duration="30m"), **fields}
        answer = await post_form(alice, WEEK, "/app/entries", bad)
        assert answer.status_code == 422
        assert 'role="alert"' in answer.text and message in answer.text
        assert f'value="{bad["title"]}"' in answer.text  # the form keeps what was typed
        page = (await alice.get(WEEK)).text
    assert 'data-testid="entry"' not in page


async def test_a_script_title_is_shown_as_text(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        fields = entry("<script>alert(1)</script>", "2026-11-30T09:00", duration="5m")
        fields["project"] = '"><img src=x>'
        assert (await post_form(alice, WEEK, "/app/entries", fields)).status_code == 303
        page = (await alice.get(WEEK)).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x>" not in page


async def _only_entry_id(client: object, page: str) -> str:
    found = re.findall(r'id="entry-([0-9a-f]+)"', page)
    assert len(found) == 1
    return found[0]


async def test_edit_in_place_and_delete(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await post_form(
            alice, WEEK, "/app/entries", entry("Old", "2026-11-30T09:00", duration="1h")
        )
        entry_id = await _only_entry_id(alice, (await alice.get(WEEK)).text)
        fragment = await alice.get(f"/app/entries/{entry_id}/edit", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text and 'value="Old"' in fragment.text
        changed = entry("New", "2026-11-30T09:00", end="2026-11-30T09:20")
        saved = await post_form(alice, WEEK, f"/app/entries/{entry_id}", changed)
        assert saved.status_code == 303
        page = (await alice.get(WEEK)).text
        assert "New" in page and ">Old<" not in page
        assert minutes(page, "day-total-2026-11-30") == 20
        gone = await post_form(alice, WEEK, f"/app/entries/{entry_id}/delete", {})
        assert gone.status_code == 303
        page = (await alice.get(WEEK)).text
    assert 'data-testid="entry"' not in page
    assert minutes(page, "week-total") == 0


async def test_another_users_entries_are_out_of_sight_and_reach(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        await post_form(
            alice, WEEK, "/app/entries", entry("Alice only", "2026-11-30T09:00", duration="1h")
        )
        entry_id = await _only_entry_id(alice, (await alice.get(WEEK)).text)
    async with signed_in(state, BOB) as bob:
        page = (await bob.get(WEEK)).text
        assert "Alice only" not in page and 'data-testid="entry"' not in page
        assert '<option value="englog">' not in page  # nor her projects
        edit = await bob.get(f"/app/entries/{entry_id}/edit")
        assert edit.status_code == 404 and "Alice only" not in edit.text
        for action in (f"/app/entries/{entry_id}", f"/app/entries/{entry_id}/delete"):
            data = entry("Bob was here", "2026-11-30T09:00", duration="1h")
            answer = await post_form(bob, WEEK, action, data)
            assert answer.status_code == 404, action
    async with signed_in(state, ALICE) as alice:
        page = (await alice.get(WEEK)).text
    assert "Alice only" in page and "Bob was here" not in page


async def test_weeks_page_back_and_forth(state: ServerState) -> None:
    async with signed_in(state, ALICE) as alice:
        page = (await alice.get("/app/week?start=2026-12-02")).text  # any day picks its week
        assert "Week of 2026-11-30" in page
        assert 'href="/app/week?start=2026-11-23"' in page
        assert 'href="/app/week?start=2026-12-07"' in page
        bad = await alice.get("/app/week?start=someday")
    assert bad.status_code == 422 and 'role="alert"' in bad.text
