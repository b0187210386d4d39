"""Handling records: the tonnes of retired batteries a provider handled for a manufacturer
under an allocation, the manufacturer's disputes, and what invoicing may charge.

Rules
-----
- The outlet's provider records a day's handled tonnes under an allocation that counted that
  day (signed, started, not ended: `invoices.counted_window`), never for a future day.
  Tonnes are more than 0 with at most three decimals and are stored as integer kilograms,
  so nothing is ever a float. The allocation's price per tonne is frozen on the record.
- The manufacturer may dispute a record, with a reason, until `dispute_by` (recorded_at +
  HANDLING_DISPUTE_DAYS, 14 by default, frozen on the record).
- The provider may correct a record not yet invoiced (a new record superseding it, with a
  dispute window of its own) or withdraw it. A disputed record is never invoiced; it waits
  for one of those two.
- Invoicing charges a record once: when it is undisputed and its dispute window has closed,
  on the first invoice of its agreement and maker issued after that (normally its own
  period's; a record dated in a period already invoiced goes on the next one, with a note).
  `invoices.issue` marks it with the invoice's id in the same transaction. The fee of a line
  is total kilograms x price per tonne / 1000, rounded once, half up, to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from app.extensions import db
from app.models import Agreement, Allocation, HandlingRecord, HandlingStatus, Organization
from app.models.types import utcnow
from services import audit, money, notifications, permissions
from services.audit import Actor
from services.certifiers import china_today
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

SUBJECT = "handling_record"
DEFAULTS = {"HANDLING_DISPUTE_DAYS": 14}
MAX_KILOGRAMS = 10_000_000  # 10,000 t in one record: far above a day's work at any outlet
TEXT_LIMIT = 2000
CODES_LIMIT = 20_000
OPEN = (HandlingStatus.RECORDED, HandlingStatus.DISPUTED)

STATUS_LABELS = {
    HandlingStatus.RECORDED: _l("Recorded"), HandlingStatus.DISPUTED: _l("Disputed"),
    HandlingStatus.SUPERSEDED: _l("Corrected"), HandlingStatus.WITHDRAWN: _l("Withdrawn"),
}


def dispute_days() -> int:
    if has_app_context():
        return int(current_app.config.get("HANDLING_DISPUTE_DAYS", DEFAULTS["HANDLING_DISPUTE_DAYS"]))
    return DEFAULTS["HANDLING_DISPUTE_DAYS"]


# --- pure computation -----------------------------------------------------------------------

def kilograms_from_tonnes(value) -> int:
    """'12.345' (or 12.345, or Decimal) tonnes -> 12345 kg; ValueError unless more than 0,
    at most three decimals and at most MAX_KILOGRAMS."""
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    try:
        tonnes = Decimal(str(value).strip().replace(",", "").replace("，", ""))
    except InvalidOperation as exc:
        raise ValueError(value) from exc
    if not tonnes.is_finite():
        raise ValueError(value)
    kilograms = tonnes * 1000
    if kilograms != kilograms.to_integral_value() or not 0 < kilograms <= MAX_KILOGRAMS:
        raise ValueError(value)
    return int(kilograms)


def tonnes_text(kilograms: int) -> str:
    """12345 -> '12.345', 12000 -> '12', 500 -> '0.5' (exact: integer arithmetic only)."""
    whole, rest = divmod(kilograms, 1000)
    return f"{whole}.{rest:03d}".rstrip("0").rstrip(".") if rest else str(whole)


def fee_fen(kilograms: int, fen_per_t: int) -> int:
    """kilograms x fen per tonne / 1000, rounded half up to the fen (never negative here)."""
    return (kilograms * fen_per_t + 500) // 1000


def yuan_text(fen: int) -> str:
    return f"{money.yuan(fen):,}"


def invoice_lines(records: list[HandlingRecord], start: date, outlet: str) -> list[dict]:
    """One invoice line per price: the period's records, and apart (with a note) those
    dated before `start`, in a period already invoiced. Each line rounds once."""
    groups: dict[tuple[bool, int], list[HandlingRecord]] = defaultdict(list)
    for record in records:
        groups[(record.handled_on < start, record.fee_fen_per_t)].append(record)
    lines = []
    for (late, price), rows in sorted(groups.items()):
        kilograms = sum(r.kilograms for r in rows)
        first = min(r.handled_on for r in rows).isoformat()
        last = max(r.handled_on for r in rows).isoformat()
        t, y = tonnes_text(kilograms), yuan_text(price)
        if late:
            zh = (f"处理费：{t} 吨 × ¥{y}/吨（{outlet}，{len(rows)} 条记录，处理于 {first} 至 {last}，"
                  f"属已开票期间，本期补开）")
            en = (f"Handling fee: {t} t × ¥{y}/t ({outlet}, {len(rows)} records handled "
                  f"{first} to {last}, in a period already invoiced: charged now)")
        else:
            zh = f"处理费：{t} 吨 × ¥{y}/吨（{outlet}，{len(rows)} 条记录，处理于 {first} 至 {last}）"
            en = (f"Handling fee: {t} t × ¥{y}/t ({outlet}, {len(rows)} records handled "
                  f"{first} to {last})")
        lines.append({"kind": "handling_fee", "description_zh": zh[:300], "description_en": en[:300],
                      "net_fen": fee_fen(kilograms, price),
                      "data": {"record_ids": sorted(r.id for r in rows), "kilograms": kilograms,
                               "fee_fen_per_t": price, "late": late}})
    return lines


# --- lookups (scoped by the caller's organizations in the query) ----------------------------

def get_allocation(actor: Actor, allocation_id: int) -> Allocation:
    """An allocation the caller's organization is party to (any, for operators)."""
    query = select(Allocation).join(Agreement, Agreement.id == Allocation.agreement_id).where(
        Allocation.id == allocation_id)
    if not permissions.is_operator(actor):
        ids = permissions.member_org_ids(actor)
        query = query.where(or_(Agreement.provider_id.in_(ids), Allocation.manufacturer_id.in_(ids)))
    allocation = db.session.execute(query).scalar_one_or_none()
    if allocation is None:
        raise NotFound("allocation", allocation_id)
    return allocation


