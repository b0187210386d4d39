"""Requests for capacity and their negotiation.

A verified manufacturer requests capacity at a listed outlet's offer; the provider accepts,
declines with a reason, or counters (tonnage, price, term); the manufacturer accepts the
counter or withdraws. A request nobody answers in time expires (tick); an operator may
cancel any open request with a reason. Every move is one row of TRANSITIONS, audited and
told to the other side. Acceptance takes the capacity (services.agreements.allocate) in the
same transaction, or is refused because the capacity ran out.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    Agreement,
    Allocation,
    AuditEvent,
    CapacityRequest,
    ContractForm,
    CoveragePlan,
    Outlet,
    OutletStatus,
    RequestStatus,
)
from app.models.types import utcnow
from services import (
    agreements,
    audit,
    certificates,
    data_versions,
    notifications,
    paging,
    permissions,
    text_fields,
)
from services.audit import Actor
from services.certifiers import china_today
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.money import MAX_FEN
from services.tick import job

SUBJECT = "capacity_request"
TEXT_LIMIT = 2000
MAX_TERM_MONTHS = 240
MAX_LEAD_DAYS = 730  # a start more than two years out is a typo


class Side(enum.StrEnum):
    MANUFACTURER = "manufacturer"
    PROVIDER = "provider"
    OPERATOR = "operator"
    SYSTEM = "system"


@dataclass(frozen=True)
class Step:
    to: RequestStatus
    side: Side
    permission: str | None
    event: str


R = RequestStatus
_M, _P, _O = Side.MANUFACTURER, Side.PROVIDER, Side.OPERATOR
OPEN = (R.REQUESTED, R.COUNTERED)

# (from status, action) -> Step. Anything not here is refused with 409.
TRANSITIONS: dict[tuple[RequestStatus | None, str], Step] = {
    (None, "request"): Step(R.REQUESTED, _M, "capacity.contract", "request.received"),
    (R.REQUESTED, "accept"): Step(R.ACCEPTED, _P, "capacity.respond", "request.accepted"),
    (R.REQUESTED, "decline"): Step(R.DECLINED, _P, "capacity.respond", "request.declined"),
    (R.REQUESTED, "counter"): Step(R.COUNTERED, _P, "capacity.respond", "request.countered"),
    (R.COUNTERED, "accept_counter"): Step(R.ACCEPTED, _M, "capacity.contract",
                                          "request.counter_accepted"),
    (R.REQUESTED, "withdraw"): Step(R.WITHDRAWN, _M, "capacity.contract", "request.withdrawn"),
    (R.COUNTERED, "withdraw"): Step(R.WITHDRAWN, _M, "capacity.contract", "request.withdrawn"),
    (R.REQUESTED, "cancel"): Step(R.CANCELLED, _O, "contracts.moderate", "request.cancelled"),
    (R.COUNTERED, "cancel"): Step(R.CANCELLED, _O, "contracts.moderate", "request.cancelled"),
    (R.REQUESTED, "expire"): Step(R.EXPIRED, Side.SYSTEM, None, "request.expired"),
    (R.COUNTERED, "expire"): Step(R.EXPIRED, Side.SYSTEM, None, "request.expired"),
}

STATUS_LABELS = {
    R.REQUESTED: _l("Awaiting the provider"), R.COUNTERED: _l("Countered: awaiting the manufacturer"),
    # a provider accepts (接受) or declines a request; a certifier accepts (受理) an application
    R.ACCEPTED: _lp("capacity request", "Accepted"), R.DECLINED: _lp("capacity request", "Declined"),
    R.WITHDRAWN: _l("Withdrawn"),
    R.EXPIRED: _l("Expired"), R.CANCELLED: _l("Cancelled by an operator"),
}
FORM_LABELS = {
    ContractForm.CO_BUILT: _l("Co-built"), ContractForm.AUTHORIZED: _l("Authorized"),
    ContractForm.SHARED_USE: _l("Shared use"),
}
ACTION_LABELS = {
    "accept": _l("Accept"), "decline": _l("Decline"), "counter": _l("Counter"),
    "accept_counter": _l("Accept the counter"), "withdraw": _l("Withdraw"),
    "cancel": _l("Cancel"),
}


# --- pure rules -----------------------------------------------------------------------------

def step_for(status: RequestStatus | None, action: str) -> Step | None:
    return TRANSITIONS.get((status, action))


def actions_for(status: RequestStatus, side: Side | None) -> list[str]:
    return [action for (frm, action), step in TRANSITIONS.items()
            if frm is status and step.side is side]


def response_days() -> int:
    if has_app_context():
        return int(current_app.config.get("REQUEST_RESPONSE_DAYS", 7))
    return 7


def _number(value, name: str, errors: dict, *, low: float, high: float, whole: bool):
    if value is None or value == "" or isinstance(value, bool):
        errors[name] = [_l("is required")]
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[name] = [_l("must be a whole number") if whole else _l("must be a number")]
        return None
    if not math.isfinite(number) or (whole and number != int(number)):
        errors[name] = [_l("must be a whole number") if whole else _l("must be a number")]
        return None
    if not low <= number <= high:
        errors[name] = [_l("must be between %(low)s and %(high)s", low=low, high=high)]
        return None
    return int(number) if whole else round(number, 3)


def check_terms(data: dict, offer, today: date, *, countering: bool) -> dict:
    """Validate proposed terms against the offer; {field: [messages]} on failure.

    A request takes the offer's prices and at least its minimum term; a counter may change
    tonnage, prices and term (the provider is the one bending its own offer)."""
    errors: dict = {}
    clean: dict = {}
    clean["tonnes_per_year"] = _number(data.get("tonnes_per_year"), "tonnes_per_year", errors,
                                       low=0.001, high=offer.capacity_t_per_year, whole=False)
    min_term = 1 if countering else offer.min_term_months
    clean["term_months"] = _number(data.get("term_months"), "term_months", errors,
                                   low=min_term, high=MAX_TERM_MONTHS, whole=True)
    raw = data.get("start_date")
    start = None
    if raw in (None, ""):
        errors["start_date"] = [_l("is required")]
    else:
        try:
            start = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            errors["start_date"] = [_l("must be a date like 2026-01-31")]
    if start is not None:
        earliest = max(today, offer.available_from)
        if start < earliest:
            errors["start_date"] = [_l("must be on or after %(day)s", day=earliest.isoformat())]
        elif start > today + timedelta(days=MAX_LEAD_DAYS):
            errors["start_date"] = [_l("must be within two years")]
    clean["start_date"] = start
    if start and clean["term_months"] and offer.available_to:
        end = certificates.add_months(start, clean["term_months"])
        if end > offer.available_to:
            errors["term_months"] = [_l("the term would end on %(end)s, after the offer ends "
                                        "(%(to)s)", end=end.isoformat(),
                                        to=offer.available_to.isoformat())]
    if not countering:
        try:
            clean["form"] = ContractForm(data.get("form") or ContractForm.SHARED_USE.value)
        except ValueError:
            errors["form"] = [_l("must be one of %(allowed)s",
                                 allowed=", ".join(f.value for f in ContractForm))]
        clean["annual_fee_fen"] = offer.annual_fee_fen
        clean["handling_fee_fen_per_t"] = offer.handling_fee_fen_per_t
    else:
        for name in ("annual_fee_fen", "handling_fee_fen_per_t"):
            clean[name] = _number(data.get(name), name, errors, low=0, high=MAX_FEN, whole=True)
    clean["message"] = text_fields.clean_text(data.get("message"), "message", errors, limit=TEXT_LIMIT,
                                              required=False)
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    return clean


# --- lookups (scoped by the caller's organizations in the query) ----------------------------

def _visible(actor: Actor):
    query = select(CapacityRequest)
    if permissions.is_operator(actor):
        return query
    ids = permissions.member_org_ids(actor)
    return query.where(or_(CapacityRequest.manufacturer_id.in_(ids),
                           CapacityRequest.provider_id.in_(ids)))


def get_visible(actor: Actor, request_id: int, *, for_update: bool = False) -> CapacityRequest:
    query = _visible(actor).where(CapacityRequest.id == request_id)
    if for_update:
        audit.serialize_writes()
        query = query.with_for_update(of=CapacityRequest).execution_options(populate_existing=True)
    request = db.session.execute(query).scalar_one_or_none()
    if request is None:
        raise NotFound("capacity request", request_id)
    return request


def list_for(actor: Actor, *, role: str | None = None, status: str | None = None,
             outlet_id: int | None = None, page: int = 1,
             per_page: int | None = None) -> tuple[list[CapacityRequest], int]:
    """The caller's requests, latest move first, and how many: `role` manufacturer (sent) or
    provider (received); operators see every request."""
    query = _visible(actor)
    ids = permissions.member_org_ids(actor)
    if role == "manufacturer":
        query = query.where(CapacityRequest.manufacturer_id.in_(ids))
    elif role == "provider":
        query = query.where(CapacityRequest.provider_id.in_(ids))
    elif role not in (None, ""):
        raise ValidationFailed(_l("Unknown role."), {"role": [_l(
            "must be one of %(allowed)s", allowed="manufacturer, provider")]})
    if status:
        try:
            query = query.where(CapacityRequest.status == RequestStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."), {"status": [_l(
                "must be one of %(allowed)s", allowed=", ".join(s.value for s in R))]}) from exc
    if outlet_id:
        query = query.where(CapacityRequest.outlet_id == outlet_id)
    return paging.page_of(query, CapacityRequest.last_action_at.desc(), CapacityRequest.id.desc(),
                          page=page, per_page=per_page)


def standing_at(maker_id: int, outlet_id: int) -> tuple[CapacityRequest | None, Allocation | None]:
    """A manufacturer's latest open request at an outlet, and the allocation it holds there:
    what the outlet's page tells it. Where it stands at every outlet is kept until a request,
    allocation or agreement changes (the `contracts` data version), so an outlet page where it
    has neither, most of them, asks the database nothing; two reads each time had been a tenth
    of the page's work."""
    request_id, allocation_id = data_versions.cached(
        "contracts", ("standings", maker_id), lambda: _standings_of(maker_id)).get(outlet_id, (None, None))
    request = db.session.get(CapacityRequest, request_id) if request_id else None
    held = db.session.execute(
        select(Allocation).where(Allocation.id == allocation_id).options(joinedload(Allocation.agreement))
    ).scalar_one() if allocation_id else None
    return request, held


