"""The REST API: people's side of the server (entries, tasks, operations)."""

from englog.server.http.app import create_http_app

__all__ = ["create_http_app"]
