"""TLS and mTLS between real workers and a real server, with certificates made for
the test (`tests.support.certs`); plaintext only when asked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.certs import TestPKI, make_pki
from tests.support.procs import (
    Cluster,
    Proc,
    base_env,
    cluster,
    englog_cmd,
    free_port,
    holds_for,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)
TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """Certificates from a CA nobody trusts."""
    return make_pki(tmp_path_factory.mktemp("rogue"), name="rogue")


def tls_server(pki: TestPKI) -> tuple[str, ...]:
    return ("--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key))


def mtls_server(pki: TestPKI) -> tuple[str, ...]:
    return (*tls_server(pki), "--tls-ca", str(pki.ca))


def worker_tls(pki: TestPKI, client: TestPKI | None = None) -> tuple[str, ...]:
    """TLS flags alone turn TLS on: no separate switch to forget."""
    args: tuple[str, ...] = ("--tls-ca", str(pki.ca))
    if client is not None:
        args += ("--tls-cert", str(client.client.cert), "--tls-key", str(client.client.key))
    return args


def run_one_task(c: Cluster) -> dict:
    with c.admin() as api:
        r = api.post("/v1/tasks", json={"type": "noop", "payload": {"tls": True}})
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        return wait_for(
            lambda: (t := api.get(f"/v1/tasks/{task_id}").json())["status"] in TERMINAL and t,
            30,
            what="task over TLS",
        )


def never_connects(c: Cluster, worker_id: str, seconds: float = 4.0) -> None:
    with c.admin() as api:

        def not_connected() -> bool:
            rows = api.get("/v1/workers").json()["workers"]
            return not any(w["id"] == worker_id and w["connected"] for w in rows)

        holds_for(not_connected, seconds, what=f"{worker_id} stays disconnected")
    assert c.workers[worker_id].alive, "a worker that cannot connect keeps trying, not exits"


def handshake_failed(proc: Proc, reason: str) -> None:
    """The refusal was the TLS handshake, for the reason expected (gRPC's core logs it
    on the side that detected it): not a wrong port or a server that is down."""
    wait_for(
        lambda: any(
            "Handshake failed" in line and reason in line for line in proc.log().splitlines()
        ),
        15,
        what=f"a TLS handshake failure ({reason}) in {proc.log_path.name}",
    )


def test_tls_worker_runs_tasks(tmp_path: Path, pki: TestPKI) -> None:
    with cluster(tmp_path) as c:
        c.start_server(*tls_server(pki))
        c.start_worker("w1", *worker_tls(pki))
        c.wait_workers_connected("w1")
        task = run_one_task(c)
    assert task["status"] == "completed" and task["result"] == {"tls": True}, task


def test_mtls_worker_with_a_client_certificate_runs_tasks(tmp_path: Path, pki: TestPKI) -> None:
    with cluster(tmp_path) as c:
        c.start_server(*mtls_server(pki))
        c.start_worker("w1", *worker_tls(pki, client=pki))
        c.wait_workers_connected("w1")
        assert run_one_task(c)["status"] == "completed"


def test_mtls_refuses_workers_without_a_trusted_client_certificate(
    tmp_path: Path, pki: TestPKI, rogue: TestPKI
) -> None:
    with cluster(tmp_path) as c:
        server = c.start_server(*mtls_server(pki))
        c.start_worker("anonymous", *worker_tls(pki))
        never_connects(c, "anonymous")
        handshake_failed(server, "PEER_DID_NOT_RETURN_A_CERTIFICATE")
        c.start_worker("impostor", *worker_tls(pki, client=rogue))
        never_connects(c, "impostor")
        handshake_failed(server, "CERTIFICATE_VERIFY_FAILED")


def test_worker_refuses_a_server_its_ca_did_not_sign(
    tmp_path: Path, pki: TestPKI, rogue: TestPKI
) -> None:
    with cluster(tmp_path) as c:
        c.start_server(*tls_server(rogue))
        worker = c.start_worker("w1", *worker_tls(pki))
        never_connects(c, "w1")
        handshake_failed(worker, "CERTIFICATE_VERIFY_FAILED")


def test_plaintext_and_tls_do_not_mix(tmp_path: Path, pki: TestPKI) -> None:
    with cluster(tmp_path) as c:
        server = c.start_server(*tls_server(pki))
        c.start_worker("plain", "--insecure")  # asked for plaintext: a TLS server refuses it
        never_connects(c, "plain")
        handshake_failed(server, "WRONG_VERSION_NUMBER")
    with cluster(tmp_path / "plain-server") as c:
        (tmp_path / "plain-server").mkdir()
        c.start_server()
        worker = c.start_worker("tls", *worker_tls(pki))  # TLS requested: no fallback
        never_connects(c, "tls")
        handshake_failed(worker, "WRONG_VERSION_NUMBER")


def test_http_api_stays_reachable_on_a_tls_server(tmp_path: Path, pki: TestPKI) -> None:
    with cluster(tmp_path) as c:
        server = c.start_server(*tls_server(pki))
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("command", "flags", "message"),
    [
        ("worker", ["--tls-cert", "CERT"], "--tls-key"),
        ("server", ["--tls-cert", "CERT"], "--tls-key"),
        ("worker", ["--tls-ca", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
    ],
)
def test_incomplete_or_missing_tls_files_are_one_line_errors(
    tmp_path: Path, pki: TestPKI, command: str, flags: list[str], message: str
) -> None:
    flags = [str(pki.client.cert) if f == "CERT" else f for f in flags]
    env = base_env(ENGLOG_WORKER_TOKEN="t", ENGLOG_WORKER_TOKENS="t")
    common = (
        ["--server", f"127.0.0.1:{free_port()}", "--worker-id", "w"]
        if command == "worker"
        else [
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--grpc-listen",
            f"127.0.0.1:{free_port()}",
            "--http-listen",
            f"127.0.0.1:{free_port()}",
        ]
    )
    out = subprocess.run(
        englog_cmd(command, *common, *flags),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0, out
    assert message in out.stderr + out.stdout, out
    assert "Traceback" not in out.stderr, out.stderr
