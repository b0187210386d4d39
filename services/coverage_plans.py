"""Coverage plans for a manufacturer: build the instance, solve it, keep and compare plans.

The instance: every open obligation of the maker on `as_of` (a required outlet type its
city does not meet yet) is a demand sized by the city's expected retired-battery tonnage;
the candidates are the listed pool outlets with a priced offer (annual fee and available
capacity known) in those cities, or anywhere within the service radius when the maker
opts into one. The pure model lives in services.coverage_planner. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import CoveragePlan, Outlet, OutletStatus
from services import audit, data_versions, divisions, paging
from services.audit import Actor
from services.certifiers import china_today
from services.coverage_planner import Candidate, Demand, PlanInputError, PlanOptions, plan
from services.errors import NotFound, ValidationFailed

MAX_TIME_LIMIT_S = 30.0


@dataclass(frozen=True)
class Instance:
    demands: list[Demand]
    candidates: list[Candidate]
    rule_set: str
    city_names: dict[str, str]


def _float(raw, name: str, errors: dict, *, low: float = 0.0, high: float | None = None):
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        errors[name] = ["Must be a number."]
        return None
    if value != value or value < low or (high is not None and value > high):
        errors[name] = [f"Must be between {low:g} and {high:g}." if high is not None
                        else f"Must be at least {low:g}."]
        return None
    return value


def _ids(raw, name: str, errors: dict) -> frozenset[int]:
    if raw in (None, ""):
        return frozenset()
    if isinstance(raw, str):
        raw = [part for part in raw.replace(",", " ").split() if part]
    try:
        return frozenset(int(v) for v in raw)
    except (TypeError, ValueError):
        errors[name] = ["A list of outlet ids."]
        return frozenset()


def parse_options(data: dict) -> PlanOptions:
    """Options from an API body or a form; every bad field is reported at once (422)."""
    errors: dict[str, list[str]] = {}
    radius = _float(data.get("service_radius_km"), "service_radius_km", errors, high=2000)
    transport = _float(data.get("transport_fen_per_t_km"), "transport_fen_per_t_km", errors)
    budget = _float(data.get("budget_fen"), "budget_fen", errors)
    time_limit = _float(data.get("time_limit_s"), "time_limit_s", errors, low=0.1,
                        high=MAX_TIME_LIMIT_S)
    gap = _float(data.get("mip_rel_gap"), "mip_rel_gap", errors, high=0.5)
    if budget is not None and budget != int(budget):
        errors["budget_fen"] = ["Whole fen."]
    options = PlanOptions(
        certified_only=bool(data.get("certified_only")),
        service_radius_km=radius,
        transport_fen_per_t_km=transport or 0.0,
        exclude=_ids(data.get("exclude"), "exclude", errors),
        require=_ids(data.get("require"), "require", errors),
        budget_fen=None if budget is None else int(budget),
        storage_covers_collection=bool(data.get("storage_covers_collection")),
        time_limit_s=5.0 if time_limit is None else time_limit,
        mip_rel_gap=0.005 if gap is None else gap)
    if options.require & options.exclude:
        errors["require"] = ["An outlet cannot be both required and excluded."]
    if errors:
        raise ValidationFailed("The plan options are not valid.", errors)
    return options


def options_dict(options: PlanOptions) -> dict:
    return {"certified_only": options.certified_only,
            "service_radius_km": options.service_radius_km,
            "transport_fen_per_t_km": options.transport_fen_per_t_km,
            "exclude": sorted(options.exclude), "require": sorted(options.require),
            "budget_fen": options.budget_fen,
            "storage_covers_collection": options.storage_covers_collection,
            "time_limit_s": options.time_limit_s, "mip_rel_gap": options.mip_rel_gap}


def build_instance(manufacturer, as_of: date, options: PlanOptions) -> Instance:
    """Demands from the open obligations; candidates from the listed, priced pool."""
    from services import obligations  # a sibling capability; imported when a plan is made

    report = obligations.compute_for(manufacturer, as_of)
    demands: list[Demand] = []
    names = {c.division: getattr(c, "name", c.division) for c in report.cities}
    for city in report.cities:
        met = {m.get("type") for m in (city.met_by or [])}
        lat, lon = getattr(city, "lat", None), getattr(city, "lon", None)
        if lat is None:
            division = divisions.get(city.division)
            lat, lon = (division.lat, division.lon) if division else (None, None)
        for outlet_type in city.required:
            if outlet_type not in met:
                demands.append(Demand(city.division, outlet_type,
                                      float(city.expected_tonnes or 0.0), lat, lon))
    rule_set = report.rule_set
    rule_label = (f"{rule_set.get('code')} {rule_set.get('version')}".strip()
                  if isinstance(rule_set, dict) else str(rule_set))
    cities = sorted({d.city for d in demands})
    query = select(Outlet.id, Outlet.name, Outlet.type, Outlet.city_code,
                   Outlet.available_capacity_t, Outlet.annual_fee_fen,
                   Outlet.handling_fee_fen_per_t, Outlet.lat, Outlet.lon, Outlet.certified
                   ).where(Outlet.status == OutletStatus.LISTED,
                           Outlet.annual_fee_fen.is_not(None),
                           Outlet.available_capacity_t.is_not(None))
    if options.service_radius_km is None:
        if not cities:
            return Instance(demands, [], rule_label[:60], names)
        query = query.where(Outlet.city_code.in_(cities) | Outlet.id.in_(sorted(options.require)))
    candidates = [Candidate(
        id=row.id, outlet_type=row.type.value, city=row.city_code,
        capacity_t=float(row.available_capacity_t), annual_fee_fen=int(row.annual_fee_fen),
        handling_fee_fen_per_t=int(row.handling_fee_fen_per_t or 0), lat=row.lat, lon=row.lon,
        certified=bool(row.certified), name=row.name)
        for row in db.session.execute(query.order_by(Outlet.id))]
    return Instance(demands, candidates, rule_label[:60], names)


def solve(manufacturer, as_of: date, options: PlanOptions) -> tuple[Instance, dict]:
    """The instance and its solution (PlanResult.to_dict(); read-only). Both depend only on the
    maker's obligations and the pool, so the same question asked again before either changes
    reuses the solve (per process and, with Redis, shared): a cache read, not another MILP."""
    def compute() -> tuple[Instance, dict]:
        instance = build_instance(manufacturer, as_of, options)
        try:
            return instance, plan(instance.demands, instance.candidates, options).to_dict()
        except PlanInputError as error:
            raise ValidationFailed(str(error), {error.field_name: [str(error)]}) from error

    return data_versions.cached(("obligations", "pool"),
                                ("coverage-plan", manufacturer.id, as_of, options), compute)


def _require_view(actor: Actor, manufacturer) -> None:
    from services import sales

    sales.require_view(actor, manufacturer)


def create(actor: Actor, manufacturer, data: dict) -> CoveragePlan:
    """Solve and save a plan. `data`: as_of (date, default today) and the plan options."""
    _require_view(actor, manufacturer)
    options = parse_options(data)
    as_of = data.get("as_of") or china_today()
    instance, result = solve(manufacturer, as_of, options)
    row = CoveragePlan(
        manufacturer_id=manufacturer.id, created_by_id=actor.user_id, as_of=as_of,
        rule_set=instance.rule_set, options=options_dict(options), status=result["status"],
        cost_fen=result["cost_fen"], lower_bound_fen=result["lower_bound_fen"], gap=result["gap"],
        greedy_cost_fen=result["greedy_cost_fen"], solve_seconds=result["solve_seconds"],
        result={**result, "city_names": instance.city_names})
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "coverage_plan.create", "coverage_plan", row.id,
                 organization_id=manufacturer.id,
                 data={"status": row.status, "cost_fen": row.cost_fen, "as_of": as_of.isoformat()})
    return row


def list_for(actor: Actor, manufacturer, *, page: int = 1,
             per_page: int = 50) -> tuple[list[CoveragePlan], int]:
    """The maker's saved plans, newest first, a page at a time, and how many there are."""
    _require_view(actor, manufacturer)
    return paging.page_of(select(CoveragePlan).where(CoveragePlan.manufacturer_id == manufacturer.id),
                          CoveragePlan.created_at.desc(), CoveragePlan.id.desc(),
                          page=page, per_page=per_page)


