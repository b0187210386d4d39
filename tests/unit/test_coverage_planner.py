"""The coverage planner against enumeration, and its reporting of what it cannot cover."""

from __future__ import annotations

import itertools
import random

import pytest

from services.coverage_planner import (
    Candidate,
    Demand,
    PlanInputError,
    PlanOptions,
    _build_arcs,
    plan,
)

EXACT = dict(mip_rel_gap=0.0, time_limit_s=20)


def brute_force(demands, candidates, options):
    """Least cost over every subset of outlets and every assignment (tiny instances only).

    Returns (covered, cost): lexicographic, most demands covered, then least cost, subject
    to the budget when one is set.
    """
    arcs, _reasons = _build_arcs(demands, candidates, options)
    choices = {d: [None] for d in range(len(demands))}
    for a in arcs:
        choices[a.d].append(a)
    required = [i for i, c in enumerate(candidates) if c.id in options.require]
    best = None
    for combo in itertools.product(*(choices[d] for d in range(len(demands)))):
        load, opened, cost = {}, set(required), 0.0
        ok = True
        for d, a in enumerate(combo):
            if a is None:
                continue
            load[a.o] = load.get(a.o, 0.0) + demands[d].tonnes
            if load[a.o] > candidates[a.o].capacity_t + 1e-9:
                ok = False
                break
            opened.add(a.o)
            cost += a.cost
        if not ok:
            continue
        cost += sum(candidates[o].annual_fee_fen for o in opened)
        if options.budget_fen is not None and cost > options.budget_fen + 1e-9:
            continue
        covered = sum(a is not None for a in combo)
        key = (-covered, cost)
        if best is None or key < best:
            best = key
    return (-best[0], best[1]) if best else None


def random_instance(rng: random.Random):
    cities = ["110100", "120100", "130100"]
    demands = []
    for city in cities:
        demands.append(Demand(city, "collection", rng.randint(1, 20), 39 + rng.random(), 116 + rng.random()))
        if rng.random() < 0.5:
            demands.append(Demand(city, "centralized_storage", rng.randint(1, 20),
                                  39 + rng.random(), 116 + rng.random()))
    candidates = []
    for i in range(rng.randint(3, 7)):
        candidates.append(Candidate(
            id=i + 1, outlet_type=rng.choice(["collection", "collection", "centralized_storage"]),
            city=rng.choice(cities), capacity_t=rng.randint(1, 40),
            annual_fee_fen=rng.randint(1, 50) * 1000, handling_fee_fen_per_t=rng.randint(0, 40) * 100,
            lat=39 + rng.random(), lon=116 + rng.random(), certified=rng.random() < 0.6))
    return demands, candidates


@pytest.mark.parametrize("seed", range(25))
def test_optimum_matches_enumeration_on_random_instances(seed):
    rng = random.Random(seed)
    demands, candidates = random_instance(rng)
    options = PlanOptions(
        storage_covers_collection=seed % 3 == 0,
        service_radius_km=80.0 if seed % 2 else None, transport_fen_per_t_km=7,
        **EXACT)
    result = plan(demands, candidates, options)
    covered, cost = brute_force(demands, candidates, options)
    assert result.status == "optimal"
    assert result.covered == covered
    assert result.cost_fen == pytest.approx(cost, abs=len(demands))  # per-demand rounding to fen
    assert result.lower_bound_fen <= result.cost_fen
    assert result.covered + len(result.uncoverable) == len(demands)
    if result.greedy_covered == result.covered:
        assert result.greedy_cost_fen >= result.cost_fen - len(demands)


@pytest.mark.parametrize("seed", range(10))
def test_budget_mode_matches_enumeration(seed):
    rng = random.Random(1000 + seed)
    demands, candidates = random_instance(rng)
    full = plan(demands, candidates, PlanOptions(**EXACT))
    budget = int((full.cost_fen or 0) * 0.6)
    options = PlanOptions(budget_fen=budget, **EXACT)
    result = plan(demands, candidates, options)
    covered, cost = brute_force(demands, candidates, options)
    assert result.covered == covered
    assert result.cost_fen == pytest.approx(cost, abs=len(demands))
    assert result.cost_fen <= budget + len(demands)
    assert sum(u.reason == "over_budget" for u in result.uncoverable) == \
        len(demands) - covered - sum(u.reason != "over_budget" for u in result.uncoverable)


