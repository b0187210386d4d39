"""Joint filings of shared outlets: the outlet, its provider and every maker holding capacity
under the agreement in force, confirmed by each party in the platform.

A joint filing is derived from the agreement version in force and the outlet's filed data;
`ensure_many` keeps one current joint filing per active agreement (a new one, superseding the
old, whenever that text changes: a maker joins or leaves, the outlet moves). Each party (an
owner or admin of the provider or of a maker, after re-entering the password) confirms the
exact text whose SHA-256 it read. Until every party has, each maker's filing marks the outlet
unconfirmed. Makers' filing generation calls `ensure_many` for the outlets it files; no hook
in contracting is needed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.extensions import db
from app.models import (
    Agreement,
    AgreementStatus,
    Allocation,
    AllocationStatus,
    JointFiling,
    JointFilingConfirmation,
)
from app.models.types import utcnow
from services import audit, notifications, passwords, permissions
from services.audit import Actor
from services.errors import Conflict, NotFound, PermissionDenied
from services.filing_documents import canonical, sha256

SUBJECT = "joint_filing"


def _party(org) -> dict:
    return {"id": org.id, "legal_name": org.legal_name, "credit_code": org.credit_code}


def document_for(agreement: Agreement, version) -> dict:
    """The joint filing's text: plain values only, so its hash is reproducible."""
    from services import filings

    outlet = agreement.outlet
    names = filings.place_names(outlet)
    in_version = {a["allocation_id"] for a in version.document.get("allocations", [])}
    labels = filings.layout()["labels"]
    makers = [{**_party(a.manufacturer), "allocation_id": a.id, "form": a.form.value,
               "establishment": labels["establishment"].get(a.form.value, a.form.value),
               "tonnes_per_year": a.tonnes_per_year, "start_date": a.start_date.isoformat(),
               "end_date": a.ends_on.isoformat()}
              for a in agreement.allocations
              if a.id in in_version and a.status is AllocationStatus.ACTIVE]
    return {
        "agreement": {"id": agreement.id, "number": agreement.number, "version": version.version},
        "outlet": {"id": outlet.id, "name": outlet.name, **names, "address": outlet.address,
                   "type": labels["outlet_type"].get(outlet.type.value, outlet.type.value),
                   "storage_area_m2": outlet.storage_area_m2,
                   "storage_capacity_t": outlet.max_stored_weight_t},
        "provider": _party(agreement.provider),
        "makers": makers,
    }


def party_ids(document: dict) -> list[int]:
    return [document["provider"]["id"], *[m["id"] for m in document["makers"]]]


def is_confirmed(joint: JointFiling) -> bool:
    confirmed = {c.organization_id for c in joint.confirmations}
    return set(joint.party_ids) <= confirmed


def link_for(joint: JointFiling) -> str:
    return f"/filings/joint/{joint.id}"


def ensure_many(agreements: list[Agreement], now: datetime | None = None) -> dict[int, JointFiling]:
    """The current joint filing of each active agreement, created (and the older one
    superseded) where the text changed. Each party hears once per call how many new joint
    filings await its confirmation."""
    from services import agreements as agreement_service

    now = now or utcnow()
    ids = [a.id for a in agreements]
    existing: dict[int, list[JointFiling]] = defaultdict(list)
    for start in range(0, len(ids), 900):
        for joint in db.session.execute(select(JointFiling).where(
                JointFiling.agreement_id.in_(ids[start:start + 900]))).scalars():
            existing[joint.agreement_id].append(joint)
    current: dict[int, JointFiling] = {}
    created: dict[int, int] = defaultdict(int)
    for agreement in agreements:
        version = agreement_service.version_in_force(agreement)
        if agreement.status is not AgreementStatus.ACTIVE or version is None:
            continue
        document = document_for(agreement, version)
        if not document["makers"]:
            continue
        digest = sha256(canonical(document))
        match = None
        for joint in existing[agreement.id]:
            if joint.document_sha256 == digest:
                match = joint
            elif joint.superseded_at is None:
                joint.superseded_at = now
        if match is None:
            match = JointFiling(agreement_id=agreement.id, agreement_version_id=version.id,
                                outlet_id=agreement.outlet_id, provider_id=agreement.provider_id,
                                party_ids=party_ids(document), document=document,
                                document_sha256=digest, created_at=now)
            db.session.add(match)
            for party in match.party_ids:
                created[party] += 1
        else:
            match.superseded_at = None  # the text came back to one already confirmed
        current[agreement.id] = match
    db.session.flush()
    for organization_id, count in created.items():
        notifications.notify([organization_id], "joint_filing.to_confirm", {"count": count},
                             link="/filings/joint", roles=permissions.MANAGERS)
    return current


