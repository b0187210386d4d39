"""Certificates: issue, surveillance, suspension, withdrawal, expiry and public verification.

A certificate is a certifier's word that an outlet conforms to a scheme. `Outlet.certified`
(the pool's "certified" mark) is this module's projection of it: true iff the outlet holds a
valid certificate. It is recomputed in the same transaction as every change of a
certificate's status, so the mark goes the moment a certificate leaves "valid", and every
organization relying on the outlet hears of it.

Time-driven changes (expiry, a missed surveillance audit, the warning before expiry) are tick
jobs: they read the `now` they are given, never the wall clock, and change only what is due at
that moment, marking what they did, so running them twice changes nothing the second time.
Business dates are dates in China (DISPLAY_TIMEZONE, Asia/Shanghai).

Like every service, this one never commits.
"""

from __future__ import annotations

import re
import secrets
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    ApplicationPurpose,
    ApplicationStatus,
    Certificate,
    CertificateStatus,
    CertificationApplication,
    Organization,
    OrgKind,
    Outlet,
    OutletStatus,
)
from app.models.types import utcnow
from services import audit, divisions, notifications, paging, permissions, text_fields, tick
from services import certificate_pdf as pdf
from services.audit import Actor
from services.errors import Conflict, NotFound, ValidationFailed

NUMBER_PREFIX = "OPC"
NUMBER_DIGITS = 6
# Loose on purpose: anything that could be a number is looked up, anything else is "no such".
NUMBER_SHAPE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,39}$")
REASON_MAX = 2000
NUMBER_ATTEMPTS = 5
TICK = Actor(label="tick")

DEFAULTS = {
    "CERTIFICATE_SURVEILLANCE_GRACE_DAYS": 0,
    "CERTIFICATE_EXPIRY_WARNING_DAYS": 60,
    "DISPLAY_TIMEZONE": "Asia/Shanghai",
}
ACTIVE = (CertificateStatus.VALID, CertificateStatus.SUSPENDED)


def _setting(name: str):
    if has_app_context():
        return current_app.config.get(name, DEFAULTS[name])
    return DEFAULTS[name]


def business_date(now: datetime) -> date:
    """The calendar date in China at `now`: certificates expire by China's calendar."""
    return now.astimezone(ZoneInfo(_setting("DISPLAY_TIMEZONE"))).date()


