"""Money helpers. Amounts are integer fen everywhere; splits never lose or invent a fen, and
yuan exist only at the edges (forms, files), converted here with Decimal, never with floats."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

MAX_FEN = 10**12  # ten billion yuan: anything above is a typo


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


def fen_from_yuan(text) -> int:
    """'12000.50' or '12,000.50' yuan -> 1200050 fen; ValueError for anything that is not such
    an amount (negative, more than two decimals, above MAX_FEN)."""
    try:
        amount = Decimal(str(text).strip().replace(",", "").replace("，", ""))
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    fen = amount * 100
    if not amount.is_finite() or amount < 0 or fen != fen.to_integral_value() or fen > MAX_FEN:
        raise ValueError(text)
    return int(fen)


def yuan(fen: int | None) -> Decimal | None:
    """Integer fen as exact yuan with two decimals (1200050 -> Decimal('12000.50'))."""
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def yuan_from_fen(fen: int | None) -> str:
    """The value a yuan form field shows: '12000.50', or '' for no amount."""
    return "" if fen is None else str(yuan(fen))
