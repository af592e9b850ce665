"""`englog.json_loads.loads` parses with orjson but must give exactly what `json.loads`
gives, where orjson alone would not (issue 26)."""

from __future__ import annotations

import json
import random

import pytest

from englog.json_loads import loads
from tests.support.json_values import json_value

EDGES = [
    '{"a": NaN, "b": Infinity, "c": -Infinity}',  # orjson refuses these
    '"\\ud800"',  # a lone surrogate
    "123456789012345678901234567890",  # orjson would give a float
    "-9223372036854775809",
    "9223372036854775807",
    "18446744073709551616",
    '{"n": 12345678901234567890123}',
    "1e400",
    "-0.0",
    '"\\u00e9 \\ud83d\\ude00"',
    '{"a": 1, "a": 2}',
    "[1.5, 0.1, 1e-7, 2.5e+300]",
    "{}",
]


@pytest.mark.parametrize("text", EDGES)
def test_gives_what_json_loads_gives(text: str) -> None:
    for given in (text, text.encode()):
        assert repr(loads(given)) == repr(json.loads(given))


def test_refuses_what_json_loads_refuses() -> None:
    for bad in ("{", "[1,]", "nul", ""):
        with pytest.raises(json.JSONDecodeError):
            loads(bad)


def test_random_documents_parse_as_json_loads_parses_them() -> None:
    rng = random.Random(26)
    for _ in range(2_000):
        text = json.dumps(json_value(rng), ensure_ascii=rng.random() < 0.5)
        assert repr(loads(text)) == repr(json.loads(text)), text
