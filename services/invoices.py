"""Invoices: issued by tick for each billing period, posted to the ledger, reminded when
overdue, settled by payments, written off or credited by an operator.

Billing
-------
Each agreement bills in calendar periods (monthly, quarterly or annual; `AgreementBilling`,
quarterly by default), **in arrears**: a period is invoiced once it has ended, so every join,
leave, notice and termination within it is known and the charges are final. For each maker
and period the provider (the issuer) invoices:

- the maker's annual fee, prorated by days over the days its allocation counted in the
  period (from the later of its start date and the day it was signed, until it ended); the
  fee accrues over the allocation's own years (services.cost_sharing.prorated), so the
  periods of a year add up to exactly the annual fee;
- each recurring cost pool of the version in force on those days, per year, accrued over
  calendar years and split, day segment by day segment, among the makers sharing then (a
  maker joining or leaving re-splits from that day);
- each one-off pool, once, in the period its version came into force, at the maker's share
  frozen in that version (an amendment changing an already-charged one-off pool charges or
  credits the difference only).

- the handling fee per tonne, for the tonnes the provider recorded handling (services.handling):
  each record undisputed once its dispute window has closed, dated before the period's end and
  not invoiced yet, once: one line per price per period, kilograms x fen per tonne / 1000
  rounded half up once per line; records dated in a period already invoiced (recorded late,
  or still open to dispute when it was invoiced) go on the next invoice in a line of their own
  saying so. `issue` marks each record with the invoice's id.

An invoice is unique per (agreement, maker, period start), so running tick again issues
nothing new. Numbers run without gaps per issuer: the issuer's sequence row is locked and
incremented in the transaction that inserts the invoice. Net amounts are exact fen; VAT is
rounded half up on the invoice total; gross = net + VAT.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.extensions import db
from app.models import (
    Agreement,
    AgreementBilling,
    AgreementStatus,
    AgreementVersion,
    Allocation,
    AllocationStatus,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    LedgerTransaction,
    Organization,
    Payment,
)
from app.models.types import utcnow
from services import (
    audit,
    certificates,
    cost_sharing,
    handling,
    ledger,
    money,
    notifications,
    paging,
    permissions,
    text_fields,
)
from services.audit import Actor
from services.certifiers import CHINA, china_today
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.tick import job

SUBJECT = "invoice"
PERIODS = {"monthly": 1, "quarterly": 3, "annual": 12}
DEFAULT_PERIOD = "quarterly"
DEFAULTS = {"VAT_RATE_PERCENT": "6", "PLATFORM_FEE_PERCENT": "3", "INVOICE_PAYMENT_DAYS": 30,
            "INVOICE_REMINDER_DAYS": "1,7,30"}
BILLED = (AllocationStatus.ACTIVE, AllocationStatus.EXPIRED, AllocationStatus.TERMINATED)
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
TICK = Actor(label="tick")

STATUS_LABELS = {
    InvoiceStatus.OPEN: _l("Open"), InvoiceStatus.PAID: _l("Paid"),
    InvoiceStatus.WRITTEN_OFF: _l("Written off"), InvoiceStatus.CREDITED: _l("Credited"),
}


def _config(name: str):
    if has_app_context():
        return current_app.config.get(name, DEFAULTS[name])
    return DEFAULTS[name]


def percent_to_bp(value) -> int:
    """'6' or '6.5' percent as basis points (600, 650), exactly."""
    from decimal import Decimal

    return int(Decimal(str(value)) * 100)


def vat_rate_bp() -> int:
    return percent_to_bp(_config("VAT_RATE_PERCENT"))


def platform_fee_bp() -> int:
    return percent_to_bp(_config("PLATFORM_FEE_PERCENT"))


def payment_days() -> int:
    return int(_config("INVOICE_PAYMENT_DAYS"))


def reminder_days() -> list[int]:
    return sorted({int(d) for d in str(_config("INVOICE_REMINDER_DAYS")).split(",") if d.strip()})


def part_bp(amount: int, bp: int) -> int:
    """amount x bp / 10000, rounded half up (amounts are never negative here)."""
    return (amount * bp + 5000) // 10000


# --- periods and charges (plain computation over loaded rows) -------------------------------

def period_containing(day: date, kind: str) -> tuple[date, date]:
    months = PERIODS[kind]
    first = date(day.year, ((day.month - 1) // months) * months + 1, 1)
    return first, certificates.add_months(first, months)


def periods_between(first_day: date, before: date, kind: str) -> list[tuple[date, date]]:
    """The periods from the one containing `first_day` whose end is on or before `before`."""
    found = []
    start, end = period_containing(first_day, kind)
    while end <= before:
        found.append((start, end))
        start, end = end, certificates.add_months(end, PERIODS[kind])
    return found


def _day(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def counted_window(allocation: Allocation) -> tuple[date, date] | None:
    """The days [first, end) an allocation counted: from the later of its start and the day
    every party signed, until its end (`ends_on`)."""
    if allocation.activated_at is None or allocation.status not in BILLED:
        return None
    first = max(allocation.start_date, _day(allocation.activated_at))
    return (first, allocation.ends_on) if first < allocation.ends_on else None


def versions_in_force(agreement: Agreement) -> list[tuple[date, AgreementVersion]]:
    """Every version that was ever in force, with the day it took effect, in order."""
    rows = [v for v in agreement.versions if v.in_force_at is not None]
    return [(_day(v.in_force_at), v) for v in sorted(rows, key=lambda v: (v.in_force_at, v.version))]


def _line(kind: str, zh: str, en: str, net: int, **data) -> dict:
    return {"kind": kind, "description_zh": zh[:300], "description_en": en[:300], "net_fen": net,
            "data": data}


def charges_for(agreement: Agreement, maker_id: int, start: date, end: date,
                now: datetime | None = None) -> list[dict]:
    """The lines one maker owes the provider for the days [start, end), invoiced at `now`
    (which decides the handling records whose dispute window has closed)."""
    lines: list[dict] = []
    outlet = agreement.outlet.name
    windows = {a.id: counted_window(a) for a in agreement.allocations}
    for allocation in agreement.allocations:
        window = windows[allocation.id]
        if allocation.manufacturer_id != maker_id or window is None:
            continue
        a, b = max(start, window[0]), min(end, window[1])
        amount = cost_sharing.prorated(allocation.annual_fee_fen, allocation.start_date, a, b)
        if b > a and amount:
            last = (b - timedelta(days=1)).isoformat()
            lines.append(_line(
                "annual_fee", f"年费（{outlet}，{a.isoformat()} 至 {last}，{(b - a).days} 天）",
                f"Annual fee ({outlet}, {a.isoformat()} to {last}, {(b - a).days} days)", amount,
                allocation_id=allocation.id, start=a.isoformat(), end=b.isoformat()))
    history = versions_in_force(agreement)
    memberships_base = [(a.manufacturer_id, w) for a in agreement.allocations
                        if (w := windows[a.id]) is not None]
    recurring: dict[int, dict] = {}
    previous_one_off: dict[int, dict] = {}
    for index, (effective, version) in enumerate(history):
        until = history[index + 1][0] if index + 1 < len(history) else date.max
        pools = version.document.get("cost_pools") or []
        for pool in pools:
            shares = {s["manufacturer_id"]: s for s in pool["shares"]}
            if pool["kind"] == cost_sharing.RECURRING:
                a, b = max(start, effective), min(end, until)
                if b <= a:
                    continue
                members = [cost_sharing.Membership(m, w0, w1, shares[m]["weight"])
                           for m, (w0, w1) in memberships_base if m in shares]
                part = cost_sharing.recurring_charges(pool["total_fen"], members, a, b).get(maker_id, 0)
                if part:
                    entry = recurring.setdefault(pool["id"], {"name": pool["name"], "fen": 0})
                    entry["fen"] += part
            elif pool["kind"] == cost_sharing.ONE_OFF:
                share = shares.get(maker_id, {}).get("share_fen", 0)
                before = previous_one_off.get(pool["id"], {}).get(maker_id, 0)
                previous_one_off[pool["id"]] = {m: s["share_fen"] for m, s in shares.items()}
                if start <= effective < end and share != before:
                    items = ", ".join(str(line.get("checklist_item")) for line in pool["lines"])
                    lines.append(_line(
                        "one_off_pool",
                        f"共建费用分摊：{pool['name']}（检查项 {items}，第 {version.version} 版）",
                        f"Co-building cost share: {pool['name']} (checklist items {items}, "
                        f"version {version.version})", share - before,
                        pool_id=pool["id"], version=version.version))
    for pool_id, entry in sorted(recurring.items()):
        lines.append(_line(
            "recurring_pool", f"运营费用分摊：{entry['name']}（{start.isoformat()} 起按日分摊）",
            f"Operating cost share: {entry['name']} (by days from {start.isoformat()})",
            entry["fen"], pool_id=pool_id, start=start.isoformat(), end=end.isoformat()))
    handled = handling.billable(agreement.id, maker_id, end, now or utcnow())
    lines.extend(handling.invoice_lines(handled, start, outlet))
    return lines


# --- issuing ----------------------------------------------------------------------------------

def billing_period(agreement_id: int) -> str:
    row = db.session.get(AgreementBilling, agreement_id)
    return row.period if row else DEFAULT_PERIOD


def set_billing_period(actor: Actor, agreement_id: int, period: str) -> AgreementBilling:
    """A party's manager sets how often the agreement is invoiced (future periods)."""
    from services import agreements

    if period not in PERIODS:
        raise ValidationFailed(_l("Unknown billing period."), {"period": [_l(
            "must be one of %(allowed)s", allowed=", ".join(PERIODS))]})
    agreement = agreements.get_visible(actor, agreement_id, for_update=True)
    party = next((p for p in agreements._parties(agreement)
                  if permissions.membership_of(actor.user, p)), None)
    if party is None:
        raise PermissionDenied(_l("Only the parties to the agreement set its billing period."))
    permissions.require(actor.user, "billing.manage", db.session.get(Organization, party))
    if db.session.execute(select(Invoice.id).where(Invoice.agreement_id == agreement_id)
                          .limit(1)).first():
        raise Conflict(_l("Invoices were already issued under this agreement; its billing period "
                          "changes only by an amendment."))
    row = db.session.get(AgreementBilling, agreement_id) or AgreementBilling(agreement_id=agreement_id)
    row.period = period
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "invoice.billing_period_set", "agreement", agreement_id,
                 organization_id=party, data={"period": period})
    return row


