"""Filings with the regulator: each maker's outlet filing in versions (files, snapshot,
submission), the joint filing of each shared outlet with one confirmation per party, the
operator's run over every maker, and the change filings found due."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.extensions import db
from app.models.organization import _enum
from app.models.types import UTCDateTime, utcnow


class FilingStatus(enum.StrEnum):
    GENERATED = "generated"
    SUBMITTED = "submitted"  # the maker filed this version with the regulator


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Filing(db.Model):
    """One generated version of a maker's outlet filing: the data snapshot it came from (rows
    filed, outlets left out with their reasons, obligations not covered) and its files."""

    __tablename__ = "filings"
    __table_args__ = (UniqueConstraint("manufacturer_id", "version"),
                      Index("ix_filings_manufacturer_status", "manufacturer_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    layout: Mapped[str] = mapped_column(String(60))  # layout code and version
    snapshot: Mapped[dict] = deferred(mapped_column(JSON))
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    rows_sha256: Mapped[str] = mapped_column(String(64))  # the filed rows only: what a change is
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    flagged_count: Mapped[int] = mapped_column(Integer, default=0)
    uncovered_count: Mapped[int] = mapped_column(Integer, default=0)
    unconfirmed_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[FilingStatus] = mapped_column(
        _enum(FilingStatus, "filing_status"), default=FilingStatus.GENERATED)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    submission_reference: Mapped[str | None] = mapped_column(String(100))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("filing_runs.id", ondelete="SET NULL"),
                                               index=True)
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    manufacturer = relationship("Organization")
    files: Mapped[list[FilingFile]] = relationship(back_populates="filing", order_by="FilingFile.id",
                                                   cascade="all, delete-orphan")


class FilingFile(db.Model):
    """One format of a version, kept byte for byte so a download always matches its SHA-256."""

    __tablename__ = "filing_files"
    __table_args__ = (UniqueConstraint("filing_id", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(10))  # xlsx, csv, pdf, json
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))

    filing: Mapped[Filing] = relationship(back_populates="files")


class JointFiling(db.Model):
    """The joint filing of a shared outlet as its agreement in force stands: outlet, provider,
    every maker with its allocation. A change of the parties or of the outlet's filed data is
    a new joint filing (the old one is superseded), confirmed afresh."""

    __tablename__ = "joint_filings"
    __table_args__ = (UniqueConstraint("agreement_id", "document_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"),
                                              index=True)
    agreement_version_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_versions.id", ondelete="CASCADE"))
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    party_ids: Mapped[list[int]] = mapped_column(JSON)
    document: Mapped[dict] = mapped_column(JSON)
    document_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the last party's
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    confirmations: Mapped[list[JointFilingConfirmation]] = relationship(
        back_populates="joint_filing", order_by="JointFilingConfirmation.confirmed_at")


class JointFilingConfirmation(db.Model):
    """One party's confirmation of a joint filing: who, when, from where, on which text."""

    __tablename__ = "joint_filing_confirmations"
    __table_args__ = (UniqueConstraint("joint_filing_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    joint_filing_id: Mapped[int] = mapped_column(
        ForeignKey("joint_filings.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmer_name: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    document_sha256: Mapped[str] = mapped_column(String(64))

    joint_filing: Mapped[JointFiling] = relationship(back_populates="confirmations")
    organization = relationship("Organization")


class FilingRun(db.Model):
    """An operator's generation of every maker's filing, with its progress."""

    __tablename__ = "filing_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "filing_run_status"),
                                              default=RunStatus.QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(10), default="inline")  # inline | queue
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FilingChangeDue(db.Model):
    """What the tick found: the maker's filed data differs from its last submitted version,
    so a change filing is due by `due_on` (working days on the holiday calendar)."""

    __tablename__ = "filing_changes_due"
    __table_args__ = (Index("ix_filing_changes_due_open", "manufacturer_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    base_filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id", ondelete="CASCADE"))
    detected_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    rows_sha256: Mapped[str] = mapped_column(String(64))  # the data found at detection
    summary: Mapped[dict] = mapped_column(JSON)  # counts added / removed / changed
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
