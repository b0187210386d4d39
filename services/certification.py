"""The certification workflow: a provider applies for a listed outlet, a certification body
accepts or declines, audits on site item by item, the provider answers each nonconformity,
the certifier verifies the answers and decides.

Every move is one row of TRANSITIONS: (status, action) -> the status it leads to, which side
takes it and the permission it needs. A certifier's moves (except declining) also need its
standing (verified organization, verified and current accreditation) and independence from
the provider (no conflict of interest), checked here on every step, not only in the UI.
Every step is audited, sets `last_action_at`, clears an overdue flag and tells the other side.
"""

from __future__ import annotations

import enum
import importlib.util
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.extensions import db
from app.models import (
    ApplicationPurpose,
    ApplicationStatus,
    AuditEvent,
    Certificate,
    CertificateStatus,
    CertificationApplication,
    CertificationScheme,
    Evidence,
    Finding,
    FindingGrade,
    Membership,
    Organization,
    OrgKind,
    Outlet,
    OutletStatus,
)
from app.models.types import utcnow
from services import (
    audit,
    certification_schemes,
    certifiers,
    checklist,
    evidence,
    notifications,
    outlets,
    permissions,
)
from services.audit import SYSTEM, Actor
from services.certifiers import CHINA, china_today
from services.errors import Conflict, NotFound, ValidationFailed
from services.text_fields import clean_text
from services.tick import job

TEXT_LIMIT = 2000
MAX_AUDIT_LEAD_DAYS = 365
DEFAULT_RESPONSE_DAYS = 10
DEFAULT_CORRECTIVE_DAYS = 30
SUBJECT = "certification_application"


class Side(enum.StrEnum):
    PROVIDER = "provider"
    CERTIFIER = "certifier"


@dataclass(frozen=True)
class Step:
    to: ApplicationStatus
    side: Side
    permission: str
    # The certifier must be in standing (accredited) and free of conflict of interest.
    independent: bool = False


S = ApplicationStatus
_P, _C = Side.PROVIDER, Side.CERTIFIER
OPEN = (S.SUBMITTED, S.ACCEPTED, S.AUDIT_SCHEDULED, S.AUDITED)
CLOSED = (S.DECLINED, S.CERTIFIED, S.REFUSED, S.WITHDRAWN)

# (from status, action) -> Step. Anything not here is refused with 409.
TRANSITIONS: dict[tuple[ApplicationStatus | None, str], Step] = {
    (None, "apply"): Step(S.SUBMITTED, _P, "outlets.list"),
    (S.SUBMITTED, "accept"): Step(S.ACCEPTED, _C, "certification.act", independent=True),
    # Declining is how a conflicted or lapsed certifier gets out: no standing needed.
    (S.SUBMITTED, "decline"): Step(S.DECLINED, _C, "certification.act"),
    (S.ACCEPTED, "schedule_audit"): Step(S.AUDIT_SCHEDULED, _C, "certification.act", True),
    (S.AUDIT_SCHEDULED, "schedule_audit"): Step(S.AUDIT_SCHEDULED, _C, "certification.act", True),
    (S.AUDIT_SCHEDULED, "attach_audit_evidence"): Step(S.AUDIT_SCHEDULED, _C,
                                                       "certification.act", True),
    (S.AUDIT_SCHEDULED, "record_findings"): Step(S.AUDIT_SCHEDULED, _C, "certification.act", True),
    (S.AUDIT_SCHEDULED, "complete_audit"): Step(S.AUDITED, _C, "certification.act", True),
    (S.AUDIT_SCHEDULED, "refuse"): Step(S.REFUSED, _C, "certification.act", True),
    (S.AUDITED, "attach_corrective_evidence"): Step(S.AUDITED, _P, "outlets.manage"),
    (S.AUDITED, "respond"): Step(S.AUDITED, _P, "outlets.manage"),
    (S.AUDITED, "verify_finding"): Step(S.AUDITED, _C, "certification.act", True),
    (S.AUDITED, "certify"): Step(S.CERTIFIED, _C, "certification.act", True),
    (S.AUDITED, "refuse"): Step(S.REFUSED, _C, "certification.act", True),
    **{(status, "withdraw"): Step(S.WITHDRAWN, _P, "outlets.manage") for status in OPEN},
}

