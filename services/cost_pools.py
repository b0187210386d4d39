"""The cost pools of an agreement, as the parties propose them, and the split they will sign.

A change to a pool re-issues the agreement as a new version to sign (reason "costs"): what
binds the parties is the copy in the version's document (`cost_pools`), with each maker's
weight and share, frozen by the signatures' hash. Until everyone signs, the version in force
(and its pools) stays the one invoiced.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import Agreement, Allocation, CostPool, SalesRecord
from app.models.types import utcnow
from services import audit, cost_sharing, money, permissions
from services.audit import Actor
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.money import MAX_FEN

SUBJECT = "agreement"
MAX_LINES = 50


# --- what goes into the document ------------------------------------------------------------

def latest_parc(manufacturer_id: int, city_code: str) -> int:
    """The maker's parc in the city in the latest year it reported one (0 when none)."""
    return int(db.session.execute(
        select(SalesRecord.parc).where(SalesRecord.manufacturer_id == manufacturer_id,
                                       SalesRecord.division_code == city_code,
                                       SalesRecord.parc.is_not(None))
        .order_by(SalesRecord.year.desc()).limit(1)).scalar() or 0)


def parties_of(agreement: Agreement, held: list[Allocation]) -> list[dict]:
    tonnes: dict[int, float] = {}
    for allocation in held:
        tonnes[allocation.manufacturer_id] = tonnes.get(allocation.manufacturer_id, 0) \
            + allocation.tonnes_per_year
    return [{"id": maker, "tonnes_per_year": t,
             "parc": latest_parc(maker, agreement.outlet.city_code)}
            for maker, t in sorted(tonnes.items())]


def _as_input(pool: CostPool) -> dict:
    return {"id": pool.id, "name": pool.name, "kind": pool.kind, "rule": pool.rule,
            "lines": pool.lines, "custom_weights": pool.custom_weights}


def pools_of(agreement_id: int) -> list[CostPool]:
    return list(db.session.execute(select(CostPool).where(CostPool.agreement_id == agreement_id)
                                   .order_by(CostPool.id)).scalars())


def document_part(agreement: Agreement, held: list[Allocation]) -> list[dict]:
    """The pools and their split among the makers of `held`, for the version's document."""
    pools = pools_of(agreement.id)
    if not pools:
        return []
    return cost_sharing.document_part([_as_input(p) for p in pools], parties_of(agreement, held))


def preview(actor: Actor, agreement_id: int) -> list[dict]:
    """The split as it would be signed now (the parties see it before signing)."""
    from services import agreements

    agreement = agreements.get_visible(actor, agreement_id)
    held = [a for a in agreement.allocations if a.status in agreements.HOLDS_CAPACITY]
    return document_part(agreement, held)


# --- changes --------------------------------------------------------------------------------

