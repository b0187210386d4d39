"""Cost sharing and payments: agreed cost pools, invoices numbered per issuer, payments by
bank transfer or Stripe, payouts, and the append-only double-entry ledger."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.extensions import db
from app.models.organization import _enum
from app.models.types import UTCDateTime, utcnow


class InvoiceStatus(enum.StrEnum):
    OPEN = "open"  # something left to pay (maybe partly paid)
    PAID = "paid"  # paid in full (or over)
    WRITTEN_OFF = "written_off"
    CREDITED = "credited"  # cancelled in full by a credit note


class CostPool(db.Model):
    """Costs the parties of an agreement share, as currently proposed. What binds them is the
    copy frozen into the signed version's document (see services.cost_sharing)."""

    __tablename__ = "cost_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"),
                                              index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # one_off, recurring (per year)
    rule: Mapped[str] = mapped_column(String(16))  # equal, capacity, parc, custom
    lines: Mapped[list] = mapped_column(JSON)  # [{description, amount_fen, checklist_item}]
    custom_weights: Mapped[dict | None] = mapped_column(JSON)  # {maker id: weight}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AgreementBilling(db.Model):
    """How often an agreement is invoiced (monthly, quarterly or annual; in arrears)."""

    __tablename__ = "agreement_billing"

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"),
                                              primary_key=True)
    period: Mapped[str] = mapped_column(String(16), default="quarterly")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PayeeBankAccount(db.Model):
    """Where an issuer's customers send bank transfers."""

    __tablename__ = "payee_bank_accounts"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    bank_name: Mapped[str] = mapped_column(String(200))
    account_name: Mapped[str] = mapped_column(String(200))
    account_number: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ConnectedAccount(db.Model):
    """A provider's account with a payment provider (a Stripe connected account)."""

    __tablename__ = "connected_accounts"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceSequence(db.Model):
    """The last invoice number of each issuer: locked and incremented in the transaction that
    issues the invoice, so a rolled-back invoice never leaves a gap."""

    __tablename__ = "invoice_sequences"

    issuer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                           primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("issuer_id", "sequence"),
        # One invoice per customer and billing period of an agreement: tick is idempotent.
        UniqueConstraint("agreement_id", "customer_id", "period_start"),
        Index("ix_invoices_status_due_on", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    sequence: Mapped[int] = mapped_column(Integer)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    tax_rate_bp: Mapped[int] = mapped_column(Integer)  # basis points: 600 = 6 %
    net_fen: Mapped[int] = mapped_column(Integer)
    tax_fen: Mapped[int] = mapped_column(Integer)
    gross_fen: Mapped[int] = mapped_column(Integer)
    paid_fen: Mapped[int] = mapped_column(Integer, default=0)
    credited_fen: Mapped[int] = mapped_column(Integer, default=0)
    written_off_fen: Mapped[int] = mapped_column(Integer, default=0)
    platform_fee_fen: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus, "invoice_status"),
                                                  default=InvoiceStatus.OPEN)
    payment_reference: Mapped[str] = mapped_column(String(32), unique=True)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    issuer = relationship("Organization", foreign_keys=[issuer_id])
    customer = relationship("Organization", foreign_keys=[customer_id])
    agreement = relationship("Agreement")
    lines: Mapped[list[InvoiceLine]] = relationship(back_populates="invoice",
                                                    order_by="InvoiceLine.position")
    payments: Mapped[list[Payment]] = relationship(back_populates="invoice", order_by="Payment.id")

    @property
    def outstanding_fen(self) -> int:
        """Left to pay; negative when over-paid (the customer's credit)."""
        return self.gross_fen - self.paid_fen - self.credited_fen - self.written_off_fen

    @hybrid_method
    def is_overdue(self, today: date) -> bool:
        """Still open after its due date; on the class, the same rule as a query condition."""
        return self.status is InvoiceStatus.OPEN and self.due_on < today

    @is_overdue.expression
    def is_overdue(cls, today: date):
        return and_(cls.status == InvoiceStatus.OPEN, cls.due_on < today)


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))  # annual_fee, recurring_pool, one_off_pool
    description_zh: Mapped[str] = mapped_column(String(300))
    description_en: Mapped[str] = mapped_column(String(300))
    net_fen: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Payment(db.Model):
    """Money received for an invoice: a bank transfer recorded or imported, or a card payment
    Stripe confirmed by webhook. `external_id` makes every source idempotent."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))  # bank_transfer, stripe
    external_id: Mapped[str] = mapped_column(String(255))
    amount_fen: Mapped[int] = mapped_column(Integer)
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(140))
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class PaymentAttempt(db.Model):
    """A card payment started with Stripe (a PaymentIntent), before any webhook says paid."""

    __tablename__ = "payment_attempts"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    amount_fen: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Payout(db.Model):
    """The platform paying a provider its share of an invoice paid by card (a Transfer)."""

    __tablename__ = "payouts"
    __table_args__ = (UniqueConstraint("payment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(255))
    amount_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # pending, sent, failed
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProviderEvent(db.Model):
    """A webhook event already handled: replays of the same id are acknowledged and ignored."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    handled: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LedgerTransaction(db.Model):
    """One balanced business event in the ledger (its entries sum to zero). Append-only."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # invoice, payment, refund, credit_note, ...
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    memo: Mapped[str | None] = mapped_column(Text)
    occurred_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction",
                                                      order_by="LedgerEntry.id")


class LedgerEntry(db.Model):
    """One side of a transaction: + debit, - credit, on an organization's account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_org_account", "organization_id", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    account: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(Integer)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")


class LedgerIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _ledger_append_only(session, flush_context, instances) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, LedgerEntry | LedgerTransaction) and (
                row in session.deleted or session.is_modified(row, include_collections=False)):
            raise LedgerIsAppendOnly("ledger rows are never changed or deleted; post a reversal")