def _standings_of(maker_id: int) -> dict[int, tuple[int | None, int | None]]:
    """outlet id -> (its latest open request, the allocation held there), ids, for a maker."""
    latest: dict[int, int] = {}
    for outlet_id, request_id in db.session.execute(
        select(CapacityRequest.outlet_id, CapacityRequest.id)
        .where(CapacityRequest.manufacturer_id == maker_id, CapacityRequest.status.in_(OPEN))
        .order_by(CapacityRequest.last_action_at.desc(), CapacityRequest.id.desc())
    ):
        latest.setdefault(outlet_id, request_id)
    held: dict[int, int] = {}
    for outlet_id, allocation_id in db.session.execute(
        select(Agreement.outlet_id, Allocation.id).join(Allocation.agreement)
        .where(Allocation.manufacturer_id == maker_id, Allocation.status.in_(agreements.HOLDS_CAPACITY))
        .order_by(Agreement.updated_at.desc(), Agreement.id.desc(), Allocation.id)
    ):
        held.setdefault(outlet_id, allocation_id)
    return {outlet: (latest.get(outlet), held.get(outlet)) for outlet in latest.keys() | held.keys()}


def side_of(actor: Actor, request: CapacityRequest) -> Side | None:
    if permissions.membership_of(actor.user, request.manufacturer_id):
        return Side.MANUFACTURER
    if permissions.membership_of(actor.user, request.provider_id):
        return Side.PROVIDER
    if permissions.is_operator(actor):
        return Side.OPERATOR
    return None


