"""Co-building agreements: one per outlet, amended in versions every party signs, holding
each manufacturer's allocation of the outlet's offered capacity.

Capacity is never overbooked: every change that takes capacity runs `allocate()`, which
locks the outlet's offer row (SELECT ... FOR UPDATE, after the audit chain's lock, the order
every audited writer takes them in) and re-reads what pending and active allocations already
hold, in the same transaction that inserts the new allocation. Releasing capacity (lapse,
expiry, termination) updates the pool's `available_capacity_t` in the same transaction.

Lifecycle of an allocation: pending (in a version awaiting signatures) -> active (all parties
signed) -> renewal window (reminded once, 60 days before the end by default; either side may
propose a renewal, which is a new version to sign) -> expired at the end, or terminated
early by notice or by an operator. A version not signed by everyone in time lapses; the
allocations it added are released. Time-driven steps are tick jobs.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    Agreement,
    AgreementStatus,
    AgreementVersion,
    Allocation,
    AllocationStatus,
    CapacityOffer,
    CapacityRequest,
    Outlet,
    OutletStatus,
    Signature,
    VersionStatus,
)
from app.models.types import utcnow
from services import (
    agreement_document,
    audit,
    certificates,
    cost_pools,
    divisions,
    notifications,
    paging,
    passwords,
    permissions,
    text_fields,
)
from services.audit import Actor
from services.certifiers import CHINA, china_today
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.tick import job

SUBJECT = "agreement"
HOLDS_CAPACITY = (AllocationStatus.PENDING, AllocationStatus.ACTIVE)
OPEN = (AgreementStatus.PENDING_SIGNATURES, AgreementStatus.ACTIVE)
NUMBER_PREFIX = "OP-AG"
DEFAULTS = {"AGREEMENT_SIGNING_DAYS": 14, "AGREEMENT_NOTICE_DAYS": 90,
            "AGREEMENT_RENEWAL_WINDOW_DAYS": 60}
TEXT_LIMIT = 2000
EPSILON_T = 1e-6

STATUS_LABELS = {
    AgreementStatus.PENDING_SIGNATURES: _l("Awaiting signatures"),
    AgreementStatus.ACTIVE: _lp("agreement", "Active"), AgreementStatus.LAPSED: _l("Lapsed"),
    AgreementStatus.ENDED: _l("Ended"),
}
VERSION_LABELS = {
    VersionStatus.PENDING: _l("Awaiting signatures"), VersionStatus.IN_FORCE: _l("In force"),
    VersionStatus.SUPERSEDED: _l("Superseded"), VersionStatus.REPLACED: _l("Replaced unsigned"),
    VersionStatus.LAPSED: _l("Lapsed"),
}
ALLOCATION_LABELS = {
    "pending": _l("Awaiting signatures"), "active": _lp("agreement", "Active"),
    "renewal_window": _l("In renewal window"), "notice_given": _l("Ending after notice"),
    "expired": _l("Expired"), "terminated": _l("Terminated"), "lapsed": _l("Lapsed"),
}


def setting(name: str) -> int:
    if has_app_context():
        return int(current_app.config.get(name, DEFAULTS[name]))
    return DEFAULTS[name]


def china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA)


# --- pure rules -----------------------------------------------------------------------------

def lifecycle_of(allocation: Allocation, today: date, window_days: int) -> str:
    """What a reader should see: the stored status, refined for active allocations."""
    status = allocation.status.value
    if allocation.status is not AllocationStatus.ACTIVE:
        return status
    if allocation.notice_given_at is not None:
        return "notice_given"
    if today >= allocation.end_date - timedelta(days=window_days):
        return "renewal_window"
    return status


def counts_on(allocation: Allocation, day: date) -> bool:
    """Whether the allocation meets its maker's obligation on `day`: signed by then, started,
    not yet ended (an expired or terminated one stops counting on its end date)."""
    if allocation.activated_at is None or allocation.status in (AllocationStatus.PENDING,
                                                                AllocationStatus.LAPSED):
        return False
    return (allocation.activated_at.astimezone(CHINA).date() <= day
            and allocation.start_date <= day < allocation.ends_on)


# --- capacity -------------------------------------------------------------------------------

def allocated_t(outlet_id: int) -> float:
    return float(db.session.execute(
        select(func.coalesce(func.sum(Allocation.tonnes_per_year), 0.0))
        .where(Allocation.outlet_id == outlet_id, Allocation.status.in_(HOLDS_CAPACITY))
    ).scalar_one())


def lock_offer(outlet_id: int) -> CapacityOffer | None:
    """The outlet's offer, locked until commit: capacity decisions on one outlet queue here."""
    audit.serialize_writes()
    return db.session.execute(
        select(CapacityOffer).where(CapacityOffer.outlet_id == outlet_id)
        .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()


def refresh_available(outlet: Outlet, offer: CapacityOffer | None) -> None:
    """Keep the pool's search column equal to offered minus held, at once."""
    if offer is None:
        outlet.available_capacity_t = None
        return
    outlet.available_capacity_t = round(max(0.0, offer.capacity_t_per_year
                                            - allocated_t(outlet.id)), 3)


def capacity_left(outlet_id: int) -> float | None:
    offer = db.session.execute(select(CapacityOffer.capacity_t_per_year)
                               .where(CapacityOffer.outlet_id == outlet_id)).scalar_one_or_none()
    return None if offer is None else round(offer - allocated_t(outlet_id), 3)


# --- lookups (scoped by the caller's organizations in the query) ----------------------------

def _visible(actor: Actor):
    query = select(Agreement)
    if permissions.is_operator(actor):
        return query
    ids = permissions.member_org_ids(actor)
    return query.where(or_(Agreement.provider_id.in_(ids), exists().where(
        Allocation.agreement_id == Agreement.id, Allocation.manufacturer_id.in_(ids))))


def get_visible(actor: Actor, agreement_id: int, *, for_update: bool = False) -> Agreement:
    query = _visible(actor).where(Agreement.id == agreement_id)
    if for_update:
        audit.serialize_writes()
        query = query.with_for_update(of=Agreement).execution_options(populate_existing=True)
    agreement = db.session.execute(query).scalar_one_or_none()
    if agreement is None:
        raise NotFound("agreement", agreement_id)
    return agreement


def list_for(actor: Actor, *, status: str | None = None, outlet_id: int | None = None,
             organization_id: int | None = None, page: int = 1,
             per_page: int | None = None) -> tuple[list[Agreement], int]:
    """Agreements the caller's organizations are party to (every agreement, for operators),
    latest change first, and how many."""
    query = _visible(actor)
    if status:
        try:
            query = query.where(Agreement.status == AgreementStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."), {"status": [_l(
                "must be one of %(allowed)s",
                allowed=", ".join(s.value for s in AgreementStatus))]}) from exc
    if outlet_id:
        query = query.where(Agreement.outlet_id == outlet_id)
    if organization_id:
        query = query.where(or_(Agreement.provider_id == organization_id, exists().where(
            Allocation.agreement_id == Agreement.id,
            Allocation.manufacturer_id == organization_id)))
    return paging.page_of(query, Agreement.updated_at.desc(), Agreement.id.desc(), page=page,
                          per_page=per_page)