def _next_sequence(issuer_id: int) -> int:
    audit.serialize_writes()
    row = db.session.execute(select(InvoiceSequence).where(InvoiceSequence.issuer_id == issuer_id)
                             .with_for_update().execution_options(populate_existing=True)
                             ).scalar_one_or_none()
    if row is None:
        row = InvoiceSequence(issuer_id=issuer_id, last_number=0)
        db.session.add(row)
    row.last_number += 1
    db.session.flush()
    return row.last_number


def new_reference() -> str:
    return "OP" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))


def platform_organization_id() -> int:
    from services import accounts

    return accounts.operator_organization().id


def issue(agreement: Agreement, maker_id: int, start: date, end: date, lines: list[dict],
          now: datetime, actor: Actor = TICK) -> Invoice:
    today = china_today(now)
    net = sum(line["net_fen"] for line in lines)
    rate = vat_rate_bp()
    tax = part_bp(max(net, 0), rate)
    fee = part_bp(max(net, 0), platform_fee_bp())
    sequence = _next_sequence(agreement.provider_id)
    invoice = Invoice(
        number=f"OP-INV-{agreement.provider_id:05d}-{sequence:06d}", sequence=sequence,
        issuer_id=agreement.provider_id, customer_id=maker_id, agreement_id=agreement.id,
        period_start=start, period_end=end, issued_on=today,
        due_on=today + timedelta(days=payment_days()), tax_rate_bp=rate, net_fen=net,
        tax_fen=tax, gross_fen=net + tax, platform_fee_fen=fee, payment_reference=new_reference(),
        status=InvoiceStatus.OPEN if net + tax > 0 else InvoiceStatus.PAID, created_at=now)
    db.session.add(invoice)
    db.session.flush()
    for position, line in enumerate(lines, 1):
        db.session.add(InvoiceLine(invoice_id=invoice.id, position=position, **line))
        if line["kind"] == "handling_fee":
            handling.mark_invoiced(line["data"]["record_ids"], invoice.id)
    platform = platform_organization_id()
    ledger.post("invoice", [(maker_id, ledger.RECEIVABLE, net + tax),
                            (agreement.provider_id, ledger.REVENUE, -net),
                            (agreement.provider_id, ledger.VAT, -tax)],
                on=today, invoice_id=invoice.id, memo=invoice.number)
    ledger.post("platform_fee", [(agreement.provider_id, ledger.PLATFORM_FEE, fee),
                                 (platform, ledger.FEE_REVENUE, -fee)],
                on=today, invoice_id=invoice.id, memo=invoice.number)
    audit.record(actor, "invoice.issued", SUBJECT, invoice.id, organization_id=agreement.provider_id,
                 data={"number": invoice.number, "customer_id": maker_id, "gross_fen": invoice.gross_fen,
                       "period": [start.isoformat(), end.isoformat()]})
    notifications.notify([maker_id, agreement.provider_id], "invoice.issued",
                         _params(invoice, agreement), link=link_for(invoice))
    return invoice