def add_months(day: date, months: int) -> date:
    """Same day of the month `months` later, clamped to the month's end (31 Jan + 1 = 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def _surveillance_after(on: date, interval_months: int, expires_on: date) -> date | None:
    """Next surveillance audit due date; none when the certificate expires first."""
    due = add_months(on, interval_months)
    return due if due < expires_on else None


def effective_status(certificate: Certificate, today: date) -> CertificateStatus:
    """The status as of `today`, even if the tick has not run yet since expiry."""
    if certificate.status in ACTIVE and certificate.expires_on <= today:
        return CertificateStatus.EXPIRED
    return certificate.status


def normalize_number(number: str | None) -> str | None:
    value = (number or "").strip().upper()
    return value if NUMBER_SHAPE.match(value) else None


def verify_url(certificate: Certificate, base_url: str) -> str:
    return (f"{base_url.rstrip('/')}/verify/{certificate.number}"
            f"?code={certificate.verification_code}")


def link(certificate: Certificate) -> str:
    return f"/certificates/{certificate.number}"


def relying_organizations(outlet: Outlet) -> list[int]:
    """Organizations that rely on the outlet's certificate and must hear when it lapses:
    its provider and the manufacturers holding capacity there."""
    from services import agreements  # contracting builds on certification, not the reverse

    return [outlet.provider_id, *agreements.manufacturers_relying_on(outlet.id)]


# --- lookups ------------------------------------------------------------------------------

def _not_found(number: str | None) -> NotFound:
    error = NotFound("certificate", number)
    error.message = _l("No certificate with the number %(number)s exists on OutletPool.",
                       number=number or "")
    return error


def get_public(number: str | None) -> Certificate:
    """Any certificate by its number, as the public verification page shows it."""
    normalized = normalize_number(number)
    certificate = None
    if normalized is not None:
        certificate = db.session.execute(
            select(Certificate).where(Certificate.number == normalized)).scalar_one_or_none()
    if certificate is None:
        raise _not_found((number or "").strip()[:60])
    return certificate


def get_visible(actor: Actor, number: str | None) -> Certificate:
    """A certificate the actor's organizations hold (its certifier or the outlet's provider),
    or any for an operator; 404 for anyone else, so existence is not disclosed here."""
    normalized = normalize_number(number)
    if normalized is None or actor.user is None:
        raise _not_found(number)
    query = select(Certificate).join(Outlet, Outlet.id == Certificate.outlet_id).where(
        Certificate.number == normalized)
    if permissions.operator_membership(actor.user) is None:
        org_ids = permissions.member_org_ids(actor)
        query = query.where(or_(Certificate.certifier_id.in_(org_ids),
                                Outlet.provider_id.in_(org_ids)))
    certificate = db.session.execute(query).scalar_one_or_none()
    if certificate is None:
        raise _not_found(normalized)
    return certificate


def get_issued(actor: Actor, number: str | None) -> Certificate:
    """A certificate issued by one of the actor's organizations (404 for anyone else's)."""
    normalized = normalize_number(number)
    certificate = None
    if normalized is not None and actor.user is not None:
        certificate = db.session.execute(select(Certificate).where(
            Certificate.number == normalized,
            Certificate.certifier_id.in_(permissions.member_org_ids(actor)))).scalar_one_or_none()
    if certificate is None:
        raise _not_found(normalized or number)
    return certificate


def valid_for_outlet(outlet_id: int) -> list[Certificate]:
    """The outlet's valid certificates (public: for the pool's detail page to link to /verify)."""
    return list(db.session.execute(select(Certificate).where(
        Certificate.outlet_id == outlet_id, Certificate.status == CertificateStatus.VALID)
        .order_by(Certificate.expires_on.desc())).scalars())


def of_organization(actor: Actor, organization: Organization, *, status: str | None = None,
                    page: int = 1, per_page: int = 50) -> tuple[list[Certificate], int]:
    """The certificates an organization issued (certifier), holds for its outlets (provider),
    or all of them (operator). Newest first."""
    permissions.require(actor.user, "organization.view", organization)
    query = select(Certificate).join(Outlet, Outlet.id == Certificate.outlet_id)
    if organization.kind is OrgKind.CERTIFIER:
        query = query.where(Certificate.certifier_id == organization.id)
    elif organization.kind is OrgKind.PROVIDER:
        query = query.where(Outlet.provider_id == organization.id)
    elif organization.kind is not OrgKind.OPERATOR or not organization.is_verified:
        query = query.where(false())  # manufacturers: certificates of contracted outlets, later
    if status:
        try:
            query = query.where(Certificate.status == CertificateStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."), {"status": [
                _l("must be one of %(allowed)s",
                   allowed=", ".join(s.value for s in CertificateStatus))]}) from exc
    return paging.page_of(query, Certificate.id.desc(), page=page, per_page=per_page)


# --- public verification ------------------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    certificate: Certificate
    status: CertificateStatus  # as of the day asked
    code_given: bool
    code_matches: bool | None

    @property
    def verdict(self) -> str:
        """valid | suspended | withdrawn | expired, or code_mismatch (possibly forged)."""
        if self.code_given and not self.code_matches:
            return "code_mismatch"
        return self.status.value


def verify(number: str | None, code: str | None = None, *, today: date | None = None) -> Verification:
    """What anyone may learn about a certificate number (NotFound when there is none).

    With a code, also whether it is the one printed on the genuine certificate: a paper copy
    whose code does not match may be forged.
    """
    certificate = get_public(number)
    code = (code or "").strip()
    matches = secrets.compare_digest(code.encode(), certificate.verification_code.encode()) \
        if code else None
    return Verification(certificate, effective_status(certificate, today or business_date(utcnow())),
                        bool(code), matches)


def public_view(verification: Verification) -> dict:
    """Plain values for the verification page and API. The reason for a suspension or a
    withdrawal stays with the certifier and the holder; the public sees status and dates."""
    certificate = verification.certificate
    outlet, scheme, certifier = certificate.outlet, certificate.scheme, certificate.certifier
    index = divisions.index()
    city, province = index.get(outlet.city_code), index.get(outlet.province_code)
    changed = certificate.status_changed_at
    return {
        "number": certificate.number,
        "status": verification.status.value,
        "verdict": verification.verdict,
        "code_checked": verification.code_given,
        "code_matches": verification.code_matches,
        "outlet": {"id": outlet.id, "name": outlet.name, "address": outlet.address,
                   "city": outlet.city_code, "city_name": city.name if city else None,
                   "province": outlet.province_code,
                   "province_name": province.name if province else None,
                   "listed": outlet.status is OutletStatus.LISTED},
        "scope": certificate.scope,
        "issued_on": certificate.issued_on,
        "expires_on": certificate.expires_on,
        "next_surveillance_due": certificate.next_surveillance_due
        if verification.status is CertificateStatus.VALID else None,
        "status_changed_on": business_date(changed)
        if changed and verification.status is not CertificateStatus.VALID else None,
        "certifier": {"id": certifier.id, "name": certifier.legal_name,
                      "english_name": certifier.english_name},
        "scheme": {"code": scheme.code, "version": scheme.version, "name_zh": scheme.name_zh,
                   "name_en": scheme.name_en, "issuing_body": scheme.issuing_body},
    }


# --- the PDF ------------------------------------------------------------------------------

def document_for(certificate: Certificate, base_url: str, *, today: date | None = None
                 ) -> pdf.CertificateDocument:
    outlet, scheme, certifier = certificate.outlet, certificate.scheme, certificate.certifier
    city = divisions.index().get(outlet.city_code)
    status = effective_status(certificate, today or business_date(utcnow()))
    return pdf.CertificateDocument(
        number=certificate.number, verification_code=certificate.verification_code,
        verify_url=verify_url(certificate, base_url), status=status.value,
        outlet_name=outlet.name, outlet_address=outlet.address, outlet_type=certificate.scope,
        provider_name=outlet.provider.legal_name, provider_name_en=outlet.provider.english_name,
        scheme_name_zh=scheme.name_zh, scheme_name_en=scheme.name_en, scheme_code=scheme.code,
        scheme_version=scheme.version, issuing_body=scheme.issuing_body,
        certifier_name=certifier.legal_name, certifier_name_en=certifier.english_name,
        issued_on=certificate.issued_on, expires_on=certificate.expires_on,
        next_surveillance_due=certificate.next_surveillance_due
        if status is CertificateStatus.VALID else None,
        city_name=city.name if city else None)


def get_for_pdf(actor: Actor, number: str | None, code: str | None = None) -> Certificate:
    """Who may download the PDF: the certifier, the outlet's provider and operators, in any
    status (a lapsed certificate prints with a banner saying so); anyone else only with the
    certificate's verification code (they hold the paper already) and only while it is valid.
    Without the code the public cannot fetch it: a downloadable code would prove nothing."""
    if actor.user is not None:
        try:
            return get_visible(actor, number)
        except NotFound:
            pass
    if code:
        verification = verify(number, code)
        if verification.code_matches and verification.status is CertificateStatus.VALID:
            return verification.certificate
    raise _not_found(normalize_number(number) or number)


def render_pdf(certificate: Certificate, base_url: str) -> bytes:
    return pdf.render(document_for(certificate, base_url))


# --- changes ------------------------------------------------------------------------------

def _require_certifier(actor: Actor, certifier: Organization) -> None:
    """Only members of the certifier may act on its certificates; the system (tick, CLI) may."""
    if actor.user is None and actor.label:
        return
    permissions.require(actor.user, "certification.act", certifier)


def _params(certificate: Certificate, **extra) -> dict:
    return {"number": certificate.number, "outlet": certificate.outlet.name,
            "expires": certificate.expires_on.isoformat(), **extra}


def refresh_certified(outlet: Outlet) -> bool:
    """Recompute the pool's mark: certified iff the outlet holds a valid certificate."""
    db.session.flush()
    outlet.certified = bool(db.session.execute(select(exists().where(
        Certificate.outlet_id == outlet.id,
        Certificate.status == CertificateStatus.VALID))).scalar())
    db.session.flush()
    return outlet.certified


