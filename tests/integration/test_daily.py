"""The engineer's daily tools through real processes: a timer that outlives its server,
entries drafted from a git repository and from a calendar file, trends and a target,
all from the command line against a real server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from englog.client import Client, Entry
from tests.support.procs import Cluster, base_env, cluster, englog_cmd

pytestmark = pytest.mark.timeout(240)

BERLIN = ZoneInfo("Europe/Berlin")
ME = "me@example.com"


@dataclass
class Site:
    cluster: Cluster

    @property
    def url(self) -> str:
        assert self.cluster.server is not None
        return self.cluster.server.url

    def user(self, name: str) -> str:
        token = self.cluster.create_user(name)
        with Client(self.url, token) as client:
            client.update_me(timezone="Europe/Berlin")
        return token


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with cluster(tmp_path_factory.mktemp("daily")) as c:
        c.start_server()
        yield Site(c)


def cli(
    site: Site, token: str, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        englog_cmd(*args),
        input=answer,
        env=base_env(ENGLOG_URL=site.url, ENGLOG_TOKEN=token, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def entries(site: Site, token: str, first: date, last: date) -> list[Entry]:
    with Client(site.url, token) as client:
        return list(client.entries(first, last))


# --- the timer ---------------------------------------------------------------------------


def test_a_timer_started_from_the_cli_survives_a_server_restart(site: Site) -> None:
    token = site.user("tess")
    before = datetime.now(UTC)
    started = cli(site, token, "start", "Fix the login bug", "-p", "atlas", "-t", "debugging")
    after = datetime.now(UTC)
    assert started.returncode == 0, started.stderr
    assert "started: Fix the login bug (debugging, atlas)" in started.stdout
    site.cluster.server.kill()  # type: ignore[union-attr]
    site.cluster.start_server()
    status = cli(site, token, "status")
    assert "running: Fix the login bug (debugging, atlas) since" in status.stdout, status.stdout
    stop_before = datetime.now(UTC)
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}) as h:
        stopped = h.post("/v1/timer/stop")
        stop_after = datetime.now(UTC)
        assert stopped.status_code == 200, stopped.text
        assert h.get("/v1/timer").json() == {"timer": None}
    entry = Entry.model_validate(stopped.json()["entry"])
    assert before - timedelta(seconds=1) <= entry.start_time <= after
    assert stop_before - timedelta(seconds=1) <= entry.end_time <= stop_after
    assert entry.start_time.utcoffset() == BERLIN.utcoffset(entry.start_time.replace(tzinfo=None))
    today = datetime.now(BERLIN).date()
    logged = entries(site, token, today - timedelta(days=1), today + timedelta(days=1))
    assert [(e.id, e.title, e.type, e.project) for e in logged] == [
        (entry.id, "Fix the login bug", "debugging", "atlas")
    ]
    assert "no timer is running" in cli(site, token, "status").stdout


def test_continue_then_stop_from_the_cli(site: Site) -> None:
    token = site.user("carl")
    assert cli(site, token, "log", "Write the design doc", "45m", "-p", "zeus",
               "-t", "documentation").returncode == 0  # fmt: skip
    again = cli(site, token, "continue")
    assert again.returncode == 0, again.stderr
    assert "started: Write the design doc (documentation, zeus)" in again.stdout
    switched = cli(site, token, "start", "Review PR 12", "-t", "code_review")
    assert "stopped:" in switched.stdout and "Write the design doc" in switched.stdout
    stop = cli(site, token, "stop")
    assert stop.returncode == 0 and "Review PR 12" in stop.stdout, stop.stderr
    again = cli(site, token, "stop")
    assert again.returncode == 1 and "no timer is running" in again.stderr
    bad = cli(site, token, "stop", "--at", "25:99")
    assert bad.returncode != 0 and "error" in bad.stderr
    today = datetime.now(BERLIN).date()
    titles = [e.title for e in entries(site, token, today - timedelta(1), today + timedelta(1))]
    assert titles.count("Write the design doc") == 2 and titles.count("Review PR 12") == 1


# --- git ------------------------------------------------------------------------------------


def commit(repo: Path, message: str, when: datetime, email: str = ME) -> None:
    stamp = when.isoformat()
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
           "GIT_AUTHOR_NAME": "Me", "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": "Me", "GIT_COMMITTER_EMAIL": email}  # fmt: skip
    with (repo / "log.txt").open("a") as notes:
        notes.write(message + "\n")
    for args in (["add", "log.txt"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, timeout=30)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN)


def spans(found: list[Entry]) -> list[tuple[datetime, datetime, str]]:
    return [(e.start_time, e.end_time, e.title) for e in found]


def test_import_git_proposes_sessions_and_never_logs_a_commit_twice(
    site: Site, tmp_path: Path
) -> None:
    token = site.user("gina")
    repo = tmp_path / "atlas"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    commit(repo, "Parse config", at(9, 9, 10))
    commit(repo, "Add tests", at(9, 9, 50))
    commit(repo, "Fix parser", at(9, 11, 30))  # 1h40 later: the same session
    commit(repo, "Refactor CLI", at(9, 14, 0))  # 2h30 later: a new one
    commit(repo, "Docs", at(9, 14, 40))
    commit(repo, "Someone else's", at(9, 16, 0), email="other@example.com")
    commit(repo, "Release prep", at(10, 10, 0))
    with Client(site.url, token) as client:  # already logged: left out of the drafts
        client.log("Planning", start=at(10, 9, 0), end=at(10, 9, 45), type="planning")
    args = ("import", "git", str(repo), "--since", "2026-03-09", "--author", ME)
    shown = cli(site, token, *args, answer="n\n")
    assert "3 drafts" in shown.stdout and "nothing logged" in shown.stdout, shown.stdout
    first = cli(site, token, *args, "--yes")
    assert first.returncode == 0, first.stderr
    assert "3 drafts" in first.stdout and "logged 3 entries" in first.stdout
    found = [
        e for e in entries(site, token, date(2026, 3, 9), date(2026, 3, 10)) if "git" in e.tags
    ]
    assert spans(found) == [
        (at(9, 8, 40), at(9, 11, 30), "Parse config; Add tests; Fix parser"),
        (at(9, 13, 30), at(9, 14, 40), "Refactor CLI; Docs"),
        (at(10, 9, 45), at(10, 10, 0), "Release prep"),
    ]
    assert {(e.project, e.type) for e in found} == {("atlas", "development")}
    second = cli(site, token, *args, "--yes")
    assert second.returncode == 0 and "nothing new to import" in second.stdout, second.stdout
    commit(repo, "Hotfix", at(10, 16, 0))
    third = cli(site, token, *args, "--yes")
    assert "logged 1 entries" in third.stdout, third.stdout
    after = entries(site, token, date(2026, 3, 9), date(2026, 3, 10))
    assert spans([e for e in after if "git" in e.tags])[-1] == (
        at(10, 15, 30),
        at(10, 16, 0),
        "Hotfix",
    )
    assert len(after) == 5  # the planning entry and four drafts
    missing = cli(site, token, "import", "git", str(tmp_path / "nope"), "--yes")
    assert missing.returncode == 1 and "no such directory" in missing.stderr


# --- a calendar -----------------------------------------------------------------------------

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//englog tests//EN
BEGIN:VEVENT
UID:standup-1@example.com
SUMMARY:Team standup
DTSTART;TZID=Europe/Berlin:20260302T100000
DTEND;TZID=Europe/Berlin:20260302T103000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Berlin:20260316T100000
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
END:VEVENT
BEGIN:VEVENT
UID:vendor-pitch@example.com
SUMMARY:Vendor pitch
DTSTART:20260304T130000Z
DTEND:20260304T140000Z
ATTENDEE;PARTSTAT=DECLINED:mailto:Me@Example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@example.com
END:VEVENT
BEGIN:VEVENT
UID:retro@example.com
SUMMARY:Retro (moved)
STATUS:CANCELLED
DTSTART;TZID=Europe/Berlin:20260305T110000
DTEND;TZID=Europe/Berlin:20260305T120000
END:VEVENT
BEGIN:VEVENT
UID:offsite@example.com
SUMMARY:Offsite
DTSTART;VALUE=DATE:20260306
DTEND;VALUE=DATE:20260307
END:VEVENT
BEGIN:VEVENT
UID:design@example.com
SUMMARY:Design review
DTSTART;TZID=Europe/Berlin:20260305T150000
DTEND;TZID=Europe/Berlin:20260305T160000
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
END:VEVENT
END:VCALENDAR
"""