def _params(invoice: Invoice, agreement: Agreement | None = None) -> dict:
    agreement = agreement or invoice.agreement
    return {"number": invoice.number, "gross": handling.yuan_text(invoice.gross_fen),
            "due_on": invoice.due_on.isoformat(), "outlet": agreement.outlet.name,
            "reference": invoice.payment_reference}


def link_for(invoice: Invoice) -> str:
    return f"/billing/invoices/{invoice.id}"


def issue_due(now: datetime) -> int:
    """Invoice every ended period not invoiced yet, for every maker with charges in it."""
    today = china_today(now)
    issued = 0
    agreements = db.session.execute(select(Agreement).where(
        Agreement.status.in_((AgreementStatus.ACTIVE, AgreementStatus.ENDED))).order_by(Agreement.id)
    ).scalars().all()
    for agreement in agreements:
        windows = [(a.manufacturer_id, w) for a in agreement.allocations
                   if (w := counted_window(a)) is not None]
        history = versions_in_force(agreement)
        if not windows or not history:
            continue
        first = min([w[0] for _, w in windows] + [history[0][0]])
        done = set(db.session.execute(select(Invoice.customer_id, Invoice.period_start)
                                      .where(Invoice.agreement_id == agreement.id)).all())
        makers = sorted({m for m, _ in windows})
        for start, end in periods_between(first, today, billing_period(agreement.id)):
            for maker in makers:
                if (maker, start) in done:
                    continue
                lines = charges_for(agreement, maker, start, end, now)
                if not lines:
                    continue
                issue(agreement, maker, start, end, lines, now)
                issued += 1
    return issued


