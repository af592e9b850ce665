"""Connections and proxies (issue 22): silent sockets from one address cannot exhaust
the server (a cap per address and in all), `X-Forwarded-For` is believed only from
`--trusted-proxies`, and a signed-in browser is rate limited as its user, not with the
anonymous requests of its address."""

from __future__ import annotations

import contextlib
import errno
import re
import resource
import socket
from pathlib import Path

import httpx

from tests.support.procs import cluster, wait_for

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_twenty_thousand_sockets_from_one_address_leave_health_answering(
    tmp_path: Path,
) -> None:
    flags = ("--max-connections-per-address", "200", "--http-read-timeout", "60")
    with cluster(tmp_path) as c, contextlib.ExitStack() as stack:
        server = c.start_server(*flags)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        count = min(20_000, soft - 500)
        opened = 0
        for _ in range(count):
            sock = socket.socket()
            stack.callback(sock.close)
            # Its port chosen at connect: binding port 0 first scans every bound port.
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind(("127.0.0.2", 0))  # the attacker: another loopback address
            sock.setblocking(False)  # SYNs as fast as the kernel takes them
            if sock.connect_ex(("127.0.0.1", server.http_port)) in (0, errno.EINPROGRESS):
                opened += 1
        assert opened > count // 2
        # Another address is served at once, and the server kept its descriptors.
        health = wait_for(
            lambda: httpx.get(f"{server.url}/health", timeout=2).status_code == 200,
            timeout=10,
            what="/health answering",
        )
        assert health
        assert server.alive


def _sign_in(h: httpx.Client, token: str) -> None:
    form = h.get("/app/signin")
    csrf = CSRF.search(form.text)
    assert csrf, form.text[:300]
    answer = h.post("/app/signin", data={"token": token, "csrf": csrf.group(1)})
    assert answer.status_code == 303, answer.text[:300]


def test_forwarded_for_from_an_untrusted_address_is_ignored(tmp_path: Path) -> None:
    flags = ("--anonymous-rate", "1", "--anonymous-burst", "5")
    with cluster(tmp_path) as c:
        server = c.start_server(*flags)
        with httpx.Client(base_url=server.url, timeout=10) as h:
            codes = [
                h.get(
                    "/v1/tasks", headers={"X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"}
                ).status_code
                for i in range(20)
            ]
        assert codes.count(429) >= 10, codes


def test_forwarded_for_from_a_trusted_proxy_is_believed(tmp_path: Path) -> None:
    flags = ("--anonymous-rate", "1", "--anonymous-burst", "5", "--trusted-proxies", "127.0.0.1")
    with cluster(tmp_path) as c:
        server = c.start_server(*flags)
        with httpx.Client(base_url=server.url, timeout=10) as h:
            codes = [
                h.get("/v1/tasks", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                for i in range(20)
            ]
        assert 429 not in codes, codes


def test_a_signed_in_browser_is_not_limited_with_its_address(tmp_path: Path) -> None:
    flags = ("--anonymous-rate", "1", "--anonymous-burst", "20")
    with cluster(tmp_path) as c:
        server = c.start_server(*flags)
        token = c.create_user("web")
        with httpx.Client(base_url=server.url, timeout=10) as browser:
            _sign_in(browser, token)
            assert browser.get("/app/week").status_code == 200
            with httpx.Client(base_url=server.url, timeout=10) as anon:
                wait_for(
                    lambda: anon.get("/v1/tasks").status_code == 429,
                    timeout=30,
                    interval=0.01,
                    what="the address's anonymous limit spent",
                )
            assert all(browser.get("/app/week").status_code == 200 for _ in range(5))
