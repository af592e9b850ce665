"""The englog server: REST for people, gRPC for workers, the durable task queue."""

from englog.server.app import BoundAddresses, Server, serve
from englog.server.queue import TaskQueue
from englog.server.state import ServerSettings, ServerState

__all__ = ["BoundAddresses", "Server", "ServerSettings", "ServerState", "TaskQueue", "serve"]
