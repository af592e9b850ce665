"""The team deployment's files, checked without a container engine (this machine has
none): compose.yaml against the Compose Specification's JSON schema (vendored in
tests/data), every englog service's command and ENGLOG_* variable against the CLI,
the Dockerfile's shape, and Prometheus' configuration with promtool (issue 24)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import typer
import yaml

from englog.cli import app
from tests.support.procs import REPO

COMPOSE = REPO / "compose.yaml"
SCHEMA = REPO / "tests" / "data" / "compose-spec" / "compose-spec.json"
DOCKERFILE = REPO / "Dockerfile"
# Read by the image's HEALTHCHECK (Dockerfile), not by an englog command.
HEALTHCHECK_ONLY = {"ENGLOG_HEALTH_URL"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    import json

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_mistake() -> None:
    """The check above can fail: a misspelt key is refused."""
    import json

    broken = compose()
    broken["services"]["server"]["enviroment"] = {"A": "b"}
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    assert any("enviroment" in e.message for e in validator.iter_errors(broken))


def _command(parts: list[str]) -> click.Command:
    """The englog (sub)command `parts` names; fails when there is none."""
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    command: click.Command = group
    for word in parts:
        if word.startswith("-") or not hasattr(command, "get_command"):
            break  # typer may vendor click: its groups are not click.Group
        found = command.get_command(ctx, word)
        assert found is not None, f"`englog {' '.join(parts)}`: no command {word!r}"
        command = found
    return command


def _englog_invocations(service: dict[str, Any]) -> list[list[str]]:
    """The englog command lines a service runs: the image's entrypoint (englog) with
    its command, or the englog calls inside an `sh -c` script."""
    command = service.get("command", ["server"])
    if service.get("entrypoint") == ["sh", "-c"]:
        script = " ".join(command)
        calls = re.findall(r"englog ([^|&;]+)", script)
        return [shlex.split(call) for call in calls]
    return [list(command)]


def _envvars(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        env = getattr(param, "envvar", None)
        if isinstance(env, str):
            names.add(env)
        elif env:
            names.update(env)
    return names


def test_every_englog_service_runs_a_real_command_with_variables_it_reads() -> None:
    services = compose()["services"]
    englog_services = {n: s for n, s in services.items() if s.get("image") == "englog:latest"}
    assert set(englog_services) == {"certs", "server", "worker"}
    for name, service in englog_services.items():
        for call in _englog_invocations(service):
            command = _command(call)
            assert command.name in call, (name, call)
            env = service.get("environment", {})
            unknown = {k for k in env if k.startswith("ENGLOG_")} - _envvars(command)
            assert unknown <= HEALTHCHECK_ONLY, f"{name}: `englog {call[0]}` reads no {unknown}"
    # The worker dials the server by the name its certificate carries.
    certs_script = " ".join(services["certs"]["command"])
    server_host = services["worker"]["environment"]["ENGLOG_SERVER"].split(":")[0]
    assert f"--host {server_host}" in certs_script


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) >= 2
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert 'ENTRYPOINT ["englog"]' in lines
    # The variables the image sets are ones `englog server` (its default command) reads.
    env_text = DOCKERFILE.read_text().split("ENV ", 1)[1].split("EXPOSE", 1)[0]
    set_vars = set(re.findall(r"(ENGLOG_[A-Z_]+)=", env_text))
    assert set_vars - HEALTHCHECK_ONLY <= _envvars(_command(["server"]))


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found: `make promtool` installs Debian's prometheus package")
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    # Paths as the container sees them, pointed at the repository's files.
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = [str(REPO / "deploy" / "prometheus" / "alerts.yml")]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    out = subprocess.run(
        [promtool, "check", "config", str(local)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"englog-server", "englog-worker"}  # the jobs alerts.yml names


def test_grafana_provisioning_points_at_the_dashboard() -> None:
    base = REPO / "deploy" / "grafana"
    datasource = yaml.safe_load((base / "provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    import json

    dashboard = json.loads((base / "dashboards" / "englog.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
    mounts = compose()["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    provider = yaml.safe_load((base / "provisioning/dashboards/englog.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
