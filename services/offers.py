"""Capacity offers: what a listed outlet offers sharing partners, in integer fen."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import CapacityOffer, Outlet, OutletStatus
from services import audit, permissions
from services.audit import Actor
from services.errors import Conflict, ValidationFailed
from services.money import MAX_FEN


def _int(data: dict, name: str, errors: dict, *, minimum: int, maximum: int) -> int | None:
    value = data.get(name)
    try:
        number = int(value)
        if isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        errors[name] = [_l("must be a whole number")]
        return None
    if not minimum <= number <= maximum:
        errors[name] = [_l("must be between %(low)s and %(high)s", low=minimum, high=maximum)]
        return None
    return number


def _date(data: dict, name: str, errors: dict, *, required: bool) -> date | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            errors[name] = [_l("is required")]
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[name] = [_l("must be a date like 2026-01-31")]
        return None


def check(data: dict, outlet: Outlet) -> dict:
    errors: dict = {}
    clean = {}
    try:
        capacity = float(data.get("capacity_t_per_year"))
        if not 0 < capacity <= outlet.annual_capacity_t:
            errors["capacity_t_per_year"] = [_l(
                "must be more than 0 and at most the outlet's annual capacity (%(cap)s t)",
                cap=outlet.annual_capacity_t)]
        clean["capacity_t_per_year"] = capacity
    except (TypeError, ValueError):
        errors["capacity_t_per_year"] = [_l("must be a number")]
    clean["annual_fee_fen"] = _int(data, "annual_fee_fen", errors, minimum=0, maximum=MAX_FEN)
    clean["handling_fee_fen_per_t"] = _int(data, "handling_fee_fen_per_t", errors, minimum=0,
                                           maximum=MAX_FEN)
    clean["min_term_months"] = _int(data, "min_term_months", errors, minimum=1, maximum=240)
    clean["available_from"] = _date(data, "available_from", errors, required=True)
    clean["available_to"] = _date(data, "available_to", errors, required=False)
    if clean["available_from"] and clean["available_to"] and \
            clean["available_to"] <= clean["available_from"]:
        errors["available_to"] = [_l("must be after the start date")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    return clean


def set_offer(actor: Actor, outlet: Outlet, data: dict) -> CapacityOffer:
    """Create or replace the outlet's offer and keep the pool's search columns in step."""
    permissions.require(actor.user, "outlets.list", outlet.provider)
    if outlet.status is not OutletStatus.LISTED:
        raise Conflict(_l("Only a listed outlet can offer capacity."))
    clean = check(data, outlet)
    from services import agreements  # contracting builds on offers, not the reverse

    offer = agreements.lock_offer(outlet.id)
    held = agreements.allocated_t(outlet.id)
    if clean["capacity_t_per_year"] < held - agreements.EPSILON_T:
        raise ValidationFailed(_l("Some fields need correcting."), {"capacity_t_per_year": [_l(
            "must be at least the %(held)s t/year agreements already hold", held=held)]})
    if offer is None:
        offer = CapacityOffer(outlet_id=outlet.id, **clean)
        db.session.add(offer)  # complete, and in the session before the outlet links to it
        outlet.offer = offer
    for name, value in clean.items():
        setattr(offer, name, value)
    agreements.refresh_available(outlet, offer)
    outlet.annual_fee_fen = offer.annual_fee_fen
    outlet.handling_fee_fen_per_t = offer.handling_fee_fen_per_t
    db.session.flush()
    audit.record(actor, "offer.set", "outlet", outlet.id, organization_id=outlet.provider_id,
                 data={k: (v.isoformat() if isinstance(v, date) else v) for k, v in clean.items()})
    return offer