STATUS_LABELS = {
    S.SUBMITTED: _l("Submitted"), S.ACCEPTED: _l("Accepted"), S.DECLINED: _l("Declined"),
    S.AUDIT_SCHEDULED: _l("Audit scheduled"), S.AUDITED: _l("Audited"),
    S.CERTIFIED: _l("Certified"), S.REFUSED: _l("Refused"), S.WITHDRAWN: _l("Withdrawn"),
}
PURPOSE_LABELS = {
    ApplicationPurpose.INITIAL: _l("Initial certification"),
    ApplicationPurpose.SURVEILLANCE: _l("Surveillance audit"),
    ApplicationPurpose.FOLLOW_UP: _l("Follow-up audit (reinstatement)"),
}
GRADE_LABELS = {
    FindingGrade.CONFORMS: _l("Conforms"), FindingGrade.MINOR: _l("Minor nonconformity"),
    FindingGrade.MAJOR: _l("Major nonconformity"),
}
# A surveillance or follow-up audit is for a certificate in this status.
CERTIFICATE_FOR_PURPOSE = {
    ApplicationPurpose.SURVEILLANCE: CertificateStatus.VALID,
    ApplicationPurpose.FOLLOW_UP: CertificateStatus.SUSPENDED,
}


# --- pure rules -----------------------------------------------------------------------------

def step_for(status: ApplicationStatus | None, action: str) -> Step | None:
    return TRANSITIONS.get((status, action))


def actions_for(status: ApplicationStatus, side: Side | None) -> list[str]:
    """What the given side may do next, in table order."""
    return [action for (frm, action), step in TRANSITIONS.items()
            if frm is status and step.side is side]


def is_nonconformity(finding) -> bool:
    return finding.grade is not FindingGrade.CONFORMS


def open_nonconformities(findings) -> list:
    return [f for f in findings if is_nonconformity(f) and f.closed_at is None]


def unanswered_nonconformities(findings) -> list:
    return [f for f in open_nonconformities(findings) if f.responded_at is None]


def required_items(scheme_items: list[int], outlet_type: str,
                   applies_to: dict[int, list[str]] | None = None) -> list[int]:
    """The scheme's items that apply to this outlet type (every one when applicability is
    unknown)."""
    return sorted(n for n in set(scheme_items)
                  if applies_to is None or n not in applies_to or outlet_type in applies_to[n])


def waiting_on(status: ApplicationStatus, unanswered: int) -> Side | None:
    """Whose move it is; None once the application is closed."""
    if status is S.AUDITED and unanswered:
        return Side.PROVIDER
    if status in OPEN:
        return Side.CERTIFIER
    return None


def deadline(status: ApplicationStatus, last_action_at: datetime, *, audit_date: date | None,
             unanswered: int, response_days: int, corrective_days: int) -> datetime | None:
    """When the application counts as sitting without action.

    The provider has `corrective_days` to answer nonconformities; the certifier has
    `response_days` for each of its moves, counted for a scheduled audit from the end of
    the audit day (Chinese calendar).
    """
    side = waiting_on(status, unanswered)
    if side is None:
        return None
    if side is Side.PROVIDER:
        return last_action_at + timedelta(days=corrective_days)
    start = last_action_at
    if status is S.AUDIT_SCHEDULED and audit_date is not None:
        end_of_audit_day = datetime.combine(audit_date + timedelta(days=1), time(), CHINA)
        start = max(start, end_of_audit_day)
    return start + timedelta(days=response_days)


# --- lookups (scoped by the caller's organizations in the query) ----------------------------

def _visible(actor: Actor):
    ids = permissions.member_org_ids(actor)
    return select(CertificationApplication).where(or_(
        CertificationApplication.provider_id.in_(ids),
        CertificationApplication.certifier_id.in_(ids)))


def get_visible(actor: Actor, application_id: int, *,
                for_update: bool = False) -> CertificationApplication:
    """An application the caller's organization is a party to; 404 for anyone else's."""
    query = _visible(actor).where(CertificationApplication.id == application_id)
    if for_update:
        # Two people acting at once (two certifiers' staff certifying) queue up here.
        query = query.with_for_update().execution_options(populate_existing=True)
    application = db.session.execute(query).scalar_one_or_none()
    if application is None:
        raise NotFound("application", application_id)
    return application