def _flag_agreements(actor: Actor, outlet: Outlet, certificate: Certificate, was_certified: bool,
                     when: datetime) -> None:
    """Losing the outlet's only valid certificate flags every agreement on it; regaining
    it clears the flag."""
    from services import agreements

    if was_certified and not outlet.certified:
        agreements.flag_outlet(actor, outlet, str(_l(
            "certificate %(number)s is %(status)s", number=certificate.number,
            status=certificate.status.value)), now=when)
    elif outlet.certified and not was_certified:
        agreements.clear_outlet_flag(actor, outlet)


def _fresh(certificate: Certificate) -> None:
    """Queue behind other writers, then re-read the certificate: two members suspending it at
    once must not both succeed."""
    audit.serialize_writes()
    db.session.refresh(certificate)


def _allocate_number(certificate: Certificate, year: int) -> None:
    """Give the certificate the next number of its year and insert it.

    On PostgreSQL the caller holds the chain lock (_serialize) until commit, so max+1 is free;
    elsewhere (SQLite serializes writers itself) the unique constraint backs it up and a lost
    race retries inside a savepoint.
    """
    session = db.session
    audit.serialize_writes()
    session.flush()  # the caller's pending changes stay outside the savepoint below
    prefix = f"{NUMBER_PREFIX}-{year:04d}-"
    for _attempt in range(NUMBER_ATTEMPTS):
        last = session.execute(select(func.max(Certificate.number))
                               .where(Certificate.number.like(prefix + "%"))).scalar()
        sequence = int(last[len(prefix):]) + 1 if last else 1
        certificate.number = f"{prefix}{sequence:0{NUMBER_DIGITS}d}"
        certificate.verification_code = secrets.token_urlsafe(24)
        try:
            with session.begin_nested():
                session.add(certificate)
                session.flush()
            return
        except IntegrityError:
            continue
    raise Conflict(_l("Could not allocate a certificate number; try again."))


