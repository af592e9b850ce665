"""Random JSON-native values for tests that compare two ways of reading or hashing
JSON: nesting, integers past 64 bits, NaN and infinities, non-ASCII text, digit runs."""

from __future__ import annotations

import math
import random


def json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-99, 99)
    if kind == 1:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-9, math.inf, math.nan])
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
        return {f"k{i}": json_value(rng, depth + 1) for i in range(rng.randrange(4))}
    return [json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