def list_for(actor: Actor, organization_id: int | None = None, *,
             status: str | None = None) -> list[CertificationApplication]:
    """Applications of one of the caller's organizations (as provider or as certifier), or
    of all of them when no organization is named."""
    ids = permissions.member_org_ids(actor)
    if organization_id is not None:
        if organization_id not in ids:
            raise NotFound("organization", organization_id)
        ids = [organization_id]
    query = select(CertificationApplication).where(or_(
        CertificationApplication.provider_id.in_(ids),
        CertificationApplication.certifier_id.in_(ids)))
    if status:
        try:
            query = query.where(CertificationApplication.status == ApplicationStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."), {"status": [
                _l("must be one of %(allowed)s", allowed=", ".join(s.value for s in S))]}) from exc
    return list(db.session.execute(query.order_by(
        CertificationApplication.last_action_at.desc(), CertificationApplication.id.desc())
    ).scalars())


def side_of(actor: Actor, application: CertificationApplication) -> Side | None:
    ids = permissions.member_org_ids(actor)
    if application.certifier_id in ids:
        return Side.CERTIFIER
    if application.provider_id in ids:
        return Side.PROVIDER
    return None


def items_for(application: CertificationApplication) -> list[int]:
    applies_to = {i.number: list(i.applies_to or []) for i in checklist.items()} or None
    return required_items(application.scheme.checklist_items, application.outlet.type.value,
                          applies_to)


def deadline_of(application: CertificationApplication, *, response_days: int,
                corrective_days: int) -> datetime | None:
    return deadline(application.status, application.last_action_at,
                    audit_date=application.audit_date,
                    unanswered=len(unanswered_nonconformities(application.findings)),
                    response_days=response_days, corrective_days=corrective_days)


def history(application: CertificationApplication) -> list[AuditEvent]:
    """The application's audit trail, oldest first (the caller has already seen it)."""
    return list(db.session.execute(
        select(AuditEvent).where(AuditEvent.subject_type == SUBJECT,
                                 AuditEvent.subject_id == str(application.id))
        .order_by(AuditEvent.id)).scalars())


def certifier_standing(application: CertificationApplication, today: date) -> str | None:
    """Why the assigned certifier may not act on this application today, or None."""
    problem = certifiers.standing_of(application.certifier, today)
    if problem is not None:
        return str(certifiers.STANDING_MESSAGES[problem])
    conflict = certifiers.conflict_between(application.certifier_id, application.provider_id)
    return str(certifiers.CONFLICT_MESSAGES[conflict]) if conflict else None


def get_evidence(actor: Actor, application_id: int, evidence_id: int) -> Evidence:
    """Evidence of the application's outlet, for both parties (the certifier reviews the
    outlet's self-assessment evidence and its own audit photos)."""
    application = get_visible(actor, application_id)
    if side_of(actor, application) is Side.CERTIFIER and application.status is S.DECLINED:
        raise NotFound("evidence", evidence_id)
    item = db.session.execute(select(Evidence).where(
        Evidence.id == evidence_id, Evidence.outlet_id == application.outlet_id)
    ).scalar_one_or_none()
    if item is None:
        raise NotFound("evidence", evidence_id)
    return item


def evidence_of(application: CertificationApplication) -> list[Evidence]:
    return evidence.of_outlet(application.outlet)


# --- the steps ------------------------------------------------------------------------------

def _not_now(application: CertificationApplication) -> Conflict:
    return Conflict(_l("Not possible while the application is %(status)s.",
                       status=STATUS_LABELS[application.status]))


def _check_step(actor: Actor, application: CertificationApplication, action: str,
                today: date) -> Step:
    step = step_for(application.status, action)
    if step is None:
        raise _not_now(application)
    acting = application.certifier if step.side is Side.CERTIFIER else application.provider
    permissions.require(actor.user, step.permission, acting)
    if step.independent:
        certifiers.require_standing(application.certifier, today)
        conflict = certifiers.conflict_between(application.certifier_id, application.provider_id)
        if conflict is not None:
            raise Conflict(certifiers.CONFLICT_MESSAGES[conflict],
                           {"certifier_id": [certifiers.CONFLICT_MESSAGES[conflict]]})
    return step


def _begin(actor: Actor, application_id: int, action: str,
           now: datetime) -> tuple[CertificationApplication, Step]:
    application = get_visible(actor, application_id, for_update=True)
    return application, _check_step(actor, application, action, china_today(now))


def _params(application: CertificationApplication) -> dict:
    return {"outlet": application.outlet.name, "provider": application.provider.legal_name,
            "certifier": application.certifier.legal_name,
            "scheme": application.scheme.name_zh}


def link_for(application: CertificationApplication) -> str:
    return f"/certification/applications/{application.id}"


