"""Refunding an over-payment: what a customer paid beyond the invoice (its credit) goes back.

By bank: the payee (or an operator) records the transfer it sent back. By card: an operator
(the platform holds card money) refunds through Stripe against a card payment of the invoice.
Either way one balanced ledger transaction `refund` moves the amount out of the account that
received it (the issuer's `bank`, or the platform's `stripe_balance`) and back onto the
customer's `receivable`, cancelling its credit; the invoice's paid amount drops by as much.
Only an over-payment is refunded here: money that settles the invoice is not (a credit note
or a write-off is the operator's tool for that).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.types import utcnow
from services import audit, handling, invoices, ledger, money, notifications, permissions, text_fields
from services.audit import Actor
from services.certifiers import china_today
from services.errors import Conflict, PermissionDenied, ValidationFailed
from services.payments import bank_transfer, stripe_provider

METHODS = (bank_transfer.NAME, stripe_provider.NAME)


def refund_overpayment(actor: Actor, invoice_id: int, *, amount_fen, method: str, reason: str | None,
                       now: datetime | None = None) -> dict:
    now = now or utcnow()
    invoice = invoices.get_visible(actor, invoice_id, for_update=True)
    operator = permissions.is_operator(actor)
    if operator:
        permissions.require_operator(actor.user, "billing.operate")
    elif method == stripe_provider.NAME:
        raise PermissionDenied(_l("Only an operator refunds a card payment."))
    else:
        bank_transfer._may_record(actor, invoice)
    errors = {}
    if method not in METHODS:
        errors["method"] = [_l("must be one of %(allowed)s", allowed=", ".join(METHODS))]
    over = max(0, -invoice.outstanding_fen)
    if not money.is_whole_fen(amount_fen, most=over):
        errors["amount_fen"] = [_l("must be from 0.01 up to the over-payment, %(max)s fen", max=over)]
    text = text_fields.clean_text(reason, "reason", errors, limit=2000)
    if errors:
        raise ValidationFailed(_l("The refund is not valid."), errors)
    payments = [p for p in reversed(invoice.payments)
                if p.provider == method and p.amount_fen - p.refunded_fen > 0]
    if not payments:
        raise Conflict(_l("No payment of this kind on the invoice to refund."))
    if method == stripe_provider.NAME:
        payment = next((p for p in payments if p.amount_fen - p.refunded_fen >= amount_fen), None)
        if payment is None:
            raise Conflict(_l("No single card payment covers this refund."))
        external = stripe_provider.refund(payment, amount_fen, text)
        cash = (invoices.platform_organization_id(), ledger.STRIPE_BALANCE)
        parts = [(payment, amount_fen)]
    else:
        external, cash, parts, left = None, (invoice.issuer_id, ledger.BANK), [], amount_fen
        for payment in payments:  # the latest transfers first
            take = min(left, payment.amount_fen - payment.refunded_fen)
            parts.append((payment, take))
            left -= take
            if not left:
                break
    for payment, part in parts:
        payment.refunded_fen += part
    ledger.post("refund", [(*cash, -amount_fen), (invoice.customer_id, ledger.RECEIVABLE, amount_fen)],
                on=china_today(now), invoice_id=invoice.id, payment_id=parts[0][0].id,
                memo=f"{invoice.number} {method} {external or ''} {text}".strip())
    invoice.paid_fen -= amount_fen
    invoices._settle_status(invoice)
    db.session.flush()
    audit.record(actor, "invoice.refunded", invoices.SUBJECT, invoice.id, organization_id=invoice.issuer_id,
                 data={"amount_fen": amount_fen, "method": method, "refund": external, "reason": text})
    notifications.notify([invoice.customer_id, invoice.issuer_id], "invoice.refunded",
                         {**invoices._params(invoice), "amount": handling.yuan_text(amount_fen),
                          "reason": text}, link=invoices.link_for(invoice))
    return {"invoice_id": invoice.id, "amount_fen": amount_fen, "method": method, "refund": external,
            "outstanding_fen": invoice.outstanding_fen, "state": invoices.payment_state(invoice)}
