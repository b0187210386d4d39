"""Certification bodies: their accreditation, their standing to act, and the relationships
they declare, which bar them from auditing those parties (conflict of interest).

A certifier may act only while its organization is verified and its accreditation is
verified by an operator and not past its end date. Standing and conflict of interest are
pure rules (`standing_problem`, `conflict_of_interest`) with thin database wrappers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Accreditation,
    DeclaredRelationship,
    Organization,
    OrgKind,
    VerificationStatus,
)
from app.models.types import utcnow
from services import audit, credit_code, notifications, permissions
from services.audit import Actor
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.text_fields import clean_text

# Audits, deadlines and accreditation end dates are Chinese calendar days (no DST in China).
CHINA = timezone(timedelta(hours=8))
ACCREDITATION_LIMITS = {"number": 60, "accrediting_body": 200}
NATURE_LIMIT = 200


def china_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(CHINA).date()


# --- pure rules -----------------------------------------------------------------------------

STANDING_MESSAGES = {
    "not_certifier": _l("only certification bodies can do this"),
    "organization_not_verified": _l("the certification body must be verified by an operator first"),
    "no_accreditation": _l("the certification body has not recorded its accreditation"),
    "accreditation_not_verified": _l("the certification body's accreditation is not verified "
                                     "by an operator yet"),
    "accreditation_expired": _l("the certification body's accreditation has expired"),
}
CONFLICT_MESSAGES = {
    "own_organization": _l("a certification body may not audit its own outlets"),
    "declared_relationship": _l("the certification body has declared a relationship with "
                                "this provider (conflict of interest)"),
}


def standing_problem(*, is_certifier: bool, organization_verified: bool,
                     accreditation_status: VerificationStatus | None,
                     accreditation_valid_until: date | None, today: date) -> str | None:
    """Why a certification body may not act today, or None when it may."""
    if not is_certifier:
        return "not_certifier"
    if not organization_verified:
        return "organization_not_verified"
    if accreditation_status is None:
        return "no_accreditation"
    if accreditation_status is not VerificationStatus.VERIFIED:
        return "accreditation_not_verified"
    if accreditation_valid_until is None or accreditation_valid_until < today:
        return "accreditation_expired"
    return None


def conflict_of_interest(certifier_id: int, provider_id: int,
                         related_organization_ids: set[int] | frozenset[int]) -> str | None:
    """Why this certifier may not audit this provider's outlets, or None."""
    if certifier_id == provider_id:
        return "own_organization"
    if provider_id in related_organization_ids:
        return "declared_relationship"
    return None


def check_accreditation(data: dict, today: date) -> tuple[dict, dict]:
    errors: dict[str, list] = {}
    clean: dict = {}
    for name, limit in ACCREDITATION_LIMITS.items():
        if (value := clean_text(data.get(name), name, errors, limit=limit)) is not None:
            clean[name] = value
    valid_until = data.get("valid_until")
    if isinstance(valid_until, str):
        try:
            valid_until = date.fromisoformat(valid_until)
        except ValueError:
            valid_until = None
    if isinstance(valid_until, datetime) or not isinstance(valid_until, date):
        errors["valid_until"] = [_l("must be a date (YYYY-MM-DD)")]
    elif valid_until < today:
        errors["valid_until"] = [_l("is in the past: an expired accreditation cannot be recorded")]
    else:
        clean["valid_until"] = valid_until
    return clean, errors


# --- standing -------------------------------------------------------------------------------

def accreditation_of(organization_id: int) -> Accreditation | None:
    return db.session.execute(select(Accreditation).where(
        Accreditation.organization_id == organization_id)).scalar_one_or_none()


def standing_of(organization: Organization, today: date) -> str | None:
    accreditation = accreditation_of(organization.id)
    return standing_problem(
        is_certifier=organization.kind is OrgKind.CERTIFIER,
        organization_verified=organization.is_verified,
        accreditation_status=accreditation.status if accreditation else None,
        accreditation_valid_until=accreditation.valid_until if accreditation else None,
        today=today)