def visible(actor: Actor):
    query = select(HandlingRecord)
    if permissions.is_operator(actor):
        return query
    ids = permissions.member_org_ids(actor)
    return query.where(or_(HandlingRecord.provider_id.in_(ids), HandlingRecord.manufacturer_id.in_(ids)))


def get_visible(actor: Actor, record_id: int, *, for_update: bool = False) -> HandlingRecord:
    query = visible(actor).where(HandlingRecord.id == record_id)
    if for_update:
        audit.serialize_writes()
        query = query.with_for_update().execution_options(populate_existing=True)
    record = db.session.execute(query).scalar_one_or_none()
    if record is None:
        raise NotFound("handling record", record_id)
    return record


def list_for_allocation(actor: Actor, allocation_id: int) -> list[HandlingRecord]:
    allocation = get_allocation(actor, allocation_id)
    return list(db.session.execute(visible(actor).where(
        HandlingRecord.allocation_id == allocation.id).order_by(
        HandlingRecord.handled_on.desc(), HandlingRecord.id.desc())).scalars())


def state_of(record: HandlingRecord, now: datetime | None = None) -> str:
    """What a reader sees: invoiced, or the status, with 'recorded' split by the window."""
    if record.invoice_id is not None:
        return "invoiced"
    if record.status is HandlingStatus.RECORDED:
        return "open_to_dispute" if (now or utcnow()) < record.dispute_by else "to_invoice"
    return record.status.value


def may_dispute(record: HandlingRecord, now: datetime | None = None) -> bool:
    return state_of(record, now) == "open_to_dispute"


def may_change(record: HandlingRecord) -> bool:
    return record.status in OPEN and record.invoice_id is None


# --- changes --------------------------------------------------------------------------------

def _side(actor: Actor, allocation: Allocation, action: str) -> Organization:
    """The provider (record, correct, withdraw) or the maker (dispute), permission checked."""
    if action == "handling.record":
        organization_id = allocation.agreement.provider_id
        refusal = _l("Only the outlet's provider records, corrects or withdraws handled tonnes.")
    else:
        organization_id = allocation.manufacturer_id
        refusal = _l("Only the manufacturer holding the allocation may dispute its handling records.")
    if permissions.membership_of(actor.user, organization_id) is None:
        raise PermissionDenied(refusal)
    organization = db.session.get(Organization, organization_id)
    permissions.require(actor.user, action, organization)
    return organization


def _text(value, limit: int, field: str, errors: dict) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = [_l("must be text")]
        return None
    text = value.strip()
    if len(text) > limit:
        errors[field] = [_l("at most %(n)s characters", n=limit)]
    return text or None


def _day(value, errors: dict) -> date | None:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors["handled_on"] = [_l("is required, a date as YYYY-MM-DD")]
    return None