def _finish(actor: Actor, application: CertificationApplication, step: Step, action: str, *,
            now: datetime, data: dict | None = None, event: str | None = None,
            params: dict | None = None) -> CertificationApplication:
    previous = application.status
    application.status = step.to
    application.last_action_at = now
    application.flagged_at = None  # acting answers an overdue flag
    db.session.flush()
    acting_id = application.certifier_id if step.side is Side.CERTIFIER else application.provider_id
    audit.record(actor, f"certification.{action}", SUBJECT, application.id,
                 organization_id=acting_id,
                 data={"from": previous.value, "to": step.to.value, **(data or {})})
    if event is not None:
        other = application.provider_id if step.side is Side.CERTIFIER else application.certifier_id
        notifications.notify([other], event, {**_params(application), **(params or {})},
                             link=link_for(application))
    return application


def _text(value, name: str, errors: dict, *, required: bool, message=None) -> str | None:
    return clean_text(value, name, errors, limit=TEXT_LIMIT, required=required, message=message)


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def apply(actor: Actor, data: dict, *, now: datetime | None = None) -> CertificationApplication:
    """A provider applies for certification of one of its listed outlets.

    `data`: outlet_id, scheme_id, certifier_id, purpose (initial by default) and, for a
    surveillance or follow-up audit, certificate_id.
    """
    now = now or utcnow()
    today = china_today(now)
    outlet_id = _as_int(data.get("outlet_id"))
    if outlet_id is None:
        raise ValidationFailed(_l("Some fields need correcting."), {"outlet_id": [_l("is required")]})
    outlet = outlets.get_for_provider(actor, outlet_id)
    permissions.require(actor.user, TRANSITIONS[(None, "apply")].permission, outlet.provider)
    if outlet.status is not OutletStatus.LISTED:
        raise Conflict(_l("Only outlets listed in the pool can apply for certification."))
    errors: dict[str, list] = {}
    try:
        purpose = ApplicationPurpose(data.get("purpose") or ApplicationPurpose.INITIAL.value)
    except ValueError:
        purpose = None
        errors["purpose"] = [_l("must be one of %(allowed)s",
                                allowed=", ".join(p.value for p in ApplicationPurpose))]
    certificate = _certificate_for(purpose, data.get("certificate_id"), outlet, errors)
    scheme = _scheme_for(data.get("scheme_id"), outlet, certificate, errors)
    certifier = _certifier_for(data.get("certifier_id"), outlet, certificate, today, errors)
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    audit.serialize_writes()
    already = db.session.execute(select(CertificationApplication.id).where(
        CertificationApplication.outlet_id == outlet.id,
        CertificationApplication.status.in_(OPEN))).scalars().first()
    if already is not None:
        raise Conflict(_l("This outlet already has an open certification application (%(id)s).",
                          id=already))
    application = CertificationApplication(
        outlet_id=outlet.id, provider_id=outlet.provider_id, certifier_id=certifier.id,
        scheme_id=scheme.id, purpose=purpose, certificate_id=certificate.id if certificate else None,
        status=S.SUBMITTED, submitted_at=now, last_action_at=now)
    db.session.add(application)
    db.session.flush()
    audit.record(actor, "certification.apply", SUBJECT, application.id,
                 organization_id=outlet.provider_id,
                 data={"to": S.SUBMITTED.value, "outlet_id": outlet.id, "scheme_id": scheme.id,
                       "certifier_id": certifier.id, "purpose": purpose.value,
                       "certificate_id": application.certificate_id})
    notifications.notify([certifier.id], "application.received", _params(application),
                         link=link_for(application))
    return application


def _certificate_for(purpose, certificate_id, outlet: Outlet, errors: dict) -> Certificate | None:
    if purpose is None:
        return None
    needed = CERTIFICATE_FOR_PURPOSE.get(purpose)
    if needed is None:
        if certificate_id is not None:
            errors["certificate_id"] = [_l("only surveillance and follow-up audits name a "
                                           "certificate")]
        return None
    certificate = None
    if _as_int(certificate_id) is not None:
        certificate = db.session.execute(select(Certificate).where(
            Certificate.id == _as_int(certificate_id), Certificate.outlet_id == outlet.id)
        ).scalar_one_or_none()
    if certificate is None:
        errors["certificate_id"] = [_l("must name a certificate of this outlet")]
    elif certificate.status is not needed:
        errors["certificate_id"] = [
            _l("a surveillance audit is for a valid certificate") if needed is CertificateStatus.VALID
            else _l("a follow-up audit is for a suspended certificate")]
        return None
    return certificate


