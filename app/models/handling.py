"""Handling records: the tonnes of retired batteries a provider handled for a manufacturer
under an allocation, which the manufacturer may dispute and which are invoiced per tonne."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organization import _enum
from app.models.types import UTCDateTime, utcnow


class HandlingStatus(enum.StrEnum):
    RECORDED = "recorded"  # stands; invoiced once its dispute window has closed
    DISPUTED = "disputed"  # the maker objects: not invoiced until corrected or withdrawn
    SUPERSEDED = "superseded"  # replaced by a correction (the record pointing at it)
    WITHDRAWN = "withdrawn"  # taken back by the provider


class HandlingRecord(db.Model):
    """Tonnes handled on one day under one allocation, as the provider recorded them.

    Quantities are integer kilograms (tonnes with three decimals, exactly) and the price per
    tonne is the allocation's, frozen when recorded. `invoice_id` is set by the invoice that
    charged the record, in the transaction that issues it, so a record is invoiced once."""

    __tablename__ = "handling_records"
    __table_args__ = (
        Index("ix_handling_records_billable", "agreement_id", "manufacturer_id", "status",
              "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    # Both parties, so every read filters by the caller's organization in the query.
    provider_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    handled_on: Mapped[date] = mapped_column(Date)
    kilograms: Mapped[int] = mapped_column(Integer)
    fee_fen_per_t: Mapped[int] = mapped_column(Integer)
    battery_codes: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[HandlingStatus] = mapped_column(_enum(HandlingStatus, "handling_status"),
                                                   default=HandlingStatus.RECORDED)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The maker may dispute until then (recorded_at + HANDLING_DISPUTE_DAYS, frozen).
    dispute_by: Mapped[datetime] = mapped_column(UTCDateTime())
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    disputed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("handling_records.id"),
                                                      unique=True)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # withdrawn or superseded
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)

    allocation = relationship("Allocation")
    supersedes = relationship("HandlingRecord", remote_side=[id])
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    invoice = relationship("Invoice")
