"""Who pays which fen of an agreement's shared costs. Pure: plain values in, plain values out.

Cost pools
----------
A pool is a cost the parties agree to share: `one_off` (bringing the outlet up to the
checklist: each line names the checklist item it fixes) or `recurring` (operating costs per
year). Each pool names its allocation rule:

- `equal`: every co-builder the same weight;
- `capacity`: pro rata to the tonnes per year allocated to each maker at the outlet;
- `parc`: pro rata to each maker's NEV parc in the outlet's city (latest year known);
- `custom`: agreed weights per maker (missing makers weigh 0).

Exact split
-----------
`split(total, weights)` gives integer fen by the largest-remainder method, computed with
exact fractions (no float rounding): each party first gets floor(total x w / W); the fen left
over go one each to the largest remainders; **ties go to the lower party id**. The parts sum
to the total exactly, none is more than 1 fen from its exact share, and the result depends
only on the mapping, never on the order the parties are listed in. When every weight is 0
the split is equal.

Proration by days
-----------------
Amounts per year accrue by a cumulative function over the days of each year: through day d
of a year of D days, floor(A x d / D) has accrued. A period's charge is the difference
between the accrued amounts at its end and its start, so consecutive periods telescope: a
full year sums to exactly A, whatever the billing period, and no fen is charged twice or
lost at a boundary. A recurring pool accrues over calendar years and is split, segment by
segment, among the makers sharing on those days (re-split from the day one joins or leaves).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from numbers import Real

EQUAL, CAPACITY, PARC, CUSTOM = "equal", "capacity", "parc", "custom"
RULES = (EQUAL, CAPACITY, PARC, CUSTOM)
ONE_OFF, RECURRING = "one_off", "recurring"
KINDS = (ONE_OFF, RECURRING)
TIE_BREAK = "equal remainders: the lower party id gets the extra fen first"


def _fraction(value: Real | str) -> Fraction:
    # str() first: Fraction(0.1) is the binary float, Fraction("0.1") is one tenth.
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def split(total: int, weights: Mapping[int, Real]) -> dict[int, int]:
    """Integer parts of `total` fen for each party, in proportion to its weight."""
    if total < 0:
        return {k: -v for k, v in split(-total, weights).items()}
    if not weights:
        return {}
    exact = {k: max(Fraction(0), _fraction(w)) for k, w in weights.items()}
    whole = sum(exact.values())
    if whole == 0:
        exact, whole = dict.fromkeys(exact, Fraction(1)), Fraction(len(exact))
    shares = {k: total * w / whole for k, w in exact.items()}
    parts = {k: s.numerator // s.denominator for k, s in shares.items()}
    left = total - sum(parts.values())
    for key in sorted(shares, key=lambda k: (-(shares[k] - parts[k]), k))[:left]:
        parts[key] += 1
    return parts


def weights_for(rule: str, parties: Iterable[dict], custom: Mapping | None = None) -> dict[int, float]:
    """Each party's weight under `rule`. A party is {"id", "tonnes_per_year", "parc"}."""
    parties = list(parties)
    if rule == EQUAL:
        return {p["id"]: 1 for p in parties}
    if rule == CAPACITY:
        return {p["id"]: p.get("tonnes_per_year") or 0 for p in parties}
    if rule == PARC:
        return {p["id"]: p.get("parc") or 0 for p in parties}
    if rule == CUSTOM:
        custom = {int(k): v for k, v in (custom or {}).items()}
        return {p["id"]: custom.get(p["id"], 0) for p in parties}
    raise ValueError(f"unknown allocation rule {rule!r}")


def pool_total(lines: Iterable[dict]) -> int:
    return sum(int(line["amount_fen"]) for line in lines)


def pool_document(pool: dict, parties: list[dict]) -> dict:
    """A pool as written into the agreement: its lines, rule, each maker's weight and share.

    `pool` is {"id", "name", "kind", "rule", "lines", "custom_weights"}; the shares of a
    recurring pool are per year (invoices prorate them by days)."""
    weights = weights_for(pool["rule"], parties, pool.get("custom_weights"))
    total = pool_total(pool["lines"])
    shares = split(total, weights)
    return {
        "id": pool["id"], "name": pool["name"], "kind": pool["kind"], "rule": pool["rule"],
        "lines": [{"description": line["description"], "amount_fen": int(line["amount_fen"]),
                   "checklist_item": line.get("checklist_item")} for line in pool["lines"]],
        "total_fen": total,
        "per": "year" if pool["kind"] == RECURRING else "once",
        "shares": [{"manufacturer_id": pid, "weight": weights[pid], "share_fen": shares[pid]}
                   for pid in sorted(shares)],
        "tie_break": TIE_BREAK,
    }


def document_part(pools: list[dict], parties: list[dict]) -> list[dict]:
    return [pool_document(pool, parties) for pool in sorted(pools, key=lambda p: p["id"])]


# --- proration by days --------------------------------------------------------------------

def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def accrued(amount_per_year: int, anchor: date, day: date) -> int:
    """How much of `amount_per_year` has accrued from `anchor` through the day before `day`:
    whole years in full, the current year floor(A x days / days in that year)."""
    if day <= anchor:
        return 0
    years = day.year - anchor.year
    if _add_years(anchor, years) > day:
        years -= 1
    start = _add_years(anchor, years)
    length = (_add_years(anchor, years + 1) - start).days
    return amount_per_year * years + amount_per_year * (day - start).days // length


def prorated(amount_per_year: int, anchor: date, start: date, end: date) -> int:
    """The part of a yearly amount for the days [start, end): telescoping, never lost."""
    if end <= start:
        return 0
    return accrued(amount_per_year, anchor, end) - accrued(amount_per_year, anchor, start)


@dataclass(frozen=True)
class Membership:
    """A maker sharing the pool on the days [start, end) with a weight."""

    maker: int
    start: date
    end: date
    weight: Real


def recurring_charges(amount_per_year: int, memberships: list[Membership], start: date,
                      end: date, anchor: date = date(2000, 1, 1)) -> dict[int, int]:
    """Each maker's share of a recurring pool over [start, end): the days are cut into
    segments where the set of makers sharing is constant; each segment's accrued amount is
    split among the makers sharing it, by their weights. Days nobody shares charge nobody."""
    cuts = {start, end}
    for m in memberships:
        cuts.update(d for d in (m.start, m.end) if start < d < end)
    edges = sorted(cuts)
    charges: dict[int, int] = {}
    for a, b in itertools.pairwise(edges):
        sharing = {m.maker: m.weight for m in memberships if m.start <= a and b <= m.end}
        if not sharing:
            continue
        amount = prorated(amount_per_year, anchor, a, b)
        for maker, part in split(amount, sharing).items():
            charges[maker] = charges.get(maker, 0) + part
    return charges