def issue(actor: Actor, application: CertificationApplication, on: date) -> Certificate:
    """The certificate for an initial application the certifier has decided to certify."""
    _require_certifier(actor, application.certifier)
    audit.serialize_writes()
    if (application.status is not ApplicationStatus.CERTIFIED
            or application.purpose is not ApplicationPurpose.INITIAL):
        raise Conflict(_l("A certificate is issued only for an initial application decided "
                          "as certified."))
    if application.certificate_id is not None:
        raise Conflict(_l("This application already has its certificate."))
    outlet, scheme = application.outlet, application.scheme
    expires_on = add_months(on, scheme.validity_months)
    certificate = Certificate(
        outlet_id=outlet.id, scheme_id=scheme.id, certifier_id=application.certifier_id,
        application_id=application.id, scope=outlet.type.value, issued_on=on,
        expires_on=expires_on,
        next_surveillance_due=_surveillance_after(on, scheme.surveillance_interval_months,
                                                  expires_on),
        status=CertificateStatus.VALID, status_changed_at=utcnow())
    _allocate_number(certificate, on.year)
    application.certificate_id = certificate.id
    refresh_certified(outlet)
    audit.record(actor, "certificate.issued", "certificate", certificate.id,
                 organization_id=certificate.certifier_id,
                 data={"number": certificate.number, "outlet_id": outlet.id,
                       "application_id": application.id, "scheme": f"{scheme.code} {scheme.version}",
                       "scope": certificate.scope, "issued_on": on.isoformat(),
                       "expires_on": expires_on.isoformat()})
    notifications.notify(relying_organizations(outlet), "certificate.issued",
                         _params(certificate), link=link(certificate))
    return certificate


def _certificate_for(application: CertificationApplication,
                     status: CertificateStatus) -> Certificate:
    """The certificate a surveillance or follow-up application concerns, of its certifier."""
    query = select(Certificate).where(Certificate.certifier_id == application.certifier_id,
                                      Certificate.outlet_id == application.outlet_id)
    if application.certificate_id is not None:
        query = query.where(Certificate.id == application.certificate_id)
    else:
        query = query.where(Certificate.status == status,
                            Certificate.scheme_id == application.scheme_id)
    certificate = db.session.execute(query.order_by(Certificate.id.desc()).limit(1)
                                     .execution_options(populate_existing=True)).scalar()
    if certificate is None:
        raise NotFound("certificate for application", application.id)
    if certificate.status is not status:
        raise Conflict(_l("The certificate is %(status)s, not %(expected)s.",
                          status=certificate.status.value, expected=status.value))
    return certificate


def _require_passed(application: CertificationApplication, purpose: ApplicationPurpose) -> None:
    if application.purpose is not purpose or application.status is not ApplicationStatus.CERTIFIED:
        raise Conflict(_l("This needs a %(purpose)s application decided as passed.",
                          purpose=purpose.value))