# --- reading (scoped by the caller's organizations in the query) ----------------------------

def visible(actor: Actor):
    query = select(Invoice)
    if permissions.is_operator(actor):
        return query
    ids = permissions.member_org_ids(actor)
    return query.where(or_(Invoice.issuer_id.in_(ids), Invoice.customer_id.in_(ids)))


def get_visible(actor: Actor, invoice_id: int, *, for_update: bool = False) -> Invoice:
    query = visible(actor).where(Invoice.id == invoice_id)
    if for_update:
        audit.serialize_writes()
        query = query.with_for_update(of=Invoice).execution_options(populate_existing=True)
    invoice = db.session.execute(query).scalar_one_or_none()
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    return invoice


def by_reference(reference: str, *, for_update: bool = False) -> Invoice | None:
    query = select(Invoice).where(Invoice.payment_reference == reference.strip().upper())
    if for_update:
        audit.serialize_writes()
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


ROLES = ("issued", "received")  # of an organization's invoices: it is the issuer, the customer


def list_for(actor: Actor, *, organization_id: int | None = None, role: str | None = None,
             status: str | None = None, overdue_on: date | None = None,
             agreement_id: int | None = None, page: int = 1,
             per_page: int | None = None) -> tuple[list[Invoice], int]:
    """Newest first, and how many match; a page of `per_page` (None: all of them)."""
    query = visible(actor)
    if role and (role not in ROLES or not organization_id):
        raise ValidationFailed(_l("Unknown role."), {"role": [_l(
            "must be one of %(allowed)s, for one organization", allowed=", ".join(ROLES))]})
    if organization_id:
        sides = {"issued": Invoice.issuer_id == organization_id,
                 "received": Invoice.customer_id == organization_id}
        query = query.where(sides[role] if role else or_(*sides.values()))
    if status:
        try:
            query = query.where(Invoice.status == InvoiceStatus(status))
        except ValueError as exc:
            raise ValidationFailed(_l("Unknown status."), {"status": [_l(
                "must be one of %(allowed)s", allowed=", ".join(s.value for s in InvoiceStatus))]}
            ) from exc
    if overdue_on:
        query = query.where(Invoice.is_overdue(overdue_on))
    if agreement_id:
        query = query.where(Invoice.agreement_id == agreement_id)
    return paging.page_of(query, Invoice.issued_on.desc(), Invoice.id.desc(), page=page,
                          per_page=per_page)