def _clean(data: dict, makers: set[int]) -> dict:
    errors: dict[str, list] = {}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["name"] = [_l("is required (at most 200 characters)")]
    kind = data.get("kind")
    if kind not in cost_sharing.KINDS:
        errors["kind"] = [_l("must be one of %(allowed)s", allowed=", ".join(cost_sharing.KINDS))]
    rule = data.get("rule")
    if rule not in cost_sharing.RULES:
        errors["rule"] = [_l("must be one of %(allowed)s", allowed=", ".join(cost_sharing.RULES))]
    lines = data.get("lines")
    clean_lines = []
    if not isinstance(lines, list) or not lines or len(lines) > MAX_LINES:
        errors["lines"] = [_l("give 1 to %(n)s cost lines", n=MAX_LINES)]
        lines = []
    for i, line in enumerate(lines):
        where = f"lines.{i}"
        if not isinstance(line, dict):
            errors[where] = [_l("must be an object")]
            continue
        description = str(line.get("description") or "").strip()
        amount = line.get("amount_fen")
        item = line.get("checklist_item")
        if not description or len(description) > 300:
            errors[f"{where}.description"] = [_l("is required (at most 300 characters)")]
        if not money.is_whole_fen(amount, most=MAX_FEN):
            errors[f"{where}.amount_fen"] = [_l("must be a positive whole number of fen")]
        if item is not None and (isinstance(item, bool) or not isinstance(item, int)
                                 or not 1 <= item <= 24):
            errors[f"{where}.checklist_item"] = [_l("must be a checklist item from 1 to 24")]
        if kind == cost_sharing.ONE_OFF and item is None:
            errors[f"{where}.checklist_item"] = [_l("name the checklist item this cost fixes")]
        clean_lines.append({"description": description, "amount_fen": amount,
                            "checklist_item": item})
    weights = None
    if rule == cost_sharing.CUSTOM:
        raw = data.get("custom_weights")
        try:
            weights = {str(int(k)): float(v) for k, v in (raw or {}).items()}
        except (TypeError, ValueError, AttributeError):
            weights = None
        if (not weights or any(v < 0 or v != v or v == float("inf") for v in weights.values())
                or not any(v > 0 for v in weights.values())):
            errors["custom_weights"] = [_l("give each maker a weight of 0 or more, one above 0")]
        elif not {int(k) for k in weights} <= makers:
            errors["custom_weights"] = [_l("only manufacturers party to the agreement")]
    if errors:
        raise ValidationFailed(_l("The cost pool is not valid."), errors)
    return {"name": name, "kind": kind, "rule": rule, "lines": clean_lines,
            "custom_weights": weights}


def _open_agreement(actor: Actor, agreement_id: int):
    from services import agreements

    agreement = agreements.get_visible(actor, agreement_id, for_update=True)
    if agreement.status not in agreements.OPEN:
        raise Conflict(_l("The agreement is no longer open; its costs cannot change."))
    party = next((p for p in agreements._parties(agreement)
                  if permissions.membership_of(actor.user, p)), None)
    if party is None:
        raise PermissionDenied(_l("Only the parties to the agreement propose its costs."))
    organization = next(m.organization for m in actor.user.memberships
                        if m.organization_id == party)
    permissions.require(actor.user, "billing.manage", organization)
    makers = {a.manufacturer_id for a in agreement.allocations
              if a.status in agreements.HOLDS_CAPACITY}
    return agreement, makers


def _reissue(actor: Actor, agreement: Agreement, action: str, pool: CostPool | dict,
             now: datetime) -> None:
    from services import agreements

    data = pool if isinstance(pool, dict) else {"pool_id": pool.id, **_as_input(pool)}
    audit.record(actor, f"agreement.cost_pool_{action}", SUBJECT, agreement.id,
                 organization_id=agreement.provider_id, data=data)
    agreements._issue_version(actor, agreement, "costs", now)


def create(actor: Actor, agreement_id: int, data: dict, now: datetime | None = None) -> CostPool:
    now = now or utcnow()
    agreement, makers = _open_agreement(actor, agreement_id)
    pool = CostPool(agreement_id=agreement.id, created_at=now, **_clean(data, makers))
    db.session.add(pool)
    db.session.flush()
    _reissue(actor, agreement, "added", pool, now)
    return pool


def _get(agreement_id: int, pool_id: int) -> CostPool:
    pool = db.session.execute(select(CostPool).where(
        CostPool.id == pool_id, CostPool.agreement_id == agreement_id)).scalar_one_or_none()
    if pool is None:
        raise NotFound("cost pool", pool_id)
    return pool


def update(actor: Actor, agreement_id: int, pool_id: int, data: dict,
           now: datetime | None = None) -> CostPool:
    now = now or utcnow()
    agreement, makers = _open_agreement(actor, agreement_id)
    pool = _get(agreement.id, pool_id)
    for key, value in _clean({**_as_input(pool), **data}, makers).items():
        setattr(pool, key, value)
    db.session.flush()
    _reissue(actor, agreement, "changed", pool, now)
    return pool


def delete(actor: Actor, agreement_id: int, pool_id: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    agreement, _makers = _open_agreement(actor, agreement_id)
    pool = _get(agreement.id, pool_id)
    data = {"pool_id": pool.id, **_as_input(pool)}
    db.session.delete(pool)
    db.session.flush()
    _reissue(actor, agreement, "removed", data, now)
