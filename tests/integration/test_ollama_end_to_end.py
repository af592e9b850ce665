"""An insight through a real server and a real worker running `--ai ollama` against
the fake Ollama server (a real HTTP server on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_end_to_end import ENTRIES, user_client, wait_terminal
from tests.support import fake_ollama as fo
from tests.support.procs import cluster, free_port

pytestmark = pytest.mark.timeout(180)


def test_insight_completes_with_backend_ollama(tmp_path: Path) -> None:
    with fo.running() as fake, cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1", "--ai", "ollama", "--ollama-url", fake.url, "--seed", "3")
        with user_client(c, token) as api:
            created = api.post("/v1/entries/bulk", json={"entries": ENTRIES})
            ids = [e["id"] for e in created.json()["entries"]]
            fake.script(fo.status(503))  # one busy answer: retried inside the attempt
            r = api.post("/v1/tasks/insights", json={"insight_type": "patterns", "entry_ids": ids})
            assert r.status_code == 202, r.text
            task = wait_terminal(api, r.json()["task_id"])
        assert task["status"] == "completed", task
        assert task["attempt"] == 1
        result = task["result"]
        assert result["backend"] == "ollama" and result["model"] == fo.DEFAULT_MODEL
        assert result["degraded"] is False and result["insight_type"] == "patterns"
        assert 0.0 < result["confidence"] < 1.0
        assert result["confidence_components"]["grounding"] == 1.0
        assert set(result["cited_entry_ids"]) <= set(ids) and result["cited_entry_ids"]
        calls = fake.calls()
        assert len(calls) == 2
        prompt = calls[-1].prompt()
        assert all(f"id={i}" in prompt for i in ids)
        assert all(e["title"] in prompt for e in ENTRIES)
        assert calls[-1].body["options"]["seed"] == 3


def test_degrade_completes_with_builtin_while_ollama_is_down(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: connections are refused
    with cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1", "--ai", "ollama", "--ollama-url", down, "--ai-fallback", "degrade")
        with user_client(c, token) as api:
            created = api.post("/v1/entries/bulk", json={"entries": ENTRIES})
            ids = [e["id"] for e in created.json()["entries"]]
            r = api.post(
                "/v1/tasks/insights", json={"insight_type": "productivity", "entry_ids": ids}
            )
            task = wait_terminal(api, r.json()["task_id"])
        assert task["status"] == "completed", task
        result = task["result"]
        assert result["backend"] == "builtin" and result["degraded"] is True
        assert "unreachable" in result["degraded_reason"]
        assert result["confidence_components"]["degraded_factor"] == 0.8
