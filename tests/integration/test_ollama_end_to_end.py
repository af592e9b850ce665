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


def test_wrong_figures_lower_confidence_and_are_listed(tmp_path: Path) -> None:
    """Issue 15: an answer whose totals are wrong scores below a faithful one through
    the whole path, and the result names the sentence to distrust."""
    wrong = {
        "title": "A steady week",
        "summary": "Observed totals 60, 100, 0. Meetings took 55% of the time.",
        "key_points": ["Observed totals 60, 100, 0.", "Focus work: 1.0 h."],
        "recommendations": ["Keep the mornings free."],
        "cited_entry_ids": [],
        "self_confidence": 0.9,
    }
    with fo.running() as fake, cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1", "--ai", "ollama", "--ollama-url", fake.url)
        with user_client(c, token) as api:
            created = api.post("/v1/entries/bulk", json={"entries": ENTRIES})
            ids = [e["id"] for e in created.json()["entries"]]
            body = {"insight_type": "productivity", "entry_ids": ids}
            results = []
            for script in ([fo.answer(wrong)], []):  # scripted wrong, then the faithful one
                fake.script(*script)
                r = api.post("/v1/tasks/insights", json=body)
                assert r.status_code == 202, r.text
                task = wait_terminal(api, r.json()["task_id"])
                assert task["status"] == "completed", task
                results.append(task["result"])
    bad, good = results
    assert (
        good["unsupported_claims"] == [] and good["confidence_components"]["numeric_agreement"] == 1
    )
    assert bad["confidence_components"]["numeric_agreement"] == 0.0
    assert any("Observed totals 60" in line for line in bad["unsupported_claims"])
    assert good["confidence"] - bad["confidence"] >= 0.3, (good["confidence"], bad["confidence"])
