"""The coverage planner: the least-cost set of pool outlets that closes a maker's obligations.

Pure computation: plain dataclasses in, plain dataclasses out (no Flask, no database).
`services.coverage_plans` builds the instance from the obligations report and the pool.

The model
---------
Demands d = (city, outlet type) with expected tonnage t_d (t/year). Candidate outlets o
with a type, a city, available capacity cap_o (t/year), an annual fee F_o (fen) and a
handling fee h_o (fen/t), and a location.

Who may serve whom (the arcs):
- an outlet of the demand's type in the demand's city, at variable cost h_o * t_d;
- only when the maker opts into a service radius R km: an outlet of the demand's type
  outside the city whose distance from the city's centre is at most R km, at the extra
  transport cost c (fen per tonne-km, an option) x distance x t_d;
- with the explicit option `storage_covers_collection` (default False) a
  centralized_storage outlet in the same city may also serve that city's collection demand.
A demand is single-sourced, so an outlet whose available capacity is below t_d is no arc.

Variables: y_o in {0,1} (contract outlet o, pay F_o once), x_do in {0,1} (d served by o).

    minimise   sum_o F_o y_o + sum_(d,o) (h_o + c * dist_do) t_d x_do
    subject to sum_o x_do = 1          for every coverable demand d
               x_do <= y_o              (the strong, disaggregated linking)
               sum_d t_d x_do <= cap_o  y_o   for every outlet o
               y_o = 1                  for outlets the maker requires

Demands with no arc at all are not put in the model (that would make it infeasible);
they are reported as uncoverable with the reason: `no_outlet_of_type` (no outlet of that
type in the city, or within the radius), `excluded` (there are some, but the options
removed them: excluded by the maker or not certified under certified_only),
`capacity_taken` (there are some, but none has enough available capacity for the tonnage).

Budget mode (`budget_fen` set) and the rare case where arcs exist but capacities shared
between demands cannot cover them all: each demand gets a slack u_d (sum_o x_do + u_d = 1)
and the program is solved lexicographically in two solves: first maximise the number of
covered demands (minimise sum u_d, with sum cost <= budget), then, with the covered count
fixed at that optimum, minimise the cost. Demands left uncovered are reported with the
reason `over_budget` or `capacity_taken`.

HiGHS (highspy) solves it with a time limit and a relative gap; the answer states the
status (optimal / time_limit / infeasible), the cost, HiGHS's lower bound and the gap.

The greedy baseline: demands in descending tonnage, each takes the outlet that is
cheapest given the remaining capacities and the fees already paid (a fee paid once serves
every later demand of that outlet); in budget mode a demand that no longer fits the
budget is skipped.

The explanation, demand by demand: the chosen outlet; its cost share (the variable cost
plus the outlet's annual fee split between the demands it serves in proportion to their
tonnage, equally when all are zero tonnes; largest remainder so the shares sum to the fee);
the next best alternative and its extra cost, computed as the *marginal* cost of moving
this one demand to the alternative with every other assignment held fixed (the
alternative's fee if it is not already in the plan, plus its variable cost, minus the
chosen outlet's variable cost and minus its fee when this demand is its only user). It is
not the cost of a full re-solve without the chosen outlet, which could be lower.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace

from services.money import split_largest_remainder

COLLECTION = "collection"
CENTRALIZED_STORAGE = "centralized_storage"
EARTH_RADIUS_KM = 6371.0088
_EPS = 1e-9
_VERBOSE = False


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (same formula as services.pool_search, kept here to stay pure)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class PlanInputError(ValueError):
    """Options that contradict each other or the candidates (e.g. require an excluded outlet)."""

    def __init__(self, message: str, field_name: str = "options"):
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class Demand:
    city: str
    outlet_type: str
    tonnes: float
    lat: float | None = None  # the city's centre, needed only with a service radius
    lon: float | None = None

    @property
    def key(self) -> str:
        return f"{self.city}:{self.outlet_type}"


@dataclass(frozen=True)
class Candidate:
    id: int
    outlet_type: str
    city: str
    capacity_t: float
    annual_fee_fen: int
    handling_fee_fen_per_t: int
    lat: float | None = None
    lon: float | None = None
    certified: bool = False
    name: str = ""


@dataclass(frozen=True)
class PlanOptions:
    certified_only: bool = False
    service_radius_km: float | None = None  # None: same city only
    transport_fen_per_t_km: float = 0.0
    exclude: frozenset[int] = frozenset()
    require: frozenset[int] = frozenset()
    budget_fen: int | None = None
    storage_covers_collection: bool = False
    time_limit_s: float = 5.0
    mip_rel_gap: float = 0.005


@dataclass
class Assignment:
    city: str
    outlet_type: str
    tonnes: float
    outlet_id: int
    outlet_name: str
    outlet_city: str
    distance_km: float
    handling_fen: int
    transport_fen: int
    fee_share_fen: int
    cost_share_fen: int
    alternative_outlet_id: int | None = None
    alternative_outlet_name: str | None = None
    alternative_extra_fen: int | None = None
    demand_index: int = -1  # position in the input demands (lets callers map back, e.g. by maker)


@dataclass
class Uncoverable:
    city: str
    outlet_type: str
    tonnes: float
    reason: str  # no_outlet_of_type | excluded | capacity_taken | over_budget


@dataclass
class ChosenOutlet:
    id: int
    name: str
    city: str
    outlet_type: str
    annual_fee_fen: int
    tonnes_assigned: float
    capacity_t: float
    required: bool


@dataclass
class PlanResult:
    status: str  # optimal | time_limit | infeasible
    cost_fen: int | None
    lower_bound_fen: int | None
    gap: float | None
    solve_seconds: float
    greedy_cost_fen: int | None
    greedy_covered: int
    covered: int
    demands: int
    assignments: list[Assignment] = field(default_factory=list)
    outlets: list[ChosenOutlet] = field(default_factory=list)
    uncoverable: list[Uncoverable] = field(default_factory=list)
    model_size: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# --- building the instance ---------------------------------------------------------------

@dataclass
class _Arc:
    d: int
    o: int
    distance_km: float
    handling: float  # fen
    transport: float  # fen

    @property
    def cost(self) -> float:
        return self.handling + self.transport


def _can_serve(outlet_type: str, demand_type: str, same_city: bool, options: PlanOptions) -> bool:
    if outlet_type == demand_type:
        return True
    return (options.storage_covers_collection and same_city
            and outlet_type == CENTRALIZED_STORAGE and demand_type == COLLECTION)


def _reachable(demand: Demand, cand: Candidate, options: PlanOptions) -> tuple[bool, float]:
    """(may serve at all ignoring capacity/filters, distance km from the city's centre)."""
    same_city = cand.city == demand.city
    if not _can_serve(cand.outlet_type, demand.outlet_type, same_city, options):
        return False, 0.0
    distance = 0.0
    if (demand.lat is not None and demand.lon is not None
            and cand.lat is not None and cand.lon is not None):
        distance = haversine_km(demand.lat, demand.lon, cand.lat, cand.lon)
    if same_city:
        return True, distance
    if options.service_radius_km is None or demand.lat is None or cand.lat is None:
        return False, distance
    return distance <= options.service_radius_km, distance


def _build_arcs(demands: list[Demand], candidates: list[Candidate], options: PlanOptions):
    by_city: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(candidates):
        by_city[c.city].append(i)
    # With a radius, a latitude band (1 degree >= 110.5 km) cuts the pairs to look at.
    located = sorted((c.lat, i) for i, c in enumerate(candidates) if c.lat is not None)
    lats = [lat for lat, _i in located]
    arcs: list[_Arc] = []
    reasons: dict[int, str] = {}
    c_km = options.transport_fen_per_t_km
    for d_index, demand in enumerate(demands):
        pool = by_city.get(demand.city, [])
        if options.service_radius_km is not None and demand.lat is not None:
            band = options.service_radius_km / 110.5 + 1e-6
            lo, hi = bisect_left(lats, demand.lat - band), bisect_right(lats, demand.lat + band)
            pool = pool + [i for _lat, i in located[lo:hi] if candidates[i].city != demand.city]
        seen = usable = has_arc = False
        for o_index in pool:
            cand = candidates[o_index]
            ok, distance = _reachable(demand, cand, options)
            if not ok:
                continue
            seen = True
            if cand.id in options.exclude or (options.certified_only and not cand.certified):
                continue
            usable = True
            if cand.capacity_t + _EPS < demand.tonnes:
                continue
            transport = 0.0 if cand.city == demand.city else c_km * distance * demand.tonnes
            arcs.append(_Arc(d_index, o_index, distance,
                             cand.handling_fee_fen_per_t * demand.tonnes, transport))
            has_arc = True
        if not seen:
            reasons[d_index] = "no_outlet_of_type"
        elif not usable:
            reasons[d_index] = "excluded"
        elif not has_arc:
            reasons[d_index] = "capacity_taken"
    return arcs, reasons


# --- the MILP ----------------------------------------------------------------------------

@dataclass
class _Milp:
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    values: list[float] | None


def _solve_milp(cost, lower, upper, rows, time_limit, gap, start=None) -> _Milp:
    """rows: list of (lower, upper, [(col, coef), ...]); every column binary/integer.

    start: a feasible 0/1 vector (the greedy plan) given to HiGHS as its first incumbent.
    """
    import highspy
    import numpy as np

    h = highspy.Highs()
    h.setOptionValue("output_flag", _VERBOSE)
    h.setOptionValue("time_limit", max(0.05, float(time_limit)))
    h.setOptionValue("mip_rel_gap", float(gap))
    lp = highspy.HighsLp()
    n = len(cost)
    lp.num_col_ = n
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.asarray([r[0] for r in rows], dtype=float)
    lp.row_upper_ = np.asarray([r[1] for r in rows], dtype=float)
    starts, index, value = [0], [], []
    for _lo, _up, entries in rows:
        for col, coef in entries:
            index.append(col)
            value.append(coef)
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(rows)
    lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(start)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = list(h.getSolution().col_value) if has_solution else None
    if model_status == highspy.HighsModelStatus.kOptimal:
        status = "optimal"
    elif model_status == highspy.HighsModelStatus.kInfeasible:
        status = "infeasible"
    elif model_status in (highspy.HighsModelStatus.kTimeLimit,
                          highspy.HighsModelStatus.kInterrupt,
                          highspy.HighsModelStatus.kIterationLimit):
        status = "time_limit"
    else:
        status = "infeasible" if not has_solution else "time_limit"
    if values is None:
        return _Milp(status if status != "optimal" else "infeasible", None,
                     info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else None,
                     None, None)
    return _Milp(status, info.objective_function_value, info.mip_dual_bound,
                 info.mip_gap, values)


def _model_rows(demands, candidates, arcs, options, coverable, slack: bool):
    """Columns: y_o (one per outlet with an arc or required), x_a per arc, u_d if slack."""
    outlets = sorted({a.o for a in arcs} | {i for i, c in enumerate(candidates)
                                          if c.id in options.require})
    y_col = {o: k for k, o in enumerate(outlets)}
    x0 = len(outlets)
    u0 = x0 + len(arcs)
    u_col = {d: u0 + k for k, d in enumerate(coverable)} if slack else {}
    n = u0 + len(u_col)
    cost = [0.0] * n
    lower = [0.0] * n
    upper = [1.0] * n
    for o, k in y_col.items():
        cost[k] = float(candidates[o].annual_fee_fen)
        if candidates[o].id in options.require:
            lower[k] = 1.0
    for k, arc in enumerate(arcs):
        cost[x0 + k] = arc.cost
    rows = []
    arcs_of_d: dict[int, list[int]] = defaultdict(list)
    arcs_of_o: dict[int, list[int]] = defaultdict(list)
    for k, arc in enumerate(arcs):
        arcs_of_d[arc.d].append(k)
        arcs_of_o[arc.o].append(k)
    for d in coverable:
        entries = [(x0 + k, 1.0) for k in arcs_of_d[d]]
        if slack:
            entries.append((u_col[d], 1.0))
        rows.append((1.0, 1.0, entries))
    for k, arc in enumerate(arcs):
        rows.append((-math.inf, 0.0, [(x0 + k, 1.0), (y_col[arc.o], -1.0)]))
    for o, ks in arcs_of_o.items():
        loads = [(x0 + k, demands[arcs[k].d].tonnes) for k in ks]
        total = sum(t for _c, t in loads)
        if total > candidates[o].capacity_t + _EPS:  # only where capacity can bind
            rows.append((-math.inf, 0.0, [*loads, (y_col[o], -candidates[o].capacity_t)]))
    return y_col, x0, u_col, cost, lower, upper, rows


def _solve(demands, candidates, arcs, options, coverable, greedy_plan=None):
    """Returns (status, objective, bound, gap, chosen arc indices, uncovered demand indices)."""
    deadline = time.perf_counter() + options.time_limit_s
    budget = options.budget_fen
    slack = budget is not None
    while True:
        y_col, x0, u_col, cost, lower, upper, rows = _model_rows(
            demands, candidates, arcs, options, coverable, slack)
        if not slack:
            start = None
            if greedy_plan is not None and len(greedy_plan) == len(coverable):
                start = list(lower)
                for k in greedy_plan.values():
                    start[x0 + k] = start[y_col[arcs[k].o]] = 1.0
            res = _solve_milp(cost, lower, upper, rows, options.time_limit_s, options.mip_rel_gap,
                              start)
            if res.status == "infeasible" and res.values is None:
                slack = True  # capacities shared between demands: cover as many as possible
                continue
            break
        cost_row = [(j, c) for j, c in enumerate(cost) if c]
        phase1_rows = list(rows)
        if budget is not None:
            phase1_rows.append((-math.inf, float(budget), cost_row))
        count_cost = [0.0] * len(cost)
        for j in u_col.values():
            count_cost[j] = 1.0
        first = _solve_milp(count_cost, lower, upper, phase1_rows,
                            deadline - time.perf_counter(), 0.0)
        if first.values is None:
            return first.status, None, first.bound, None, [], list(coverable)
        uncovered = round(sum(first.values[j] for j in u_col.values()))
        phase2_rows = [*phase1_rows, (-math.inf, float(uncovered), [(j, 1.0) for j in u_col.values()])]
        res = _solve_milp(cost, lower, upper, phase2_rows,
                          max(0.5, deadline - time.perf_counter()), options.mip_rel_gap)
        if res.values is None:  # phase 2 ran out of time: fall back on phase 1's solution
            res = _Milp("time_limit", sum(c * v for c, v in zip(cost, first.values, strict=False)),
                        res.bound, None, first.values)
        if first.status != "optimal" and res.status == "optimal":
            res.status = first.status
        break
    if res.values is None:
        return res.status, None, res.bound, None, [], list(coverable)
    chosen = [k for k in range(len(arcs)) if res.values[x0 + k] > 0.5]
    uncovered_d = [d for d, j in u_col.items() if res.values[j] > 0.5]
    return res.status, res.objective, res.bound, res.gap, chosen, uncovered_d


# --- greedy baseline ---------------------------------------------------------------------

def greedy(demands, candidates, arcs, options) -> tuple[int | None, int, dict[int, int]]:
    """(cost in fen or None if nothing could be placed, demands covered, {d: arc index})."""
    remaining = {i: c.capacity_t for i, c in enumerate(candidates)}
    paid = {i for i, c in enumerate(candidates) if c.id in options.require}
    spent = sum(candidates[i].annual_fee_fen for i in paid)
    if options.budget_fen is not None and spent > options.budget_fen:
        return None, 0, {}
    arcs_of_d: dict[int, list[int]] = defaultdict(list)
    for k, arc in enumerate(arcs):
        arcs_of_d[arc.d].append(k)
    placed: dict[int, int] = {}
    for d in sorted(arcs_of_d, key=lambda d: (-demands[d].tonnes, demands[d].key)):
        best = None
        for k in arcs_of_d[d]:
            arc = arcs[k]
            if remaining[arc.o] + _EPS < demands[d].tonnes:
                continue
            extra = arc.cost + (0 if arc.o in paid else candidates[arc.o].annual_fee_fen)
            if options.budget_fen is not None and spent + extra > options.budget_fen + _EPS:
                continue
            if best is None or extra < best[0] - _EPS:
                best = (extra, k)
        if best is None:
            continue
        extra, k = best
        arc = arcs[k]
        spent += extra
        paid.add(arc.o)
        remaining[arc.o] -= demands[d].tonnes
        placed[d] = k
    return round(spent), len(placed), placed


# --- explanation ---------------------------------------------------------------------------

def _explain(demands, candidates, arcs, chosen):
    plan_of_d = {arcs[k].d: k for k in chosen}
    users: dict[int, list[int]] = defaultdict(list)
    load: dict[int, float] = defaultdict(float)
    for d, k in plan_of_d.items():
        users[arcs[k].o].append(d)
        load[arcs[k].o] += demands[d].tonnes
    fee_share: dict[int, int] = {}
    for o, ds in users.items():
        for d, share in zip(ds, split_largest_remainder(candidates[o].annual_fee_fen,
                                           [demands[d].tonnes for d in ds]), strict=False):
            fee_share[d] = share
    arcs_of_d: dict[int, list[int]] = defaultdict(list)
    for k, arc in enumerate(arcs):
        arcs_of_d[arc.d].append(k)
    out = []
    for d in sorted(plan_of_d, key=lambda d: (demands[d].city, demands[d].outlet_type)):
        k = plan_of_d[d]
        arc, demand = arcs[k], demands[d]
        cand = candidates[arc.o]
        saved = arc.cost + (cand.annual_fee_fen if len(users[arc.o]) == 1 else 0)
        alternative = None
        for k2 in arcs_of_d[d]:
            o2 = arcs[k2].o
            if o2 == arc.o or candidates[o2].capacity_t - load.get(o2, 0.0) + _EPS < demand.tonnes:
                continue
            extra = arcs[k2].cost + (0 if o2 in users else candidates[o2].annual_fee_fen) - saved
            if alternative is None or extra < alternative[0]:
                alternative = (extra, o2)
        handling, transport = round(arc.handling), round(arc.transport)
        out.append(Assignment(
            city=demand.city, outlet_type=demand.outlet_type, tonnes=demand.tonnes,
            outlet_id=cand.id, outlet_name=cand.name, outlet_city=cand.city,
            distance_km=round(arc.distance_km, 1), handling_fen=handling, transport_fen=transport,
            fee_share_fen=fee_share[d], cost_share_fen=fee_share[d] + handling + transport,
            alternative_outlet_id=candidates[alternative[1]].id if alternative else None,
            alternative_outlet_name=candidates[alternative[1]].name if alternative else None,
            alternative_extra_fen=round(alternative[0]) if alternative else None,
            demand_index=d))
    return out, users, load


# --- the entry point -----------------------------------------------------------------------

def plan(demands: list[Demand], candidates: list[Candidate],
         options: PlanOptions | None = None) -> PlanResult:
    """Solve the coverage plan; see the module docstring for the model."""
    options = options or PlanOptions()
    ids = {c.id for c in candidates}
    if options.require & options.exclude:
        raise PlanInputError("An outlet cannot be both required and excluded.", "require")
    missing = sorted(options.require - ids)
    if missing:
        raise PlanInputError(f"Required outlets are not in the pool: {missing}.", "require")
    if options.certified_only and any(not c.certified for c in candidates
                                      if c.id in options.require):
        raise PlanInputError("A required outlet is not certified.", "require")
    if options.service_radius_km is not None and options.service_radius_km < 0:
        raise PlanInputError("The service radius cannot be negative.", "service_radius_km")
    started = time.perf_counter()
    arcs, reasons = _build_arcs(demands, candidates, options)
    coverable = [d for d in range(len(demands)) if d not in reasons]
    g_cost, g_covered, g_plan = greedy(demands, candidates, arcs, options)
    required_fee = sum(c.annual_fee_fen for c in candidates if c.id in options.require)
    if not coverable and (options.budget_fen is None or required_fee <= options.budget_fen):
        status, objective, bound, gap, chosen, uncovered = "optimal", float(required_fee), \
            float(required_fee), 0.0, [], []
    else:
        # the time limit bounds the whole plan: building the arcs and the greedy count too
        left = max(0.5, options.time_limit_s - (time.perf_counter() - started))
        status, objective, bound, gap, chosen, uncovered = _solve(
            demands, candidates, arcs, replace(options, time_limit_s=left), coverable, g_plan)
    for d in uncovered:
        reasons[d] = "over_budget" if options.budget_fen is not None else "capacity_taken"
    assignments, users, load = _explain(demands, candidates, arcs, chosen)
    plan_outlets = sorted(set(users) | {i for i, c in enumerate(candidates)
                                        if c.id in options.require and objective is not None})
    chosen_outlets = [ChosenOutlet(
        id=candidates[o].id, name=candidates[o].name, city=candidates[o].city,
        outlet_type=candidates[o].outlet_type, annual_fee_fen=candidates[o].annual_fee_fen,
        tonnes_assigned=round(load.get(o, 0.0), 3), capacity_t=candidates[o].capacity_t,
        required=candidates[o].id in options.require) for o in plan_outlets]
    cost = None
    if objective is not None:
        cost = sum(o.annual_fee_fen for o in chosen_outlets) + sum(
            a.handling_fen + a.transport_fen for a in assignments)
    lower = None if bound is None or not math.isfinite(bound) else math.floor(bound + 1e-6)
    if cost is not None and lower is not None:
        lower = min(lower, cost)
        gap = 0.0 if cost == 0 else max(0.0, (cost - lower) / cost)
    n_y = len({a.o for a in arcs})
    return PlanResult(
        status=status, cost_fen=cost, lower_bound_fen=lower,
        gap=None if gap is None else round(gap, 6),
        solve_seconds=round(time.perf_counter() - started, 4),
        greedy_cost_fen=g_cost, greedy_covered=g_covered,
        covered=len(assignments), demands=len(demands),
        assignments=assignments, outlets=chosen_outlets,
        uncoverable=[Uncoverable(demands[d].city, demands[d].outlet_type, demands[d].tonnes, r)
                     for d, r in sorted(reasons.items(), key=lambda kv: demands[kv[0]].key)],
        model_size={"demands": len(coverable), "candidate_outlets": n_y, "arcs": len(arcs)})
