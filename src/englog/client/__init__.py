"""englog's Python client: `Client` (sync) and `AsyncClient` (asyncio) for the REST API.

    from englog.client import Client

    with Client() as englog:  # ENGLOG_URL / ENGLOG_TOKEN, or what `englog login` saved
        handle = englog.submit("noop", {"hello": "world"})
        print(handle.result(timeout=30))

Every error is an `englog.errors.EnglogError` (see `englog.client.errors` for the tree).
docs/client.md has the full tour.
"""

from englog.client._people import token_with_password
from englog.client._retry import RetryPolicy
from englog.client.aio import AsyncClient, AsyncTaskHandle
from englog.client.coalesce import CoalescePolicy
from englog.client.config import Settings, config_path, read_config, resolve, write_config
from englog.client.errors import (
    ApiError,
    ClientError,
    ConfigError,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    ServerUnreachable,
    TaskCancelled,
    TaskFailed,
    Timeout,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from englog.client.models import (
    Account,
    AttemptView,
    Entry,
    Insight,
    Me,
    NewToken,
    TaskAccepted,
    TaskDetail,
    TaskList,
    TaskStatus,
    TaskView,
    TokenInfo,
    WaitAnswer,
    WeeklyReport,
    WorkerView,
)
from englog.client.sync import Client, TaskHandle
from englog.client.transport import LeanTransport

__all__ = [
    "Account",
    "ApiError",
    "AsyncClient",
    "AsyncTaskHandle",
    "AttemptView",
    "Client",
    "ClientError",
    "CoalescePolicy",
    "ConfigError",
    "Conflict",
    "Entry",
    "FieldError",
    "Forbidden",
    "Insight",
    "LeanTransport",
    "Me",
    "NewToken",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ServerUnreachable",
    "Settings",
    "TaskAccepted",
    "TaskCancelled",
    "TaskDetail",
    "TaskFailed",
    "TaskHandle",
    "TaskList",
    "TaskStatus",
    "TaskView",
    "Timeout",
    "TokenInfo",
    "TransportError",
    "Unauthorized",
    "ValidationFailed",
    "WaitAnswer",
    "WeeklyReport",
    "WorkerView",
    "config_path",
    "read_config",
    "resolve",
    "token_with_password",
    "write_config",
]
