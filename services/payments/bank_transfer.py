"""The default provider: the customer transfers the invoice's gross amount to the payee's
bank account quoting the invoice's payment reference; the payee (or an operator) records the
transfer, or imports the bank statement (services.bank_statements), and it is reconciled to
the invoice: exact, partial (the rest stays open) or over-payment (a credit shown on the
invoice and in the customer's balance)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Invoice, Organization, PayeeBankAccount
from app.models.types import utcnow
from services import audit, invoices, money, permissions
from services.audit import Actor
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.money import MAX_FEN

NAME = "bank_transfer"


class BankTransfer:
    name = NAME

    def available(self) -> bool:
        return True

    def instructions(self, invoice: Invoice) -> dict:
        account = db.session.get(PayeeBankAccount, invoice.issuer_id)
        return {"provider": NAME, "payee": invoice.issuer.legal_name,
                "bank_name": account.bank_name if account else None,
                "account_name": account.account_name if account else None,
                "account_number": account.account_number if account else None,
                "reference": invoice.payment_reference,
                "amount_fen": max(invoice.outstanding_fen, 0)}

    def start(self, actor: Actor, invoice: Invoice) -> dict:
        return self.instructions(invoice)


PROVIDER = BankTransfer()


def _may_record(actor: Actor, invoice: Invoice) -> None:
    if permissions.is_operator(actor):
        permissions.require_operator(actor.user, "billing.operate")
        return
    if not permissions.membership_of(actor.user, invoice.issuer_id):
        raise PermissionDenied(_l("Only the payee or an operator records a received transfer."))
    permissions.require(actor.user, "billing.manage", invoice.issuer)


def parse_amount(value) -> int:
    """Yuan as text ("1,234.56") or fen as an integer, to fen; ValueError when not money."""
    from decimal import Decimal, InvalidOperation

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        amount = Decimal(str(value).replace(",", "").replace("¥", "").strip())
    except InvalidOperation as exc:
        raise ValueError(str(value)) from exc
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(str(value))
    return int(amount * 100)


def record_transfer(actor: Actor, invoice_id: int, *, amount_fen, received_on, reference: str | None = None,
                    bank_transaction_id: str | None = None, now: datetime | None = None) -> dict:
    """Record a transfer received for an invoice and reconcile it."""
    now = now or utcnow()
    invoice = invoices.get_visible(actor, invoice_id, for_update=True)
    _may_record(actor, invoice)
    errors = {}
    if not money.is_whole_fen(amount_fen, most=MAX_FEN):
        errors["amount_fen"] = [_l("must be a positive whole number of fen")]
    if isinstance(received_on, str):
        try:
            received_on = date.fromisoformat(received_on)
        except ValueError:
            received_on = None
    if not isinstance(received_on, date) or received_on > invoices.china_today(now):
        errors["received_on"] = [_l("must be a date, not in the future")]
    reference = (reference or "").strip()[:140] or None
    if errors:
        raise ValidationFailed(_l("The transfer is not valid."), errors)
    external_id = (f"txn:{bank_transaction_id.strip()}" if bank_transaction_id
                   else f"manual:{uuid.uuid4().hex}")
    payment, new = invoices.apply_payment(actor, invoice, provider=NAME, external_id=external_id,
                                          amount_fen=amount_fen, received_on=received_on,
                                          reference=reference, now=now)
    return reconciliation(invoice, payment, new)


def reconciliation(invoice: Invoice, payment, new: bool) -> dict:
    state = invoices.payment_state(invoice)
    outcome = {"paid": "exact", "partial": "partial", "overpaid": "overpayment"}.get(state, state)
    return {"invoice_id": invoice.id, "invoice_number": invoice.number, "payment_id": payment.id,
            "amount_fen": payment.amount_fen, "new": new, "outcome": outcome,
            "outstanding_fen": invoice.outstanding_fen, "status": invoice.status.value}


def set_bank_details(actor: Actor, organization_id: int, data: dict) -> PayeeBankAccount:
    organization = db.session.get(Organization, organization_id)
    if organization is None or not permissions.membership_of(actor.user, organization_id):
        raise NotFound("organization", organization_id)
    permissions.require(actor.user, "billing.manage", organization)
    clean, errors = {}, {}
    for field, limit in (("bank_name", 200), ("account_name", 200), ("account_number", 64)):
        value = str(data.get(field) or "").strip()
        if not value or len(value) > limit:
            errors[field] = [_l("is required (at most %(n)s characters)", n=limit)]
        clean[field] = value
    if errors:
        raise ValidationFailed(_l("The bank details are not valid."), errors)
    account = db.session.get(PayeeBankAccount, organization_id) or PayeeBankAccount(
        organization_id=organization_id)
    for key, value in clean.items():
        setattr(account, key, value)
    db.session.add(account)
    db.session.flush()
    audit.record(actor, "billing.bank_details_set", "organization", organization_id,
                 organization_id=organization_id, data={"bank_name": clean["bank_name"],
                                                        "account_tail": clean["account_number"][-4:]})
    return account
