"""A worker that cannot reach its server says why, at warning level, within 5 s (a
closed port, plaintext against TLS, TLS against plaintext); one whose token is refused
exits non-zero after --give-up-after; transient failures keep being retried."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.certs import make_pki
from tests.support.procs import (
    WORKER_TOKEN,
    Proc,
    base_env,
    cluster,
    englog_cmd,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)


def events(proc: Proc) -> list[dict[str, Any]]:
    found = []
    for line in proc.log().splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def first(proc: Proc, event: str, timeout: float = 20.0) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        return next((e for e in events(proc) if e.get("event") == event), None)

    return wait_for(seen, timeout, what=f"{event} in the worker's log:\n{proc.log()[-2000:]}")


def seconds_between(a: dict[str, Any], b: dict[str, Any]) -> float:
    start = datetime.fromisoformat(a["timestamp"])
    return (datetime.fromisoformat(b["timestamp"]) - start).total_seconds()


def start_worker(tmp: Path, name: str, *args: str, token: str = WORKER_TOKEN) -> Proc:
    env = base_env(ENGLOG_WORKER_TOKEN=token)
    env.pop("ENGLOG_INSECURE")  # each test says which transport it wants
    return Proc(englog_cmd("worker", "--worker-id", name, *args), env, tmp / f"{name}.log").start()


def explained_within_5s(proc: Proc) -> dict[str, Any]:
    started = first(proc, "worker_starting")
    said = first(proc, "cannot_reach_server")
    assert said["level"] == "warning"
    assert seconds_between(started, said) < 5.0, said
    return said


def test_a_closed_port_is_explained_and_retried(tmp_path: Path) -> None:
    port = free_port()
    proc = start_worker(
        tmp_path, "closed", "--server", f"127.0.0.1:{port}", "--insecure", "--give-up-after", "1"
    )
    try:
        said = explained_within_5s(proc)
        assert "refused" in said["cause"].lower()
        assert "--server" in said["hint"]
        # Unreachable is transient: --give-up-after (1 s, long past) does not apply.
        assert proc.alive
        assert proc.terminate(15) == 0
    finally:
        proc.kill()


def test_plaintext_against_tls_and_tls_against_plaintext_are_explained(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = ("--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key))
    with cluster(tmp_path / "a") as secure, cluster(tmp_path / "b") as plain:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        secure.start_server(*tls)
        plain.start_server()
        wants_tls = start_worker(tmp_path, "plain", "--server", secure.server.grpc_target,  # type: ignore[union-attr]
                                 "--insecure")  # fmt: skip
        wants_plain = start_worker(tmp_path, "tls", "--server", plain.server.grpc_target,  # type: ignore[union-attr]
                                   "--tls-ca", str(pki.ca))  # fmt: skip
        try:
            assert "TLS" in explained_within_5s(wants_tls)["hint"]
            assert "plaintext" in explained_within_5s(wants_plain)["hint"]
        finally:
            wants_tls.kill()
            wants_plain.kill()


def test_a_refused_token_ends_the_worker_after_its_bound(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.start_server()
        proc = start_worker(
            tmp_path,
            "refused",
            "--server",
            c.server.grpc_target,  # type: ignore[union-attr]
            "--insecure",
            "--give-up-after",
            "2",
            token="not-the-token",
        )
        try:
            refused = first(proc, "server_refused_worker", timeout=10)
            assert refused["level"] == "error"
            assert proc.popen is not None
            code = proc.popen.wait(20)
        finally:
            proc.kill()
    assert code == 3
    log = proc.log()
    assert "Traceback" not in log
    assert "gave up after 2 s" in log.strip().splitlines()[-1]
    stopped = next(e for e in events(proc) if e.get("event") == "worker_stopped")
    assert 1.9 <= seconds_between(refused, stopped) < 8.0


def test_a_missing_client_certificate_and_an_untrusted_server_are_explained(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other", name="other")
    mtls = ("--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key),
            "--tls-ca", str(pki.ca))  # fmt: skip
    with cluster(tmp_path) as c:
        c.start_server(*mtls)
        target = c.server.grpc_target  # type: ignore[union-attr]
        no_cert = start_worker(tmp_path, "nocert", "--server", target, "--tls-ca", str(pki.ca))
        wrong_ca = start_worker(tmp_path, "wrongca", "--server", target, "--tls-ca", str(other.ca))
        try:
            assert "client certificate" in explained_within_5s(no_cert)["hint"]
            assert "--tls-ca" in explained_within_5s(wrong_ca)["hint"]
        finally:
            no_cert.kill()
            wrong_ca.kill()