def get_allocation(actor: Actor, allocation_id: int) -> Allocation:
    allocation = db.session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound("allocation", allocation_id)
    get_visible(actor, allocation.agreement_id, for_update=True)
    db.session.refresh(allocation)
    return allocation


def pending_version(agreement: Agreement) -> AgreementVersion | None:
    return next((v for v in agreement.versions if v.status is VersionStatus.PENDING), None)


def version_in_force(agreement: Agreement) -> AgreementVersion | None:
    return next((v for v in agreement.versions if v.status is VersionStatus.IN_FORCE), None)


def get_version(agreement: Agreement, number: int) -> AgreementVersion:
    version = next((v for v in agreement.versions if v.version == number), None)
    if version is None:
        raise NotFound("agreement version", number)
    return version


def current_version(agreement: Agreement) -> AgreementVersion:
    """The version a reader should see first: the one awaiting signatures, else the one in
    force, else the last."""
    return pending_version(agreement) or version_in_force(agreement) or agreement.versions[-1]


def signing_party(actor: Actor, version: AgreementVersion):
    """The caller's organization that still has to sign `version`, if any."""
    signed = {s.organization_id for s in version.signatures}
    for party_id in agreement_document.party_ids(version.document):
        if party_id not in signed and permissions.membership_of(actor.user, party_id):
            return party_id
    return None


