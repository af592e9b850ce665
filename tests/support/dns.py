"""A DNS server on 127.0.0.1 whose answers a test switches: NXDOMAIN (the name does
not resolve) until `resolve()` is called, then A records for 127.0.0.1.

gRPC's default resolver (c-ares) takes a DNS server in the target's authority
(`dns://127.0.0.1:PORT/name:port`), so a worker pointed at such a target meets a real
resolution failure and a real recovery, without touching the machine's resolver."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType

from dnslib import QTYPE, RCODE, RR, A, DNSRecord


@dataclass
class SwitchableDns:
    name: str = "englog-server.test"
    queries: list[tuple[str, str, bool]] = field(default_factory=list)  # name, type, answered
    _answer: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)  # the loop checks _stop this often
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="switchable-dns", daemon=True)

    def target(self, port: int) -> str:
        """A gRPC target that resolves `name` through this server."""
        return f"dns://127.0.0.1:{self.port}/{self.name}:{port}"

    def resolve(self) -> None:
        self._answer.set()

    def refused_queries(self) -> int:
        return sum(1 for _, _, answered in self.queries if not answered)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = DNSRecord.parse(data)
            reply = query.reply()
            answered = self._answer.is_set() and str(query.q.qname).rstrip(".") == self.name
            self.queries.append((str(query.q.qname), QTYPE[query.q.qtype], answered))
            if not answered:
                reply.header.rcode = RCODE.NXDOMAIN
            elif query.q.qtype == QTYPE.A:
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=1))
            # AAAA once resolvable: NOERROR with no records (IPv4 only here).
            self._sock.sendto(reply.pack(), peer)

    def __enter__(self) -> SwitchableDns:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