def _visible(actor: Actor):
    query = select(JointFiling)
    if permissions.operator_membership(actor.user) is not None:
        return query
    ids = permissions.member_org_ids(actor)
    return query.where(or_(JointFiling.provider_id.in_(ids), JointFiling.agreement_id.in_(
        select(Allocation.agreement_id).where(Allocation.manufacturer_id.in_(ids)))))


def list_for(actor: Actor, *, awaiting_only: bool = False) -> list[dict]:
    """Current joint filings the caller's organizations are party to, each with whether it is
    confirmed and whether the caller's organization still has to confirm it."""
    ids = set(permissions.member_org_ids(actor))
    rows = db.session.execute(_visible(actor).where(JointFiling.superseded_at.is_(None))
                              .order_by(JointFiling.created_at.desc(), JointFiling.id.desc())
                              ).scalars().all()
    out = []
    for joint in rows:
        if ids and not (ids & set(joint.party_ids)) and permissions.operator_membership(actor.user) is None:
            continue
        pending = pending_party(actor, joint)
        if awaiting_only and pending is None:
            continue
        out.append(view(joint, pending_for=pending))
    return out


def get_visible(actor: Actor, joint_id: int) -> JointFiling:
    joint = db.session.execute(_visible(actor).where(JointFiling.id == joint_id)).scalar_one_or_none()
    if joint is None:
        raise NotFound("joint filing", joint_id)
    return joint


def pending_party(actor: Actor, joint: JointFiling) -> int | None:
    """The caller's organization that is a party and has not confirmed yet, if any."""
    confirmed = {c.organization_id for c in joint.confirmations}
    for party in joint.party_ids:
        if party not in confirmed and permissions.membership_of(actor.user, party):
            return party
    return None


def view(joint: JointFiling, *, pending_for: int | None = None) -> dict:
    confirmed = {c.organization_id: c for c in joint.confirmations}
    document = joint.document
    parties = [{**document["provider"], "role": "provider"},
               *[{**m, "role": "manufacturer"} for m in document["makers"]]]
    lines = [{**p, "confirmed": p["id"] in confirmed,
              "confirmed_at": confirmed[p["id"]].confirmed_at if p["id"] in confirmed else None,
              "confirmed_by": confirmed[p["id"]].confirmer_name if p["id"] in confirmed else None}
             for p in parties]
    return {"id": joint.id, "agreement_id": joint.agreement_id, "outlet_id": joint.outlet_id,
            "document": document, "document_sha256": joint.document_sha256,
            "created_at": joint.created_at, "superseded": joint.superseded_at is not None,
            "confirmed": is_confirmed(joint), "confirmed_at": joint.confirmed_at,
            "parties": lines, "awaiting_my_confirmation": pending_for is not None}


def confirm(actor: Actor, joint_id: int, *, password: str | None, document_sha256: str | None,
            now: datetime | None = None) -> JointFilingConfirmation:
    """The caller confirms the joint filing for its organization, after re-entering the
    password, on the text whose hash it sends."""
    now = now or utcnow()
    audit.serialize_writes()
    joint = get_visible(actor, joint_id)
    if joint.superseded_at is not None:
        raise Conflict(_l("This joint filing was replaced by a newer one; confirm that one."))
    party = pending_party(actor, joint)
    if party is None:
        if any(permissions.membership_of(actor.user, p) for p in joint.party_ids):
            raise Conflict(_l("Your organization has already confirmed this joint filing."))
        raise PermissionDenied(_l("Only the parties to the joint filing confirm it."))
    organization = next(m.organization for m in actor.user.memberships if m.organization_id == party)
    permissions.require(actor.user, "agreements.sign", organization)
    passwords.require_reentered(actor.user, password, _l("Re-enter your password to confirm."))
    if (document_sha256 or "").strip().lower() != joint.document_sha256:
        raise Conflict(_l("The text you read is not the joint filing awaiting confirmation; "
                          "read it again."),
                       {"document_sha256": [_l("does not match the joint filing")]})
    confirmation = JointFilingConfirmation(
        joint_filing=joint, organization_id=party, user_id=actor.user_id,
        confirmer_name=f"{actor.user.name} <{actor.user.email}>"[:200], confirmed_at=now,
        ip_address=actor.ip, document_sha256=joint.document_sha256)
    db.session.add(confirmation)
    db.session.flush()
    db.session.refresh(joint)
    audit.record(actor, "joint_filing.confirmed", SUBJECT, joint.id, organization_id=party,
                 data={"sha256": joint.document_sha256, "agreement_id": joint.agreement_id})
    if is_confirmed(joint):
        joint.confirmed_at = now
        db.session.flush()
        notifications.notify(joint.party_ids, "joint_filing.confirmed",
                             {"outlet": joint.document["outlet"]["name"]}, link=link_for(joint))
    return confirmation

