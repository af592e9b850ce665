"""The web app: engineers log their week and read insights and reports; operators watch
the queue and the workers. Served by `englog server` on its HTTP port, under `/app`."""

from englog.web.app import PREFIX, create_web_app

__all__ = ["PREFIX", "create_web_app"]