def _scheme_for(scheme_id, outlet: Outlet, certificate: Certificate | None,
                errors: dict) -> CertificationScheme | None:
    if scheme_id is None and certificate is not None:
        scheme_id = certificate.scheme_id
    scheme = db.session.get(CertificationScheme, _as_int(scheme_id)) if _as_int(
        scheme_id) is not None else None
    if scheme is None:
        errors["scheme_id"] = [_l("is not a known certification scheme")]
    elif certificate is not None and scheme.id != certificate.scheme_id:
        errors["scheme_id"] = [_l("must be the scheme of the certificate")]
    elif certificate is None and not scheme.active:
        errors["scheme_id"] = [_l("this scheme no longer takes applications")]
    elif not certification_schemes.covers(scheme, outlet.type.value):
        errors["scheme_id"] = [_l("this scheme does not cover this outlet type")]
    else:
        return scheme
    return None


def _certifier_for(certifier_id, outlet: Outlet, certificate: Certificate | None, today: date,
                   errors: dict) -> Organization | None:
    if certifier_id is None and certificate is not None:
        certifier_id = certificate.certifier_id
    certifier = db.session.get(Organization, _as_int(certifier_id)) if _as_int(
        certifier_id) is not None else None
    if certifier is None or certifier.kind is not OrgKind.CERTIFIER:
        errors["certifier_id"] = [_l("is not a certification body on OutletPool")]
        return None
    if certificate is not None and certifier.id != certificate.certifier_id:
        errors["certifier_id"] = [_l("must be the certification body that issued the certificate")]
        return None
    problem = certifiers.standing_of(certifier, today)
    if problem is not None:
        errors["certifier_id"] = [certifiers.STANDING_MESSAGES[problem]]
        return None
    conflict = certifiers.conflict_between(certifier.id, outlet.provider_id)
    if conflict is not None:
        errors["certifier_id"] = [certifiers.CONFLICT_MESSAGES[conflict]]
        return None
    return certifier


def accept(actor: Actor, application_id: int, *,
           now: datetime | None = None) -> CertificationApplication:
    now = now or utcnow()
    application, step = _begin(actor, application_id, "accept", now)
    return _finish(actor, application, step, "accept", now=now, event="application.accepted")


def decline(actor: Actor, application_id: int, reason: str | None, *,
            now: datetime | None = None) -> CertificationApplication:
    now = now or utcnow()
    application, step = _begin(actor, application_id, "decline", now)
    errors: dict = {}
    reason = _text(reason, "reason", errors, required=True,
                   message=_l("is required: tell the provider why you decline"))
    if errors:
        raise ValidationFailed(_l("Give a reason."), errors)
    application.decision_reason = reason
    application.decided_at = now
    return _finish(actor, application, step, "decline", now=now, data={"reason": reason},
                   event="application.declined", params={"reason": reason})


def withdraw(actor: Actor, application_id: int, reason: str | None = None, *,
             now: datetime | None = None) -> CertificationApplication:
    now = now or utcnow()
    application, step = _begin(actor, application_id, "withdraw", now)
    errors: dict = {}
    reason = _text(reason, "reason", errors, required=False)
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    application.decided_at = now
    return _finish(actor, application, step, "withdraw", now=now, data={"reason": reason},
                   event="application.withdrawn", params={"reason": reason or ""})


