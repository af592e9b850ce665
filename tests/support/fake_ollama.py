"""A real HTTP server on 127.0.0.1 that speaks the part of Ollama's API englog uses
(`/api/chat` non-streaming, `/api/tags`, `/api/version`), with scripted faults.

Each request to a path takes the next fault scripted for that path, if any: a delay
before answering, an HTTP status, a reset connection (RST), a body that is not JSON,
raw message content, an answer cut off with `done_reason: "length"`, or a given
answer. Refused connections come from `stop()` (nothing listening) and `start()`
brings the server back on the same port. Without a fault, `/api/chat` answers from the
request itself: it reads the FACTS and entry ids out of the prompt and writes a
faithful answer in whichever schema the request's `format` asks for, so tests never
depend on a hard-coded answer. Every request is logged for assertions."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "llama3.2:3b"
_FACTS = re.compile(r"FACTS \(computed, exact\):\n(\{.*?\})\n", re.S)
_IDS = re.compile(r"id=([\w-]+)")


@dataclass(frozen=True)
class Fault:
    """What one request gets instead of the default answer (see the constructors)."""

    kind: str
    seconds: float = 0.0
    status: int = 0
    content: str = ""
    answer: dict[str, Any] | None = None
    then: Fault | None = None  # for delay: what to do after waiting (default answer if None)


def delay(seconds: float, then: Fault | None = None) -> Fault:
    return Fault("delay", seconds=seconds, then=then)


def status(code: int, error: str = "") -> Fault:
    return Fault("status", status=code, content=error or f"injected {code}")


def reset() -> Fault:
    return Fault("reset")


def malformed_body() -> Fault:
    return Fault("malformed")


def content(raw: str) -> Fault:
    """message.content as given: malformed or schema-violating JSON."""
    return Fault("content", content=raw)


def truncated() -> Fault:
    return Fault("length")


def answer(data: dict[str, Any]) -> Fault:
    return Fault("answer", answer=data)


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]

    def prompt(self) -> str:
        return "\n".join(m.get("content", "") for m in self.body.get("messages", []))


def facts_in(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The facts and entry ids the prompt carries."""
    text = "\n".join(m.get("content", "") for m in messages)
    found = _FACTS.search(text)
    facts = json.loads(found.group(1)) if found else {}
    return facts, list(dict.fromkeys(_IDS.findall(text)))


def faithful_answer(body: dict[str, Any]) -> dict[str, Any]:
    """An answer that quotes only the prompt's facts and cites its entry ids."""
    facts, ids = facts_in(body.get("messages", []))
    total, focus = facts.get("total_minutes", 0.0), facts.get("focus_ratio", 0.0)
    count = facts.get("entry_count", 0)
    lines = [
        f"{total / 60:.1f} h logged over {count} entries.",
        f"Focus work was {focus * 100:.0f}% of the time.",
    ]
    data: dict[str, Any] = {
        "title": f"{total / 60:.1f} h of work, {focus * 100:.0f}% focus",
        "summary": " ".join(lines),
        "recommendations": ["Keep a long focus block each morning."],
        "cited_entry_ids": ids[:3],
        "self_confidence": 0.7,
    }
    properties = (body.get("format") or {}).get("properties", {})
    data["highlights" if "highlights" in properties else "key_points"] = lines
    return data


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def _json(self, code: int, data: Any) -> None:
        self._raw(code, json.dumps(data).encode())

    def _raw(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        self._serve(json.loads(raw or b"{}"))

    def _serve(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        fault = fake.record(self.path, body)
        while fault is not None and fault.kind == "delay":
            if fake.stopping.wait(fault.seconds):
                return self._reset()
            fault = fault.then
        if fault is not None and fault.kind == "reset":
            return self._reset()
        if fault is not None and fault.kind == "status":
            return self._json(fault.status, {"error": fault.content})
        if fault is not None and fault.kind == "malformed":
            return self._raw(200, b'{"model": "x", "message": {"role": "assist')
        route = {
            "/api/version": self._version,
            "/api/tags": self._tags,
            "/api/chat": self._chat,
            "/v1/models": self._v1_models,
            "/v1/chat/completions": self._v1_chat,
        }
        handler = route.get(self.path)
        if handler is None:
            return self._json(404, {"error": f"unknown path {self.path}"})
        handler(body, fault)

    def _reset(self) -> None:
        """Close with RST: the client sees a reset connection, no response."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True

    def _version(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, {"version": self.server.fake.version})

    def _tags(self, body: dict[str, Any], fault: Fault | None) -> None:
        models = [{"name": m, "model": m, "size": 2_000_000_000} for m in self.server.fake.models]
        self._json(200, {"models": models})

    def _chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        fake = self.server.fake
        model = body.get("model", "")
        if model not in fake.models:
            error = f'model "{model}" not found, try pulling it first'
            return self._json(404, {"error": error})
        done_reason = "stop"
        if fault is not None and fault.kind == "content":
            text = fault.content
        elif fault is not None and fault.kind == "length":
            text, done_reason = json.dumps(faithful_answer(body))[:40], "length"
        elif fault is not None and fault.kind == "answer":
            text = json.dumps(fault.answer)
        else:
            text = json.dumps(faithful_answer(body))
        reply: dict[str, Any] = {
            "model": model,
            "created_at": "2026-11-23T10:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": done_reason,
            "prompt_eval_count": 100,
            "eval_count": 50,
        }
        if body.get("logprobs") and fake.logprobs is not None:
            reply["logprobs"] = [{"token": "x", "logprob": lp} for lp in fake.logprobs]
        self._json(200, reply)

    def _v1_models(self, body: dict[str, Any], fault: Fault | None) -> None:
        self._json(200, {"object": "list", "data": [{"id": m} for m in self.server.fake.models]})

    def _v1_chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        if body.get("model") not in self.server.fake.models:
            return self._json(404, {"error": {"message": f"model {body.get('model')} not found"}})
        finish = "stop"
        if fault is not None and fault.kind == "content":
            text = fault.content
        elif fault is not None and fault.kind == "length":
            text, finish = json.dumps(faithful_answer(_v1_format(body)))[:40], "length"
        elif fault is not None and fault.kind == "answer":
            text = json.dumps(fault.answer)
        else:
            text = json.dumps(faithful_answer(_v1_format(body)))
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        self._json(
            200, {"object": "chat.completion", "choices": [choice | {"finish_reason": finish}]}
        )


def _v1_format(body: dict[str, Any]) -> dict[str, Any]:
    """Ollama's OpenAI-compatible `/v1` request shape, mapped to the native one."""
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    return {"messages": body.get("messages", []), "format": schema}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and clients that gave up are the point of this server


@dataclass
class FakeOllama:
    models: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])
    version: str = "0.12.11"
    logprobs: list[float] | None = None  # per-token logprobs to return when asked
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _faults: dict[str, deque[Fault]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOllama:
        """Listen (again) on 127.0.0.1, on the same port after a `stop()`."""
        self.stopping.clear()
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused; delayed answers end in a reset."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def script(self, *faults: Fault, path: str = "/api/chat") -> None:
        """Queue faults for the next requests to `path`, one each, in order."""
        with self._lock:
            self._faults.setdefault(path, deque()).extend(faults)

    def record(self, path: str, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            self.requests.append(Recorded(path, body))
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def calls(self, path: str = "/api/chat") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._faults.values())


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakeOllama]:
    fake = FakeOllama(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