def _validated(allocation: Allocation, data: dict, today: date) -> dict:
    """The record's fields from `data`, every bad one named at once."""
    from services.invoices import counted_window

    errors: dict[str, list] = {}
    handled_on = _day(data.get("handled_on"), errors)
    try:
        kilograms = kilograms_from_tonnes(data.get("tonnes"))
    except ValueError:
        kilograms = None
        errors["tonnes"] = [_l("must be more than 0 and at most %(max)s, with at most three "
                               "decimals (kilograms)", max=f"{MAX_KILOGRAMS // 1000:,}")]
    codes = _text(data.get("battery_codes"), CODES_LIMIT, "battery_codes", errors)
    notes = _text(data.get("notes"), TEXT_LIMIT, "notes", errors)
    window = counted_window(allocation)
    if window is None:
        raise Conflict(_l("Handled tonnes are recorded only under an allocation every party "
                          "signed."), {"allocation_id": [_l("is not active and has no signed term")]})
    if handled_on is not None and "handled_on" not in errors:
        last = window[1] - timedelta(days=1)
        if handled_on > today:
            errors["handled_on"] = [_l("cannot be in the future (today is %(today)s)",
                                       today=today.isoformat())]
        elif not window[0] <= handled_on <= last:
            errors["handled_on"] = [_l("must be within the allocation's term, %(first)s to %(last)s",
                                       first=window[0].isoformat(), last=last.isoformat())]
    if errors:
        raise ValidationFailed(_l("The handling record is not valid."), errors)
    return {"handled_on": handled_on, "kilograms": kilograms, "battery_codes": codes, "notes": notes}


def _params(record: HandlingRecord, **extra) -> dict:
    allocation = record.allocation
    return {"outlet": allocation.agreement.outlet.name, "tonnes": tonnes_text(record.kilograms),
            "handled_on": record.handled_on.isoformat(),
            "dispute_by": china_today(record.dispute_by).isoformat(), **extra}


def link_for(record: HandlingRecord) -> str:
    return f"/billing/allocations/{record.allocation_id}/handling#record-{record.id}"


def _new_record(actor: Actor, allocation: Allocation, fields: dict, now: datetime,
                supersedes: HandlingRecord | None = None) -> HandlingRecord:
    record = HandlingRecord(
        allocation_id=allocation.id, agreement_id=allocation.agreement_id,
        provider_id=allocation.agreement.provider_id, manufacturer_id=allocation.manufacturer_id,
        fee_fen_per_t=allocation.handling_fee_fen_per_t, status=HandlingStatus.RECORDED,
        recorded_by_id=actor.user_id, recorded_at=now,
        dispute_by=now + timedelta(days=dispute_days()),
        supersedes_id=supersedes.id if supersedes else None, **fields)
    db.session.add(record)
    db.session.flush()
    return record


def _audit_data(record: HandlingRecord, **extra) -> dict:
    return {"allocation_id": record.allocation_id, "handled_on": record.handled_on.isoformat(),
            "kilograms": record.kilograms, "fee_fen_per_t": record.fee_fen_per_t, **extra}


def record(actor: Actor, allocation_id: int, data: dict, now: datetime | None = None) -> HandlingRecord:
    """The provider records tonnes handled on a day under the allocation."""
    now = now or utcnow()
    audit.serialize_writes()
    allocation = get_allocation(actor, allocation_id)
    _side(actor, allocation, "handling.record")
    fields = _validated(allocation, data, china_today(now))
    created = _new_record(actor, allocation, fields, now)
    audit.record(actor, "handling.recorded", SUBJECT, created.id,
                 organization_id=created.provider_id, data=_audit_data(created))
    notifications.notify([created.manufacturer_id], "handling.recorded", _params(created),
                         link=link_for(created))
    return created


def _changeable(actor: Actor, record_id: int) -> HandlingRecord:
    found = get_visible(actor, record_id, for_update=True)
    _side(actor, found.allocation, "handling.record")
    if found.invoice_id is not None:
        raise Conflict(_l("This record is already invoiced; ask an operator for a credit note."),
                       {"record_id": [_l("is invoiced")]})
    if found.status not in OPEN:
        raise Conflict(_l("This record was already corrected or withdrawn."),
                       {"record_id": [_l("is %(status)s", status=STATUS_LABELS[found.status])]})
    return found


def correct(actor: Actor, record_id: int, data: dict, now: datetime | None = None) -> HandlingRecord:
    """The provider replaces a record not yet invoiced (disputed or not) by a corrected one;
    fields left out keep the old values. The new record has its own dispute window."""
    now = now or utcnow()
    old = _changeable(actor, record_id)
    merged = {"handled_on": old.handled_on, "tonnes": tonnes_text(old.kilograms),
              "battery_codes": old.battery_codes, "notes": old.notes,
              **{k: v for k, v in data.items() if k in ("handled_on", "tonnes", "battery_codes", "notes")}}
    fields = _validated(old.allocation, merged, china_today(now))
    old.status, old.closed_at, old.closed_by_id = HandlingStatus.SUPERSEDED, now, actor.user_id
    db.session.flush()
    created = _new_record(actor, old.allocation, fields, now, supersedes=old)
    audit.record(actor, "handling.corrected", SUBJECT, created.id, organization_id=created.provider_id,
                 data=_audit_data(created, supersedes_id=old.id, old_kilograms=old.kilograms,
                                  old_handled_on=old.handled_on.isoformat()))
    notifications.notify([created.manufacturer_id], "handling.corrected",
                         _params(created, old_tonnes=tonnes_text(old.kilograms)), link=link_for(created))
    return created