def problems_of(version: AgreementVersion) -> list[str]:
    return agreement_document.problems(
        version.document, version.document_sha256,
        [(s.organization.legal_name, s.document_sha256) for s in version.signatures])


def of_manufacturer_on(manufacturer_id: int, day: date) -> list[Allocation]:
    """The maker's allocations that meet obligations on `day` (see counts_on)."""
    rows = db.session.execute(
        select(Allocation).join(Outlet, Outlet.id == Allocation.outlet_id)
        .where(Allocation.manufacturer_id == manufacturer_id,
               Allocation.activated_at.is_not(None),
               Allocation.activated_at < china_midnight(day + timedelta(days=1)),
               Allocation.start_date <= day, Allocation.ends_on > day,
               Allocation.status.in_((AllocationStatus.ACTIVE, AllocationStatus.EXPIRED,
                                      AllocationStatus.TERMINATED)))
        .order_by(Allocation.id)).scalars().all()
    return [a for a in rows if counts_on(a, day)]


def manufacturers_relying_on(outlet_id: int) -> list[int]:
    return list(db.session.execute(
        select(Allocation.manufacturer_id).distinct()
        .where(Allocation.outlet_id == outlet_id, Allocation.status.in_(HOLDS_CAPACITY))
    ).scalars())


def pdf_for(agreement: Agreement, version: AgreementVersion, lang: str) -> bytes:
    """The version as a numbered PDF with its signature records (the caller may see it)."""
    from services import agreement_pdf

    signatures = [{
        "organization_id": s.organization_id, "organization": s.organization.legal_name,
        "credit_code": s.organization.credit_code, "signer": s.signer_name,
        "signed_at": s.signed_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S (UTC+8)"),
        "ip_address": s.ip_address or "", "document_sha256": s.document_sha256}
        for s in version.signatures]
    return agreement_pdf.render(version.document, status=version.status.value,
                                signatures=signatures, document_sha256=version.document_sha256,
                                lang="en" if lang.startswith("en") else "zh")


# --- documents ------------------------------------------------------------------------------

def _party(organization) -> dict:
    return {"id": organization.id, "legal_name": organization.legal_name,
            "credit_code": organization.credit_code}


def _outlet_part(outlet: Outlet) -> dict:
    city = divisions.get(outlet.city_code)
    return {"id": outlet.id, "name": outlet.name, "address": outlet.address,
            "type": outlet.type.value, "city_code": outlet.city_code,
            "city_name": city.name if city else outlet.city_code}


def _allocation_part(allocation: Allocation) -> dict:
    end = allocation.renewal_end_date or allocation.end_date
    return {"allocation_id": allocation.id, "manufacturer": _party(allocation.manufacturer),
            "tonnes_per_year": allocation.tonnes_per_year, "form": allocation.form.value,
            "start_date": allocation.start_date.isoformat(), "end_date": end.isoformat(),
            "term_months": allocation.term_months, "annual_fee_fen": allocation.annual_fee_fen,
            "handling_fee_fen_per_t": allocation.handling_fee_fen_per_t,
            "renewal": allocation.renewal_end_date is not None}


def _allocate_number(agreement: Agreement, year: int) -> None:
    """Next number of the year; the chain lock (PostgreSQL) or SQLite's single writer makes
    max+1 free, and the unique constraint backs it up inside a savepoint."""
    session = db.session
    session.flush()
    prefix = f"{NUMBER_PREFIX}-{year:04d}-"
    for _attempt in range(5):
        last = session.execute(select(func.max(Agreement.number))
                               .where(Agreement.number.like(prefix + "%"))).scalar()
        agreement.number = f"{prefix}{(int(last[len(prefix):]) + 1 if last else 1):06d}"
        try:
            with session.begin_nested():
                session.add(agreement)
                session.flush()
            return
        except IntegrityError:
            continue
    raise Conflict(_l("Could not allocate an agreement number; try again."))


