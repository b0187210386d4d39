"""Outlets in the shared pool: create, edit, list, suspend, delist. Providers own them.

Every lookup for a provider is scoped by its organization in the query itself; operators
moderate any outlet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, lazyload

from app.extensions import db
from app.models import Establishment, Organization, Outlet, OutletStatus, OutletType
from app.models.types import utcnow
from services import audit, divisions, outlet_rules, paging, permissions, rule_sets
from services.audit import Actor
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

OPTIONS_FILE = Path(__file__).parent / "data" / "outlet_options.json"
TEXT_LIMITS = {"name": 200, "address": 300, "facilities": 2000, "opening_hours": 200,
               "contact_name": 100, "contact_phone": 40, "established_with": 300}
NUMBER_FIELDS = ("storage_area_m2", "max_stored_weight_t", "annual_capacity_t")
# China's extent, generously: a coordinate outside it is a typo (or swapped lat/lon).
LAT_RANGE, LON_RANGE = (3.0, 54.0), (73.0, 136.0)

# from -> to: the permission the move needs. Anything else is refused.
TRANSITIONS = {
    (OutletStatus.DRAFT, OutletStatus.LISTED): "outlets.list",
    (OutletStatus.SUSPENDED, OutletStatus.LISTED): "outlets.list",
    (OutletStatus.LISTED, OutletStatus.SUSPENDED): "outlets.manage",
    (OutletStatus.LISTED, OutletStatus.DELISTED): "outlets.manage",
    (OutletStatus.SUSPENDED, OutletStatus.DELISTED): "outlets.manage",
    (OutletStatus.DELISTED, OutletStatus.DRAFT): "outlets.manage",
}


@cache
@cache
def options() -> dict:
    """Chemistries and safety classes (data file, read once): shared, so read-only."""
    return json.loads(OPTIONS_FILE.read_text(encoding="utf-8"))


@cache
def _codes(kind: str) -> frozenset[str]:
    return frozenset(o["code"] for o in options()[kind])


def check_fields(data: dict, *, creating: bool, current: Outlet | None = None,
                 on: date | None = None, parameters: dict | None = None) -> tuple[dict, dict]:
    """Validate outlet fields; (clean values, {field: [messages]}). Pure apart from lookups.

    `parameters` is the rule set in force, for callers validating many rows at once.
    """
    errors: dict[str, list] = {}
    clean: dict = {}

    def present(name: str) -> bool:
        return creating or name in data

    for name, limit in TEXT_LIMITS.items():
        if not present(name):
            continue
        value = data.get(name)
        value = "" if value is None else str(value).strip()
        if name in ("name", "address") and not value:
            errors[name] = [_l("is required")]
        elif len(value) > limit:
            errors[name] = [_l("at most %(n)s characters", n=limit)]
        else:
            clean[name] = value or None
    for name in NUMBER_FIELDS:
        if not present(name):
            continue
        value = data.get(name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors[name] = [_l("must be a number")]
            continue
        if number < 0 or number != number or number > 1e7:
            errors[name] = [_l("must be between 0 and 10,000,000")]
        else:
            clean[name] = number
    for name, enum_cls in (("type", OutletType), ("establishment", Establishment)):
        if present(name):
            try:
                clean[name] = enum_cls(data.get(name))
            except ValueError:
                allowed = ", ".join(e.value for e in enum_cls)
                errors[name] = [_l("must be one of %(allowed)s", allowed=allowed)]
    for name, kind in (("chemistries", "chemistries"), ("safety_classes", "safety_classes")):
        if not present(name):
            continue
        values = data.get(name) or []
        if isinstance(values, str):
            values = [v.strip() for v in values.replace("，", ",").split(",") if v.strip()]
        unknown = [v for v in values if v not in _codes(kind)]
        if not isinstance(values, list) or unknown:
            errors[name] = [_l("unknown values: %(values)s; allowed: %(allowed)s",
                               values=", ".join(map(str, unknown)),
                               allowed=", ".join(sorted(_codes(kind))))]
        else:
            clean[name] = sorted(set(values))

    _check_location(data, clean, errors, current)
    _check_type_limits(clean, errors, current, on, parameters)
    return clean, errors


def _check_location(data: dict, clean: dict, errors: dict, current: Outlet | None) -> None:
    resolution = None
    if data.get("division_code"):
        resolution = divisions.index().resolution_for(str(data["division_code"]))
        if resolution is None:
            errors["division_code"] = [_l("is not a known 6-digit division code")]
    elif clean.get("address"):
        resolution = divisions.resolve(clean["address"])
        if resolution is None or resolution.prefecture is None:
            errors["address"] = [_l("could not be resolved to a prefecture-level city; "
                                    "write the province and city, e.g. 广东省深圳市…")]
            resolution = None
    if resolution is not None:
        clean["province_code"] = resolution.province.code
        clean["city_code"] = resolution.prefecture.code if resolution.prefecture else None
        clean["district_code"] = resolution.district.code if resolution.district else None
        if clean["city_code"] is None:
            errors.setdefault("address", []).append(_l("must name a prefecture-level city"))
    for name, (low, high) in (("lat", LAT_RANGE), ("lon", LON_RANGE)):
        value = data.get(name)
        if value in (None, ""):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors[name] = [_l("must be a number")]
            continue
        if not low <= number <= high:
            errors[name] = [_l("must be between %(low)s and %(high)s", low=low, high=high)]
        else:
            clean[name] = number
    # Without coordinates given, place the outlet at its district (or city) centre; the map
    # lets the provider drag it to the exact spot.
    if resolution is not None and ("lat" not in clean or "lon" not in clean):
        best = resolution.best
        if best.lat is not None and (current is None or "address" in data):
            clean.setdefault("lat", best.lat)
            clean.setdefault("lon", best.lon)


def _check_type_limits(clean: dict, errors: dict, current: Outlet | None, on: date | None,
                       parameters: dict | None) -> None:
    outlet_type = clean.get("type") or (current.type if current else None)
    if outlet_type is None:
        return
    values = {f: clean.get(f, getattr(current, f, None) if current else None) for f in NUMBER_FIELDS}
    if parameters is None:
        parameters = rule_sets.in_force(on or utcnow().date()).parameters
    for violation in outlet_rules.type_limit_violations(parameters, outlet_type.value, values):
        errors.setdefault(violation.field, []).append(violation.message)


def search_text_for(outlet: Outlet, provider_name: str) -> str:
    return " ".join(filter(None, [outlet.name, outlet.address, provider_name])).lower()


# --- scoped lookups -----------------------------------------------------------------------

def get_for_provider(actor: Actor, outlet_id: int) -> Outlet:
    """An outlet of one of the actor's organizations (404 for anyone else's)."""
    org_ids = [m.organization_id for m in getattr(actor.user, "memberships", [])]
    outlet = db.session.execute(
        select(Outlet).where(Outlet.id == outlet_id, Outlet.provider_id.in_(org_ids))
    ).unique().scalar_one_or_none()
    if outlet is None:
        raise NotFound("outlet", outlet_id)
    return outlet


def get_manageable(actor: Actor, outlet_id: int) -> Outlet:
    """As above, or any outlet for an operator (moderation)."""
    if permissions.operator_membership(actor.user) is not None:
        outlet = db.session.get(Outlet, outlet_id)
        if outlet is None:
            raise NotFound("outlet", outlet_id)
        return outlet
    return get_for_provider(actor, outlet_id)


def get_public(outlet_id: int) -> Outlet:
    """A listed outlet, as anyone may see it, with its offer (every caller shows it). Not
    with its provider, joined by default: no caller shows it, and the join (with the
    provider's division) was half the cost of this read."""
    outlet = db.session.execute(
        select(Outlet).where(Outlet.id == outlet_id, Outlet.status == OutletStatus.LISTED)
        .options(joinedload(Outlet.offer), lazyload(Outlet.provider))
    ).unique().scalar_one_or_none()
    if outlet is None:
        raise NotFound("outlet", outlet_id)
    return outlet


@dataclass(frozen=True)
class ProviderOutlets:
    """One page of a provider's outlets, and where all of them stand."""
    items: list[Outlet]
    total: int  # outlets matching the filter
    by_status: dict[OutletStatus, int]  # every outlet of the provider, whatever the filter
    cities: list[str]  # the city codes the provider has outlets in, for a place filter


def of_provider(actor: Actor, provider: Organization, *, status: str | None = None,
                place: str | None = None, text: str | None = None, page: int = 1,
                per_page: int | None = 50) -> ProviderOutlets:
    """A provider's outlets in every status, by name, a page at a time: the largest providers
    run well over a thousand. `place` is a province or city code, `text` words of the name or
    address; `per_page=None` returns every match."""
    permissions.require(actor.user, "organization.view", provider)
    where, errors = [Outlet.provider_id == provider.id], {}
    if status:
        try:
            where.append(Outlet.status == OutletStatus(status))
        except ValueError:
            errors["status"] = [_l("must be one of %(allowed)s",
                                   allowed=", ".join(s.value for s in OutletStatus))]
    if place:
        division = divisions.index().get(place)
        if division is None or division.level not in ("province", "prefecture"):
            errors["place"] = [_l("is not a province or prefecture-level city code")]
        else:
            column = Outlet.province_code if division.level == "province" else Outlet.city_code
            where.append(column == division.code)
    if errors:
        raise ValidationFailed(_l("Some filters need correcting."), errors)
    for term in (text or "").lower().split():
        where.append(Outlet.search_text.contains(term, autoescape=True))
    items, total = paging.page_of(select(Outlet).where(*where), Outlet.name, Outlet.id,
                                  page=page, per_page=per_page)
    counts = db.session.execute(select(Outlet.status, func.count()).where(
        Outlet.provider_id == provider.id).group_by(Outlet.status))
    cities = db.session.execute(select(Outlet.city_code).where(
        Outlet.provider_id == provider.id).distinct().order_by(Outlet.city_code)).scalars()
    return ProviderOutlets(items, total, {OutletStatus(s): n for s, n in counts}, list(cities))


# --- changes ------------------------------------------------------------------------------

def create(actor: Actor, provider: Organization, data: dict) -> Outlet:
    permissions.require(actor.user, "outlets.manage", provider)
    clean, errors = check_fields(data, creating=True)
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    outlet = Outlet(provider_id=provider.id, status=OutletStatus.DRAFT, **clean)
    outlet.search_text = search_text_for(outlet, provider.legal_name)
    db.session.add(outlet)
    db.session.flush()
    audit.record(actor, "outlet.created", "outlet", outlet.id, organization_id=provider.id,
                 data={"name": outlet.name, "type": outlet.type.value, "city": outlet.city_code})
    return outlet


def update(actor: Actor, outlet: Outlet, data: dict) -> Outlet:
    permissions.require(actor.user, "outlets.manage", outlet.provider)
    clean, errors = check_fields(data, creating=False, current=outlet)
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    changed = {}
    audit.serialize_writes()
    for name, value in clean.items():
        if getattr(outlet, name) != value:
            changed[name] = value.value if hasattr(value, "value") else value
            setattr(outlet, name, value)
    if changed:
        outlet.search_text = search_text_for(outlet, outlet.provider.legal_name)
        db.session.flush()
        audit.record(actor, "outlet.updated", "outlet", outlet.id,
                     organization_id=outlet.provider_id, data={"changed": changed})
    return outlet


def change_status(actor: Actor, outlet: Outlet, to: str, reason: str | None = None) -> Outlet:
    """Move an outlet through draft -> listed -> suspended / delisted (TRANSITIONS)."""
    try:
        target = OutletStatus(to)
    except ValueError as exc:
        raise ValidationFailed(_l("Unknown status."), {"status": [_l("is not a known status")]}) from exc
    needed = TRANSITIONS.get((outlet.status, target))
    if needed is None:
        raise Conflict(_l("An outlet cannot go from %(from)s to %(to)s.",
                          **{"from": outlet.status.value, "to": target.value}))
    is_operator = permissions.operator_membership(actor.user) is not None
    if not is_operator:
        permissions.require(actor.user, needed, outlet.provider)
    elif target is OutletStatus.LISTED and not outlet.provider.is_verified:
        raise PermissionDenied(_l("The provider must be verified before its outlets are listed."))
    if target is OutletStatus.LISTED and not outlet.compliant:
        raise Conflict(_l("Only outlets whose current self-assessment passes every applicable "
                          "item can be listed; see the gap report."))
    reason = (reason or "").strip() or None
    audit.serialize_writes()  # before the outlet row: certificates' jobs change it too
    if is_operator and target in (OutletStatus.SUSPENDED, OutletStatus.DELISTED) and not reason:
        raise ValidationFailed(_l("Give a reason."), {"reason": [_l("is required for moderation")]})
    previous = outlet.status
    outlet.status = target
    if target is OutletStatus.LISTED and outlet.listed_at is None:
        outlet.listed_at = utcnow()
    db.session.flush()
    audit.record(actor, f"outlet.{target.value}", "outlet", outlet.id,
                 organization_id=outlet.provider_id,
                 data={"from": previous.value, "to": target.value, "reason": reason})
    from services import agreements  # contracting builds on outlets, not the reverse

    if target in (OutletStatus.SUSPENDED, OutletStatus.DELISTED):
        agreements.flag_outlet(actor, outlet, str(_l(
            "the outlet was %(status)s: %(reason)s", status=target.value, reason=reason or "-")))
    elif target is OutletStatus.LISTED and previous is OutletStatus.SUSPENDED:
        agreements.clear_outlet_flag(actor, outlet)
    return outlet
