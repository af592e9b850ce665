"""HTTP serving shared by the server's REST port and the worker's health port: one place
for the bind, the parser choice, the signal hand-off and the graceful stop."""

from englog.serving.uvicorn_serve import HTTP_PARSER, bind_listener, serve

__all__ = ["HTTP_PARSER", "bind_listener", "serve"]
