"""`englog.client` against a real server and worker (one pair for the module): tasks,
entries, insights and reports, errors as the exception tree, and retries that never make
a second task (a proxy loses the first answer)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from englog.client import (
    AsyncClient,
    Client,
    ConfigError,
    Conflict,
    Insight,
    NotFound,
    RetryPolicy,
    ServerUnreachable,
    TaskCancelled,
    TaskFailed,
    TaskStatus,
    Timeout,
    Unauthorized,
    ValidationFailed,
    WeeklyReport,
)
from englog.errors import EnglogError
from tests.support.procs import Cluster, cluster, free_port
from tests.support.proxy import ThreadedProxy

QUICK_RETRY = RetryPolicy(attempts=4, initial_s=0.01, max_s=0.05)
# A week of its own for the entries each test logs, so tests do not see each other's.
WEEK = (date(2026, 11, 16), date(2026, 11, 22))


@dataclass
class Live:
    cluster: Cluster
    url: str
    token: str

    def client(self, **kwargs: object) -> Client:
        return Client(self.url, self.token, retry=QUICK_RETRY, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with cluster(tmp_path_factory.mktemp("client")) as c:
        c.start_server()
        token = c.create_user("ada")
        c.start_worker("w1")
        c.wait_workers_connected("w1")
        assert c.server is not None
        yield Live(c, c.server.url, token)


@pytest.fixture
def client(live: Live) -> Iterator[Client]:
    with live.client() as c:
        yield c


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def test_submit_then_result_status_and_wait(client: Client) -> None:
    handle = client.submit("noop", {"n": 1})
    assert handle.result(timeout=20) == {"n": 1}
    assert handle.status() is TaskStatus.COMPLETED
    detail = handle.wait(1)
    assert detail.task_id == handle.id and detail.attempts[0].outcome == "completed"


def test_prefer_wait_hands_back_the_finished_task(client: Client) -> None:
    handle = client.submit("noop", {"n": 2}, wait=10)
    assert handle.last is not None and handle.last.status is TaskStatus.COMPLETED


def test_a_failed_task_raises_task_failed_with_its_error(client: Client) -> None:
    handle = client.submit("sleep", {"seconds": "soon"})
    with pytest.raises(TaskFailed) as failed:
        handle.result(timeout=20)
    assert failed.value.status == "failed" and failed.value.attempts >= 1
    assert failed.value.error and "seconds" in failed.value.error
    assert not isinstance(failed.value, TaskCancelled)


def test_wait_timeout_then_cancel(client: Client) -> None:
    handle = client.submit("sleep", {"seconds": 30})
    with pytest.raises(Timeout) as timed_out:
        handle.wait(0.3)
    assert timed_out.value.pending == (handle.id,)
    handle.cancel()
    with pytest.raises(TaskCancelled):
        handle.result(timeout=20)


def test_retry_of_a_failed_task_is_a_new_task_and_of_a_live_one_a_conflict(
    client: Client,
) -> None:
    failed = client.submit("sleep", {"seconds": "soon"}, max_attempts=1)
    with pytest.raises(TaskFailed):
        failed.result(timeout=20)
    again = failed.retry()
    assert again.id != failed.id
    with pytest.raises(TaskFailed):  # the same payload fails the same way
        again.result(timeout=20)
    live = client.submit("sleep", {"seconds": 30})
    with pytest.raises(Conflict):
        live.retry()
    live.cancel()


def test_submit_many_takes_pairs_and_dicts_and_wait_all_yields_each(client: Client) -> None:
    items = [("noop", {"i": i}) for i in range(5)]
    items += [{"type": "noop", "payload": {"i": 5}, "priority": 3}]
    handles = client.submit_many(items)
    assert len({h.id for h in handles}) == 6
    finished = list(client.wait_all(handles, timeout=30))
    assert {t.task_id for t in finished} == {h.id for h in handles}
    assert sorted(t.result["i"] for t in finished) == list(range(6))


def test_wait_all_of_an_unknown_task_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound):
        list(client.wait_all([uuid.uuid4().hex], timeout=5))


def test_entries_log_list_every_page_edit_delete(client: Client) -> None:
    day = WEEK[0] + timedelta(days=1)
    first = client.log("Fixed the flaky upload test", start=at(day, 9), end=at(day, 10),
                       type="debugging", project="atlas", tags=["ci"])  # fmt: skip
    assert first.project == "atlas" and first.minutes == 60
    many = [
        {"title": f"bit {i}", "type": "development", "start_time": at(day, 11) + timedelta(
            seconds=i), "end_time": at(day, 11) + timedelta(seconds=i + 1)}
        for i in range(1000)
    ]  # fmt: skip
    assert len(client.log_many(many)) == 1000
    listed = list(client.entries(day, day + timedelta(days=1)))  # 1,001: two pages
    assert len(listed) == 1001 and listed[0].id == first.id
    changed = client.update_entry(first.id, title="Fixed it", value_rating="high", project=None)
    assert (changed.title, changed.value_rating, changed.project) == ("Fixed it", "high", None)
    assert client.entry(first.id).title == "Fixed it"
    client.delete_entry(first.id)
    with pytest.raises(NotFound):
        client.entry(first.id)


def test_insight_and_report_return_typed_results(client: Client) -> None:
    day = WEEK[0] + timedelta(days=3)
    client.log("Design review", start=at(day, 13), end=at(day, 14), type="meeting")
    insight = client.insight("productivity", day, day, wait=True, timeout=30)
    assert isinstance(insight, Insight) and insight.backend == "builtin"
    report = client.report(WEEK, wait=True, timeout=30)
    assert isinstance(report, WeeklyReport) and report.week_start == WEEK[0]
    handle = client.report("2026-W47")  # the same week, as people write it
    assert isinstance(handle.result(timeout=30), WeeklyReport)


def test_errors_are_one_tree(live: Live, client: Client) -> None:
    with Client(live.url, "not-a-token") as bad, pytest.raises(Unauthorized) as refused:
        bad.tasks()
    assert refused.value.status == 401 and refused.value.code == "unauthenticated"
    with pytest.raises(ValidationFailed) as invalid:
        client.log("Backwards", start=at(WEEK[0], 10), end=at(WEEK[0], 9))
    assert invalid.value.field == "body.end_time" and "after" in invalid.value.message
    with pytest.raises(NotFound):
        client.task(uuid.uuid4().hex).status()
    down = Client(f"http://127.0.0.1:{free_port()}", "t", retry=QUICK_RETRY)
    with down, pytest.raises(ServerUnreachable, match="cannot connect"):
        down.submit("noop")
    for exc in (Unauthorized, ValidationFailed, NotFound, ServerUnreachable, TaskFailed):
        assert issubclass(exc, EnglogError)


def test_no_token_anywhere_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ENGLOG_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("ENGLOG_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="englog login"):
        Client("http://127.0.0.1:1")


def _task_count(client: Client) -> int:
    return client.tasks(limit=1000).count


def test_a_lost_answer_is_retried_without_a_second_task(live: Live, client: Client) -> None:
    assert live.cluster.server is not None
    # The week's report needs an entry: its own, so the test stands alone.
    day = WEEK[0] + timedelta(days=4)
    client.log("Retried answers", start=at(day, 7), end=at(day, 8))
    with ThreadedProxy(live.cluster.server.http_port) as proxy:
        through = Client(f"http://{proxy.target}", live.token, retry=QUICK_RETRY)
        with through:
            before = _task_count(client)
            proxy.drop_next_responses(1)
            handle = through.submit("noop", {"once": True})
            assert proxy.stats.dropped_responses == 1
            assert _task_count(client) == before + 1
            assert handle.result(timeout=20) == {"once": True}

            proxy.drop_next_responses(1)  # an AI submission too
            report = through.report(WEEK)
            assert proxy.stats.dropped_responses == 2
            assert _task_count(client) == before + 2
            assert report.id == client.tasks(limit=1).tasks[0].task_id

            proxy.drop_next_responses(1)  # and a batch
            handles = through.submit_many([("noop", {"b": i}) for i in range(3)])
            assert proxy.stats.dropped_responses == 3
            assert _task_count(client) == before + 5 and len(handles) == 3


async def test_async_client_does_the_same(live: Live) -> None:
    async with AsyncClient(live.url, live.token, retry=QUICK_RETRY) as client:
        handle = await client.submit("noop", {"a": 1})
        assert await handle.result(timeout=20) == {"a": 1}
        handles = await client.submit_many([("noop", {"i": i}) for i in range(3)])
        seen = [t.task_id async for t in client.wait_all(handles, timeout=30)]
        assert sorted(seen) == sorted(h.id for h in handles)
        day = WEEK[0] + timedelta(days=5)
        entry = await client.log("Async", start=at(day, 8), end=at(day, 9))
        assert entry.id in [e.id async for e in client.entries(day, day + timedelta(days=1))]
        insight = await client.insight("patterns", day, day, wait=True, timeout=30)
        assert isinstance(insight, Insight)
        with pytest.raises(NotFound):
            await client.entry(uuid.uuid4().hex)


def test_client_models_match_the_servers_openapi(live: Live) -> None:
    """The client reads its answers into the very view models the server answers with
    (`englog.views`, which imports no server code), and those are what /openapi.json
    publishes: the same fields, with the same ones required."""
    import httpx

    from englog.client import models
    from englog.server.http import models as server_models

    schemas = httpx.get(f"{live.url}/openapi.json", timeout=10).json()["components"]["schemas"]
    pairs = {name: name for name in ("TaskView", "TaskDetail", "AttemptView", "TaskAccepted")}
    pairs |= {"TaskList": "TaskList", "WaitAnswer": "TasksWaited"}
    for ours_name, server_name in pairs.items():
        assert getattr(models, ours_name) is getattr(server_models, server_name), ours_name
        server = schemas[server_name]
        ours = getattr(models, ours_name).model_json_schema()
        assert set(ours["properties"]) == set(server["properties"]), ours_name
        assert set(ours.get("required", ())) == set(server.get("required", ())), ours_name


def test_submissions_from_many_threads_are_coalesced_end_to_end(live: Live) -> None:
    """One client shared by 8 threads: fewer requests than tasks, every task its own
    handle and result, and each key still names its task when resent alone."""
    from concurrent.futures import ThreadPoolExecutor

    with live.client() as shared, live.client(coalesce=None) as alone:
        keys = [f"coalesced-{uuid.uuid4().hex}" for _ in range(80)]
        with ThreadPoolExecutor(8) as pool:
            handles = list(
                pool.map(
                    lambda i: shared.submit("noop", {"i": i}, idempotency_key=keys[i]), range(80)
                )
            )
        assert shared.coalescer is not None and shared.coalescer.requests < 80
        assert len({h.id for h in handles}) == 80
        results = {t.task_id: t.result for t in shared.wait_all(handles, timeout=60)}
        assert [results[h.id] for h in handles] == [{"i": i} for i in range(80)]
        again = alone.submit("noop", {"i": 5}, idempotency_key=keys[5])
        assert again.id == handles[5].id
        with pytest.raises(ValidationFailed):
            alone.submit("noop", {"i": 6, "other": True}, idempotency_key=keys[6])