def withdraw(actor: Actor, record_id: int, reason: str | None = None,
             now: datetime | None = None) -> HandlingRecord:
    """The provider takes back a record not yet invoiced: it is never charged."""
    now = now or utcnow()
    errors: dict = {}
    reason = _text(reason, TEXT_LIMIT, "reason", errors)
    if errors:
        raise ValidationFailed(_l("The reason is too long."), errors)
    found = _changeable(actor, record_id)
    found.status, found.closed_at, found.closed_by_id = HandlingStatus.WITHDRAWN, now, actor.user_id
    db.session.flush()
    audit.record(actor, "handling.withdrawn", SUBJECT, found.id, organization_id=found.provider_id,
                 data=_audit_data(found, reason=reason))
    notifications.notify([found.manufacturer_id], "handling.withdrawn",
                         _params(found, reason=reason or ""), link=link_for(found))
    return found


def dispute(actor: Actor, record_id: int, reason, now: datetime | None = None) -> HandlingRecord:
    """The manufacturer objects to a record, with a reason, within its dispute window."""
    now = now or utcnow()
    found = get_visible(actor, record_id, for_update=True)
    _side(actor, found.allocation, "handling.dispute")
    errors: dict = {}
    text = _text(reason, TEXT_LIMIT, "reason", errors)
    if not text and not errors:
        errors["reason"] = [_l("is required")]
    if errors:
        raise ValidationFailed(_l("Give a reason."), errors)
    if found.status is not HandlingStatus.RECORDED or found.invoice_id is not None:
        raise Conflict(_l("Only a record that stands and is not invoiced can be disputed."),
                       {"record_id": [_l("is %(status)s", status=STATUS_LABELS[found.status])]})
    if now >= found.dispute_by:
        raise Conflict(_l("The dispute window of this record closed on %(day)s.",
                          day=china_today(found.dispute_by).isoformat()),
                       {"record_id": [_l("can no longer be disputed")]})
    found.status, found.dispute_reason = HandlingStatus.DISPUTED, text
    found.disputed_at, found.disputed_by_id = now, actor.user_id
    db.session.flush()
    audit.record(actor, "handling.disputed", SUBJECT, found.id, organization_id=found.manufacturer_id,
                 data=_audit_data(found, reason=text))
    notifications.notify([found.provider_id], "handling.disputed", _params(found, reason=text),
                         link=link_for(found))
    return found


# --- invoicing ------------------------------------------------------------------------------

def billable(agreement_id: int, maker_id: int, before: date, now: datetime) -> list[HandlingRecord]:
    """Records an invoice for days before `before`, issued at `now`, charges: standing, not
    invoiced, dispute window closed. Locked (after the audit chain's lock, as every writer
    takes them) so a correction or withdrawal racing the tick waits for it, then sees it."""
    audit.serialize_writes()
    return list(db.session.execute(select(HandlingRecord).where(
        HandlingRecord.agreement_id == agreement_id, HandlingRecord.manufacturer_id == maker_id,
        HandlingRecord.status == HandlingStatus.RECORDED, HandlingRecord.invoice_id.is_(None),
        HandlingRecord.handled_on < before, HandlingRecord.dispute_by <= now,
        HandlingRecord.fee_fen_per_t > 0)  # handling agreed free of charge: no zero lines
        .order_by(HandlingRecord.handled_on, HandlingRecord.id)
        .with_for_update().execution_options(populate_existing=True)).scalars())


def mark_invoiced(record_ids: list[int], invoice_id: int) -> None:
    """Set the invoice on records still standing and uninvoiced; anything else is a bug."""
    if not record_ids:
        return
    changed = db.session.execute(update(HandlingRecord).where(
        HandlingRecord.id.in_(record_ids), HandlingRecord.invoice_id.is_(None),
        HandlingRecord.status == HandlingStatus.RECORDED).values(invoice_id=invoice_id)
        .execution_options(synchronize_session="fetch")).rowcount
    if changed != len(record_ids):
        raise Conflict(_l("A handling record changed while the invoice was issued; run again."))
