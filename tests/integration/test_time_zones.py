"""A week as the person lived it, through a real server, a real worker, the client
library and the CLI: each user's days are local days in their own zone."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from englog.client import Client, ValidationFailed
from tests.support.procs import Cluster, base_env, cluster, englog_cmd

pytestmark = pytest.mark.timeout(240)

LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass
class Site:
    cluster: Cluster
    url: str

    def client(self, name: str, zone: str | None) -> Client:
        client = Client(self.url, self.cluster.create_user(name), timeout=30)
        if zone is not None:
            assert client.update_me(timezone=zone).timezone == zone
        return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with cluster(tmp_path_factory.mktemp("zones")) as c:
        server = c.start_server()
        c.start_worker("w1")
        c.wait_workers_connected("w1")
        yield Site(c, server.url)


def log(client: Client, title: str, start: datetime, end: datetime, type_: str = "development"):
    return client.log(title, start=start, end=end, type=type_, project="atlas")


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)  # type: ignore[misc]


def test_a_los_angeles_week_through_a_worker(site: Site) -> None:
    with site.client("ana-la", "America/Los_Angeles") as ana:
        # Sunday 2026-03-08 is the day US clocks change; the week is Mon 03-02 .. Sun 03-08.
        log(ana, "On call", at(LA, 2026, 3, 8, 18, 0), at(LA, 2026, 3, 8, 20, 0), "support")
        log(ana, "Late deploy", at(LA, 2026, 3, 4, 23, 0), at(LA, 2026, 3, 5, 1, 30), "deployment")
        first = log(ana, "Pairing", at(LA, 2026, 3, 2, 9, 0), at(LA, 2026, 3, 2, 10, 0))
        second = log(ana, "Review", at(LA, 2026, 3, 2, 9, 30), at(LA, 2026, 3, 2, 10, 30))
        assert second.overlaps == [first.id] and "overlaps 1 other entry" in second.warnings[0]
        report = ana.report((date(2026, 3, 2), date(2026, 3, 8)), wait=True, timeout=60)
        facts = report.facts
        assert facts["time_zone"] == "America/Los_Angeles"
        assert facts["daily_totals"]["2026-03-08"] == 120
        assert facts["daily_totals"]["2026-03-04"] == 60
        assert facts["daily_totals"]["2026-03-05"] == 90
        assert facts["overlap_minutes"] == 30
        assert facts["total_minutes"] == 120 + 150 + 120 and facts["clock_minutes"] == 360
        assert (facts["period_start"], facts["period_end"]) == ("2026-03-02", "2026-03-08")


def test_weeks_east_of_utc_keep_their_mondays(site: Site) -> None:
    with site.client("kenji-tokyo", "Asia/Tokyo") as kenji:
        log(
            kenji,
            "Deploy",
            at(TOKYO, 2026, 11, 16, 7, 0),
            at(TOKYO, 2026, 11, 16, 8, 0),
            "deployment",
        )
        log(
            kenji,
            "Standup",
            at(TOKYO, 2026, 11, 23, 7, 0),
            at(TOKYO, 2026, 11, 23, 7, 15),
            "meeting",
        )
        this = kenji.report((date(2026, 11, 16), date(2026, 11, 22)), wait=True, timeout=60)
        assert this.facts["daily_totals"]["2026-11-16"] == 60
        nxt = kenji.report((date(2026, 11, 23), date(2026, 11, 29)), wait=True, timeout=60)
        assert nxt.facts["total_minutes"] == 15


def test_weeks_across_midnight_add_up_without_a_minute_lost(site: Site) -> None:
    with site.client("lee-berlin", "Europe/Berlin") as lee:
        berlin = ZoneInfo("Europe/Berlin")
        # Sunday 22:00 -> Monday 01:00 across the week's edge.
        log(lee, "Incident", at(berlin, 2026, 11, 22, 22, 0), at(berlin, 2026, 11, 23, 1, 0))
        this = lee.report((date(2026, 11, 16), date(2026, 11, 22)), wait=True, timeout=60)
        nxt = lee.report((date(2026, 11, 23), date(2026, 11, 29)), wait=True, timeout=60)
        assert this.facts["total_minutes"] + nxt.facts["total_minutes"] == 180
        assert (this.facts["clipped_minutes"], nxt.facts["clipped_minutes"]) == (60, 120)


def test_a_date_range_includes_its_last_day_in_the_users_zone(site: Site) -> None:
    with site.client("ana-range", "America/Los_Angeles") as ana:
        late = log(ana, "Late", at(LA, 2026, 11, 20, 22, 0), at(LA, 2026, 11, 20, 23, 0))
        day = date(2026, 11, 20)
        assert [e.id for e in ana.entries(day, day)] == [late.id]  # 06:00-07:00 UTC the next day
        assert list(ana.entries(day + timedelta(days=1), day + timedelta(days=1))) == []


def test_zone_settings_are_checked(site: Site) -> None:
    with site.client("zoe", None) as client:
        me = client.me()
        assert (me.timezone, me.timezone_set, me.week_start) == ("UTC", False, "monday")
        with pytest.raises(ValidationFailed, match="Mars/Olympus"):
            client.update_me(timezone="Mars/Olympus")
        assert client.update_me(week_start="sunday").week_start == "sunday"


def test_an_insight_over_entry_ids_is_refused_past_31_days(site: Site) -> None:
    with site.client("ida", "UTC") as client:
        a = log(client, "a", at(LA, 2026, 1, 1, 9, 0), at(LA, 2026, 1, 1, 10, 0))
        b = log(client, "b", at(LA, 2026, 3, 1, 9, 0), at(LA, 2026, 3, 1, 10, 0))
        with pytest.raises(ValidationFailed, match="at most 31"):
            client.insight("productivity", entry_ids=[a.id, b.id])


# --- the CLI -------------------------------------------------------------------------------


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        englog_cmd(*args),
        env=base_env(XDG_CONFIG_HOME=str(home), **env),
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_the_cli_speaks_the_accounts_zone(site: Site, tmp_path: Path) -> None:
    token = site.cluster.create_user("nina-ny")
    login = cli(tmp_path, "login", "--url", site.url, "--token", token, TZ="America/New_York")
    assert login.returncode == 0, login.stderr
    assert "time zone set to America/New_York" in login.stdout
    # The machine's zone no longer matters: the account's does.
    logged = cli(tmp_path, "log", "NY standup", "--date", "2026-11-18", "--from", "09:00",
                 "--to", "09:15", "-t", "meeting", TZ="Asia/Tokyo")  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    assert "Wed 2026-11-18 09:00-09:15" in logged.stdout
    night = cli(tmp_path, "log", "Pager", "--date", "2026-11-18", "--from", "23:00",
                "--to", "01:00", "-t", "support")  # fmt: skip
    assert night.returncode == 0, night.stderr
    assert "Wed 2026-11-18 23:00-Thu 01:00" in night.stdout and "(2h)" in night.stdout
    listed = cli(tmp_path, "entries", "--from", "2026-11-19", "--to", "2026-11-19", "--json")
    assert [e["title"] for e in json.loads(listed.stdout)] == ["Pager"]
    me = cli(tmp_path, "me")
    assert "America/New_York" in me.stdout
    week = cli(tmp_path, "insight", "productivity", "2026-W47", "--format", "json")
    assert week.returncode == 0, week.stderr
    facts = json.loads(week.stdout)["facts"]
    assert (facts["period_start"], facts["period_end"]) == ("2026-11-16", "2026-11-22")
    assert facts["daily_totals"]["2026-11-19"] == 60


def test_a_markdown_export_holds_every_day(site: Site, tmp_path: Path) -> None:
    with site.client("mo-md", "UTC") as client:
        for n in range(7):
            day = date(2026, 11, 16) + timedelta(days=n)
            start = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("UTC"))
            kinds = [
                "development",
                "meeting",
                "testing",
                "research",
                "planning",
                "support",
                "other",
            ]
            client.log(f"day {n}", start=start, end=start + timedelta(hours=1), type=kinds[n])
        token = client.settings.token
        assert token is not None
        out = tmp_path / "week.md"
        done = cli(tmp_path, "report", "2026-W47", "--format", "md", "--out", str(out),
                   ENGLOG_URL=site.url, ENGLOG_TOKEN=token)  # fmt: skip
        assert done.returncode == 0, done.stderr
        text = out.read_text()
        assert "2026-11-22 60" in text and "…" not in text and "hidden" not in text
        assert "other 60" in text and "support 60" in text