def schedule_audit(actor: Actor, application_id: int, audit_date, auditor_id, *,
                   now: datetime | None = None) -> CertificationApplication:
    """Set (or move) the on-site audit: a date from today on, and an auditor who is a member
    of the certification body."""
    now = now or utcnow()
    today = china_today(now)
    application, step = _begin(actor, application_id, "schedule_audit", now)
    errors: dict[str, list] = {}
    if isinstance(audit_date, str):
        try:
            audit_date = date.fromisoformat(audit_date)
        except ValueError:
            audit_date = None
    if isinstance(audit_date, datetime) or not isinstance(audit_date, date):
        errors["audit_date"] = [_l("must be a date (YYYY-MM-DD)")]
    elif not today <= audit_date <= today + timedelta(days=MAX_AUDIT_LEAD_DAYS):
        errors["audit_date"] = [_l("must be between today and one year ahead")]
    auditor = _as_int(auditor_id)
    is_member = auditor is not None and db.session.execute(select(Membership.id).where(
        Membership.user_id == auditor,
        Membership.organization_id == application.certifier_id)).scalar() is not None
    if not is_member:
        errors["auditor_id"] = [_l("must be a member of the certification body")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    rescheduled = application.audit_date is not None
    application.audit_date = audit_date
    application.auditor_id = auditor
    return _finish(actor, application, step, "schedule_audit", now=now,
                   data={"audit_date": audit_date.isoformat(), "auditor_id": auditor,
                         "rescheduled": rescheduled},
                   event="audit.scheduled", params={"date": audit_date.isoformat()})


def _evidence_id(value, application: CertificationApplication, name: str,
                 errors: dict) -> int | None:
    if value in (None, ""):
        return None
    evidence_id = _as_int(value)
    found = evidence_id is not None and db.session.execute(select(Evidence.id).where(
        Evidence.id == evidence_id, Evidence.outlet_id == application.outlet_id)).scalar()
    if not found:
        errors[name] = [_l("must be evidence of this outlet")]
        return None
    return evidence_id


def record_findings(actor: Actor, application_id: int, entries: list[dict], *,
                    now: datetime | None = None) -> CertificationApplication:
    """Record (or correct) findings item by item: {item_number, grade, note, evidence_id}.
    A nonconformity needs a note saying what was found."""
    now = now or utcnow()
    application, step = _begin(actor, application_id, "record_findings", now)
    if application.audit_date is None or china_today(now) < application.audit_date:
        raise Conflict(_l("Findings can be recorded from the audit date (%(date)s) on.",
                          date=application.audit_date))
    if not entries:
        raise ValidationFailed(_l("Record at least one finding."),
                               {"findings": [_l("is required")]})
    required = set(items_for(application))
    existing = {f.item_number: f for f in application.findings}
    errors: dict[str, dict] = {}
    clean: dict[int, dict] = {}
    for entry in entries:
        entry_errors: dict[str, list] = {}
        if not isinstance(entry, dict):
            errors[str(entry)] = {"item_number": [_l("must be an object")]}
            continue
        number = _as_int(entry.get("item_number"))
        key = str(entry.get("item_number"))
        if number not in required:
            entry_errors["item_number"] = [_l("is not an item audited under this scheme")]
        try:
            grade = FindingGrade(entry.get("grade"))
        except ValueError:
            grade = None
            entry_errors["grade"] = [_l("must be conforms, minor or major")]
        note = _text(entry.get("note"), "note", entry_errors,
                     required=grade not in (None, FindingGrade.CONFORMS),
                     message=_l("is required for a nonconformity: say what was found"))
        evidence_id = _evidence_id(entry.get("evidence_id"), application, "evidence_id",
                                   entry_errors)
        if entry_errors:
            errors[key] = entry_errors
        else:
            clean[number] = {"grade": grade, "note": note, "evidence_id": evidence_id}
    if errors:
        raise ValidationFailed(_l("Some findings need correcting."), {"findings": errors})
    for number, values in clean.items():
        finding = existing.get(number)
        if finding is None:
            finding = Finding(application_id=application.id, item_number=number, **values)
            db.session.add(finding)
            application.findings.append(finding)
        else:
            finding.grade, finding.note = values["grade"], values["note"]
            if values["evidence_id"] is not None:
                finding.evidence_id = values["evidence_id"]
    return _finish(actor, application, step, "record_findings", now=now,
                   data={"items": {str(n): v["grade"].value for n, v in sorted(clean.items())}})


def complete_audit(actor: Actor, application_id: int, *,
                   now: datetime | None = None) -> CertificationApplication:
    """Close the audit report once every audited item has a finding; nonconformities then
    go to the provider for corrective action."""
    now = now or utcnow()
    application, step = _begin(actor, application_id, "complete_audit", now)
    recorded = {f.item_number for f in application.findings}
    missing = [n for n in items_for(application) if n not in recorded]
    if missing:
        raise ValidationFailed(_l("Record a finding for every audited item first."),
                               {"findings": {str(n): [_l("no finding recorded")] for n in missing}})
    grades = [f.grade for f in application.findings]
    counts = {g.value: grades.count(g) for g in FindingGrade}
    nonconformities = counts["minor"] + counts["major"]
    return _finish(actor, application, step, "complete_audit", now=now, data=counts,
                   event="nonconformity.raised" if nonconformities else "audit.completed",
                   params={"count": nonconformities})


def _nonconformity(application: CertificationApplication, item_number) -> Finding:
    number = _as_int(item_number)
    finding = next((f for f in application.findings
                    if f.item_number == number and is_nonconformity(f)), None)
    if finding is None:
        raise NotFound("nonconformity on item", item_number)
    if finding.closed_at is not None:
        raise Conflict(_l("This nonconformity is already closed."))
    return finding


def respond(actor: Actor, application_id: int, item_number, corrective_action: str | None,
            evidence_id=None, *, now: datetime | None = None) -> CertificationApplication:
    """The provider answers a nonconformity: what was corrected, with evidence (required for
    a major nonconformity). An answer can be corrected until the certifier closes it."""
    now = now or utcnow()
    application, step = _begin(actor, application_id, "respond", now)
    finding = _nonconformity(application, item_number)
    errors: dict[str, list] = {}
    action_text = _text(corrective_action, "corrective_action", errors, required=True)
    evidence_ref = _evidence_id(evidence_id, application, "evidence_id", errors)
    if evidence_ref is None and "evidence_id" not in errors and finding.grade is FindingGrade.MAJOR:
        errors["evidence_id"] = [_l("is required for a major nonconformity: show the correction")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    finding.corrective_action = action_text
    finding.corrective_evidence_id = evidence_ref
    finding.responded_at = now
    return _finish(actor, application, step, "respond", now=now,
                   data={"item": finding.item_number, "evidence_id": evidence_ref},
                   event="nonconformity.answered", params={"item": finding.item_number})


def verify_finding(actor: Actor, application_id: int, item_number, outcome: str,
                   note: str | None = None, *,
                   now: datetime | None = None) -> CertificationApplication:
    """The certifier closes an answered nonconformity, or reopens it saying what is missing."""
    now = now or utcnow()
    application, step = _begin(actor, application_id, "verify_finding", now)
    finding = _nonconformity(application, item_number)
    if finding.responded_at is None:
        raise Conflict(_l("The provider has not answered this nonconformity yet."))
    errors: dict[str, list] = {}
    if outcome not in ("close", "reopen"):
        errors["outcome"] = [_l("must be close or reopen")]
    note = _text(note, "note", errors, required=outcome == "reopen",
                 message=_l("is required: tell the provider what is still missing"))
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    finding.closure_note = note
    if outcome == "close":
        finding.closed_at = now
        event = None
    else:
        finding.responded_at = None
        event = "nonconformity.reopened"
    return _finish(actor, application, step, "verify_finding", now=now,
                   data={"item": finding.item_number, "outcome": outcome, "note": note},
                   event=event, params={"item": finding.item_number, "reason": note or ""})


def decide(actor: Actor, application_id: int, decision: str, reason: str | None = None, *,
           now: datetime | None = None) -> CertificationApplication:
    """Certify (every nonconformity closed) or refuse with reasons. Certifying an initial
    application issues the certificate; a surveillance audit keeps it on schedule; a
    follow-up audit reinstates a suspended one."""
    now = now or utcnow()
    if decision not in ("certify", "refuse"):
        raise ValidationFailed(_l("Some fields need correcting."),
                               {"decision": [_l("must be certify or refuse")]})
    application, step = _begin(actor, application_id, decision, now)
    errors: dict[str, list] = {}
    reason = _text(reason, "reason", errors, required=decision == "refuse",
                   message=_l("is required: give the reasons for refusing"))
    if errors:
        raise ValidationFailed(_l("Give a reason."), errors)
    if decision == "certify":
        still_open = open_nonconformities(application.findings)
        if still_open:
            raise Conflict(
                _l("Certification needs every nonconformity closed; still open: %(items)s.",
                   items=", ".join(str(f.item_number) for f in still_open)),
                {"findings": {str(f.item_number): [_l("still open (%(grade)s)",
                                                      grade=GRADE_LABELS[f.grade])]
                              for f in still_open}})
    application.decision_reason = reason
    application.decided_at = now
    _finish(actor, application, step, decision, now=now, data={"reason": reason},
            event="application.certified" if decision == "certify" else "application.refused",
            params={"reason": reason or ""})
    if decision == "certify":
        _apply_certification(actor, application, china_today(now))
    return application


def _apply_certification(actor: Actor, application: CertificationApplication, on: date) -> None:
    # services.certificates is a sibling capability; imported here so this module loads alone.
    if importlib.util.find_spec("services.certificates") is None:
        return
    from services import certificates

    if application.purpose is ApplicationPurpose.INITIAL:
        certificate = certificates.issue(actor, application, on=on)
        application.certificate_id = certificate.id
    elif application.purpose is ApplicationPurpose.SURVEILLANCE:
        certificates.record_surveillance(actor, application, on=on)
    else:
        certificates.reinstate(actor, application, on=on)
    db.session.flush()


# --- evidence attached during the workflow --------------------------------------------------

def attach_evidence(actor: Actor, application_id: int, data: bytes, filename: str, *,
                    storage_root: Path, max_bytes: int, checklist_item=None,
                    now: datetime | None = None) -> Evidence:
    """The certifier's audit photos (while the audit is open) or the provider's corrective
    evidence (while nonconformities are answered), stored with the outlet's evidence."""
    now = now or utcnow()
    application = get_visible(actor, application_id, for_update=True)
    side = side_of(actor, application)
    action = "attach_audit_evidence" if side is Side.CERTIFIER else "attach_corrective_evidence"
    _check_step(actor, application, action, china_today(now))
    item = _as_int(checklist_item) if checklist_item not in (None, "") else None
    if checklist_item not in (None, "") and item not in items_for(application):
        raise ValidationFailed(_l("The file was not accepted."), {
            "checklist_item": [_l("is not an item audited under this scheme")]})
    if side is Side.PROVIDER:
        return evidence.add(actor, application.outlet, data, filename, storage_root=storage_root,
                            max_bytes=max_bytes, checklist_item=item)
    return _store_audit_evidence(actor, application, data, filename, storage_root=storage_root,
                                 max_bytes=max_bytes, checklist_item=item)


def _store_audit_evidence(actor: Actor, application: CertificationApplication, data: bytes,
                          filename: str, *, storage_root: Path, max_bytes: int,
                          checklist_item: int | None) -> Evidence:
    # The permission here is the assigned, accredited, independent certifier's (checked by
    # the caller), not the outlet provider's that evidence.add checks.
    item = evidence.store(application.outlet_id, data, filename, storage_root=storage_root,
                          max_bytes=max_bytes, uploaded_by_id=actor.user_id,
                          checklist_item=checklist_item)
    audit.record(actor, "evidence.added", "evidence", item.id,
                 organization_id=application.certifier_id,
                 data={"outlet_id": application.outlet_id, "application_id": application.id,
                       "item": checklist_item, "sha256": item.sha256, "type": item.content_type})
    return item


# --- deadlines (the tick) -------------------------------------------------------------------

def flag_overdue(now: datetime, *, response_days: int = DEFAULT_RESPONSE_DAYS,
                 corrective_days: int = DEFAULT_CORRECTIVE_DAYS) -> int:
    """Flag open applications that sat past their deadline, once; tell both sides once.
    The next step clears the flag (so a later stall is flagged again)."""
    earliest = now - timedelta(days=min(response_days, corrective_days))
    # An application someone is acting on right now is skipped: that step clears the flag
    # anyway, and waiting for its row while holding the audit chain's lock could deadlock.
    candidates = db.session.execute(select(CertificationApplication).where(
        CertificationApplication.status.in_(OPEN),
        CertificationApplication.flagged_at.is_(None),
        CertificationApplication.last_action_at <= earliest)
        .order_by(CertificationApplication.id)
        .with_for_update(skip_locked=True)).scalars().all()
    flagged = 0
    for application in candidates:
        due = deadline_of(application, response_days=response_days,
                          corrective_days=corrective_days)
        if due is None or now <= due:
            continue
        side = waiting_on(application.status,
                          len(unanswered_nonconformities(application.findings)))
        application.flagged_at = now
        db.session.flush()
        audit.record(SYSTEM, "certification.flagged_overdue", SUBJECT, application.id,
                     organization_id=application.certifier_id if side is Side.CERTIFIER
                     else application.provider_id,
                     data={"status": application.status.value, "waiting_on": side.value,
                           "deadline": due.isoformat()})
        since = application.last_action_at.astimezone(CHINA).date().isoformat()
        notifications.notify([application.provider_id, application.certifier_id],
                             "application.overdue", {**_params(application), "since": since},
                             link=link_for(application))
        flagged += 1
    return flagged


def deadline_days(config) -> dict:
    """{response_days, corrective_days} from the app config, defaulting to the rules above."""
    return {"response_days": int(config.get("CERTIFICATION_RESPONSE_DAYS", DEFAULT_RESPONSE_DAYS)),
            "corrective_days": int(config.get("CERTIFICATION_CORRECTIVE_DAYS", DEFAULT_CORRECTIVE_DAYS))}


@job("certification.overdue_applications")
def overdue_applications_job(now: datetime) -> int:
    from flask import current_app

    return flag_overdue(now, **deadline_days(current_app.config))