def test_import_ics_logs_exactly_the_accepted_occurrences(site: Site, tmp_path: Path) -> None:
    token = site.user("ian")
    path = tmp_path / "work.ics"
    path.write_text(ICS.replace("\n", "\r\n"))
    args = ("import", "ics", str(path), "--since", "2026-03-01", "--until", "2026-03-31")
    first = cli(site, token, *args, "--me", ME, "--yes")
    assert first.returncode == 0, first.stderr
    assert "logged 4 entries" in first.stdout, first.stdout
    assert "1 cancelled, 1 all-day, 1 declined" in first.stdout
    found = entries(site, token, date(2026, 3, 1), date(2026, 3, 31))
    assert spans(found) == [
        (at(2, 10), at(2, 10, 30), "Team standup"),
        (at(5, 15), at(5, 16), "Design review"),
        (at(9, 10), at(9, 10, 30), "Team standup"),
        (at(23, 10), at(23, 10, 30), "Team standup"),
    ]
    assert {e.type for e in found} == {"meeting"}
    assert found[0].start_time.isoformat() == "2026-03-02T10:00:00+01:00"  # the user's zone
    second = cli(site, token, *args, "--me", ME, "--yes")
    assert "nothing new to import" in second.stdout and "4 imported" in second.stdout
    assert len(entries(site, token, date(2026, 3, 1), date(2026, 3, 31))) == 4
    broken = tmp_path / "broken.ics"
    broken.write_text("this is not a calendar")
    bad = cli(site, token, "import", "ics", str(broken), "--yes")
    assert bad.returncode == 1 and "broken.ics" in bad.stderr