def require_standing(organization: Organization, today: date) -> None:
    problem = standing_of(organization, today)
    if problem is not None:
        raise PermissionDenied(STANDING_MESSAGES[problem])


def accredited(today: date) -> list[tuple[Organization, Accreditation]]:
    """Certification bodies a provider may choose today, by name."""
    rows = db.session.execute(
        select(Organization, Accreditation)
        .join(Accreditation, Accreditation.organization_id == Organization.id)
        .where(Organization.kind == OrgKind.CERTIFIER,
               Organization.verification_status == VerificationStatus.VERIFIED,
               Accreditation.status == VerificationStatus.VERIFIED,
               Accreditation.valid_until >= today)
        .order_by(Organization.legal_name)).unique().all()
    return [(org, accreditation) for org, accreditation in rows]


def related_organization_ids(certifier_id: int) -> set[int]:
    return set(db.session.execute(
        select(DeclaredRelationship.related_organization_id)
        .where(DeclaredRelationship.certifier_id == certifier_id)).scalars())


def conflict_between(certifier_id: int, provider_id: int) -> str | None:
    return conflict_of_interest(certifier_id, provider_id, related_organization_ids(certifier_id))


# --- accreditation --------------------------------------------------------------------------

def _require_certifier_manager(actor: Actor, organization: Organization) -> None:
    permissions.require(actor.user, "organization.edit", organization)
    if organization.kind is not OrgKind.CERTIFIER:
        raise PermissionDenied(STANDING_MESSAGES["not_certifier"])


def record_accreditation(actor: Actor, organization: Organization, data: dict, *,
                         today: date | None = None) -> Accreditation:
    """Record or change the accreditation; any change waits for an operator again."""
    _require_certifier_manager(actor, organization)
    clean, errors = check_accreditation(data, today or china_today())
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    accreditation = accreditation_of(organization.id)
    if accreditation is None:
        accreditation = Accreditation(organization_id=organization.id, **clean)
        db.session.add(accreditation)
        changed = {k: str(v) for k, v in clean.items()}
    else:
        changed = {k: str(v) for k, v in clean.items() if getattr(accreditation, k) != v}
        if not changed:
            return accreditation
        for name, value in clean.items():
            setattr(accreditation, name, value)
    accreditation.status = VerificationStatus.PENDING
    accreditation.reason = None
    accreditation.verified_at = None
    db.session.flush()
    audit.record(actor, "accreditation.recorded", "accreditation", accreditation.id,
                 organization_id=organization.id, data={"changed": changed})
    return accreditation


def accreditation_queue(actor: Actor, status: str | None = "pending"
                        ) -> list[tuple[Accreditation, Organization]]:
    """Operators: accreditations by status, oldest change first."""
    permissions.require_operator(actor.user, "organizations.review")
    query = select(Accreditation, Organization).join(
        Organization, Organization.id == Accreditation.organization_id)
    if status:
        try:
            query = query.where(Accreditation.status == VerificationStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."),
                                   {"status": [_l("must be pending, verified or rejected")]}) from exc
    rows = db.session.execute(query.order_by(Accreditation.updated_at, Accreditation.id)).unique()
    return [(accreditation, org) for accreditation, org in rows]