def test_capacity_forces_the_second_best_outlet():
    demands = [Demand("440300", "collection", 30)]
    candidates = [
        Candidate(1, "collection", "440300", capacity_t=20, annual_fee_fen=1000, handling_fee_fen_per_t=10),
        Candidate(2, "collection", "440300", capacity_t=50, annual_fee_fen=5000, handling_fee_fen_per_t=10),
    ]
    result = plan(demands, candidates, PlanOptions(**EXACT))
    assert [a.outlet_id for a in result.assignments] == [2]
    assert result.cost_fen == 5000 + 300
    # with room for the demand the cheap outlet wins
    roomy = [Candidate(1, "collection", "440300", 30, 1000, 10), candidates[1]]
    assert [a.outlet_id for a in plan(demands, roomy).assignments] == [1]


def test_shared_capacity_splits_two_demands_across_outlets():
    # storage outlet may serve the city's collection too; capacity 25 cannot take both 20 t demands
    demands = [Demand("440300", "collection", 20), Demand("440300", "centralized_storage", 20)]
    candidates = [
        Candidate(1, "centralized_storage", "440300", 25, 1000, 0),
        Candidate(2, "collection", "440300", 100, 4000, 0),
    ]
    result = plan(demands, candidates, PlanOptions(storage_covers_collection=True, **EXACT))
    by_type = {a.outlet_type: a.outlet_id for a in result.assignments}
    assert by_type == {"centralized_storage": 1, "collection": 2}
    assert result.cost_fen == 5000
    big = [Candidate(1, "centralized_storage", "440300", 40, 1000, 0), candidates[1]]
    both = plan(demands, big, PlanOptions(storage_covers_collection=True, **EXACT))
    assert both.cost_fen == 1000 and both.outlets[0].tonnes_assigned == 40
    assert sum(a.fee_share_fen for a in both.assignments) == 1000
    # without the option the storage outlet never serves collection
    alone = plan(demands, big, PlanOptions(**EXACT))
    assert {a.outlet_type: a.outlet_id for a in alone.assignments} == by_type


def test_uncoverable_demands_are_reported_with_their_reason():
    demands = [
        Demand("110100", "collection", 5),           # nothing of that type
        Demand("120100", "collection", 50),          # outlets too small
        Demand("130100", "collection", 5),           # only an excluded one
        Demand("140100", "collection", 5),           # only an uncertified one
        Demand("150100", "collection", 5),           # fine
    ]
    candidates = [
        Candidate(1, "centralized_storage", "110100", 100, 100, 1, certified=True),
        Candidate(2, "collection", "120100", 10, 100, 1, certified=True),
        Candidate(3, "collection", "120100", 20, 100, 1, certified=True),
        Candidate(4, "collection", "130100", 100, 100, 1, certified=True),
        Candidate(5, "collection", "140100", 100, 100, 1, certified=False),
        Candidate(6, "collection", "150100", 100, 100, 1, certified=True),
    ]
    result = plan(demands, candidates, PlanOptions(certified_only=True, exclude=frozenset({4})))
    reasons = {u.city: u.reason for u in result.uncoverable}
    assert reasons == {"110100": "no_outlet_of_type", "120100": "capacity_taken",
                       "130100": "excluded", "140100": "excluded"}
    assert result.status == "optimal"
    assert [a.city for a in result.assignments] == ["150100"]
    assert result.cost_fen == 105


def test_competing_demands_beyond_capacity_are_reported_not_infeasible():
    demands = [Demand("440300", "collection", 20), Demand("440300", "centralized_storage", 20)]
    candidates = [Candidate(1, "centralized_storage", "440300", 25, 1000, 0)]
    result = plan(demands, candidates, PlanOptions(storage_covers_collection=True, **EXACT))
    assert result.status == "optimal"
    assert result.covered == 1
    assert [u.reason for u in result.uncoverable] == ["capacity_taken"]


