"""Redirects are relative: a `Location` the app (or Starlette's trailing-slash redirect,
which builds it from the request's `Host`) makes absolute is cut to its path and query
(issue 22: `Host: evil.example` came back as `Location: http://evil.example/app/`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def relative(location: bytes) -> bytes:
    """`location` without scheme and host ("/" at least); relative ones unchanged."""
    text = location.decode("latin-1")
    parts = urlsplit(text)
    if not parts.scheme and not parts.netloc and not text.startswith("//"):
        return location
    path = parts.path or "/"
    return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")


class RelativeRedirects:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (name, relative(value) if name.lower() == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_relative)
