"""`englog.json_loads.loads` parses with orjson but must give exactly what `json.loads`
gives, where orjson alone would not (issue 26)."""

from __future__ import annotations

import json
import math
import random

import pytest

from englog.json_loads import loads

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


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-99, 99)
    if kind == 1:
        value = rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-9, math.inf, math.nan])
        return value
    if kind == 2:
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(160, 0x2FFF)]))
            for _ in range(rng.randrange(6))
        )
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return f"{rng.randrange(10**25)}"
    if kind in (5, 6):
        return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(4))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_random_documents_parse_as_json_loads_parses_them() -> None:
    rng = random.Random(26)
    for _ in range(2_000):
        text = json.dumps(_value(rng), ensure_ascii=rng.random() < 0.5)
        assert repr(loads(text)) == repr(json.loads(text)), text
