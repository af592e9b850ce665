"""structlog set-up: JSON lines when stderr is not a terminal (collectors parse them),
readable console output otherwise. One logger namespace, `englog.*`.

Every line passes through `redact_secrets` (and stdlib logging through the same
`redact`): passwords in URLs, bearer tokens, englog's own tokens and the values of
fields named like secrets never reach a log (issue 22: `server_started` carried the
PostgreSQL password)."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

MASK = "***"
# scheme://user:password@host -> scheme://user:***@host
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):([^@\s/]*)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# englog's generated tokens: user (eng_), worker (wkr_, w_), session (s_), admin (adm_).
_TOKEN = re.compile(r"\b(eng|wkr|w|s|adm)_[A-Za-z0-9_-]{20,}")
# password=..., token: ... in free text (connection strings, DSNs)
_ASSIGNED = re.compile(r"(?i)\b(password|passwd|pwd|secret|token)(\s*[=:]\s*)([^\s&;,'\"]+)")
_SECRET_KEYS = ("password", "passwd", "secret", "token", "authorization", "api_key", "apikey")


def redact(text: str) -> str:
    """`text` with every secret it shows replaced by ***."""
    text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _TOKEN.sub(rf"\1_{MASK}", text)
    return _ASSIGNED.sub(rf"\1\2{MASK}", text)


def redact_url(url: str) -> str:
    """A store URL fit for a log: its password (if any) masked."""
    return redact(url)


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_KEYS) and not lowered.endswith(
        ("_count", "_hash_prefix")
    )


def redact_value(value: Any) -> Any:
    """A logged value with secrets masked: strings redacted, containers walked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return redact(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, BaseException):
        return redact(repr(value))
    return value


def _field(key: str, value: Any) -> Any:
    """A text field named like a secret (`password`, `*token*`, `authorization`) is
    masked whole (a count such as `tokens_used` is not text); anything else redacted."""
    if _secret_key(key) and isinstance(value, str | bytes):
        return MASK
    return redact_value(value)


def redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every field of every line through `_field`."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _field(key, value)
    return event_dict


class RedactingFilter(logging.Filter):
    """The same redaction for stdlib logging (uvicorn, asyncio, grpc): the formatted
    message and its traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str | None = None, json: bool | None = None) -> None:
    level_name = (level or os.environ.get("ENGLOG_LOG_LEVEL", "info")).upper()
    numeric = logging.getLevelName(level_name)
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level_name!r}")
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