def get_for(actor: Actor, manufacturer, plan_id: int) -> CoveragePlan:
    """One of the maker's plans; another maker's plan is not found, by construction."""
    _require_view(actor, manufacturer)
    row = db.session.execute(
        select(CoveragePlan).where(CoveragePlan.id == plan_id,
                                   CoveragePlan.manufacturer_id == manufacturer.id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("coverage plan", plan_id)
    return row


def compare(a: CoveragePlan, b: CoveragePlan) -> dict:
    """City by city: which outlet each plan chose, and the cost difference (b - a)."""
    def by_demand(p):
        return {(x["city"], x["outlet_type"]): x for x in (p.result or {}).get("assignments", [])}

    left, right = by_demand(a), by_demand(b)
    rows = []
    for key in sorted(set(left) | set(right)):
        x, y = left.get(key), right.get(key)
        rows.append({"city": key[0], "outlet_type": key[1],
                     "a_outlet_id": x and x["outlet_id"], "a_outlet_name": x and x["outlet_name"],
                     "a_cost_fen": x and x["cost_share_fen"],
                     "b_outlet_id": y and y["outlet_id"], "b_outlet_name": y and y["outlet_name"],
                     "b_cost_fen": y and y["cost_share_fen"],
                     "same": bool(x and y and x["outlet_id"] == y["outlet_id"])})
    return {"a": a.id, "b": b.id, "rows": rows,
            "cost_difference_fen": (None if a.cost_fen is None or b.cost_fen is None
                                    else b.cost_fen - a.cost_fen),
            "covered": [(a.result or {}).get("covered"), (b.result or {}).get("covered")]}