def allocation_of(request: CapacityRequest) -> Allocation | None:
    return db.session.execute(select(Allocation).where(Allocation.request_id == request.id)
                              ).scalar_one_or_none()


def history(request: CapacityRequest) -> list[AuditEvent]:
    """The negotiation so far, oldest first (the caller has already seen the request)."""
    return list(db.session.execute(
        select(AuditEvent).where(AuditEvent.subject_type == SUBJECT,
                                 AuditEvent.subject_id == str(request.id))
        .order_by(AuditEvent.id)).scalars())


# --- the steps ------------------------------------------------------------------------------

def link_for(request: CapacityRequest) -> str:
    return f"/contracts/requests/{request.id}"


def _params(request: CapacityRequest, **extra) -> dict:
    return {"outlet": request.outlet.name, "manufacturer": request.manufacturer.legal_name,
            "provider": request.provider.legal_name, "tonnes": request.tonnes_per_year, **extra}


def _check(actor: Actor, request: CapacityRequest | None, action: str,
           acting_org=None) -> Step:
    step = step_for(request.status if request else None, action)
    if step is None:
        raise Conflict(_l("Not possible while the request is %(status)s.",
                          status=STATUS_LABELS[request.status]))
    if step.side is Side.OPERATOR:
        permissions.require_operator(actor.user, step.permission)
    elif step.side is not Side.SYSTEM:
        organization = acting_org or (request.manufacturer if step.side is _M else request.provider)
        permissions.require(actor.user, step.permission, organization)
    return step


