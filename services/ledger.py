"""The double-entry ledger: every invoice, payment, refund, credit note, write-off, platform
fee and payout is one transaction whose entries sum to zero. Rows are only ever added (the
model refuses updates and deletes); a mistake is corrected by a reversing transaction.

Accounts (each on one organization; + is a debit, - a credit):
- `receivable` (customer): what it owes for invoices; below zero it holds a credit.
- `revenue`, `vat_payable` (issuer): the net and the tax it invoiced.
- `platform_fee` (issuer) and `fee_revenue` (platform operator): the platform's percentage
  of the provider's net revenue.
- `bank` (issuer): bank transfers it received; `stripe_balance` (platform): card payments
  collected by the platform, until transferred on to the provider's `stripe_payouts`.
- `bad_debt` (issuer): amounts written off.

An organization's balance is the sum of all its entries: above zero it owes (a customer's
open invoices, a provider's platform fees on transfers it collected itself), below zero it
is owed. The balances of all organizations sum to zero, always.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from app.extensions import db
from app.models import Invoice, LedgerEntry, LedgerTransaction, Payment
from app.models.types import utcnow

RECEIVABLE, REVENUE, VAT = "receivable", "revenue", "vat_payable"
PLATFORM_FEE, FEE_REVENUE = "platform_fee", "fee_revenue"
BANK, STRIPE_BALANCE, STRIPE_PAYOUTS, BAD_DEBT = "bank", "stripe_balance", "stripe_payouts", "bad_debt"


class Unbalanced(ValueError):
    pass


def post(kind: str, entries: list[tuple[int, str, int]], *, on: date, invoice_id: int | None = None,
         payment_id: int | None = None, memo: str | None = None) -> LedgerTransaction:
    """Append one balanced transaction; `entries` are (organization id, account, fen)."""
    entries = [e for e in entries if e[2] != 0]
    if sum(amount for _, _, amount in entries) != 0:
        raise Unbalanced(f"{kind}: entries sum to {sum(a for _, _, a in entries)}, not 0")
    transaction = LedgerTransaction(kind=kind, invoice_id=invoice_id, payment_id=payment_id,
                                    memo=memo, occurred_on=on, created_at=utcnow())
    db.session.add(transaction)
    db.session.flush()
    for organization_id, account, amount in entries:
        db.session.add(LedgerEntry(transaction_id=transaction.id, organization_id=organization_id,
                                   account=account, amount_fen=amount))
    db.session.flush()
    return transaction


def balance_of(organization_id: int) -> int:
    return int(db.session.execute(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
                                  .where(LedgerEntry.organization_id == organization_id)).scalar_one())


def accounts_of(organization_id: int) -> dict[str, int]:
    rows = db.session.execute(select(LedgerEntry.account, func.sum(LedgerEntry.amount_fen))
                              .where(LedgerEntry.organization_id == organization_id)
                              .group_by(LedgerEntry.account)).all()
    return {account: int(total) for account, total in rows if total}


def statement(organization_id: int, *, start: date | None = None, end: date | None = None
              ) -> dict:
    """The organization's entries in order with a running balance (opening balance first)."""
    query = (select(LedgerEntry, LedgerTransaction, Invoice.number, Payment.provider)
             .select_from(LedgerEntry).join(LedgerTransaction)
             .outerjoin(Invoice, Invoice.id == LedgerTransaction.invoice_id)
             .outerjoin(Payment, Payment.id == LedgerTransaction.payment_id)
             .where(LedgerEntry.organization_id == organization_id)
             .order_by(LedgerTransaction.occurred_on, LedgerTransaction.id, LedgerEntry.id))
    opening = 0
    if start is not None:
        opening = int(db.session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).join(LedgerTransaction)
            .where(LedgerEntry.organization_id == organization_id,
                   LedgerTransaction.occurred_on < start)).scalar_one())
        query = query.where(LedgerTransaction.occurred_on >= start)
    if end is not None:
        query = query.where(LedgerTransaction.occurred_on < end)
    running, lines = opening, []
    for entry, transaction, invoice_number, payment_method in db.session.execute(query):
        running += entry.amount_fen
        lines.append({"transaction_id": transaction.id, "on": transaction.occurred_on,
                      "kind": transaction.kind, "account": entry.account,
                      "invoice_id": transaction.invoice_id, "invoice_number": invoice_number,
                      "payment_method": payment_method, "memo": transaction.memo,
                      "detail": _memo_detail(transaction.memo, invoice_number, payment_method),
                      "amount_fen": entry.amount_fen, "balance_fen": running})
    return {"opening_fen": opening, "closing_fen": running, "lines": lines}


def _memo_detail(memo: str | None, invoice_number: str | None, payment_method: str | None) -> str:
    """What the memo adds to the invoice and the payment method a statement shows in their own
    columns: a memo is written as "<invoice number> <method code> <reference or reason>", and
    a method code is no word for a reader (the statement labels it in the reader's language)."""
    return " ".join(word for word in (memo or "").split(" ")
                    if word and word not in (invoice_number, payment_method))


def totals() -> tuple[int, list[int]]:
    """The sum of every entry (0) and the ids of any transaction that does not balance."""
    whole = int(db.session.execute(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)))
                .scalar_one())
    unbalanced = list(db.session.execute(
        select(LedgerEntry.transaction_id).group_by(LedgerEntry.transaction_id)
        .having(func.sum(LedgerEntry.amount_fen) != 0)).scalars())
    return whole, unbalanced