def _issue_version(actor: Actor, agreement: Agreement, reason: str, now: datetime
                   ) -> AgreementVersion | None:
    """Issue the agreement's terms as they now stand as a new version to sign, replacing a
    version still awaiting signatures (its signatures were on another text). None when no
    allocation holds capacity any more."""
    session = db.session
    session.flush()
    session.refresh(agreement)  # relationships, after the allocations just added or ended
    held = [a for a in agreement.allocations if a.status in HOLDS_CAPACITY]
    previous = pending_version(agreement)
    if previous is not None:
        previous.status = VersionStatus.REPLACED
    if not held:
        return None
    offer = agreement.outlet.offer
    number = max((v.version for v in agreement.versions), default=0) + 1
    document = agreement_document.build(
        number=agreement.number, version=number, reason=reason, issued_on=china_today(now),
        outlet=_outlet_part(agreement.outlet), provider=_party(agreement.provider),
        allocations=[_allocation_part(a) for a in held],
        offered_t_per_year=offer.capacity_t_per_year if offer else 0.0,
        cost_pools=cost_pools.document_part(agreement, held))
    version = AgreementVersion(
        agreement=agreement, version=number, reason=reason, document=document,
        document_sha256=agreement_document.sha256_of(document),
        sign_by=now + timedelta(days=setting("AGREEMENT_SIGNING_DAYS")), created_at=now)
    session.add(version)
    session.flush()
    audit.record(actor, "agreement.version_issued", SUBJECT, agreement.id,
                 organization_id=agreement.provider_id,
                 data={"number": agreement.number, "version": number, "reason": reason,
                       "sha256": version.document_sha256,
                       "replaced": previous.version if previous else None})
    notifications.notify(agreement_document.party_ids(document), "agreement.to_sign",
                         _params(agreement, version=number,
                                 sign_by=version.sign_by.astimezone(CHINA).date().isoformat()),
                         link=link_for(agreement), roles=permissions.MANAGERS)
    return version


def link_for(agreement: Agreement) -> str:
    return f"/contracts/agreements/{agreement.id}"


def _params(agreement: Agreement, **extra) -> dict:
    return {"number": agreement.number, "outlet": agreement.outlet.name,
            "provider": agreement.provider.legal_name, **extra}


def _parties(agreement: Agreement) -> list[int]:
    return [agreement.provider_id, *{a.manufacturer_id for a in agreement.allocations
                                     if a.status in HOLDS_CAPACITY}]


# --- taking capacity (called when a request is accepted) ------------------------------------

def allocate(actor: Actor, request: CapacityRequest, now: datetime) -> Allocation:
    """Turn an accepted request into an allocation in a version to sign, or refuse with 409
    if the outlet's offer no longer has the capacity. Same transaction as the acceptance."""
    offer = lock_offer(request.outlet_id)
    outlet = request.outlet
    if offer is None:
        raise Conflict(_l("The outlet no longer offers capacity."))
    left = round(offer.capacity_t_per_year - allocated_t(outlet.id), 3)
    if request.tonnes_per_year > left + EPSILON_T:
        raise Conflict(
            _l("Capacity ran out: %(left)s t/year of %(offered)s are still free at this outlet, "
               "%(asked)s t/year were asked.", left=max(left, 0), offered=offer.capacity_t_per_year,
               asked=request.tonnes_per_year),
            {"tonnes_per_year": [_l("at most %(left)s t/year are free", left=max(left, 0))]})
    agreement = db.session.execute(
        select(Agreement).where(Agreement.outlet_id == outlet.id, Agreement.status.in_(OPEN))
    ).scalar_one_or_none()
    reason = "join"
    if agreement is None:
        agreement = Agreement(outlet=outlet, provider_id=outlet.provider_id,
                              status=AgreementStatus.PENDING_SIGNATURES, created_at=now)
        _allocate_number(agreement, china_today(now).year)
        reason = "initial"
    end = certificates.add_months(request.start_date, request.term_months)
    allocation = Allocation(
        agreement=agreement, outlet_id=outlet.id, manufacturer_id=request.manufacturer_id,
        request_id=request.id, form=request.form, tonnes_per_year=request.tonnes_per_year,
        annual_fee_fen=request.annual_fee_fen,
        handling_fee_fen_per_t=request.handling_fee_fen_per_t,
        term_months=request.term_months, start_date=request.start_date, end_date=end,
        ends_on=end, created_at=now)
    db.session.add(allocation)
    db.session.flush()
    refresh_available(outlet, offer)
    audit.record(actor, "agreement.allocation_added", SUBJECT, agreement.id,
                 organization_id=agreement.provider_id,
                 data={"allocation_id": allocation.id, "request_id": request.id,
                       "manufacturer_id": request.manufacturer_id,
                       "tonnes_per_year": request.tonnes_per_year,
                       "capacity_left": outlet.available_capacity_t})
    _issue_version(actor, agreement, reason, now)
    return allocation