def _finish(actor: Actor, request: CapacityRequest, step: Step, action: str, now: datetime, *,
            data: dict | None = None, params: dict | None = None,
            creating: bool = False) -> CapacityRequest:
    previous = None if creating else request.status
    request.status = step.to
    request.last_action_at = now
    if step.to in OPEN:
        request.respond_by = now + timedelta(days=response_days())
    db.session.flush()
    acting = {_M: request.manufacturer_id, _P: request.provider_id}.get(step.side)
    audit.record(actor, f"capacity_request.{action}", SUBJECT, request.id,
                 organization_id=acting or request.provider_id,
                 data={"from": previous.value if previous else None, "to": step.to.value,
                       **(data or {})})
    told = {_M: [request.provider_id], _P: [request.manufacturer_id]}.get(
        step.side, [request.manufacturer_id, request.provider_id])
    notifications.notify(told, step.event, _params(request, **(params or {})),
                         link=link_for(request))
    return request


def _listed_offer(outlet_id) -> Outlet:
    try:
        outlet = db.session.get(Outlet, int(outlet_id))
    except (TypeError, ValueError):
        outlet = None
    if outlet is None or outlet.status is not OutletStatus.LISTED:
        raise ValidationFailed(_l("Choose a listed outlet."),
                               {"outlet_id": [_l("is not a listed outlet")]})
    if outlet.offer is None:
        raise Conflict(_l("This outlet offers no capacity for sharing."),
                       {"outlet_id": [_l("offers no capacity")]})
    return outlet


def create(actor: Actor, manufacturer, data: dict, *, now: datetime | None = None,
           coverage_plan: CoveragePlan | None = None) -> CapacityRequest:
    """A manufacturer requests capacity at a listed outlet's offer."""
    now = now or utcnow()
    step = _check(actor, None, "request", acting_org=manufacturer)
    outlet = _listed_offer(data.get("outlet_id"))
    audit.serialize_writes()
    clean = check_terms(data, outlet.offer, china_today(now), countering=False)
    left = agreements.capacity_left(outlet.id) or 0.0
    if clean["tonnes_per_year"] > left + agreements.EPSILON_T:
        raise Conflict(_l("Only %(left)s t/year are free at this outlet.", left=max(left, 0)),
                       {"tonnes_per_year": [_l("at most %(left)s t/year are free",
                                               left=max(left, 0))]})
    if db.session.execute(select(CapacityRequest.id).where(
            CapacityRequest.manufacturer_id == manufacturer.id,
            CapacityRequest.outlet_id == outlet.id,
            CapacityRequest.status.in_(OPEN))).first():
        raise Conflict(_l("You already have an open request at this outlet."),
                       {"outlet_id": [_l("already has your open request")]})
    if db.session.execute(select(Allocation.id).where(
            Allocation.manufacturer_id == manufacturer.id, Allocation.outlet_id == outlet.id,
            Allocation.status.in_(agreements.HOLDS_CAPACITY))).first():
        raise Conflict(_l("You already hold capacity at this outlet."),
                       {"outlet_id": [_l("already holds your allocation")]})
    request = CapacityRequest(
        outlet=outlet, manufacturer_id=manufacturer.id, provider_id=outlet.provider_id,
        coverage_plan_id=coverage_plan.id if coverage_plan else None,
        status=R.REQUESTED, created_by_id=actor.user_id, created_at=now, last_action_at=now,
        respond_by=now + timedelta(days=response_days()), **clean)
    db.session.add(request)
    return _finish(actor, request, step, "request", now, creating=True,
                   data={k: (v.isoformat() if isinstance(v, date) else
                             v.value if isinstance(v, enum.Enum) else v)
                         for k, v in clean.items()} | {"outlet_id": outlet.id})