def record_surveillance(actor: Actor, application: CertificationApplication, on: date) -> Certificate:
    """A surveillance audit passed on `on`: the next one falls due an interval later."""
    _require_certifier(actor, application.certifier)
    _require_passed(application, ApplicationPurpose.SURVEILLANCE)
    audit.serialize_writes()
    certificate = _certificate_for(application, CertificateStatus.VALID)
    previous = certificate.next_surveillance_due
    certificate.next_surveillance_due = _surveillance_after(
        on, certificate.scheme.surveillance_interval_months, certificate.expires_on)
    db.session.flush()
    audit.record(actor, "certificate.surveillance_passed", "certificate", certificate.id,
                 organization_id=certificate.certifier_id,
                 data={"number": certificate.number, "application_id": application.id,
                       "audited_on": on.isoformat(),
                       "previous_due": previous.isoformat() if previous else None,
                       "next_due": certificate.next_surveillance_due.isoformat()
                       if certificate.next_surveillance_due else None})
    return certificate


def _change_status(actor: Actor, certificate: Certificate, to: CertificateStatus, *,
                   reason: str | None, when: datetime, event: str,
                   tell_certifier: bool = False, **extra_params) -> Certificate:
    audit.serialize_writes()
    previous = certificate.status
    certificate.status = to
    certificate.status_reason = reason
    certificate.status_changed_at = when
    outlet = certificate.outlet
    was_certified = outlet.certified
    refresh_certified(outlet)
    _flag_agreements(actor, outlet, certificate, was_certified, when)
    audit.record(actor, f"certificate.{to.value}", "certificate", certificate.id,
                 organization_id=certificate.certifier_id,
                 data={"number": certificate.number, "outlet_id": outlet.id,
                       "from": previous.value, "to": to.value, "reason": reason,
                       "outlet_certified": outlet.certified, **extra_params})
    recipients = relying_organizations(outlet)
    if tell_certifier:
        recipients = [*recipients, certificate.certifier_id]
    notifications.notify(recipients, event, _params(certificate, reason=reason or ""),
                         link=link(certificate))
    return certificate


def suspend(actor: Actor, certificate: Certificate, reason: str | None) -> Certificate:
    """The issuing certifier suspends a valid certificate; the mark goes at once."""
    _require_certifier(actor, certificate.certifier)
    reason = text_fields.clean_reason(reason, limit=REASON_MAX)
    _fresh(certificate)
    if certificate.status is not CertificateStatus.VALID:
        raise Conflict(_l("Only a valid certificate can be suspended; this one is %(status)s.",
                          status=certificate.status.value))
    return _change_status(actor, certificate, CertificateStatus.SUSPENDED, reason=reason,
                          when=utcnow(), event="certificate.suspended")


def withdraw(actor: Actor, certificate: Certificate, reason: str | None) -> Certificate:
    """The issuing certifier withdraws a valid or suspended certificate, for good."""
    _require_certifier(actor, certificate.certifier)
    reason = text_fields.clean_reason(reason, limit=REASON_MAX)
    _fresh(certificate)
    if certificate.status not in ACTIVE:
        raise Conflict(_l("Only a valid or suspended certificate can be withdrawn; this one "
                          "is %(status)s.", status=certificate.status.value))
    return _change_status(actor, certificate, CertificateStatus.WITHDRAWN, reason=reason,
                          when=utcnow(), event="certificate.withdrawn")


def reinstate(actor: Actor, application: CertificationApplication, on: date) -> Certificate:
    """A follow-up audit passed on `on`: the suspended certificate is valid again. A follow-up
    audit after a missed surveillance counts as that surveillance."""
    _require_certifier(actor, application.certifier)
    _require_passed(application, ApplicationPurpose.FOLLOW_UP)
    audit.serialize_writes()
    certificate = _certificate_for(application, CertificateStatus.SUSPENDED)
    if certificate.expires_on <= on:
        raise Conflict(_l("The certificate has expired; the outlet needs a new certification."))
    due = certificate.next_surveillance_due
    if due is not None and due <= on:
        certificate.next_surveillance_due = _surveillance_after(
            on, certificate.scheme.surveillance_interval_months, certificate.expires_on)
    return _change_status(actor, certificate, CertificateStatus.VALID, reason=None,
                          when=utcnow(), event="certificate.reinstated",
                          application_id=application.id, audited_on=on.isoformat())