# --- signing --------------------------------------------------------------------------------

def sign(actor: Actor, agreement_id: int, *, password: str | None, document_sha256: str | None,
         now: datetime | None = None) -> Signature:
    """The caller signs, for its organization, the version awaiting signatures: after
    re-entering their password, on the exact text whose hash they send (the hash of the
    document they read). The last signature brings the version into force."""
    now = now or utcnow()
    agreement = get_visible(actor, agreement_id, for_update=True)
    version = pending_version(agreement)
    if version is None:
        raise Conflict(_l("Nothing to sign: no version of this agreement awaits signatures."))
    party_id = signing_party(actor, version)
    if party_id is None:
        if any(permissions.membership_of(actor.user, p)
               for p in agreement_document.party_ids(version.document)):
            raise Conflict(_l("Your organization has already signed this version."))
        raise PermissionDenied(_l("Only the parties to the agreement sign it."))
    organization = next(m.organization for m in actor.user.memberships
                        if m.organization_id == party_id)
    permissions.require(actor.user, "agreements.sign", organization)
    passwords.require_reentered(actor.user, password, _l("Re-enter your password to sign."))
    actual = agreement_document.sha256_of(version.document)
    if actual != version.document_sha256:
        raise Conflict(_l("This version's text no longer matches its hash; it cannot be signed. "
                          "An operator has been told."),
                       {"document_sha256": [_l("the stored document was altered")]})
    if (document_sha256 or "").strip().lower() != actual:
        raise Conflict(_l("The text you read is not the text awaiting signature (it has "
                          "changed): read version %(version)s again and sign that.",
                          version=version.version),
                       {"document_sha256": [_l("does not match version %(version)s",
                                               version=version.version)]})
    signature = Signature(version=version, organization_id=party_id, user_id=actor.user_id,
                          signer_name=f"{actor.user.name} <{actor.user.email}>"[:200],
                          signed_at=now, ip_address=actor.ip, document_sha256=actual)
    db.session.add(signature)
    db.session.flush()
    audit.record(actor, "agreement.signed", SUBJECT, agreement.id, organization_id=party_id,
                 data={"version": version.version, "sha256": actual})
    db.session.refresh(version)
    signed = {s.organization_id for s in version.signatures}
    if set(agreement_document.party_ids(version.document)) <= signed:
        _bring_into_force(actor, agreement, version, now)
    return signature


def _bring_into_force(actor: Actor, agreement: Agreement, version: AgreementVersion,
                      now: datetime) -> None:
    previous = version_in_force(agreement)
    if previous is not None:
        previous.status = VersionStatus.SUPERSEDED
    version.status = VersionStatus.IN_FORCE
    version.in_force_at = now
    in_document = {a["allocation_id"] for a in version.document["allocations"]}
    for allocation in agreement.allocations:
        if allocation.id not in in_document:
            continue
        if allocation.status is AllocationStatus.PENDING:
            allocation.status = AllocationStatus.ACTIVE
            allocation.activated_at = now
        if allocation.renewal_end_date is not None:
            allocation.end_date = allocation.ends_on = allocation.renewal_end_date
            allocation.renewal_end_date = None
            allocation.renewal_notified_at = None
    agreement.status = AgreementStatus.ACTIVE
    db.session.flush()
    audit.record(actor, "agreement.in_force", SUBJECT, agreement.id,
                 organization_id=agreement.provider_id,
                 data={"version": version.version, "sha256": version.document_sha256})
    notifications.notify(agreement_document.party_ids(version.document), "agreement.active",
                         _params(agreement, version=version.version), link=link_for(agreement))


# --- renewal, notice, termination -----------------------------------------------------------

def _party_side(actor: Actor, allocation: Allocation) -> str | None:
    if permissions.membership_of(actor.user, allocation.manufacturer_id):
        return "manufacturer"
    if permissions.membership_of(actor.user, allocation.agreement.provider_id):
        return "provider"
    return None