def _begin(actor: Actor, request_id: int, action: str) -> tuple[CapacityRequest, Step]:
    request = get_visible(actor, request_id, for_update=True)
    return request, _check(actor, request, action)


def accept(actor: Actor, request_id: int, *, now: datetime | None = None) -> CapacityRequest:
    """The provider accepts the request as it stands: the capacity is taken now, or the
    acceptance is refused because it ran out."""
    return _accept(actor, request_id, "accept", now or utcnow())


def accept_counter(actor: Actor, request_id: int, *,
                   now: datetime | None = None) -> CapacityRequest:
    return _accept(actor, request_id, "accept_counter", now or utcnow())


def _accept(actor: Actor, request_id: int, action: str, now: datetime) -> CapacityRequest:
    request, step = _begin(actor, request_id, action)
    if request.start_date < china_today(now):
        raise Conflict(_l("The proposed start date has passed; counter with a new date."),
                       {"start_date": [_l("is in the past")]})
    if request.outlet.status is not OutletStatus.LISTED:  # suspended since the request was made
        raise Conflict(_l("Only a listed outlet can offer capacity."),
                       {"outlet_id": [_l("is not a listed outlet")]})
    allocation = agreements.allocate(actor, request, now)
    return _finish(actor, request, step, action, now,
                   data={"allocation_id": allocation.id,
                         "agreement_id": allocation.agreement_id},
                   params={"number": allocation.agreement.number})


def decline(actor: Actor, request_id: int, reason: str | None, *,
            now: datetime | None = None) -> CapacityRequest:
    return _close_with_reason(actor, request_id, "decline", reason, now or utcnow())


def cancel(actor: Actor, request_id: int, reason: str | None, *,
           now: datetime | None = None) -> CapacityRequest:
    return _close_with_reason(actor, request_id, "cancel", reason, now or utcnow())


def _close_with_reason(actor: Actor, request_id: int, action: str, reason, now) -> CapacityRequest:
    request, step = _begin(actor, request_id, action)
    text = text_fields.clean_reason(reason)
    request.reason = text
    return _finish(actor, request, step, action, now, data={"reason": text},
                   params={"reason": text})


def withdraw(actor: Actor, request_id: int, reason: str | None = None, *,
             now: datetime | None = None) -> CapacityRequest:
    request, step = _begin(actor, request_id, "withdraw")
    text = text_fields.clean_reason(reason, required=False)
    request.reason = text
    return _finish(actor, request, step, "withdraw", now or utcnow(), data={"reason": text},
                   params={"reason": text or ""})