def overdue_for(organization_ids: list[int], today: date) -> list[Invoice]:
    """Open invoices past due where the organizations are issuer or customer (dashboards)."""
    if not organization_ids:
        return []
    return list(db.session.execute(select(Invoice).where(
        Invoice.is_overdue(today),
        or_(Invoice.issuer_id.in_(organization_ids), Invoice.customer_id.in_(organization_ids)))
        .order_by(Invoice.due_on, Invoice.id)).scalars())


def payment_state(invoice: Invoice) -> str:
    """unpaid, partial, paid (exactly), overpaid, written_off, credited."""
    if invoice.status is InvoiceStatus.WRITTEN_OFF:
        return "written_off"
    if invoice.status is InvoiceStatus.CREDITED:
        return "credited"
    outstanding = invoice.outstanding_fen
    if outstanding < 0:
        return "overpaid"
    if outstanding == 0:
        return "paid"
    return "partial" if invoice.paid_fen else "unpaid"


# --- settling ---------------------------------------------------------------------------------

def _settle_status(invoice: Invoice) -> None:
    if invoice.status in (InvoiceStatus.WRITTEN_OFF,):
        return
    if invoice.credited_fen >= invoice.gross_fen and invoice.paid_fen == 0:
        invoice.status = InvoiceStatus.CREDITED
    else:
        invoice.status = InvoiceStatus.PAID if invoice.outstanding_fen <= 0 else InvoiceStatus.OPEN


