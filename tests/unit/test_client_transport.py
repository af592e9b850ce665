"""`LeanTransport` against a small HTTP/1.1 server on loopback: keep-alive reuse, a
connection the server dropped is never written into, and failures arrive as httpx's
exceptions (which the client's retry rules read)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from englog.client.transport import LeanTransport
from tests.support.procs import free_port, wait_for


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list[tuple[str, str, bytes, int]] = []  # method, path, body, client port

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Handler.requests.append((self.command, self.path, body, self.client_address[1]))
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        payload = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Echo", self.headers.get("X-Echo", ""))
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        if self.path.startswith("/drop"):  # a silent close after answering: idle timeout
            self.close_connection = True

    do_GET = do_POST = _answer


class Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that left (the read-timeout test) is expected, not news."""


@pytest.fixture
def server() -> Iterator[str]:
    Handler.requests = []
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def transport() -> LeanTransport:
    return LeanTransport()


@pytest.fixture
def client(server: str, transport: LeanTransport) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, transport=transport, timeout=5) as c:
        yield c


def test_requests_share_one_keep_alive_connection(client: httpx.Client) -> None:
    first = client.post("/a?x=1", json={"n": 1}, headers={"X-Echo": "hi"})
    second = client.get("/b")
    assert first.json() == {"ok": True} and first.headers["x-echo"] == "hi"
    assert second.status_code == 200
    (m1, p1, b1, c1), (m2, p2, _, c2) = Handler.requests
    assert (m1, p1, b1, m2, p2) == ("POST", "/a?x=1", b'{"n":1}', "GET", "/b")
    assert c1 == c2


@pytest.mark.parametrize("path", ["/close", "/drop"])
def test_a_connection_the_server_closed_is_replaced_not_written_into(
    client: httpx.Client, transport: LeanTransport, path: str
) -> None:
    client.get(path)
    # As during idle time: the server's close has arrived before the next request.
    wait_for(lambda: all(c.stale() for c in transport._conns().values()), 5, 0.01)
    assert client.post("/after", content=b"once").status_code == 200
    after = [r for r in Handler.requests if r[1] == "/after"]
    assert len(after) == 1 and after[0][3] != Handler.requests[0][3]


def test_each_thread_has_its_own_connection(client: httpx.Client) -> None:
    threads = [threading.Thread(target=client.get, args=("/t",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r[3] for r in Handler.requests}) == 4


def test_a_slow_answer_is_a_read_timeout(server: str) -> None:
    with httpx.Client(base_url=server, transport=LeanTransport(), timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("/slow")
        assert c.get("/fast").status_code == 200  # a fresh connection afterwards


def test_a_refused_connection_is_a_connect_error() -> None:
    c = httpx.Client(transport=LeanTransport(), timeout=2)
    with c, pytest.raises(httpx.ConnectError):
        c.get(f"http://127.0.0.1:{free_port()}/")