# --- trends and the target -----------------------------------------------------------------


def test_trends_and_the_weekly_target_from_the_cli(site: Site) -> None:
    token = site.user("tom")
    target = cli(site, token, "target", "10", "--focus", "60")
    assert "weekly target: 10 h a week, 60% focus work" in target.stdout, target.stderr
    # Last week's Wednesday noon: whole in one week and in the past whatever the clock
    # says (from "now", a run just after midnight on a Monday split the entries).
    today = datetime.now(BERLIN).date()
    wednesday = today - timedelta(days=today.weekday() + 5)
    noon = datetime.combine(wednesday, time(12, 0), tzinfo=BERLIN)
    with Client(site.url, token) as client:
        start = noon - timedelta(hours=3)
        client.log("Deep work", start=start, end=start + timedelta(hours=2), project="atlas")
        client.log("Sync", start=noon - timedelta(minutes=59), end=noon, type="meeting")
    table = cli(site, token, "trends", "--weeks", "3")
    assert table.returncode == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if "atlas" in line]
    assert len(lines) == 1 and "2h59m" in lines[0] and "30%" in lines[0], table.stdout
    iso = wednesday.isocalendar()
    week = cli(site, token, "entries", "--week", f"{iso.year}-W{iso.week:02d}")
    assert "target: 2h59m of 10h (30%), focus 67% (target 60%, met)" in week.stdout, week.stdout
    cleared = cli(site, token, "target", "--clear")
    assert "no weekly target" in cleared.stdout
    assert "target:" not in cli(site, token, "entries").stdout