def _require_manager(actor: Actor, allocation: Allocation) -> None:
    side = _party_side(actor, allocation)
    if side is None:
        raise PermissionDenied(_l("Only the manufacturer holding the allocation or the outlet's "
                                  "provider may do this."))
    organization = allocation.manufacturer if side == "manufacturer" else allocation.agreement.provider
    permissions.require(actor.user, "agreements.sign", organization)


def propose_renewal(actor: Actor, allocation_id: int, now: datetime | None = None) -> AgreementVersion:
    """Either side proposes renewing an allocation for another term, inside the renewal
    window: a new version every party signs; until then the current end stands."""
    now = now or utcnow()
    allocation = get_allocation(actor, allocation_id)
    _require_manager(actor, allocation)
    today = china_today(now)
    window = setting("AGREEMENT_RENEWAL_WINDOW_DAYS")
    if allocation.status is not AllocationStatus.ACTIVE or allocation.notice_given_at is not None:
        raise Conflict(_l("Only an active allocation without a notice can be renewed."))
    if today < allocation.end_date - timedelta(days=window):
        raise Conflict(_l("Renewal opens %(days)s days before the end (%(end)s).",
                          days=window, end=allocation.end_date.isoformat()))
    if allocation.renewal_end_date is not None:
        raise Conflict(_l("A renewal of this allocation already awaits signatures."))
    lock_offer(allocation.outlet_id)
    allocation.renewal_end_date = certificates.add_months(allocation.end_date, allocation.term_months)
    audit.record(actor, "agreement.renewal_proposed", SUBJECT, allocation.agreement_id,
                 organization_id=allocation.manufacturer_id,
                 data={"allocation_id": allocation.id,
                       "end_date": allocation.end_date.isoformat(),
                       "renewal_end_date": allocation.renewal_end_date.isoformat()})
    return _issue_version(actor, allocation.agreement, "renewal", now)


def give_notice(actor: Actor, allocation_id: int, reason: str | None,
                now: datetime | None = None) -> Allocation:
    """Terminate by notice: the allocation ends after the notice period (or at its end, if
    sooner); it counts, and holds capacity, until then."""
    now = now or utcnow()
    allocation = get_allocation(actor, allocation_id)
    _require_manager(actor, allocation)
    reason = text_fields.clean_reason(reason, required=False)
    if allocation.status is not AllocationStatus.ACTIVE:
        raise Conflict(_l("Notice can be given only on an active allocation."))
    if allocation.notice_given_at is not None:
        raise Conflict(_l("Notice was already given; the allocation ends on %(day)s.",
                          day=allocation.ends_on.isoformat()))
    ends_on = min(allocation.end_date,
                  china_today(now) + timedelta(days=setting("AGREEMENT_NOTICE_DAYS")))
    renewal_pending = allocation.renewal_end_date is not None
    allocation.notice_given_at = now
    allocation.notice_by_id = (allocation.manufacturer_id
                               if _party_side(actor, allocation) == "manufacturer"
                               else allocation.agreement.provider_id)
    allocation.ends_on = ends_on
    allocation.end_reason = reason
    allocation.renewal_end_date = None
    db.session.flush()
    agreement = allocation.agreement
    audit.record(actor, "agreement.notice_given", SUBJECT, agreement.id,
                 organization_id=allocation.notice_by_id,
                 data={"allocation_id": allocation.id, "ends_on": ends_on.isoformat(),
                       "reason": reason})
    if renewal_pending:  # the renewal's text must not be signed into force beside the notice
        _withdraw_renewal(actor, agreement, now)
    notifications.notify(_parties(agreement), "agreement.notice_given",
                         _params(agreement, manufacturer=allocation.manufacturer.legal_name,
                                 ends_on=ends_on.isoformat(), reason=reason or ""),
                         link=link_for(agreement))
    return allocation


def _withdraw_renewal(actor: Actor, agreement: Agreement, now: datetime) -> None:
    """Re-issue the version awaiting signatures without the withdrawn renewal, or just
    replace it when that renewal was all it changed."""
    if any(a.status is AllocationStatus.PENDING or a.renewal_end_date is not None
           for a in agreement.allocations):
        _issue_version(actor, agreement, "reissue", now)
        return
    version = pending_version(agreement)
    if version is not None:
        version.status = VersionStatus.REPLACED
        db.session.flush()
        audit.record(actor, "agreement.version_withdrawn", SUBJECT, agreement.id,
                     organization_id=agreement.provider_id, data={"version": version.version})