def apply_payment(actor: Actor, invoice: Invoice, *, provider: str, external_id: str, amount_fen: int,
                  received_on: date, reference: str | None, now: datetime | None = None
                  ) -> tuple[Payment, bool]:
    """Record money received for `invoice` (once per provider and external id). Returns the
    payment and whether it is new. Bank transfers land in the issuer's bank account; card
    payments in the platform's Stripe balance, to be transferred on."""
    now = now or utcnow()
    existing = db.session.execute(select(Payment).where(
        Payment.provider == provider, Payment.external_id == external_id)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    payment = Payment(invoice_id=invoice.id, provider=provider, external_id=external_id,
                      amount_fen=amount_fen, received_on=received_on, reference=reference,
                      recorded_by_id=actor.user_id, created_at=now)
    db.session.add(payment)
    db.session.flush()
    cash = ((invoice.issuer_id, ledger.BANK) if provider == "bank_transfer"
            else (platform_organization_id(), ledger.STRIPE_BALANCE))
    ledger.post("payment", [(*cash, amount_fen), (invoice.customer_id, ledger.RECEIVABLE, -amount_fen)],
                on=received_on, invoice_id=invoice.id, payment_id=payment.id,
                memo=f"{invoice.number} {provider} {reference or ''}".strip())
    invoice.paid_fen += amount_fen
    _settle_status(invoice)
    db.session.flush()
    state = payment_state(invoice)
    audit.record(actor, "invoice.payment_received", SUBJECT, invoice.id,
                 organization_id=invoice.issuer_id,
                 data={"payment_id": payment.id, "provider": provider, "amount_fen": amount_fen,
                       "external_id": external_id, "state": state})
    notifications.notify([invoice.customer_id, invoice.issuer_id], "invoice.payment_received",
                         {**_params(invoice), "amount": handling.yuan_text(amount_fen),
                          "outstanding": handling.yuan_text(invoice.outstanding_fen)},
                         link=link_for(invoice))
    return payment, True


def write_off(actor: Actor, invoice_id: int, reason: str, now: datetime | None = None) -> Invoice:
    """An operator writes off what is left to pay: the issuer bears it as a bad debt."""
    now = now or utcnow()
    permissions.require_operator(actor.user, "billing.operate")
    reason = text_fields.clean_reason(reason)
    invoice = get_visible(actor, invoice_id, for_update=True)
    left = invoice.outstanding_fen
    if invoice.status is not InvoiceStatus.OPEN or left <= 0:
        raise Conflict(_l("Only an open invoice with something left to pay can be written off."))
    ledger.post("write_off", [(invoice.customer_id, ledger.RECEIVABLE, -left),
                              (invoice.issuer_id, ledger.BAD_DEBT, left)],
                on=china_today(now), invoice_id=invoice.id, memo=reason)
    invoice.written_off_fen += left
    invoice.status = InvoiceStatus.WRITTEN_OFF
    db.session.flush()
    audit.record(actor, "invoice.written_off", SUBJECT, invoice.id, organization_id=invoice.issuer_id,
                 data={"amount_fen": left, "reason": reason})
    notifications.notify([invoice.customer_id, invoice.issuer_id], "invoice.written_off",
                         {**_params(invoice), "reason": reason}, link=link_for(invoice))
    return invoice


def credit(actor: Actor, invoice_id: int, amount_fen, reason: str, now: datetime | None = None
           ) -> Invoice:
    """An operator issues a credit note for part or all of an invoice (gross fen): it reverses
    that part of the revenue, the VAT and the platform fee in proportion."""
    now = now or utcnow()
    permissions.require_operator(actor.user, "billing.operate")
    reason = text_fields.clean_reason(reason)
    invoice = get_visible(actor, invoice_id, for_update=True)
    creditable = invoice.gross_fen - invoice.credited_fen - invoice.written_off_fen
    if not money.is_whole_fen(amount_fen, most=creditable):
        raise ValidationFailed(_l("The credit amount is not valid."), {"amount_fen": [_l(
            "must be a whole number of fen from 1 to %(max)s", max=creditable)]})
    if invoice.status is InvoiceStatus.WRITTEN_OFF:
        raise Conflict(_l("A written-off invoice cannot be credited."))
    parts = cost_sharing.split(amount_fen, {0: invoice.net_fen, 1: invoice.tax_fen})
    net_part, tax_part = parts[0], parts[1]
    fee_part = min(invoice.platform_fee_fen, invoice.platform_fee_fen * net_part // max(invoice.net_fen, 1))
    today = china_today(now)
    ledger.post("credit_note", [(invoice.customer_id, ledger.RECEIVABLE, -amount_fen),
                                (invoice.issuer_id, ledger.REVENUE, net_part),
                                (invoice.issuer_id, ledger.VAT, tax_part)],
                on=today, invoice_id=invoice.id, memo=reason)
    ledger.post("platform_fee", [(invoice.issuer_id, ledger.PLATFORM_FEE, -fee_part),
                                 (platform_organization_id(), ledger.FEE_REVENUE, fee_part)],
                on=today, invoice_id=invoice.id, memo=f"reversal: {reason}")
    invoice.credited_fen += amount_fen
    _settle_status(invoice)
    db.session.flush()
    audit.record(actor, "invoice.credited", SUBJECT, invoice.id, organization_id=invoice.issuer_id,
                 data={"amount_fen": amount_fen, "net_fen": net_part, "tax_fen": tax_part,
                       "fee_fen": fee_part, "reason": reason})
    notifications.notify([invoice.customer_id, invoice.issuer_id], "invoice.credited",
                         {**_params(invoice), "amount": handling.yuan_text(amount_fen), "reason": reason},
                         link=link_for(invoice))
    return invoice


def transactions_of(invoice: Invoice) -> list[LedgerTransaction]:
    return list(db.session.execute(select(LedgerTransaction).where(
        LedgerTransaction.invoice_id == invoice.id).order_by(LedgerTransaction.id)).scalars())


# --- reminders --------------------------------------------------------------------------------

def remind_overdue(now: datetime) -> int:
    """Tell both parties when an open invoice passes each configured number of days overdue
    (once per step, however often tick runs)."""
    today = china_today(now)
    steps = reminder_days()
    if not steps:
        return 0
    sent = 0
    due = db.session.execute(select(Invoice).where(
        Invoice.is_overdue(today - timedelta(days=steps[0] - 1)))
        .order_by(Invoice.id)).scalars().all()
    for invoice in due:
        late = (today - invoice.due_on).days
        reached = sum(1 for step in steps if late >= step)
        if reached <= invoice.reminders_sent:
            continue
        invoice.reminders_sent = reached
        invoice.last_reminded_on = today
        db.session.flush()
        audit.record(TICK, "invoice.overdue_reminded", SUBJECT, invoice.id,
                     organization_id=invoice.issuer_id, data={"days_overdue": late})
        notifications.notify([invoice.customer_id, invoice.issuer_id], "invoice.overdue",
                             {**_params(invoice), "days": late,
                              "outstanding": handling.yuan_text(invoice.outstanding_fen)},
                             link=link_for(invoice))
        sent += 1
    return sent


@job("invoices.issue_due")
def issue_due_job(now: datetime) -> int:
    return issue_due(now)


@job("invoices.overdue_reminders")
def overdue_reminders_job(now: datetime) -> int:
    return remind_overdue(now)