def test_radius_mode_adds_transport_cost_and_is_opt_in():
    # Shenzhen demand; the only collection outlet is in Dongguan, about 50 km away.
    demands = [Demand("440300", "collection", 10, 22.543, 114.058)]
    candidates = [Candidate(1, "collection", "441900", 100, 1000, 100, 23.021, 113.752)]
    same_city = plan(demands, candidates, PlanOptions())
    assert same_city.covered == 0 and same_city.uncoverable[0].reason == "no_outlet_of_type"
    too_small = plan(demands, candidates, PlanOptions(service_radius_km=30))
    assert too_small.covered == 0
    result = plan(demands, candidates, PlanOptions(service_radius_km=80, transport_fen_per_t_km=5))
    (a,) = result.assignments
    assert 55 < a.distance_km < 65
    assert abs(a.transport_fen - 5 * 10 * a.distance_km) <= 5 * 10 * 0.05 + 1  # km shown to 0.1
    assert result.cost_fen == 1000 + 100 * 10 + a.transport_fen
    # a farther outlet in the city itself pays no transport, so a cheap in-city one wins
    in_city = [*candidates, Candidate(2, "collection", "440300", 100, 1500, 100, 22.6, 114.1)]
    chosen = plan(demands, in_city, PlanOptions(service_radius_km=80, transport_fen_per_t_km=5))
    assert [x.outlet_id for x in chosen.assignments] == [2]
    assert chosen.assignments[0].alternative_outlet_id == 1
    assert chosen.assignments[0].alternative_extra_fen == result.cost_fen - 2500


def test_required_and_excluded_outlets():
    demands = [Demand("440300", "collection", 10)]
    candidates = [Candidate(1, "collection", "440300", 100, 1000, 10),
                  Candidate(2, "collection", "440300", 100, 3000, 10),
                  Candidate(3, "collection", "440300", 100, 2000, 10)]
    assert plan(demands, candidates).assignments[0].outlet_id == 1
    excluded = plan(demands, candidates, PlanOptions(exclude=frozenset({1})))
    assert excluded.assignments[0].outlet_id == 3
    required = plan(demands, candidates, PlanOptions(require=frozenset({2})))
    assert required.assignments[0].outlet_id == 2  # already paid for, so it serves the demand
    assert required.cost_fen == 3100
    with pytest.raises(PlanInputError):
        plan(demands, candidates, PlanOptions(require=frozenset({2}), exclude=frozenset({2})))
    with pytest.raises(PlanInputError):
        plan(demands, candidates, PlanOptions(require=frozenset({99})))


def test_explanation_names_the_next_best_and_its_extra_cost():
    demands = [Demand("440300", "collection", 10), Demand("440300", "centralized_storage", 4)]
    candidates = [Candidate(1, "collection", "440300", 100, 1000, 10, name="A"),
                  Candidate(2, "collection", "440300", 100, 1200, 5, name="B"),
                  Candidate(3, "centralized_storage", "440300", 100, 800, 50, name="S")]
    result = plan(demands, candidates)
    coll = next(a for a in result.assignments if a.outlet_type == "collection")
    # A: 1000 + 100 = 1100; B: 1200 + 50 = 1250
    assert (coll.outlet_id, coll.cost_share_fen) == (1, 1100)
    assert (coll.alternative_outlet_id, coll.alternative_extra_fen) == (2, 150)
    storage = next(a for a in result.assignments if a.outlet_type == "centralized_storage")
    assert storage.alternative_outlet_id is None
    assert result.greedy_cost_fen == result.cost_fen == 1100 + 1000
    assert result.to_dict()["assignments"][0]["outlet_name"] in {"A", "S"}


def test_greedy_is_never_better_than_the_optimum():
    # Greedy takes the big demand's cheapest outlet first and then has to pay a second fee.
    demands = [Demand("440300", "collection", 10), Demand("440300", "centralized_storage", 8)]
    candidates = [Candidate(1, "collection", "440300", 10, 1000, 0),
                  Candidate(2, "centralized_storage", "440300", 18, 1500, 0),
                  Candidate(3, "centralized_storage", "440300", 8, 1400, 0)]
    result = plan(demands, candidates, PlanOptions(storage_covers_collection=True, **EXACT))
    assert result.cost_fen == 1500
    assert result.greedy_cost_fen == 1000 + 1400
    assert result.greedy_cost_fen >= result.cost_fen
