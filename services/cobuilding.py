"""Sharing pays: the co-building saving of a group of manufacturers.

Pure computation: plain values in, plain values out (no Flask, no database).
`services.cobuilding_savings` builds the instance from the obligations and the pool.

Alone and together
------------------
Each maker alone: `coverage_planner.plan` on that maker's demands only (every maker sees
the outlets' full available capacity). Together: the very same model on all the makers'
demands at once. A demand stays a demand of one maker, but one outlet may now serve the
demands of several makers in its city, within its capacity, and its annual fee is paid
once. Nothing in the model is new; who pays what is an ex-post allocation:

- The fee split (what each maker pays for a shared outlet): the annual fee of an outlet is
  split among the makers it serves pro rata to the tonnage each sends it, by largest
  remainder in fen (equally when all tonnages are zero). Handling and transport stay with
  the maker whose demand causes them. So the makers' joint costs sum exactly to the joint
  plan's cost.
- The total saving S = sum of the standalone costs - the joint cost.
- The saving allocation (default rule `proportional_to_standalone`, per city): every
  demand carries its planner cost share (variable cost + fee share), so each city c has a
  saving s_c = sum of the makers' standalone costs in c - the joint cost in c. A maker's
  weight is sum over cities with s_c > 0 of s_c x (its standalone cost in c / all makers'
  standalone cost in c); S is split in proportion to the weights, by largest remainder in
  fen, so the shares sum exactly to S. A maker that shares no city where sharing saves
  anything has weight 0 and saves 0; no share is ever negative.
- A city where the joint plan covers fewer demands than the makers alone together (the
  capacity there cannot serve them all at once, so its costs are not comparable) is left
  out of both sides, and the rest compared again, until no city is contended; the cities
  left out are named (`left_out_cities`). One contended city among dozens no longer voids
  the comparison for all the others.
- S <= 0 (capacity contention: alone, every maker counted on the whole available
  capacity), or no city left to compare: the saving reported is 0 for everyone,
  `comparable` says why, and `raw_saving_fen` keeps the figure.
- A maker whose joint cost under the fee split exceeds its cost after sharing (standalone
  - its saving share) -- possible when the joint plan moves it to a dearer outlet so that
  others save more: nobody pays more than its cost after sharing; `settlement_fen`
  (joint cost - cost after sharing) is the side payment it is owed (positive) or owes
  (negative) to the others. Settlements sum to zero whenever S > 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace

from services.coverage_planner import Candidate, Demand, PlanOptions, PlanResult, plan
from services.money import split_largest_remainder

PROPORTIONAL_TO_STANDALONE = "proportional_to_standalone"
ALLOCATION_RULES = (PROPORTIONAL_TO_STANDALONE,)


@dataclass(frozen=True)
class MakerDemand:
    maker: int
    demand: Demand


@dataclass
class MakerSaving:
    maker: int
    demands: int
    standalone_covered: int
    joint_covered: int
    standalone_cost_fen: int
    joint_cost_fen: int  # its part of the joint plan: own variable costs + fee shares
    saving_share_fen: int
    cost_after_sharing_fen: int  # standalone - saving share
    settlement_fen: int  # joint cost - cost after sharing: owed to it (>0) or by it (<0)
    shared_outlets: int  # outlets of the joint plan it shares with another maker
    standalone_status: str


@dataclass
class SharedOutlet:
    id: int
    name: str
    city: str
    outlet_type: str
    annual_fee_fen: int
    fee_shares_fen: dict[int, int]  # maker -> share of the annual fee
    tonnes: dict[int, float]  # maker -> tonnes sent


@dataclass
class CobuildingResult:
    allocation_rule: str
    fee_split_rule: str
    status: str  # optimal when every solve was (within the gap); else infeasible or time_limit
    comparable: bool
    reason: str | None  # None | capacity_contention | fewer_demands_covered_together
    standalone_total_fen: int
    joint_cost_fen: int
    raw_saving_fen: int
    total_saving_fen: int
    makers: list[MakerSaving] = field(default_factory=list)
    shared_outlets: list[SharedOutlet] = field(default_factory=list)
    max_gap: float | None = None
    left_out_cities: list[str] = field(default_factory=list)  # contended: not compared

    def to_dict(self) -> dict:
        return asdict(self)

    def for_maker(self, maker: int) -> MakerSaving | None:
        return next((m for m in self.makers if m.maker == maker), None)


def _by_maker_and_city(result: PlanResult, owners: list[int]) -> dict[tuple[int, str], int]:
    costs: dict[tuple[int, str], int] = defaultdict(int)
    for a in result.assignments:
        costs[owners[a.demand_index], a.city] += a.cost_share_fen
    return costs


def compare(demands: list[MakerDemand], candidates: list[Candidate],
            options: PlanOptions | None = None,
            allocation_rule: str = PROPORTIONAL_TO_STANDALONE) -> CobuildingResult:
    """Each maker alone versus all together, over the cities where the capacity can serve
    them together; see the module docstring for the rules."""
    if allocation_rule not in ALLOCATION_RULES:
        raise ValueError(f"Unknown allocation rule: {allocation_rule}")
    options = replace(options or PlanOptions(), budget_fen=None)
    left_out: list[str] = []
    result, contended = _compare(demands, candidates, options, allocation_rule)
    while contended:
        remaining = [md for md in demands if md.demand.city not in contended]
        if not remaining:
            break
        left_out += contended
        demands = remaining
        result, contended = _compare(demands, candidates, options, allocation_rule)
    result.left_out_cities = sorted(left_out)
    return result


def _compare(demands: list[MakerDemand], candidates: list[Candidate], options: PlanOptions,
             allocation_rule: str) -> tuple[CobuildingResult, list[str]]:
    """One comparison, and the cities where together fewer demands are covered than alone."""
    makers = sorted({md.maker for md in demands})
    owners = [md.maker for md in demands]

    alone: dict[int, PlanResult] = {}
    standalone_city: dict[tuple[int, str], int] = {}
    for maker in makers:
        own = [md.demand for md in demands if md.maker == maker]
        alone[maker] = plan(own, candidates, options)
        standalone_city.update(_by_maker_and_city(alone[maker], [maker] * len(own)))
    joint = plan([md.demand for md in demands], candidates, options)
    joint_city = _by_maker_and_city(joint, owners)

    # the fee split of the joint plan, outlet by outlet (pro rata to tonnage)
    tonnes: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    variable: dict[int, int] = defaultdict(int)
    joint_covered: dict[int, int] = defaultdict(int)
    for a in joint.assignments:
        maker = owners[a.demand_index]
        tonnes[a.outlet_id][maker] += a.tonnes
        variable[maker] += a.handling_fen + a.transport_fen
        joint_covered[maker] += 1
    joint_cost: dict[int, int] = dict(variable)
    shared: list[SharedOutlet] = []
    shared_count: dict[int, int] = defaultdict(int)
    for outlet in joint.outlets:
        users = sorted(tonnes.get(outlet.id, {}))
        if not users:  # a fee paid with no user (a required outlet): everyone carries it
            users = makers
        parts = split_largest_remainder(outlet.annual_fee_fen,
                                        [tonnes.get(outlet.id, {}).get(m, 0.0) for m in users])
        for maker, part in zip(users, parts, strict=True):
            joint_cost[maker] = joint_cost.get(maker, 0) + part
        if len(users) > 1:
            for maker in users:
                shared_count[maker] += 1
            shared.append(SharedOutlet(
                id=outlet.id, name=outlet.name, city=outlet.city, outlet_type=outlet.outlet_type,
                annual_fee_fen=outlet.annual_fee_fen, fee_shares_fen=dict(zip(users, parts,
                                                                              strict=True)),
                tonnes={m: round(tonnes[outlet.id][m], 3) for m in users}))

    standalone_total = sum(alone[m].cost_fen or 0 for m in makers)
    joint_total = joint.cost_fen or 0
    raw_saving = standalone_total - joint_total
    covered_alone = sum(alone[m].covered for m in makers)
    alone_in = Counter(a.city for m in makers for a in alone[m].assignments)
    joint_in = Counter(a.city for a in joint.assignments)
    contended = sorted(city for city, n in alone_in.items() if joint_in[city] < n)
    reason = None
    if joint.cost_fen is None or joint.covered < covered_alone:
        reason = "fewer_demands_covered_together"
    elif raw_saving <= 0:
        reason = "capacity_contention" if raw_saving < 0 else None
    total_saving = raw_saving if reason is None and raw_saving > 0 else 0

    # weights: positive city savings, split within the city by standalone cost
    cities = sorted({city for _m, city in standalone_city} | {city for _m, city in joint_city})
    weight: dict[int, float] = defaultdict(float)
    for city in cities:
        alone_here = {m: standalone_city.get((m, city), 0) for m in makers}
        saving_here = sum(alone_here.values()) - sum(joint_city.get((m, city), 0) for m in makers)
        base = sum(alone_here.values())
        if saving_here > 0 and base > 0:
            for m, cost in alone_here.items():
                weight[m] += saving_here * cost / base
    if total_saving > 0 and not any(weight.values()):  # savings not attributable to a city
        weight = defaultdict(float, {m: float(alone[m].cost_fen or 0) for m in makers})
    shares = (split_largest_remainder(total_saving, [weight[m] for m in makers])
              if total_saving > 0 else [0] * len(makers))

    rows = []
    for maker, share in zip(makers, shares, strict=True):
        standalone = alone[maker].cost_fen or 0
        after = standalone - share
        mine = joint_cost.get(maker, 0)
        rows.append(MakerSaving(
            maker=maker, demands=alone[maker].demands, standalone_covered=alone[maker].covered,
            joint_covered=joint_covered.get(maker, 0), standalone_cost_fen=standalone,
            joint_cost_fen=mine, saving_share_fen=share, cost_after_sharing_fen=after,
            settlement_fen=mine - after, shared_outlets=shared_count.get(maker, 0),
            standalone_status=alone[maker].status))
    statuses = [joint.status, *(alone[m].status for m in makers)]
    gaps = [g for g in [joint.gap, *(alone[m].gap for m in makers)] if g is not None]
    return CobuildingResult(
        allocation_rule=allocation_rule, fee_split_rule="pro_rata_tonnage_largest_remainder",
        status=("optimal" if all(s == "optimal" for s in statuses)
                else "infeasible" if "infeasible" in statuses else "time_limit"),
        comparable=reason is None, reason=reason, standalone_total_fen=standalone_total,
        joint_cost_fen=joint_total, raw_saving_fen=raw_saving, total_saving_fen=total_saving,
        makers=rows, shared_outlets=shared, max_gap=max(gaps) if gaps else None), \
        contended if reason == "fewer_demands_covered_together" else []
