"""JSON text parsed with orjson, the same values as `json.loads` gives.

Every task read back from SQLite parses three JSON columns, and a keyed batch parses
its body once more for the items' fingerprints: `json.loads` spent 2-3 us on each small
document, orjson 0.1-0.3 (4 % of the server's CPU in the client pattern, issue 26).
Where orjson would differ, `json.loads` parses instead: what orjson refuses (NaN and
Infinity, lone surrogates) and any run of 19 digits or more, since orjson reads an
integer past 64 bits as a float. Only parsing goes through orjson, never encoding:
stored text and fingerprints keep `json.dumps`'s form."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def loads(text: str | bytes) -> Any:
    long = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
