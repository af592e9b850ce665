"""Accounts from the command line (issue 23), against a real server process: the first
admin made with ENGLOG_ADMIN_TOKEN, `englog login --name` without copying a token,
`englog tokens create|list|revoke` (a revoked token is refused on its next request),
`englog users list|disable|enable|set-role|delete`, and one-line errors for a taken
name and for `users create --db` on a database that does not exist."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ADMIN_TOKEN, Cluster, base_env, cluster, englog_cmd


@dataclass
class Cli:
    cluster: Cluster
    home: Path

    @property
    def url(self) -> str:
        assert self.cluster.server is not None
        return self.cluster.server.url

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            englog_cmd(*args),
            env=base_env(XDG_CONFIG_HOME=str(self.home), ENGLOG_URL=self.url, **env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def ok(self, *args: str, stdin: str = "", **env: str) -> str:
        out = self.run(*args, stdin=stdin, **env)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def status(self, token: str, path: str = "/v1/me") -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=10).status_code


def one_error_line(out: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    with cluster(tmp_path_factory.mktemp("cli-accounts")) as c:
        c.start_server()
        yield Cli(c, tmp_path_factory.mktemp("home"))


def test_first_admin_then_login_by_name_and_tokens(cli: Cli) -> None:
    as_root = {"ENGLOG_TOKEN": ADMIN_TOKEN}
    out = cli.ok("users", "create", "root", "--role", "admin", "--password",
                 stdin="root password\nroot password\n", **as_root)  # fmt: skip
    assert out.strip().splitlines()[-1].startswith("eng_")
    # `login --name` asks the password and saves a new token named after the machine.
    login = cli.ok("login", "--url", cli.url, "--name", "root", stdin="root password\n")
    assert "logged in" in login
    config = (cli.home / "englog" / "config.toml").read_text()
    assert "eng_" in config
    listed = cli.ok("tokens", "list")
    assert "englog CLI on" in listed
    assert "role        admin" in cli.ok("me")
    # A wrong password is one line, no traceback.
    bad = cli.run("login", "--url", cli.url, "--name", "root", stdin="nope nope\n")
    one_error_line(bad, "wrong name or password")
    # Tokens: create, list, revoke; the revoked one is refused on its next request.
    ci = cli.ok("tokens", "create", "ci", "--expires-days", "30").strip().splitlines()[-1]
    assert cli.status(ci) == 200
    assert "ci" in cli.ok("tokens", "list")
    assert "revoked ci" in cli.ok("tokens", "revoke", "ci")
    assert cli.status(ci) == 401
    one_error_line(cli.run("tokens", "revoke", "ci"), "no token 'ci'")


def test_admin_manages_users_over_rest(cli: Cli) -> None:
    as_root = {"ENGLOG_TOKEN": ADMIN_TOKEN}
    token = cli.ok("users", "create", "bob", **as_root).strip().splitlines()[-1]
    one_error_line(cli.run("users", "create", "BOB", **as_root), "already taken")
    assert "bob" in cli.ok("users", "list", **as_root)
    assert cli.status(token) == 200
    assert "disabled bob" in cli.ok("users", "disable", "bob", **as_root)
    assert cli.status(token) == 401
    cli.ok("users", "enable", "bob", **as_root)
    assert cli.status(token) == 200
    # An operator sees the workers' list over the web, a member does not manage accounts.
    assert "bob is now operator" in cli.ok("users", "set-role", "bob", "operator", **as_root)
    one_error_line(cli.run("users", "list", ENGLOG_TOKEN=token), "role admin")
    link = cli.ok("users", "invite", "--role", "operator", **as_root).strip().splitlines()[-1]
    assert link.startswith(f"{cli.url}/app/invite/")
    assert httpx.get(link, timeout=10).status_code == 200
    cli.ok("users", "delete", "bob", "--yes", **as_root)
    assert cli.status(token) == 401
    assert "bob" not in cli.ok("users", "list", **as_root)


def test_users_create_on_a_database_file(cli: Cli, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    one_error_line(cli.run("users", "create", "ada", "--db", missing), "--init")
    assert not (tmp_path / "nowhere.db").exists()
    token = cli.ok("users", "create", "ada", "--db", missing, "--init").strip().splitlines()[-1]
    assert token.startswith("eng_")
    one_error_line(cli.run("users", "create", "Ada", "--db", missing), "already exists")
    # The server's own database: the token works at once.
    server_db = cli.cluster.db_url
    made = cli.ok("users", "create", "carol", "--db", server_db).strip().splitlines()[-1]
    assert cli.status(made, "/v1/entries") == 200


def test_export_delete_account_and_import_restores_the_same_entries(
    cli: Cli, tmp_path: Path
) -> None:
    as_root = {"ENGLOG_TOKEN": ADMIN_TOKEN}
    first = cli.ok("users", "create", "dora", **as_root).strip().splitlines()[-1]
    me = {"ENGLOG_TOKEN": first}
    entries = [
        {
            "title": f"work {i}",
            "type": "development",
            "project": "atlas",
            "tags": ["ci", "x,y"],
            "description": "line one\nline two" if i == 0 else None,
            "start_time": f"2026-01-0{5 + i}T09:00:00+01:00",
            "end_time": f"2026-01-0{5 + i}T10:30:00+01:00",
            "value_rating": "high",
            "impact_level": "team",
        }
        for i in range(3)
    ]
    headers = {"Authorization": f"Bearer {first}"}
    r = httpx.post(f"{cli.url}/v1/entries/bulk", json={"entries": entries}, headers=headers)
    assert r.status_code == 201, r.text
    before = httpx.get(f"{cli.url}/v1/entries", headers=headers).json()["entries"]
    out = tmp_path / "dora.csv"
    cli.ok("export", "--out", str(out), **me)
    one_error_line(cli.run("delete-account", stdin="not-dora\n", **me), "did not match")
    assert "deleted the account 'dora'" in cli.ok("delete-account", stdin="dora\n", **me)
    assert cli.status(first) == 401

    second = cli.ok("users", "create", "dora", **as_root).strip().splitlines()[-1]
    again = {"ENGLOG_TOKEN": second}
    shown = cli.ok("import", str(out), stdin="y\n", **again)
    assert "3 entries to add, 0 skipped" in shown and "imported 3 entries" in shown
    after = httpx.get(
        f"{cli.url}/v1/entries", headers={"Authorization": f"Bearer {second}"}
    ).json()["entries"]
    same = ("title", "type", "project", "tags", "description", "start_time", "end_time",
            "value_rating", "impact_level")  # fmt: skip
    assert [{k: e[k] for k in same} for e in after] == [{k: e[k] for k in same} for e in before]
    # Importing again adds nothing.
    assert "0 entries to add, 3 skipped" in cli.ok("import", str(out), **again)
    one_error_line(cli.run("import", str(tmp_path / "missing.csv"), **again), "cannot read")


def test_projects_and_tags_from_the_command_line(cli: Cli) -> None:
    token = cli.ok("users", "create", "pia", ENGLOG_TOKEN=ADMIN_TOKEN).strip().splitlines()[-1]
    me = {"ENGLOG_TOKEN": token}
    headers = {"Authorization": f"Bearer {token}"}
    entries = [
        {"title": "a", "type": "development", "project": "atlas", "tags": ["ci"],
         "start_time": "2026-03-02T09:00:00Z", "end_time": "2026-03-02T10:30:00Z",
         "value_rating": "high", "impact_level": "team"},
        {"title": "b", "type": "meeting", "project": "atlas", "tags": ["ci", "flaky"],
         "start_time": "2026-03-03T09:00:00Z", "end_time": "2026-03-03T09:30:00Z",
         "value_rating": "high", "impact_level": "team"},
    ]  # fmt: skip
    r = httpx.post(f"{cli.url}/v1/entries/bulk", json={"entries": entries}, headers=headers)
    assert r.status_code == 201
    listed = cli.ok("projects", "list", "--from", "2026-03-02", "--to", "2026-03-08", **me)
    assert "atlas" in listed and "2h00" in listed
    cli.ok("projects", "add", "comet", "--colour", "#112233", "--default", **me)
    assert "* comet" in cli.ok("projects", "list", **me)
    one_error_line(cli.run("projects", "add", "comet", **me), "already taken")
    assert "completed" in cli.ok("projects", "edit", "atlas", "--name", "atlas-2",
                                 "--status", "completed", **me)  # fmt: skip
    one_error_line(cli.run("projects", "edit", "nope", **me), "no project 'nope'")
    cli.ok("projects", "rm", "comet", "--yes", **me)
    assert "comet" not in cli.ok("projects", "list", **me)
    tags = cli.ok("tags", "list", **me).splitlines()
    assert [line.split() for line in tags] == [["2", "ci"], ["1", "flaky"]]
    assert "on 1 entries" in cli.ok("tags", "rename", "flaky", "ci", **me)
    assert [line.split() for line in cli.ok("tags", "list", "c", **me).splitlines()] == [
        ["2", "ci"]
    ]
