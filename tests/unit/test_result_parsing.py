"""A worker's result JSON parses as `json.loads` with the storable hooks would
(englog.server.storable.parse_result keeps one decoder instead of one per call)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from englog.server.storable import parse_result

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_json)
def test_any_json_value_comes_back_as_json_loads_reads_it(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert parse_result(raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", None),
        ('{"\u00e9": [1, 2.5]}'.encode("utf-16"), {"\u00e9": [1, 2.5]}),  # json.loads detects it
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),  # a UTF-8 byte-order mark
        (b'"\\ud800"', "\ud800"),  # a lone surrogate, as json.loads keeps it
    ],
)
def test_encodings_and_escapes_as_json_loads(raw: bytes, expected: Any) -> None:
    assert parse_result(raw) == expected


@pytest.mark.parametrize("raw", [b"{no", b'{"x": NaN}', b"[Infinity]", b"-Infinity", b"1e999"])
def test_what_json_cannot_carry_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_result(raw)


def test_nesting_past_the_parsers_stack_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_result(b"[" * 100_000 + b"]" * 100_000)