def set_accreditation_verification(actor: Actor, organization_id: int, status: str,
                                   reason: str | None = None) -> Accreditation:
    """Operators verify an accreditation (checked against the accrediting body's register)
    or reject it with a reason."""
    operator = permissions.require_operator(actor.user, "organizations.verify")
    errors = {}
    if status not in (VerificationStatus.VERIFIED.value, VerificationStatus.REJECTED.value):
        errors["status"] = [_l("must be verified or rejected")]
    reason = (reason or "").strip() or None
    if reason and len(reason) > 2000:
        errors["reason"] = [_l("at most %(n)s characters", n=2000)]
    if status == VerificationStatus.REJECTED.value and not reason:
        errors["reason"] = [_l("is required when rejecting: tell the organization what to fix")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    accreditation = accreditation_of(organization_id)
    if accreditation is None:
        raise NotFound("accreditation", organization_id)
    previous = accreditation.status
    accreditation.status = VerificationStatus(status)
    accreditation.reason = reason
    accreditation.verified_at = utcnow() if status == VerificationStatus.VERIFIED.value else None
    db.session.flush()
    audit.record(actor, f"accreditation.{status}", "accreditation", accreditation.id,
                 organization_id=organization_id,
                 data={"from": previous.value, "to": status, "reason": reason,
                       "operator_organization_id": operator.id})
    notifications.notify([organization_id], f"accreditation.{status}",
                         {"number": accreditation.number, "reason": reason or ""},
                         link="/certifier/accreditation")
    return accreditation


# --- declared relationships -----------------------------------------------------------------

def relationships_of(actor: Actor, organization: Organization) -> list[DeclaredRelationship]:
    permissions.require(actor.user, "organization.view", organization)
    return list(db.session.execute(
        select(DeclaredRelationship).where(DeclaredRelationship.certifier_id == organization.id)
        .order_by(DeclaredRelationship.declared_at, DeclaredRelationship.id)).scalars())


def organizations_by_id(ids) -> dict[int, Organization]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {o.id: o for o in db.session.execute(
        select(Organization).where(Organization.id.in_(ids))).unique().scalars()}


def declare_relationship(actor: Actor, organization: Organization,
                         data: dict) -> DeclaredRelationship:
    """Declare a tie (shareholding, consulting, ...) with another organization, named by its
    credit code or id; this certifier may then not audit that organization's outlets."""
    _require_certifier_manager(actor, organization)
    errors: dict[str, list] = {}
    nature = clean_text(data.get("nature") or None, "nature", errors, limit=NATURE_LIMIT,
                        message=_l("is required: say what ties you to this organization"))
    related = None
    if data.get("credit_code"):
        checked = credit_code.check(str(data["credit_code"]))
        if not checked.ok:
            errors["credit_code"] = [checked.reason]
        else:
            related = db.session.execute(select(Organization).where(
                Organization.credit_code == checked.normalized)).unique().scalar_one_or_none()
            if related is None:
                errors["credit_code"] = [_l("no organization with this credit code is "
                                            "registered on OutletPool")]
    elif data.get("related_organization_id") is not None:
        related = db.session.get(Organization, data["related_organization_id"])
        if related is None:
            errors["related_organization_id"] = [_l("is not a known organization")]
    else:
        errors["credit_code"] = [_l("is required")]
    if related is not None and related.id == organization.id:
        errors["credit_code"] = [_l("your own organization is always excluded")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    if related.id in related_organization_ids(organization.id):
        raise Conflict(_l("A relationship with %(org)s is already declared.",
                          org=related.legal_name))
    relationship = DeclaredRelationship(certifier_id=organization.id,
                                        related_organization_id=related.id, nature=nature)
    db.session.add(relationship)
    db.session.flush()
    audit.record(actor, "relationship.declared", "declared_relationship", relationship.id,
                 organization_id=organization.id,
                 data={"related_organization_id": related.id, "nature": nature})
    return relationship


def remove_relationship(actor: Actor, organization: Organization, relationship_id: int) -> None:
    _require_certifier_manager(actor, organization)
    relationship = db.session.execute(select(DeclaredRelationship).where(
        DeclaredRelationship.id == relationship_id,
        DeclaredRelationship.certifier_id == organization.id)).scalar_one_or_none()
    if relationship is None:
        raise NotFound("relationship", relationship_id)
    data = {"related_organization_id": relationship.related_organization_id,
            "nature": relationship.nature}
    db.session.delete(relationship)
    db.session.flush()
    audit.record(actor, "relationship.removed", "declared_relationship", relationship_id,
                 organization_id=organization.id, data=data)
