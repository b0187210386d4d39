"""Money helpers. Amounts are integer fen everywhere; splits never lose or invent a fen."""

from __future__ import annotations

import math


def split_largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integer parts of `total` in proportion to `weights`; they always sum to `total`.

    Non-positive weights get nothing unless all are non-positive (then equal parts).
    """
    if not weights:
        return []
    weights = [max(0.0, float(w)) for w in weights]
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [1.0] * len(weights), float(len(weights))
    raw = [total * w / whole for w in weights]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def is_whole_fen(value, *, most: int) -> bool:
    """Whether `value` is an amount of 1 to `most` whole fen (an int; a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= most
