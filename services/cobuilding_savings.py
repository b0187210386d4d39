"""The co-building saving from the database: the group, the instance, the answer.

The pure comparison and its rules (fee split, saving allocation) live in
services.cobuilding; the demands and candidates are built exactly as for one maker's
coverage plan (services.coverage_plans.build_instance). Read-only: nothing to commit.

Who is in the group
-------------------
- `saving_for_group`: an operator chooses the makers (permission organizations.review).
- `saving_for_me`: the makers who opted in (`Organization.cobuilding_opt_in`). A maker
  sees its own saving against every other opted-in manufacturer that has recorded sales in
  at least one of its open-obligation cities, on those cities only (same-city sharing, so
  the cities are independent and leaving the others out is exact for these). Opting in is
  what lets a maker's figures be pooled into the others' answers; a maker that has not
  opted in is asked to, and its figures are used by no one. The answer is anonymous: the
  maker's own figures, the number of other makers, and the group's total saving only when
  at least MIN_GROUP_FOR_TOTALS makers are in it (with two, the total minus the maker's
  share would be the other's figure). Never another maker's name, id or figures.
- The last answer a maker saw is kept on the organization (`remember`) so its dashboard
  shows the number without a multi-second solve on every visit.
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import Organization, OrgKind, SalesRecord
from services import audit, data_versions, permissions
from services.audit import Actor
from services.certifiers import CHINA, china_today
from services.cobuilding import MakerDemand, compare
from services.coverage_planner import PlanOptions
from services.coverage_plans import build_instance
from services.errors import ValidationFailed

MAX_GROUP = 200
MIN_GROUP_FOR_TOTALS = 3


def _options(options: dict | None) -> PlanOptions:
    options = options or {}
    return PlanOptions(certified_only=bool(options.get("certified_only")),
                       storage_covers_collection=bool(options.get("storage_covers_collection")),
                       time_limit_s=float(options.get("time_limit_s") or 5.0))


def _solve(makers: list[Organization], as_of: date, options: PlanOptions,
           cities: set[str] | None = None):
    demands: list[MakerDemand] = []
    candidates: dict[int, object] = {}
    for maker in makers:
        instance = build_instance(maker, as_of, options)
        demands += [MakerDemand(maker.id, d) for d in instance.demands
                    if cities is None or d.city in cities]
        for candidate in instance.candidates:
            if cities is None or candidate.city in cities:
                candidates[candidate.id] = candidate
    return compare(demands, [candidates[k] for k in sorted(candidates)], options)


def saving_for_group(actor: Actor, manufacturer_ids: list[int], as_of: date | None = None,
                     options: dict | None = None) -> dict:
    """Operator view: every maker of the group by name, alone and together."""
    permissions.require_operator(actor.user, "organizations.review")
    ids = sorted({int(i) for i in manufacturer_ids or []})
    if len(ids) < 2 or len(ids) > MAX_GROUP:
        raise ValidationFailed(str(_l("Choose between 2 and %(n)d manufacturers.", n=MAX_GROUP)),
                               {"manufacturer_ids": [str(_l("Between 2 and %(n)d manufacturers.",
                                                            n=MAX_GROUP))]})
    makers = list(db.session.scalars(select(Organization).where(
        Organization.id.in_(ids), Organization.kind == OrgKind.MANUFACTURER)
        .order_by(Organization.id)))
    missing = sorted(set(ids) - {m.id for m in makers})
    if missing:
        raise ValidationFailed(str(_l("Not manufacturers: %(ids)s", ids=missing)),
                               {"manufacturer_ids": [str(_l("Not manufacturers: %(ids)s",
                                                            ids=missing))]})
    as_of = as_of or china_today()
    result = _solve(makers, as_of, _options(options))
    names = {m.id: m.legal_name for m in makers}
    body = result.to_dict()
    for row in body["makers"]:
        row["manufacturer_id"] = row.pop("maker")
        row["name"] = names[row["manufacturer_id"]]
    for outlet in body["shared_outlets"]:
        outlet["fee_shares_fen"] = [{"manufacturer_id": k, "fee_share_fen": v}
                                    for k, v in sorted(outlet["fee_shares_fen"].items())]
        outlet["tonnes"] = [{"manufacturer_id": k, "tonnes": v}
                            for k, v in sorted(outlet["tonnes"].items())]
    return {"as_of": as_of.isoformat(), **body,
            "group_size": len(result.makers)}


def set_opt_in(actor: Actor, manufacturer, opt_in: bool) -> Organization:
    """The maker joins (or leaves) the group whose figures are pooled for co-building."""
    permissions.require(actor.user, "organization.edit", manufacturer)
    if manufacturer.kind is not OrgKind.MANUFACTURER:
        raise ValidationFailed(str(_l("Only manufacturers take part in co-building savings.")),
                               {"opt_in": [str(_l("manufacturers only"))]})
    if not isinstance(opt_in, bool):
        raise ValidationFailed(str(_l("Say yes or no.")), {"opt_in": [str(_l("must be true or false"))]})
    if manufacturer.cobuilding_opt_in != opt_in:
        manufacturer.cobuilding_opt_in = opt_in
        if not opt_in:
            manufacturer.cobuilding_saving = None
        db.session.flush()
        audit.record(actor, "cobuilding.opt_in" if opt_in else "cobuilding.opt_out",
                     "organization", manufacturer.id, organization_id=manufacturer.id)
    return manufacturer


def remember(manufacturer, saving: dict, computed_at) -> bool:
    """Keep the answer for the dashboard (a cache: no audit event). Written when the figures
    changed or were last kept on another day, not on every view: each write renews the
    signed-in accounts kept in the cache (data_versions.NARROW_COLUMNS)."""
    # China's time, so the dashboard's "computed on <day>" is the day the maker saw it
    computed_at = computed_at.astimezone(CHINA)
    kept = dict(manufacturer.cobuilding_saving or {})
    kept_on = kept.pop("computed_at", "")[:10]
    if kept == saving and kept_on == computed_at.date().isoformat():
        return False
    manufacturer.cobuilding_saving = {**saving, "computed_at": computed_at.isoformat()}
    db.session.flush()
    return True


def saving_for_me(actor: Actor, manufacturer, as_of: date | None = None) -> dict:
    """Maker view: its own saving against the other opted-in makers in its cities,
    anonymously. A maker that has not opted in gets `opted_in: false` and no figures."""
    from services import sales

    sales.require_view(actor, manufacturer)
    as_of = as_of or china_today()
    if not manufacturer.cobuilding_opt_in:
        return {"as_of": as_of.isoformat(), "opted_in": False, "group": "opted_in_makers",
                "comparable": False, "reason": "not_opted_in", "status": "not_computed"}
    # A joint solve over every opted-in maker in the maker's cities takes seconds: the answer is
    # kept until the obligations or the pool (opt-ins included) change.
    return data_versions.cached(("obligations", "pool"), ("cobuilding saving", manufacturer.id, as_of),
                                lambda: _saving_against_others(manufacturer, as_of))


def _saving_against_others(manufacturer, as_of: date) -> dict:
    options = _options(None)
    own = build_instance(manufacturer, as_of, options)
    cities = {d.city for d in own.demands}
    others: list[Organization] = []
    if cities:
        other_ids = select(SalesRecord.manufacturer_id).where(
            SalesRecord.division_code.in_(sorted(cities)),
            SalesRecord.manufacturer_id != manufacturer.id).distinct()
        others = list(db.session.scalars(select(Organization).where(
            Organization.id.in_(other_ids), Organization.kind == OrgKind.MANUFACTURER,
            Organization.cobuilding_opt_in.is_(True))
            .order_by(Organization.id).limit(MAX_GROUP - 1)))
    result = _solve([manufacturer, *others], as_of, options, cities)
    mine = result.for_maker(manufacturer.id)
    group_size = 1 + len(others)
    show_totals = group_size >= MIN_GROUP_FOR_TOTALS
    return {
        "as_of": as_of.isoformat(),
        "opted_in": True,
        "group": "opted_in_makers_with_sales_in_your_cities",
        "allocation_rule": result.allocation_rule,
        "fee_split_rule": result.fee_split_rule,
        "status": result.status,
        "comparable": result.comparable,
        "reason": result.reason,
        "cities": len(cities),
        # where together the capacity cannot serve every maker: left out of both sides
        "cities_left_out": len(result.left_out_cities),
        "other_makers": len(others),
        "standalone_cost_fen": mine.standalone_cost_fen if mine else 0,
        "joint_cost_fen": mine.joint_cost_fen if mine else 0,
        "saving_fen": mine.saving_share_fen if mine else 0,
        "cost_after_sharing_fen": mine.cost_after_sharing_fen if mine else 0,
        "settlement_fen": mine.settlement_fen if mine else 0,
        "shared_outlets": mine.shared_outlets if mine else 0,
        "group_total_saving_fen": result.total_saving_fen if show_totals else None,
        "group_standalone_total_fen": result.standalone_total_fen if show_totals else None,
    }


def opted_in_ids() -> list[int]:
    return list(db.session.scalars(select(Organization.id).where(
        Organization.kind == OrgKind.MANUFACTURER, Organization.cobuilding_opt_in.is_(True))
        .order_by(Organization.id)))


def manufacturers_with_sales() -> list[Organization]:
    """Manufacturers that have recorded sales: the ones a group saving can say anything about."""
    from app.models import SalesRecord

    return list(db.session.scalars(
        select(Organization).where(Organization.kind == OrgKind.MANUFACTURER,
                                   Organization.id.in_(select(SalesRecord.manufacturer_id)))
        .order_by(Organization.legal_name)))