# --- time-driven jobs (services.tick) -----------------------------------------------------

@tick.job("certificates.expire")
def expire_due(now: datetime) -> int:
    """Valid or suspended certificates whose expiry date has come are expired."""
    today = business_date(now)
    audit.serialize_writes()
    due = db.session.execute(select(Certificate).where(
        Certificate.status.in_(ACTIVE), Certificate.expires_on <= today)
        .order_by(Certificate.id)).scalars().all()
    for certificate in due:
        _change_status(TICK, certificate, CertificateStatus.EXPIRED, reason=None, when=now,
                       event="certificate.expired", tell_certifier=True)
    return len(due)


def surveillance_overdue_reason(due: date) -> str:
    # Stored and mailed as text to readers of either language, so it carries both.
    return (f"监督审核逾期未完成（应于 {due.isoformat()} 前完成）/ "
            f"Surveillance audit overdue (due by {due.isoformat()})")


@tick.job("certificates.surveillance_overdue")
def suspend_overdue_surveillance(now: datetime) -> int:
    """A valid certificate whose surveillance audit is past due (plus the grace period,
    CERTIFICATE_SURVEILLANCE_GRACE_DAYS) is suspended."""
    cutoff = business_date(now) - timedelta(days=int(_setting("CERTIFICATE_SURVEILLANCE_GRACE_DAYS")))
    audit.serialize_writes()
    overdue = db.session.execute(select(Certificate).where(
        Certificate.status == CertificateStatus.VALID,
        Certificate.next_surveillance_due.is_not(None),
        Certificate.next_surveillance_due < cutoff).order_by(Certificate.id)).scalars().all()
    for certificate in overdue:
        _change_status(TICK, certificate, CertificateStatus.SUSPENDED,
                       reason=surveillance_overdue_reason(certificate.next_surveillance_due),
                       when=now, event="certificate.suspended", tell_certifier=True,
                       surveillance_due=certificate.next_surveillance_due.isoformat())
    return len(overdue)


@tick.job("certificates.expiry_warning")
def warn_expiring(now: datetime) -> int:
    """Once per certificate, CERTIFICATE_EXPIRY_WARNING_DAYS (60) days before it expires."""
    today = business_date(now)
    horizon = today + timedelta(days=int(_setting("CERTIFICATE_EXPIRY_WARNING_DAYS")))
    audit.serialize_writes()
    expiring = db.session.execute(select(Certificate).where(
        Certificate.status.in_(ACTIVE), Certificate.expiry_warned_at.is_(None),
        Certificate.expires_on > today, Certificate.expires_on <= horizon)
        .order_by(Certificate.id)).scalars().all()
    for certificate in expiring:
        certificate.expiry_warned_at = now
        db.session.flush()
        audit.record(TICK, "certificate.expiry_warned", "certificate", certificate.id,
                     organization_id=certificate.certifier_id,
                     data={"number": certificate.number,
                           "expires_on": certificate.expires_on.isoformat()})
        notifications.notify(relying_organizations(certificate.outlet), "certificate.expiring",
                             _params(certificate), link=link(certificate))
    return len(expiring)


# --- statistics ---------------------------------------------------------------------------

def certified_by_province(province: str | None = None) -> dict:
    """Certified outlets by province: counts and shares of the registry (outlets not delisted,
    the population services.national_stats counts), largest certified count first."""
    where = [Outlet.status != OutletStatus.DELISTED]
    if province:
        where.append(Outlet.province_code == province)
    certified = func.count(case((Outlet.certified.is_(True), 1)))
    rows = db.session.execute(select(Outlet.province_code, func.count(Outlet.id), certified)
                              .where(*where).group_by(Outlet.province_code)).all()
    index = divisions.index()

    def share(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    total = sum(r[1] for r in rows)
    total_certified = sum(r[2] for r in rows)
    by_province = sorted(
        ({"province": code, "name": ref.name if (ref := index.get(code)) else code,
          "outlets": outlets, "certified": n, "share": share(n, outlets),
          "share_of_certified": share(n, total_certified)}
         for code, outlets, n in rows),
        key=lambda r: (-r["certified"], -r["outlets"], r["province"]))
    return {"outlets": total, "certified": total_certified, "share": share(total_certified, total),
            "by_province": by_province}
