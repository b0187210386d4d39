"""Third-party certification: schemes, accreditation, applications, audits, certificates."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organization import VerificationStatus, _enum
from app.models.types import UTCDateTime, utcnow


class CertificationScheme(db.Model):
    """What is audited and for how long a certificate holds; data an operator manages."""

    __tablename__ = "certification_schemes"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    issuing_body: Mapped[str] = mapped_column(String(200))
    outlet_types: Mapped[list[str]] = mapped_column(JSON)
    checklist_items: Mapped[list[int]] = mapped_column(JSON)
    validity_months: Mapped[int] = mapped_column(Integer, default=36)
    surveillance_interval_months: Mapped[int] = mapped_column(Integer, default=12)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Accreditation(db.Model):
    """A certifier's accreditation; an operator verifies it before the certifier may act."""

    __tablename__ = "accreditations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str] = mapped_column(String(60))
    accrediting_body: Mapped[str] = mapped_column(String(200))
    valid_until: Mapped[date] = mapped_column(Date)
    status: Mapped[VerificationStatus] = mapped_column(
        _enum(VerificationStatus, "verification_status"), default=VerificationStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DeclaredRelationship(db.Model):
    """A tie a certifier declares (shareholding, consulting...): it may not audit that party."""

    __tablename__ = "declared_relationships"
    __table_args__ = (UniqueConstraint("certifier_id", "related_organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certifier_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                              index=True)
    related_organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    nature: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    AUDIT_SCHEDULED = "audit_scheduled"
    AUDITED = "audited"  # findings recorded; nonconformities await corrective actions
    CERTIFIED = "certified"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class ApplicationPurpose(enum.StrEnum):
    INITIAL = "initial"
    SURVEILLANCE = "surveillance"
    FOLLOW_UP = "follow_up"  # to reinstate a suspended certificate


class CertificationApplication(db.Model):
    __tablename__ = "certification_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    certifier_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_schemes.id"))
    purpose: Mapped[ApplicationPurpose] = mapped_column(
        _enum(ApplicationPurpose, "application_purpose"), default=ApplicationPurpose.INITIAL)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    status: Mapped[ApplicationStatus] = mapped_column(
        _enum(ApplicationStatus, "application_status"), default=ApplicationStatus.SUBMITTED,
        index=True)
    audit_date: Mapped[date | None] = mapped_column(Date)
    auditor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_action_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    outlet = relationship("Outlet")
    provider = relationship("Organization", foreign_keys=[provider_id])
    certifier = relationship("Organization", foreign_keys=[certifier_id])
    scheme: Mapped[CertificationScheme] = relationship()
    auditor = relationship("User")
    findings: Mapped[list[Finding]] = relationship(back_populates="application",
                                                   order_by="Finding.item_number")


class FindingGrade(enum.StrEnum):
    CONFORMS = "conforms"
    MINOR = "minor"
    MAJOR = "major"


class Finding(db.Model):
    """The auditor's finding on one checklist item, and the provider's corrective action."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("application_id", "item_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("certification_applications.id", ondelete="CASCADE"), index=True)
    item_number: Mapped[int] = mapped_column(Integer)
    grade: Mapped[FindingGrade] = mapped_column(_enum(FindingGrade, "finding_grade"))
    note: Mapped[str | None] = mapped_column(Text)
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id", ondelete="SET NULL"))
    corrective_action: Mapped[str | None] = mapped_column(Text)
    corrective_evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence.id", ondelete="SET NULL"))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closure_note: Mapped[str | None] = mapped_column(Text)

    application: Mapped[CertificationApplication] = relationship(back_populates="findings")


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Certificate(db.Model):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    # Printed on the certificate and in its QR code; proves a paper copy is genuine.
    verification_code: Mapped[str] = mapped_column(String(64), unique=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_schemes.id"))
    certifier_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    application_id: Mapped[int] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(String(40))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date, index=True)
    next_surveillance_due: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[CertificateStatus] = mapped_column(
        _enum(CertificateStatus, "certificate_status"), default=CertificateStatus.VALID, index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expiry_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    outlet = relationship("Outlet")
    scheme: Mapped[CertificationScheme] = relationship()
    certifier = relationship("Organization")


class Notification(db.Model):
    """An in-app message for one person; the text is rendered in the reader's language."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
