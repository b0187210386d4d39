"""Contracting capacity: requests and their negotiation, multi-party agreements in signed
versions, each manufacturer's allocation, and idempotency keys for create-type API calls."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organization import _enum
from app.models.types import UTCDateTime, utcnow


class RequestStatus(enum.StrEnum):
    REQUESTED = "requested"  # waiting on the provider
    COUNTERED = "countered"  # waiting on the manufacturer
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ContractForm(enum.StrEnum):
    CO_BUILT = "co_built"
    AUTHORIZED = "authorized"
    SHARED_USE = "shared_use"


class AgreementStatus(enum.StrEnum):
    PENDING_SIGNATURES = "pending_signatures"  # no version in force yet
    ACTIVE = "active"
    LAPSED = "lapsed"  # the first version was never signed by everyone
    ENDED = "ended"  # every allocation expired or was terminated


class VersionStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for signatures
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"  # a later version came into force
    REPLACED = "replaced"  # re-issued unsigned because the terms changed again
    LAPSED = "lapsed"  # not signed by everyone in time


class AllocationStatus(enum.StrEnum):
    PENDING = "pending"  # in a version awaiting signatures; holds capacity
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    LAPSED = "lapsed"


class CapacityRequest(db.Model):
    """A manufacturer's request for capacity at an outlet's offer, as negotiated so far.

    The terms columns hold the current proposal: the manufacturer's, or the provider's
    counter once there is one (the audit log keeps every earlier proposal)."""

    __tablename__ = "capacity_requests"
    __table_args__ = (Index("ix_capacity_requests_status_respond_by", "status", "respond_by"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    coverage_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("coverage_plans.id", ondelete="SET NULL"))
    status: Mapped[RequestStatus] = mapped_column(
        _enum(RequestStatus, "request_status"), default=RequestStatus.REQUESTED)
    form: Mapped[ContractForm] = mapped_column(_enum(ContractForm, "contract_form"))
    tonnes_per_year: Mapped[float] = mapped_column(Float)
    start_date: Mapped[date] = mapped_column(Date)
    term_months: Mapped[int] = mapped_column(Integer)
    annual_fee_fen: Mapped[int] = mapped_column(Integer)
    handling_fee_fen_per_t: Mapped[int] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # of a decline or a cancellation
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime())
    last_action_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    outlet = relationship("Outlet")
    manufacturer = relationship("Organization", foreign_keys=[manufacturer_id])
    provider = relationship("Organization", foreign_keys=[provider_id])


class Agreement(db.Model):
    """The co-building agreement for one outlet: its provider and every manufacturer sharing
    it. Terms live in versions; each change is a new version every party signs."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[AgreementStatus] = mapped_column(
        _enum(AgreementStatus, "agreement_status"), default=AgreementStatus.PENDING_SIGNATURES)
    # Set when the outlet is suspended or its certificate lapses: every party must look.
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    flag_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    outlet = relationship("Outlet")
    provider = relationship("Organization")
    versions: Mapped[list[AgreementVersion]] = relationship(
        back_populates="agreement", order_by="AgreementVersion.version")
    allocations: Mapped[list[Allocation]] = relationship(
        back_populates="agreement", order_by="Allocation.id")


class AgreementVersion(db.Model):
    """One version of the agreement's text, frozen as a JSON document and its SHA-256."""

    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"),
                                              index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(
        _enum(VersionStatus, "agreement_version_status"), default=VersionStatus.PENDING)
    reason: Mapped[str] = mapped_column(String(20))  # initial, join, renewal, reissue
    document: Mapped[dict] = mapped_column(JSON)
    document_sha256: Mapped[str] = mapped_column(String(64))
    sign_by: Mapped[datetime] = mapped_column(UTCDateTime())
    in_force_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agreement: Mapped[Agreement] = relationship(back_populates="versions")
    signatures: Mapped[list[Signature]] = relationship(
        back_populates="version", order_by="Signature.signed_at")


class Signature(db.Model):
    """One party's signature on one version: who, when, from where, and what exactly."""

    __tablename__ = "agreement_signatures"
    __table_args__ = (UniqueConstraint("version_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id", ondelete="CASCADE"),
                                            index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signer_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    document_sha256: Mapped[str] = mapped_column(String(64))

    version: Mapped[AgreementVersion] = relationship(back_populates="signatures")
    organization = relationship("Organization")


class Allocation(db.Model):
    """One manufacturer's share of the outlet's capacity under the agreement.

    Pending and active allocations hold capacity; their sum never exceeds the offer (checked
    under a row lock on the offer). `ends_on` is the first day it no longer counts: the end
    of the term, or the day a notice or an operator's termination takes effect."""

    __tablename__ = "allocations"
    __table_args__ = (Index("ix_allocations_manufacturer_status", "manufacturer_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"),
                                              index=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("capacity_requests.id"), unique=True)
    status: Mapped[AllocationStatus] = mapped_column(
        _enum(AllocationStatus, "allocation_status"), default=AllocationStatus.PENDING)
    form: Mapped[ContractForm] = mapped_column(_enum(ContractForm, "contract_form"))
    tonnes_per_year: Mapped[float] = mapped_column(Float)
    annual_fee_fen: Mapped[int] = mapped_column(Integer)
    handling_fee_fen_per_t: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # A renewal proposed in a version still awaiting signatures: the end it would bring.
    renewal_end_date: Mapped[date | None] = mapped_column(Date)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notice_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notice_by_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    end_reason: Mapped[str | None] = mapped_column(Text)
    renewal_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agreement: Mapped[Agreement] = relationship(back_populates="allocations")
    manufacturer = relationship("Organization", foreign_keys=[manufacturer_id])
    request = relationship("CapacityRequest")


class IdempotencyKey(db.Model):
    """A create-type API call made with an Idempotency-Key: the first answer, replayed."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