def counter(actor: Actor, request_id: int, data: dict, *,
            now: datetime | None = None) -> CapacityRequest:
    """The provider proposes other terms; unchanged fields keep the request's values."""
    now = now or utcnow()
    request, step = _begin(actor, request_id, "counter")
    current = {"tonnes_per_year": request.tonnes_per_year, "term_months": request.term_months,
               "start_date": request.start_date, "annual_fee_fen": request.annual_fee_fen,
               "handling_fee_fen_per_t": request.handling_fee_fen_per_t}
    proposed = {**current, **{k: v for k, v in data.items() if v not in (None, "")}}
    clean = check_terms(proposed, request.outlet.offer, china_today(now), countering=True)
    message = clean.pop("message")
    changed = {k: v for k, v in clean.items() if v != current[k]}
    if not changed:
        raise ValidationFailed(_l("A counter must change the tonnage, a price, the start or "
                                  "the term."), {"tonnes_per_year": [_l("unchanged")]})
    before = {k: (current[k].isoformat() if isinstance(current[k], date) else current[k])
              for k in changed}
    for name, value in changed.items():
        setattr(request, name, value)
    request.message = message or request.message
    return _finish(actor, request, step, "counter", now,
                   data={"before": before, "after": {
                       k: (v.isoformat() if isinstance(v, date) else v)
                       for k, v in changed.items()}, "message": message})


# --- from a coverage plan -------------------------------------------------------------------

def from_plan(actor: Actor, manufacturer, plan: CoveragePlan, data: dict, *,
              now: datetime | None = None) -> list[CapacityRequest]:
    """One request per outlet the plan chose, sized to the tonnage it assigned (at least
    1 t), starting on `start_date` (default today) for each offer's minimum term. All or
    nothing: one outlet that cannot take a request refuses the lot, naming it."""
    now = now or utcnow()
    permissions.require(actor.user, "capacity.contract", manufacturer)
    chosen = (plan.result or {}).get("outlets") or []
    if not chosen:
        raise Conflict(_l("This plan chose no outlet."))
    start = data.get("start_date") or china_today(now).isoformat()
    form = data.get("form") or ContractForm.SHARED_USE.value
    made, errors = [], {}
    for index, item in enumerate(chosen):
        outlet = db.session.get(Outlet, item["id"])
        offer = outlet.offer if outlet else None
        tonnes = max(1.0, math.ceil(float(item.get("tonnes_assigned") or 0) * 10) / 10)
        if offer is not None:
            tonnes = min(tonnes, offer.capacity_t_per_year)
        try:
            with db.session.begin_nested():
                made.append(create(actor, manufacturer, {
                    "outlet_id": item["id"], "tonnes_per_year": tonnes, "start_date": start,
                    "term_months": offer.min_term_months if offer else 12, "form": form,
                    "message": data.get("message")}, now=now, coverage_plan=plan))
        except (ValidationFailed, Conflict, PermissionDenied) as error:
            # A validation failure's message is generic; its field messages say what is wrong.
            detail = "; ".join(f"{name}: {message}" for name, messages in error.fields.items()
                               for message in messages) if isinstance(error, ValidationFailed) else ""
            errors[f"outlets.{index}"] = [f"{item.get('name')} (#{item['id']}): {error.message}"
                                          + (f" ({detail})" if detail else "")]
    if errors:
        raise Conflict(_l("Some of the plan's outlets cannot take a request now; nothing was "
                          "sent."), errors)
    return made


# --- the tick -------------------------------------------------------------------------------

TICK = Actor(label="tick")


def expire_unanswered(now: datetime) -> int:
    due = db.session.execute(select(CapacityRequest.id).where(
        CapacityRequest.status.in_(OPEN), CapacityRequest.respond_by <= now)
        .order_by(CapacityRequest.id)).scalars().all()
    expired = 0
    for request_id in due:
        audit.serialize_writes()
        request = db.session.execute(
            select(CapacityRequest).where(CapacityRequest.id == request_id)
            .with_for_update().execution_options(populate_existing=True)).scalar_one()
        step = step_for(request.status, "expire")
        if step is None or request.respond_by > now:
            continue  # answered meanwhile
        waited_on = request.provider if request.status is R.REQUESTED else request.manufacturer
        _finish(TICK, request, step, "expire", now, data={"waited_on": waited_on.id},
                params={"waited_on": waited_on.legal_name})
        expired += 1
    return expired


@job("capacity_requests.expire")
def expire_job(now: datetime) -> int:
    return expire_unanswered(now)
