"""Requests carrying what PostgreSQL cannot store (NUL in text) are refused as bad
input (422 in the API's error shape), never as a retriable 503 a client would repeat
forever; SQLite, which could keep them, answers the same. A real `englog server` per
backend, on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.pg import throwaway_database
from tests.support.procs import Cluster, cluster

pytestmark = pytest.mark.timeout(120)

ENTRY = {
    "title": "Standup",
    "type": "meeting",
    "start_time": "2026-11-16T09:00:00+01:00",
    "end_time": "2026-11-16T09:15:00+01:00",
}


@dataclass
class Served:
    backend: str
    cluster: Cluster
    token: str

    def user(self) -> httpx.Client:
        assert self.cluster.server is not None
        return httpx.Client(
            base_url=self.cluster.server.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp(f"invalid-data-{request.param}")
    with contextlib.ExitStack() as stack:
        db_url = ""
        if request.param == "postgres":
            db_url = stack.enter_context(throwaway_database("englog_invalid"))
        c = stack.enter_context(cluster(tmp, db_url=db_url))
        token = c.create_user("ada")
        c.start_server()
        yield Served(request.param, c, token)
        assert c.server is not None
        assert "Traceback" not in c.server.log(), c.server.log()[-4000:]


def refused(r: httpx.Response, field: str) -> str:
    """The 422's message for `field` (the API's validation shape)."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error", body
    [problem] = [p for p in body["detail"] if p["field"] == field]
    message: str = problem["message"]
    return message


def test_an_entry_with_nul_in_its_title_is_refused(served: Served) -> None:
    with served.user() as api:
        r = api.post("/v1/entries", json=ENTRY | {"title": "stand\x00up"})
        assert "NUL" in refused(r, "request")
        bulk = [ENTRY, ENTRY | {"tags": ["ok", "b\x00d"]}]
        assert "NUL" in refused(api.post("/v1/entries/bulk", json={"entries": bulk}), "request")
        assert api.get("/v1/entries").json()["entries"] == []  # nothing of either was kept


def test_nul_in_an_entry_change_or_filter_is_refused(served: Served) -> None:
    with served.user() as api:
        created = api.post("/v1/entries", json=ENTRY)
        assert created.status_code == 201, created.text
        entry_id = created.json()["id"]
        r = api.patch(f"/v1/entries/{entry_id}", json={"description": "a\x00"})
        assert "NUL" in refused(r, "request")
        assert api.get(f"/v1/entries/{entry_id}").json()["description"] is None
        r = api.get("/v1/entries", params={"project": "core\x00"})
        assert "NUL" in refused(r, "request")


def test_a_task_payload_with_nul_is_refused(served: Served) -> None:
    with served.user() as api:
        created = api.post("/v1/entries", json=ENTRY)
        assert created.status_code == 201, created.text
        r = api.post(
            "/v1/tasks/insights",
            json={
                "insight_type": "productivity",
                "entry_ids": [created.json()["id"]],
                "context": "team\x00",
            },
        )
        assert "NUL" in refused(r, "body.payload")


def test_a_nul_task_id_is_not_a_store_outage(served: Served) -> None:
    """No task can have that id: SQLite finds none (404); PostgreSQL cannot even look
    it up (422). Neither may claim the store is down."""
    with served.cluster.admin() as api:
        r = api.get("/v1/tasks/task%00id")
    assert r.status_code == (404 if served.backend == "sqlite" else 422), r.text
    assert r.json()["error"] != "store_unavailable"
    with served.user() as api:
        assert api.get("/readiness").status_code == 200
