"""What a worker sends, checked so that every store can keep it.

PostgreSQL refuses NUL in text and NaN / Infinity in JSON, where SQLite keeps them (or
gives NaN back as null). A request carrying one must end INVALID_ARGUMENT on every
backend, not as a retriable "store unavailable" that a worker would retry forever."""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf.message import Message


def nul_field(message: Message, prefix: str = "") -> str | None:
    """The name of the first string of `message` (map keys included) holding a NUL
    character, else None."""
    for field, value in message.ListFields():
        name = prefix + field.name
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            if has_nul(dict(value)):
                return name
        elif entry is not None:
            for item in value if field.is_repeated else [value]:
                found = nul_field(item, f"{name}.")
                if found is not None:
                    return found
        elif field.type == field.TYPE_STRING and has_nul(
            list(value) if field.is_repeated else value
        ):
            return name
    return None


def has_nul(value: Any) -> bool:
    """Whether a JSON-like value holds NUL in any string, keys included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def parse_result(raw: bytes) -> Any:
    """A result's JSON (None when empty). ValueError when it is not JSON, holds NaN or
    Infinity (any spelling, 1e999 too), or nests deeper than the parser's stack."""
    if not raw:
        return None
    try:
        # json.loads with these hooks, without building a decoder for every result.
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def result_has_nul(raw: bytes, parsed: Any) -> bool:
    """Whether a parsed result holds NUL; a byte search first, so only the rare result
    that may hold one is walked."""
    return b"\\u0000" in raw and has_nul(parsed)


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
