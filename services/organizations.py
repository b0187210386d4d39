"""Organizations: profiles, the caller-scoped lookups, and operator verification (KYC)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models import Membership, Organization, OrgKind, ProviderType, VerificationStatus
from app.models.types import utcnow
from services import audit, credit_code, divisions, permissions
from services.audit import Actor
from services.errors import Conflict, NotFound, ValidationFailed

SIGNUP_KINDS = (OrgKind.MANUFACTURER, OrgKind.PROVIDER, OrgKind.CERTIFIER)
EDITABLE_FIELDS = ("legal_name", "english_name", "address", "division_code", "provider_type",
                   "contact_name", "contact_phone", "contact_email")
_MAX_LENGTHS = {"legal_name": 200, "english_name": 200, "address": 300, "contact_name": 100,
                "contact_phone": 40, "contact_email": 254}


def check_profile(data: dict, *, creating: bool,
                  current: Organization | None = None) -> tuple[dict, dict]:
    """Validate profile fields; returns (clean fields, {field: [messages]})."""
    errors: dict[str, list] = {}
    clean: dict = {}

    def text_field(name: str, required: bool) -> None:
        if name not in data and not creating:
            return
        value = (data.get(name) or "").strip()
        if required and not value:
            errors[name] = [_l("is required")]
        elif len(value) > _MAX_LENGTHS[name]:
            errors[name] = [_l("at most %(n)s characters", n=_MAX_LENGTHS[name])]
        else:
            clean[name] = value or None

    if creating:
        kind = data.get("kind")
        if kind not in {k.value for k in SIGNUP_KINDS}:
            errors["kind"] = [_l("must be one of manufacturer, provider, certifier")]
        else:
            clean["kind"] = OrgKind(kind)
        code = credit_code.check(data.get("credit_code", ""))
        if not code.ok:
            errors["credit_code"] = [code.reason]
        elif _credit_code_taken(code.normalized):
            errors["credit_code"] = [_l("is already registered on OutletPool")]
        else:
            clean["credit_code"] = code.normalized
    kind = clean.get("kind") or (current.kind if current else None)

    text_field("legal_name", required=True)
    text_field("english_name", required=False)
    text_field("address", required=True)
    for name in ("contact_name", "contact_phone", "contact_email"):
        text_field(name, required=False)

    if "provider_type" in data or creating:
        provider_type = data.get("provider_type")
        if kind is OrgKind.PROVIDER:
            if provider_type not in {p.value for p in ProviderType}:
                errors["provider_type"] = [
                    _l("must be one of utilization, logistics, dismantler, manufacturer")]
            else:
                clean["provider_type"] = ProviderType(provider_type)
        elif provider_type:
            errors["provider_type"] = [_l("only site providers have a provider type")]

    # The address must land on an administrative division: given, or resolved from the text.
    if "address" in clean or data.get("division_code"):
        division = None
        if data.get("division_code"):
            division = divisions.get(str(data["division_code"]))
            if division is None:
                errors["division_code"] = [_l("is not a known 6-digit division code")]
        elif clean.get("address"):
            resolution = divisions.resolve(clean["address"])
            division = resolution.best if resolution else None
            if division is None:
                errors["address"] = [_l("could not be resolved to a city or district; "
                                        "write the province and city, e.g. 广东省深圳市…")]
        if division is not None:
            clean["division_code"] = division.code
    return clean, errors


def _credit_code_taken(code: str) -> bool:
    return db.session.execute(
        select(func.count()).select_from(Organization).where(Organization.credit_code == code)
    ).scalar_one() > 0


def of_user(user) -> list[Organization]:
    """The organizations a user belongs to."""
    return list(db.session.execute(
        select(Organization).join(Membership)
        .where(Membership.user_id == user.id).order_by(Organization.id)
    ).scalars())


def get_visible(actor: Actor, organization_id: int) -> Organization:
    """An organization the actor may see: its own, or any if the actor is an operator.

    Scoped in the query itself, so another organization's row is never loaded for a member.
    """
    query = select(Organization).where(Organization.id == organization_id)
    if permissions.operator_membership(actor.user) is None:
        query = query.join(Membership).where(Membership.user_id == actor.user_id)
    organization = db.session.execute(query).unique().scalar_one_or_none()
    if organization is None:
        raise NotFound("organization", organization_id)
    return organization


def get_own(actor: Actor, organization_id: int) -> Organization:
    """An organization the actor is a member of (operators get no exception here)."""
    organization = db.session.execute(
        select(Organization).join(Membership).where(
            Organization.id == organization_id, Membership.user_id == actor.user_id)
    ).unique().scalar_one_or_none()
    if organization is None:
        raise NotFound("organization", organization_id)
    return organization


def update_profile(actor: Actor, organization: Organization, data: dict) -> Organization:
    permissions.require(actor.user, "organization.edit", organization)
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(_l("Some fields cannot be changed."),
                               {name: [_l("cannot be changed here")] for name in sorted(unknown)})
    clean, errors = check_profile(data, creating=False, current=organization)
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    changed = {}
    for name, value in clean.items():
        if getattr(organization, name) != value:
            changed[name] = str(value.value if hasattr(value, "value") else value)
            setattr(organization, name, value)
    if changed:
        db.session.flush()
        audit.record(actor, "organization.updated", "organization", organization.id,
                     organization_id=organization.id, data={"changed": changed})
    return organization


def review_queue(actor: Actor, status: str | None = "pending", *, kind: str | None = None,
                 page: int = 1, per_page: int = 50) -> tuple[list[Organization], int]:
    """Operators: organizations by verification status, oldest first."""
    permissions.require_operator(actor.user, "organizations.review")
    query = select(Organization)
    if status:
        try:
            query = query.where(Organization.verification_status == VerificationStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."),
                                   {"status": [_l("must be pending, verified or rejected")]}) from exc
    if kind:
        try:
            query = query.where(Organization.kind == OrgKind(kind))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown kind."), {"kind": [_l("is not a known kind")]}) from exc
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(
        query.order_by(Organization.created_at, Organization.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return list(items), total


def set_verification(actor: Actor, organization_id: int, status: str,
                     reason: str | None = None) -> Organization:
    """Operators verify or reject an organization; a rejection must say why."""
    permissions.require_operator(actor.user, "organizations.verify")
    errors = {}
    if status not in (VerificationStatus.VERIFIED.value, VerificationStatus.REJECTED.value):
        errors["status"] = [_l("must be verified or rejected")]
    reason = (reason or "").strip() or None
    if status == VerificationStatus.REJECTED.value and not reason:
        errors["reason"] = [_l("is required when rejecting: tell the organization what to fix")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("organization", organization_id)
    if organization.kind is OrgKind.OPERATOR:
        raise Conflict(_l("Operator organizations are verified when they are created."))
    previous = organization.verification_status
    organization.verification_status = VerificationStatus(status)
    organization.verification_reason = reason
    organization.verified_at = utcnow() if status == VerificationStatus.VERIFIED.value else None
    db.session.flush()
    audit.record(actor, f"organization.{status}", "organization", organization.id,
                 organization_id=organization.id,
                 data={"from": previous.value, "to": status, "reason": reason})
    return organization
