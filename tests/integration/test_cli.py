"""The CLI as a user meets it: errors in one line, never a traceback."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.procs import ADMIN_TOKEN, Cluster, base_env, cluster, englog_cmd, free_port


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        englog_cmd(*args), env=base_env(**env), capture_output=True, text=True, timeout=60
    )


def test_users_create_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    out = run("users", "create", "ada", "--db", f"sqlite:///{tmp_path / 'u.db'}", "--init")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("eng_") and len(token) > 30 and " " not in token
    db = (tmp_path / "u.db").read_bytes()
    assert token.encode() not in db  # stored hashed, never in clear


def test_bad_flag_is_one_clear_line() -> None:
    for args in (
        ("server", "--heartbeat-interval", "soon"),
        ("server", "--no-such-flag"),
        ("no-such-command",),
        ("users", "create"),
    ):
        out = run(*args)
        assert out.returncode == 2, out
        assert "Traceback" not in out.stderr
        [line] = out.stderr.strip().splitlines()
        assert line.startswith("error: ") and "--help" in line
    assert "heartbeat-interval" in run("server", "--heartbeat-interval", "soon").stderr


def test_refused_connection_is_one_line() -> None:
    out = run("tasks", "list", "--url", f"http://127.0.0.1:{free_port()}", "--token", "x")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "cannot connect" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_server_without_worker_tokens_refuses_to_start() -> None:
    out = run("server")
    assert out.returncode == 1 and "ENGLOG_WORKER_TOKENS" in out.stderr
    assert "Traceback" not in out.stderr


def test_server_on_a_taken_port_fails_cleanly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = run(
            "server",
            "--db",
            f"sqlite:///{tmp_path / 's.db'}",
            "--http-listen",
            f"127.0.0.1:{port}",
            "--grpc-listen",
            f"127.0.0.1:{free_port()}",
            ENGLOG_WORKER_TOKENS="t",
        )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: cannot listen for HTTP")


def test_second_server_on_a_taken_grpc_port_exits_naming_the_port(tmp_path: Path) -> None:
    """gRPC shares ports by default (SO_REUSEPORT): without turning that off a second
    server would bind beside the first and silently take half of its workers."""
    with cluster(tmp_path) as c:
        first = c.start_server()
        out = run(
            "server",
            "--db",
            f"sqlite:///{tmp_path / 'second.db'}",
            "--grpc-listen",
            f"127.0.0.1:{c.grpc_port}",
            "--http-listen",
            "127.0.0.1:0",
            ENGLOG_WORKER_TOKENS="t",
        )
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("error: cannot listen for gRPC"), out.stderr
        assert "address in use" in last and f":{c.grpc_port}" in last, last
        assert first.alive
        c.start_worker("w1")
        c.wait_workers_connected("w1")  # the first server still owns the port


def test_worker_unknown_handler_module_is_one_line() -> None:
    out = run("worker", "--token", "t", "--handlers", "no.such.module")
    assert out.returncode == 1
    assert "no.such.module" in out.stderr and "Traceback" not in out.stderr


def test_plaintext_only_when_asked(tmp_path: Path) -> None:
    out = run(
        "server",
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "--grpc-listen",
        f"127.0.0.1:{free_port()}",
        "--http-listen",
        f"127.0.0.1:{free_port()}",
        ENGLOG_WORKER_TOKENS="wt",
        ENGLOG_INSECURE="0",
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert "--tls-cert" in line and "--insecure" in line


# --- the CLI for a person, against a real server and worker ----------------------------


@dataclass
class Person:
    """One user of a live server, with their own config directory."""

    cluster: Cluster
    token: str
    config_home: Path

    @property
    def url(self) -> str:
        assert self.cluster.server is not None
        return self.cluster.server.url

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(*args, XDG_CONFIG_HOME=str(self.config_home), **env)

    def ok(self, *args: str) -> str:
        out = self.run(*args)
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture(scope="module")
def person(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Person]:
    with cluster(tmp_path_factory.mktemp("cli")) as c:
        c.start_server()
        token = c.create_user("grace")
        c.start_worker("w1")
        c.wait_workers_connected("w1")
        home = tmp_path_factory.mktemp("home")
        me = Person(c, token, home)
        login = me.run("login", "--url", me.url, "--token", token)
        assert login.returncode == 0, login.stderr
        yield me


def one_error_line(out: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def test_login_saves_url_and_token_privately_and_whoami_shows_them(person: Person) -> None:
    path = person.config_home / "englog" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert person.token in path.read_text()
    out = person.ok("whoami")
    assert person.url in out and "a user token" in out and person.token not in out


def test_log_each_time_form_then_list_the_week(person: Person) -> None:
    # Last week: the project a new entry defaults to is the latest of the past two weeks
    # (a fixed week here stopped counting as recent 14 days after it).
    today = datetime.now().astimezone().date()
    monday = today - timedelta(days=today.weekday() + 7)
    year, number, _ = monday.isocalendar()
    week = f"{year}-W{number:02d}"
    mon, tue, wed = (f"{monday + timedelta(days=n)}" for n in range(3))
    forms = [
        ("Standup", "--date", mon, "--from", "09:00", "--to", "09:15", "-t", "meeting",
         "-p", "atlas"),
        ("Fixed the flaky upload test", "--date", mon, "--from", "09:30", "1h30m",
         "-t", "debugging"),
        ("Design doc", "--date", tue, "--to", "12:00", "1.5h", "-t", "documentation",
         "--value", "high", "--impact", "team", "--tag", "ci", "--tag", "docs"),
        ("Code review", "--date", wed, "45m", "-t", "code_review", "-p", "beacon"),
    ]  # fmt: skip
    lines = [person.ok("log", *form).strip() for form in forms]
    assert all(len(line.splitlines()) == 1 for line in lines)
    assert "09:00-09:15" in lines[0] and "(15m)" in lines[0] and "atlas" in lines[0]
    assert "09:30-11:00" in lines[1] and "atlas" in lines[1]  # the last project used
    assert "10:30-12:00" in lines[2] and "(1h30m)" in lines[2]
    assert "(45m)" in lines[3] and "beacon" in lines[3]

    listed = json.loads(person.ok("entries", "--week", week, "--json"))
    assert [e["title"] for e in listed] == [f[0] for f in forms]
    assert listed[2]["tags"] == ["ci", "docs"] and listed[2]["value_rating"] == "high"
    table = person.ok("entries", "--week", week)
    assert table.count("total") == 3 and "1h45m" in table  # Monday: 15m + 1h30m
    assert "4 entries, 4h" in table


def test_log_today_and_yesterday_end_now(person: Person) -> None:
    def end_minute(line: str) -> int:
        # "id Wed 2026-12-02 09:10-10:30  (20m)", or across midnight "... 23:49-Mon 00:09  (20m)"
        found = re.search(r"(\d{2}):(\d{2})\s+\(", line)
        assert found, line
        return int(found[1]) * 60 + int(found[2])

    now = datetime.now().astimezone()
    line = person.ok("log", "Pairing", "20m", "-t", "development").strip()
    assert "(20m)" in line
    assert (end_minute(line) - (now.hour * 60 + now.minute)) % 1440 <= 1  # ends now
    assert "Pairing" in person.ok("entries", "--today")
    person.ok("log", "On call", "--yesterday", "1h", "-t", "support")
    yesterday = f"{now.date() - timedelta(days=1)}"
    assert "On call" in person.ok("entries", "--from", yesterday, "--to", yesterday)
    assert "On call" not in person.ok("entries", "--today")


def test_edit_and_remove_an_entry_by_its_short_id(person: Person) -> None:
    line = person.ok("log", "Typo", "--date", "2026-11-27", "--from", "14:00", "--to", "15:00")
    entry_id = line.split()[0]
    edited = person.ok("entries", "edit", entry_id[:8], "--title", "Fixed typo", "--to", "14:30")
    assert "Fixed typo" in edited and "14:00-14:30" in edited
    assert f"deleted {entry_id}" in person.ok("entries", "rm", entry_id[:8])
    one_error_line(person.run("entries", "rm", entry_id), "entry not found")


def test_insight_and_report_render_for_a_terminal_markdown_and_json(
    person: Person, tmp_path: Path
) -> None:
    person.ok("log", "Planning", "--date", "2026-11-26", "1h", "-t", "planning")
    shown = person.ok("insight", "productivity", "2026-W48")
    assert "Key points" in shown and "confidence" in shown and "backend builtin" in shown
    md = person.ok("report", "--week", "2026-W48", "--format", "md")
    assert md.startswith("# Week of 2026-11-23") and "## Facts" in md
    out = tmp_path / "report.json"
    person.ok("report", "2026-W48", "--format", "json", "--out", str(out))
    report = json.loads(out.read_text())
    assert report["week_start"] == "2026-11-23" and report["backend"] == "builtin"


def test_bad_inputs_each_say_what_is_wrong(person: Person) -> None:
    cases = [
        (("log", "x", "45x"), "duration '45x' is not like 45m"),
        (("log", "x", "1h90m"), "minutes after hours must be under 60"),
        (("log", "x", "--date", "2026-13-01", "1h"), "--date '2026-13-01' is not a date"),
        (("log", "x", "--from", "10:00", "--to", "08:00"), "ends (08:00) before it starts"),
        (("log", "x", "--from", "25:00", "1h"), "not a time of day"),
        (("log", "x"), "say how long"),
        (("log", "x", "30h"), "at most 24 hours"),
        (("entries", "--week", "2026-W60"), "does not exist"),
        (("report", "last-week"), "is not like 2026-W48"),
        (("report", "2020-W02"), "no entries between week_start and week_end"),
        (("certs", "init", "/proc/no/such/dir"), "cannot create"),
    ]
    for args, message in cases:
        one_error_line(person.run(*args), message)
    usage = person.run("log", "x", "1h", "-t", "napping")
    assert usage.returncode == 2 and "napping" in usage.stderr and "Traceback" not in usage.stderr


def test_not_logged_in_a_refused_token_and_a_server_down(person: Person, tmp_path: Path) -> None:
    fresh = run("entries", XDG_CONFIG_HOME=str(tmp_path))
    one_error_line(fresh, "no API token", "englog login")
    refused = person.run("entries", ENGLOG_TOKEN="eng_revoked-or-never-issued")
    one_error_line(refused, "refused the token", "englog login")
    login = run("login", "--url", person.url, "--token", "bogus", XDG_CONFIG_HOME=str(tmp_path))
    one_error_line(login, "refused the token")
    assert not (tmp_path / "englog" / "config.toml").exists()
    down = person.run("log", "x", "1h", ENGLOG_URL=f"http://127.0.0.1:{free_port()}")
    one_error_line(down, "cannot connect", "is the server running")


def test_logout_forgets_the_token(person: Person, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run("login", "--url", person.url, "--token", person.token,
               XDG_CONFIG_HOME=str(home)).returncode == 0  # fmt: skip
    out = run("logout", XDG_CONFIG_HOME=str(home))
    assert out.returncode == 0 and "logged out" in out.stdout
    one_error_line(run("whoami", XDG_CONFIG_HOME=str(home)), "not logged in")


def test_tasks_commands_use_the_saved_login(person: Person) -> None:
    task_id = person.ok("tasks", "submit", "noop", "--payload", '{"n": 7}').strip()
    assert len(task_id) == 32
    watched = person.run("tasks", "watch", task_id, "--timeout", "20")
    assert watched.returncode == 0 and '"n": 7' in watched.stdout
    assert task_id in person.ok("tasks", "list", "--limit", "5")


def test_certs_init_makes_what_tls_and_mtls_need(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    out = run("certs", "init", str(pki), "--host", "localhost", "--host", "127.0.0.1")
    assert out.returncode == 0, out.stderr
    for name in ("ca.crt", "server.crt", "server.key", "worker.crt", "worker.key"):
        assert (pki / name).exists()
    assert stat.S_IMODE((pki / "server.key").stat().st_mode) == 0o600
    assert "--tls-cert" in out.stdout and "englog worker" in out.stdout
    one_error_line(run("certs", "init", str(pki)), "already holds", "--force")
    with cluster(tmp_path) as c:
        c.start_server("--tls-cert", str(pki / "server.crt"), "--tls-key",
                       str(pki / "server.key"), "--tls-ca", str(pki / "ca.crt"))  # fmt: skip
        c.start_worker("tls", "--tls-ca", str(pki / "ca.crt"), "--tls-cert",
                       str(pki / "worker.crt"), "--tls-key", str(pki / "worker.key"))  # fmt: skip
        c.wait_workers_connected("tls")


def test_demo_runs_the_whole_path_and_exits_zero() -> None:
    out = run("demo")
    assert out.returncode == 0, out.stderr
    assert "loaded 43 activity entries" in out.stdout
    assert out.stdout.count("backend: builtin") == 2 and "shut down cleanly" in out.stdout


def test_tasks_show_cancel_and_workers(person: Person) -> None:
    task_id = person.ok("tasks", "submit", "sleep", "--payload", '{"seconds": 30}').strip()
    assert json.loads(person.ok("tasks", "show", task_id))["task_id"] == task_id
    cancelled = json.loads(person.ok("tasks", "cancel", task_id))
    assert cancelled["task_id"] == task_id
    assert cancelled["status"] == "cancelled" or cancelled["cancel_requested"]
    one_error_line(person.run("tasks", "show", "no-such-task"), "task not found")
    listed = person.run("workers", ENGLOG_ADMIN_TOKEN=ADMIN_TOKEN)
    assert listed.returncode == 0 and "w1" in listed.stdout
    one_error_line(person.run("workers"), "admin token required")