def _end(actor: Actor, allocation: Allocation, status: AllocationStatus, on: date,
         reason: str | None, now: datetime) -> None:
    allocation.status = status
    allocation.ends_on = min(allocation.ends_on, on) if status is not AllocationStatus.LAPSED \
        else allocation.ends_on
    allocation.end_reason = reason or allocation.end_reason
    allocation.renewal_end_date = None
    db.session.flush()
    audit.record(actor, f"agreement.allocation_{status.value}", SUBJECT, allocation.agreement_id,
                 organization_id=allocation.manufacturer_id,
                 data={"allocation_id": allocation.id, "ends_on": allocation.ends_on.isoformat(),
                       "reason": reason})


def _settle(actor: Actor, agreement: Agreement, now: datetime, *, reissue: bool) -> None:
    """After allocations ended: release capacity, re-issue a version still awaiting
    signatures (its parties changed), and end the agreement when nothing is held."""
    offer = lock_offer(agreement.outlet_id)
    refresh_available(agreement.outlet, offer)
    if reissue and pending_version(agreement) is not None:
        _issue_version(actor, agreement, "reissue", now)
    db.session.refresh(agreement)
    if not any(a.status in HOLDS_CAPACITY for a in agreement.allocations):
        agreement.status = (AgreementStatus.ENDED if version_in_force(agreement)
                            else AgreementStatus.LAPSED)
    db.session.flush()


def terminate(actor: Actor, agreement_id: int, reason: str | None, *,
              allocation_id: int | None = None, now: datetime | None = None) -> Agreement:
    """An operator ends one allocation, or the whole agreement, today."""
    now = now or utcnow()
    permissions.require_operator(actor.user, "contracts.moderate")
    reason = text_fields.clean_reason(reason)
    agreement = get_visible(actor, agreement_id, for_update=True)
    targets = [a for a in agreement.allocations if a.status in HOLDS_CAPACITY
               and (allocation_id is None or a.id == allocation_id)]
    if not targets:
        raise Conflict(_l("Nothing to terminate: no pending or active allocation."))
    today = china_today(now)
    for allocation in targets:
        status = (AllocationStatus.TERMINATED if allocation.status is AllocationStatus.ACTIVE
                  else AllocationStatus.LAPSED)
        _end(actor, allocation, status, today, reason, now)
    _settle(actor, agreement, now, reissue=True)
    notifications.notify([agreement.provider_id, *{a.manufacturer_id for a in targets}],
                         "agreement.terminated", _params(agreement, reason=reason),
                         link=link_for(agreement))
    return agreement


# --- outlet problems ------------------------------------------------------------------------

def flag_outlet(actor: Actor, outlet: Outlet, reason: str, now: datetime | None = None) -> int:
    """The outlet was suspended or lost its certificate: flag its open agreements and tell
    every party. Returns how many agreements were flagged."""
    now = now or utcnow()
    agreements = db.session.execute(select(Agreement).where(
        Agreement.outlet_id == outlet.id, Agreement.status.in_(OPEN))).scalars().all()
    for agreement in agreements:
        agreement.flagged_at = now
        agreement.flag_reason = reason
        db.session.flush()
        audit.record(actor, "agreement.flagged", SUBJECT, agreement.id,
                     organization_id=agreement.provider_id, data={"reason": reason})
        notifications.notify(_parties(agreement), "agreement.flagged",
                             _params(agreement, reason=reason), link=link_for(agreement))
    return len(agreements)


def outlet_problem(outlet: Outlet) -> bool:
    """Whether a reason to flag the outlet's agreements still holds: it is not listed, or
    it held a certificate and holds no valid one now."""
    from app.models import Certificate

    if outlet.status is not OutletStatus.LISTED:
        return True
    had_certificate = db.session.execute(
        select(exists().where(Certificate.outlet_id == outlet.id))).scalar()
    return bool(had_certificate) and not outlet.certified


def clear_outlet_flag(actor: Actor, outlet: Outlet) -> None:
    """Clear the flag once no reason for it remains (re-listed *and* certified again, where
    it was certified), and tell every party."""
    if outlet_problem(outlet):
        return
    for agreement in db.session.execute(select(Agreement).where(
            Agreement.outlet_id == outlet.id, Agreement.flagged_at.is_not(None))).scalars():
        agreement.flagged_at = None
        agreement.flag_reason = None
        audit.record(actor, "agreement.flag_cleared", SUBJECT, agreement.id,
                     organization_id=agreement.provider_id)
        notifications.notify(_parties(agreement), "agreement.flag_cleared",
                             _params(agreement), link=link_for(agreement))


