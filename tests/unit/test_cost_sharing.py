"""Cost allocation: exact integer splits, the rules, and proration by days (property-based)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.cost_sharing import (
    Membership,
    accrued,
    document_part,
    prorated,
    recurring_charges,
    split,
    weights_for,
)

totals = st.integers(min_value=0, max_value=10**11)
weight = st.one_of(st.integers(min_value=0, max_value=10**6),
                   st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
weight_maps = st.dictionaries(st.integers(min_value=1, max_value=10**6), weight, min_size=1, max_size=30)


def _exact(total, weights):
    exact = {k: Fraction(str(w)) if isinstance(w, float) else Fraction(w) for k, w in weights.items()}
    whole = sum(exact.values())
    if whole == 0:
        return {k: Fraction(total, len(exact)) for k in exact}
    return {k: total * w / whole for k, w in exact.items()}


@given(totals, weight_maps)
def test_parts_sum_to_the_total_and_are_within_one_fen_of_the_exact_share(total, weights):
    parts = split(total, weights)
    assert sum(parts.values()) == total
    assert set(parts) == set(weights)
    for key, exact in _exact(total, weights).items():
        assert abs(parts[key] - exact) < 1
        assert parts[key] >= 0


@given(totals, weight_maps, st.randoms())
def test_the_split_does_not_depend_on_the_order_of_the_parties(total, weights, rnd):
    items = list(weights.items())
    rnd.shuffle(items)
    assert split(total, dict(items)) == split(total, weights)


def test_ties_go_to_the_lower_party_id():
    assert split(100, {7: 1, 3: 1, 5: 1}) == {3: 34, 5: 33, 7: 33}
    assert split(2, {9: 1, 2: 1, 4: 1}) == {2: 1, 4: 1, 9: 0}


def test_all_zero_weights_split_equally_and_negative_totals_mirror():
    assert split(10, {1: 0, 2: 0}) == {1: 5, 2: 5}
    assert split(-101, {1: 1, 2: 1}) == {1: -51, 2: -50}


def test_rules_weigh_capacity_parc_equal_and_custom():
    parties = [{"id": 1, "tonnes_per_year": 30, "parc": 9000}, {"id": 2, "tonnes_per_year": 10, "parc": 1000}]
    assert split(1000, weights_for("capacity", parties)) == {1: 750, 2: 250}
    assert split(1000, weights_for("parc", parties)) == {1: 900, 2: 100}
    assert split(1000, weights_for("equal", parties)) == {1: 500, 2: 500}
    assert split(1000, weights_for("custom", parties, {"2": 3})) == {1: 0, 2: 1000}


def test_document_part_states_lines_total_and_shares():
    pools = [{"id": 4, "name": "Brine tank", "kind": "one_off", "rule": "capacity",
              "lines": [{"description": "盐水池", "amount_fen": 800_001, "checklist_item": 12},
                        {"description": "Discharge cabinet", "amount_fen": 199_999, "checklist_item": 12}],
              "custom_weights": None}]
    parties = [{"id": 11, "tonnes_per_year": 50, "parc": 0}, {"id": 12, "tonnes_per_year": 50, "parc": 0}]
    [pool] = document_part(pools, parties)
    assert pool["total_fen"] == 1_000_000 and pool["per"] == "once"
    assert [s["share_fen"] for s in pool["shares"]] == [500_000, 500_000]
    assert "lower party id" in pool["tie_break"]


days_in = st.integers(min_value=0, max_value=1500)
anchors = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(st.integers(min_value=0, max_value=10**9), anchors, st.lists(days_in, min_size=2, max_size=12))
def test_proration_telescopes_so_periods_never_lose_or_double_a_fen(amount, anchor, offsets):
    cuts = sorted({anchor + timedelta(days=d) for d in offsets})
    pieces = [prorated(amount, anchor, a, b) for a, b in itertools.pairwise(cuts)]
    assert sum(pieces) == prorated(amount, anchor, cuts[0], cuts[-1])
    assert all(p >= 0 for p in pieces)


@given(st.integers(min_value=0, max_value=10**9), anchors, st.integers(min_value=1, max_value=4))
def test_whole_years_accrue_exactly_the_yearly_amount(amount, anchor, years):
    try:  # the anniversary; from 29 February it is 28 February, unless that year is leap too
        end = anchor.replace(year=anchor.year + years)
    except ValueError:
        end = anchor.replace(year=anchor.year + years, day=28)
    assert accrued(amount, anchor, end) == amount * years


memberships = st.lists(st.tuples(st.integers(min_value=1, max_value=6), days_in, days_in,
                                 st.integers(min_value=0, max_value=100)), min_size=1, max_size=6)


@given(st.integers(min_value=0, max_value=10**8), memberships, st.lists(days_in, min_size=1, max_size=6))
@settings(max_examples=150)
def test_join_and_leave_resplit_by_days_and_periods_add_up(amount, spans, period_cuts):
    base = date(2027, 1, 1)
    members = [Membership(maker, base + timedelta(days=min(a, b)), base + timedelta(days=max(a, b) + 1), w)
               for maker, a, b, w in {s[0]: s for s in spans}.values()]
    whole = recurring_charges(amount, members, base, base + timedelta(days=1502))
    edges = sorted({base, base + timedelta(days=1502), *(base + timedelta(days=d) for d in period_cuts)})
    by_period: dict[int, int] = {}
    for a, b in itertools.pairwise(edges):
        for maker, fen in recurring_charges(amount, members, a, b).items():
            by_period[maker] = by_period.get(maker, 0) + fen
    # Splitting the days into billing periods changes nobody's total by more than the
    # segment rounding, and the pool's total charged is the same whatever the periods.
    assert sum(by_period.values()) == sum(whole.values())
    shared_days = {base + timedelta(days=i) for i in range(1502)
                   if any(m.start <= base + timedelta(days=i) < m.end for m in members)}
    assert sum(whole.values()) <= prorated(amount, date(2000, 1, 1), base, base + timedelta(days=1502))
    if len(shared_days) == 1502:
        assert sum(whole.values()) == prorated(amount, date(2000, 1, 1), base, base + timedelta(days=1502))