# --- time-driven steps (tick) ---------------------------------------------------------------

TICK = Actor(label="tick")


def lapse_unsigned(now: datetime) -> int:
    """Versions not signed by every party in time lapse; what they added is released."""
    versions = db.session.execute(select(AgreementVersion).where(
        AgreementVersion.status == VersionStatus.PENDING, AgreementVersion.sign_by <= now)
        .order_by(AgreementVersion.id)).scalars().all()
    for version in versions:
        agreement = version.agreement
        lock_offer(agreement.outlet_id)
        db.session.refresh(version)
        if version.status is not VersionStatus.PENDING:
            continue
        version.status = VersionStatus.LAPSED
        signed = {s.organization_id for s in version.signatures}
        missing = [p for p in agreement_document.party_ids(version.document) if p not in signed]
        for allocation in agreement.allocations:
            if allocation.status is AllocationStatus.PENDING:
                _end(TICK, allocation, AllocationStatus.LAPSED, china_today(now),
                     "not signed in time", now)
            allocation.renewal_end_date = None
        audit.record(TICK, "agreement.version_lapsed", SUBJECT, agreement.id,
                     organization_id=agreement.provider_id,
                     data={"version": version.version, "unsigned": missing})
        notifications.notify(agreement_document.party_ids(version.document), "agreement.lapsed",
                             _params(agreement, version=version.version),
                             link=link_for(agreement))
        _settle(TICK, agreement, now, reissue=False)
    return len(versions)


def end_due(now: datetime) -> int:
    """Active allocations whose end (term or notice) has come expire or terminate."""
    today = china_today(now)
    due = db.session.execute(select(Allocation).where(
        Allocation.status == AllocationStatus.ACTIVE, Allocation.ends_on <= today)
        .order_by(Allocation.id)).scalars().all()
    for allocation in due:
        agreement = allocation.agreement
        by_notice = allocation.notice_given_at is not None and allocation.ends_on < allocation.end_date
        status = AllocationStatus.TERMINATED if by_notice else AllocationStatus.EXPIRED
        _end(TICK, allocation, status, allocation.ends_on, None, now)
        notifications.notify([agreement.provider_id, allocation.manufacturer_id],
                             "agreement.allocation_ended",
                             _params(agreement, manufacturer=allocation.manufacturer.legal_name,
                                     ends_on=allocation.ends_on.isoformat()),
                             link=link_for(agreement))
        _settle(TICK, agreement, now, reissue=True)
    return len(due)


def remind_renewals(now: datetime) -> int:
    """Once per term, tell both sides an allocation enters its renewal window."""
    today = china_today(now)
    window = setting("AGREEMENT_RENEWAL_WINDOW_DAYS")
    due = db.session.execute(select(Allocation).where(
        Allocation.status == AllocationStatus.ACTIVE, Allocation.renewal_notified_at.is_(None),
        Allocation.notice_given_at.is_(None),
        Allocation.end_date <= today + timedelta(days=window))
        .order_by(Allocation.id)).scalars().all()
    for allocation in due:
        allocation.renewal_notified_at = now
        agreement = allocation.agreement
        db.session.flush()
        audit.record(TICK, "agreement.renewal_reminded", SUBJECT, agreement.id,
                     organization_id=allocation.manufacturer_id,
                     data={"allocation_id": allocation.id,
                           "end_date": allocation.end_date.isoformat()})
        notifications.notify([agreement.provider_id, allocation.manufacturer_id],
                             "agreement.renewal_due",
                             _params(agreement, manufacturer=allocation.manufacturer.legal_name,
                                     end_date=allocation.end_date.isoformat()),
                             link=link_for(agreement))
    return len(due)


@job("agreements.lapse_unsigned")
def lapse_unsigned_job(now: datetime) -> int:
    return lapse_unsigned(now)


@job("agreements.end_due")
def end_due_job(now: datetime) -> int:
    return end_due(now)


@job("agreements.renewal_reminders")
def renewal_reminders_job(now: datetime) -> int:
    return remind_renewals(now)
